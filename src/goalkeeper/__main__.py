from goalkeeper.cli import main

raise SystemExit(main())
