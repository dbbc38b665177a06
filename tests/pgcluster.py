"""The PostgreSQL half of the test suite: one throwaway cluster per pytest run.

``GOALKEEPER_TEST_POSTGRESQL_URL`` names an existing server to use instead (its role
must be allowed to create databases). Otherwise ``scripts/pg-cluster`` starts a
cluster of its own in a temporary folder (installing Debian's package when missing) and
it is removed when the run ends. Each test gets a fresh, empty database (a copy of
``template0``), made ahead of time by a helper thread so tests do not wait for it.

Under ``CI=true`` PostgreSQL is required: failing to get it fails the run. Elsewhere the
PostgreSQL half is skipped with a loud message.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pg-cluster"
URL_ENV = "GOALKEEPER_TEST_POSTGRESQL_URL"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


class Cluster:
    """A PostgreSQL server the tests may create databases on.

    A helper thread keeps a few empty databases ready and drops used ones, so a test
    pays neither: the churn runs on the other core while tests run.
    """

    READY = 2

    def __init__(self, admin_url: str, folder: str | None):
        self.admin_url = admin_url
        self.folder = folder  # set when this run started the cluster itself
        self._names = itertools.count(1)
        self._prefix = f"gk_test_{os.getpid()}_"
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._chores: queue.Queue[tuple[str, str] | None] = queue.Queue()
        psycopg.connect(admin_url, autocommit=True).close()  # fail here if unusable
        for _ in range(self.READY):
            self._chores.put(("create", ""))
        self._worker = threading.Thread(target=self._work, name="pg-databases", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        admin: psycopg.Connection[tuple[object, ...]] | None = None
        while (chore := self._chores.get()) is not None:
            kind, name = chore
            try:
                if admin is None or admin.closed:
                    admin = psycopg.connect(self.admin_url, autocommit=True)
                if kind == "create":
                    name = f"{self._prefix}{next(self._names)}"
                    admin.execute(
                        sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                            sql.Identifier(name)
                        )
                    )
                    self._ready.put(name)
                else:
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
            except psycopg.Error as exc:
                if kind == "create":
                    self._ready.put(exc)
        if admin is not None:
            # What is left (databases made by database_url_for and never dropped) goes
            # too: on a shared server nothing of this run may remain.
            with contextlib.suppress(psycopg.Error):
                names = admin.execute(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                    (self._prefix,),
                ).fetchall()
                for (name,) in names:
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
            admin.close()

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        self._chores.put(("create", ""))
        name = self._ready.get(timeout=120)
        if isinstance(name, BaseException):
            raise name
        return with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        """Drop a database once the helper gets to it (connections to it are ended)."""
        self._chores.put(("drop", urlsplit(url).path.lstrip("/")))

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``); only for a cluster this run started."""
        assert self.folder is not None, "not our cluster"
        subprocess.run([str(SCRIPT), "stop", self.folder], check=True, timeout=60)

    def start(self) -> None:
        """Start a stopped cluster again, same folder, same port."""
        assert self.folder is not None, "not our cluster"
        subprocess.run(
            [str(SCRIPT), "start", self.folder], check=True, timeout=120, capture_output=True
        )

    def close(self) -> None:
        self._chores.put(None)
        self._worker.join(timeout=60)
        if self.folder is not None:
            subprocess.run([str(SCRIPT), "destroy", self.folder], timeout=60, check=False)


def loud(message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n{message}\n{bar}\n", file=sys.stderr, flush=True)


def launch() -> Cluster:
    """A new cluster of our own in a temporary folder (raises RuntimeError if impossible)."""
    folder = tempfile.mkdtemp(prefix="goalkeeper-pg-")
    os.chmod(folder, 0o755)
    try:
        done = subprocess.run(
            [str(SCRIPT), "start", folder, "--fast", "--owner", str(os.getpid())],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scripts/pg-cluster failed: {done.stderr.strip()[-2000:]}")
        return Cluster(done.stdout.strip().splitlines()[-1], folder)
    except (OSError, subprocess.TimeoutExpired, psycopg.Error, RuntimeError) as exc:
        subprocess.run([str(SCRIPT), "destroy", folder], timeout=60, check=False)
        raise RuntimeError(f"could not start PostgreSQL with scripts/pg-cluster: {exc}") from exc


def start() -> tuple[Cluster | None, str]:
    """The cluster for this run, or None and why not."""
    url = os.environ.get(URL_ENV)
    if url:
        try:
            return Cluster(url, None), ""
        except psycopg.Error as exc:
            return None, f"{URL_ENV} is set but unusable: {str(exc).splitlines()[0]}"
    try:
        return launch(), ""
    except RuntimeError as exc:
        return None, str(exc)
