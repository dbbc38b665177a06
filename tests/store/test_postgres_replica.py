"""Reports read from a hot standby: ``goalkeeper report`` never writes.

A streaming replica of the test cluster (pg_basebackup through scripts/pg-cluster)
answers ``goalkeeper report`` exactly as the primary does once it has caught up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from goalkeeper.model import FulfillmentRequest, Source
from goalkeeper.store import open_store
from tests import pgcluster
from tests.conftest import POSTGRES
from tests.fixtures import SPEC_GUID, build_world

pytestmark = pytest.mark.skipif(
    POSTGRES is None or POSTGRES.folder is None,
    reason="needs a PostgreSQL cluster this run started (to take a base backup of it)",
)


@pytest.fixture
def replica_of_test_cluster() -> Iterator[str]:
    assert POSTGRES is not None and POSTGRES.folder is not None
    folder = tempfile.mkdtemp(prefix="goalkeeper-replica-")
    try:
        done = subprocess.run(
            [str(pgcluster.SCRIPT), "replica", folder, POSTGRES.folder],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(pgcluster.SCRIPT), "destroy", folder], timeout=60, check=False)


def report(url: str, account_id: int) -> object:
    args = ["report", "--database", url, "--account", str(account_id), "--by", "goal", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "goalkeeper", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def database_url() -> Iterator[str]:
    """A PostgreSQL database only: this test is about PostgreSQL replication."""
    assert POSTGRES is not None
    url = POSTGRES.new_database()
    yield url
    POSTGRES.drop_database(url)


def test_reports_run_on_a_hot_standby_and_match_the_primary(
    database_url: str, replica_of_test_cluster: str
) -> None:
    store = open_store(database_url)
    world = build_world(store)
    guid = uuid.UUID(SPEC_GUID).bytes
    batch = [
        FulfillmentRequest(world.account_id, goal, guid, 10 * i, None, Source.XML)
        for i, goal in enumerate([1, 1, 2, 2, 1], start=1)
    ]
    store.write_fulfillments(batch, idempotency_hours=24)
    store.close()
    replica_url = pgcluster.with_database(replica_of_test_cluster, database_url.rsplit("/", 1)[-1])

    # The base backup was taken before these rows: wait for streaming to bring them.
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(replica_url) as conn:
                row = conn.execute(
                    "SELECT pg_is_in_recovery(), count(*) FROM fulfillments"
                ).fetchone()
            assert row is not None and row[0] is True  # a standby, read-only
            if row[1] == len(batch):
                break
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            pass  # the database or the table has not reached the standby yet
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.1)

    assert report(replica_url, world.account_id) == report(database_url, world.account_id)
