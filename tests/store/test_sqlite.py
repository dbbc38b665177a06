"""What only the SQLite store does: its connections outlive trouble with the file."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from goalkeeper.errors import StorageUnavailable
from goalkeeper.model import FulfillmentRequest, Source, Stored
from goalkeeper.store import open_store
from tests.fixtures import SPEC_GUID, build_world


def test_a_connection_opened_read_only_is_replaced_once_the_file_is_writable(
    tmp_path: Path, immutable: list[Path]
) -> None:
    """A connection that opened the file while it was not writable stays read-only: its
    transaction fails (503), and the next transaction opens a new connection."""
    path = tmp_path / "gk.db"
    store = open_store(f"sqlite:///{path}")
    world = build_world(store)
    request = FulfillmentRequest(
        world.account_id, 1, uuid.UUID(SPEC_GUID).bytes, 1, None, Source.XML
    )
    store.write_fulfillments([request], idempotency_hours=24)
    store.close()
    subprocess.run(["chattr", "+i", str(path)], check=True)
    immutable.append(path)
    store = open_store(f"sqlite:///{path}")
    try:
        with pytest.raises(StorageUnavailable) as failed:
            store.write_fulfillments([request], idempotency_hours=24)
        assert "readonly" in str(failed.value.detail) and str(path) in str(failed.value.detail)
        subprocess.run(["chattr", "-i", str(path)], check=True)
        assert isinstance(store.write_fulfillments([request], idempotency_hours=24)[0], Stored)
        assert store.count_fulfillments(world.account_id) == 2
    finally:
        store.close()
