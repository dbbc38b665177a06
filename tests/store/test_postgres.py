"""The batched write path and what must hold across processes, on every backend.

PostgreSQL stores a whole batch in one statement; these tests pin that it answers
exactly as SQLite's row-by-row loop does, and that two stores (as two processes would)
sharing one database agree on idempotency keys and on migrations.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from goalkeeper.errors import GoalNotRecognized, MessageGuidNotRecognized, StorageUnavailable
from goalkeeper.model import Channel, FulfillmentRequest, Source, Stored
from goalkeeper.store import Store, open_store
from goalkeeper.store.base import NewGoal, migrations
from goalkeeper.store.postgres import PostgresStore
from goalkeeper.store.postgres_reports import FIRSTS
from tests.conftest import POSTGRES, free_port
from tests.fixtures import (
    OTHER_GUID,
    PUSH_GUID,
    SMS_GUID,
    SPEC_GUID,
    UNKNOWN_GUID,
    World,
    build_world,
)


def req(
    world: World,
    guid: str = SPEC_GUID,
    goal_id: int = 1,
    value: int = 10,
    channel: Channel | None = None,
    key: str | None = None,
) -> FulfillmentRequest:
    return FulfillmentRequest(
        account_id=world.account_id,
        goal_id=goal_id,
        guid=uuid.UUID(guid).bytes,
        value=value,
        channel=channel,
        source=Source.XML,
        idempotency_key=key,
    )


def test_a_mixed_batch_answers_each_item_in_order(store: Store, world: World) -> None:
    batch = [
        req(world, value=1),
        req(world, guid=UNKNOWN_GUID),
        req(world, guid=OTHER_GUID),  # another account's GUID
        req(world, guid=SMS_GUID, channel=Channel.EMAIL),  # sent on another channel
        req(world, goal_id=99),
        req(world, guid=PUSH_GUID, channel=Channel.ALL, value=2),
        req(world, guid=SMS_GUID, channel=Channel.SMS_MMS, key="k-1", value=3),
        req(world, key="k-1", value=4),  # same key, same batch: the first row's twin
        req(world, guid=UNKNOWN_GUID, key="k-2"),  # an error claims no key...
        req(world, key="k-2", value=5),  # ...so this one stores
    ]
    out = store.write_fulfillments(batch, idempotency_hours=24)

    assert [type(o) for o in out] == [
        Stored,
        MessageGuidNotRecognized,
        MessageGuidNotRecognized,
        MessageGuidNotRecognized,
        GoalNotRecognized,
        Stored,
        Stored,
        Stored,
        MessageGuidNotRecognized,
        Stored,
    ]
    stored = [o for o in out if isinstance(o, Stored)]
    first, push, keyed, twin, second_key = stored
    assert not any(o.duplicate for o in (first, push, keyed, second_key))
    assert twin == Stored(keyed.fulfillment_id, duplicate=True)
    assert len({first.fulfillment_id, push.fulfillment_id, keyed.fulfillment_id}) == 3

    rows = {r.id: r for r in store.list_fulfillments(world.account_id)}
    assert len(rows) == 4
    sms = rows[keyed.fulfillment_id]
    assert (sms.value, sms.channel, sms.idempotency_key) == (3, Channel.SMS_MMS, "k-1")
    assert sms.message_guid == uuid.UUID(SMS_GUID).bytes
    assert sms.subscriber_id == "subscriber-1"
    assert rows[push.fulfillment_id].channel is Channel.WEB_PUSH
    assert rows[first.fulfillment_id].occurred_at == rows[first.fulfillment_id].received_at


def test_a_key_stays_bound_across_batches_until_it_expires(store: Store, world: World) -> None:
    (first,) = store.write_fulfillments([req(world, key="order-7")], idempotency_hours=24)
    assert isinstance(first, Stored) and not first.duplicate

    again = store.write_fulfillments([req(world, key="order-7", value=99)], idempotency_hours=24)
    assert again == [Stored(first.fulfillment_id, duplicate=True)]

    # Keys are per account: the other account may use the same one.
    other = FulfillmentRequest(
        world.other_account_id, 1, uuid.UUID(OTHER_GUID).bytes, 1, None, Source.XML, "order-7"
    )
    (theirs,) = store.write_fulfillments([other], idempotency_hours=24)
    assert isinstance(theirs, Stored) and not theirs.duplicate

    # With a zero-hour window the binding has already expired: the key is bound anew.
    (rebound,) = store.write_fulfillments([req(world, key="order-7")], idempotency_hours=0)
    assert isinstance(rebound, Stored) and not rebound.duplicate
    assert rebound.fulfillment_id != first.fulfillment_id
    (after,) = store.write_fulfillments([req(world, key="order-7")], idempotency_hours=24)
    assert after == Stored(rebound.fulfillment_id, duplicate=True)
    assert store.count_fulfillments(world.account_id) == 2


def test_keys_and_times_are_stored_exactly_whatever_characters_they_hold(
    store: Store, world: World
) -> None:
    """Batches reach PostgreSQL as array literals: quotes, backslashes, braces, commas,
    spaces and the word NULL are data, never syntax."""
    keys = ['a"b', "c\\d", "{e,f}", "NULL", " g h ", "ключ-ü", '\\"', "x" * 255]
    occurred = dt.datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=dt.UTC)
    batch = [
        req(world, key=key, value=n)._replace(occurred_at=occurred) for n, key in enumerate(keys)
    ]
    stored = store.write_fulfillments(batch, idempotency_hours=24)
    assert all(isinstance(s, Stored) and not s.duplicate for s in stored)
    rows = store.list_fulfillments(world.account_id)
    assert [(r.idempotency_key, r.value, r.occurred_at) for r in rows] == [
        (key, n, occurred) for n, key in enumerate(keys)
    ]
    again = store.write_fulfillments(batch, idempotency_hours=24)
    assert again == [Stored(s.fulfillment_id, duplicate=True) for s in stored]  # type: ignore[union-attr]


def test_check_answers_what_write_would_and_writes_nothing(store: Store, world: World) -> None:
    (bound,) = store.write_fulfillments([req(world, key="seen")], idempotency_hours=24)
    batch = [
        req(world),
        req(world, guid=UNKNOWN_GUID),
        req(world, goal_id=99),
        req(world, key="seen"),
        req(world, key="fresh"),
    ]
    checked = store.check_fulfillments(batch, idempotency_hours=24)
    assert [type(o) for o in checked] == [
        type(None),
        MessageGuidNotRecognized,
        GoalNotRecognized,
        Stored,
        type(None),
    ]
    assert checked[3] == Stored(bound.fulfillment_id, duplicate=True)
    assert store.count_fulfillments(world.account_id) == 1


def test_two_stores_racing_on_the_same_keys_store_each_once(
    store: Store, world: World, database_url: str
) -> None:
    """Two stores on one database, as two processes would be, send the same keys at once."""
    other = open_store(database_url)
    rounds = 30
    answers: dict[int, list[Stored]] = {i: [] for i in range(rounds)}
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(target: Store) -> None:
        try:
            for i in range(rounds):
                barrier.wait(timeout=30)
                (outcome,) = target.write_fulfillments(
                    [req(world, key=f"race-{i}", value=i)], idempotency_hours=24
                )
                assert isinstance(outcome, Stored)
                answers[i].append(outcome)
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(s,)) for s in (store, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    other.close()
    assert not failures, failures
    for i in range(rounds):
        a, b = answers[i]
        assert a.fulfillment_id == b.fulfillment_id
        assert sorted([a.duplicate, b.duplicate]) == [False, True]
    assert store.count_fulfillments(world.account_id) == rounds


def test_stores_upgrading_at_once_apply_each_migration_once(database_url: str) -> None:
    stores = [open_store(database_url) for _ in range(4)]
    applied: list[int] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(target: Store) -> None:
        try:
            barrier.wait(timeout=30)
            applied.extend(m.version for m in target.upgrade())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    expected = [m.version for m in migrations(stores[0].dialect)]
    assert sorted(applied) == expected
    assert all(s.schema_version() == expected[-1] for s in stores)
    for s in stores:
        s.close()


def test_an_unreachable_server_is_storage_unavailable() -> None:
    """Nothing listens on the port: every call is the retryable 503, never a hang."""
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/goalkeeper")
    try:
        with pytest.raises(StorageUnavailable) as caught:
            store.ping()
        assert caught.value.headers["Retry-After"] == "1"
        with pytest.raises(StorageUnavailable):
            store.find_api_key(b"\0" * 32)
        with pytest.raises(StorageUnavailable):
            request = FulfillmentRequest(1, 1, uuid.UUID(SPEC_GUID).bytes, 1, None, Source.XML)
            store.write_fulfillments([request], idempotency_hours=24)
    finally:
        store.close()


def test_goals_and_messages_numbered_by_two_stores_at_once_get_distinct_ids(
    store: Store, world: World, database_url: str
) -> None:
    """Numbering per account takes turns across stores (processes): no clash, no gap."""
    other = open_store(database_url)
    barrier = threading.Barrier(2)
    made: list[tuple[str, int]] = []
    failures: list[BaseException] = []

    def run(target: Store, name: str) -> None:
        try:
            for i in range(15):
                barrier.wait(timeout=30)
                goal = target.create_goal(NewGoal(world.account_id, f"{name}-{i}"))
                message = target.create_message(world.account_id, f"{name}-{i}", Channel.EMAIL)
                made.extend([("goal", goal.id), ("message", message.id)])
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(s, n)) for s, n in ((store, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    other.close()
    assert not failures, failures
    goal_ids = sorted(i for kind, i in made if kind == "goal")
    message_ids = sorted(i for kind, i in made if kind == "message")
    assert goal_ids == list(range(3, 33))  # the world has goals 1 and 2
    assert message_ids == list(range(4, 34))  # ... and messages 1 to 3


@pytest.fixture
def postgres_world() -> Iterator[tuple[Store, World, str]]:
    """A PostgreSQL database only, with the test world, for PostgreSQL's own behaviour."""
    if POSTGRES is None:
        pytest.skip("PostgreSQL unavailable")
    url = POSTGRES.new_database()
    store = open_store(url)
    yield store, build_world(store), url
    store.close()
    POSTGRES.drop_database(url)


def test_a_key_locked_by_a_stuck_transaction_elsewhere_is_a_503_not_a_hang(
    postgres_world: tuple[Store, World, str],
) -> None:
    """Another client claims a key and never commits: the writer gives up (lock_timeout)."""
    store, world, url = postgres_world
    with psycopg.connect(url) as stuck:
        stuck.execute(
            "INSERT INTO idempotency_keys (account_id, key, fulfillment_id, created_at)"
            " VALUES (%s, 'held', NULL, now())",
            (world.account_id,),
        )
        with pytest.raises(StorageUnavailable) as caught:
            store.write_fulfillments([req(world, key="held")], idempotency_hours=24)
        assert "lock timeout" in (caught.value.detail or "")
        stuck.rollback()
    (stored,) = store.write_fulfillments([req(world, key="held")], idempotency_hours=24)
    assert isinstance(stored, Stored) and not stored.duplicate


def test_a_batch_failing_at_its_counters_writes_nothing_and_the_next_one_is_stored(
    postgres_world: tuple[Store, World, str],
) -> None:
    """The counters are written after the rows, in the same transaction: a failure there
    takes the rows back with it, and the writer's connection is usable again."""
    store, world, url = postgres_world
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION refuse_value() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN IF NEW.value = 666 THEN RAISE EXCEPTION 'refused'; END IF;"
            " RETURN NEW; END $$"
        )
        admin.execute(
            "CREATE TRIGGER refuse_value BEFORE INSERT ON goal_counters"
            " FOR EACH ROW EXECUTE FUNCTION refuse_value()"
        )
    with pytest.raises(psycopg.Error, match="refused"):
        store.write_fulfillments([req(world, value=666)], idempotency_hours=24)
    assert store.count_fulfillments() == 0
    (stored,) = store.write_fulfillments([req(world, value=5, key="after")], 24)
    assert isinstance(stored, Stored) and not stored.duplicate
    assert store.count_fulfillments() == 1
    with psycopg.connect(url) as conn:  # the counters hold the stored row only
        assert conn.execute(
            "SELECT sum(fulfillments), sum(value), sum(recipients) FROM goal_counters"
        ).fetchone() == (1, 5, 1)
        assert conn.execute("SELECT count(*) FROM first_fulfillments").fetchone() == (1,)


def test_the_read_pool_opens_at_most_pool_size_connections_and_503s_when_all_are_busy(
    postgres_world: tuple[Store, World, str],
) -> None:
    _, world, url = postgres_world
    store = PostgresStore(url, pool_size=2)
    results: list[object] = []
    count = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'goalkeeper'"
    )
    with psycopg.connect(url) as blocker:
        before = blocker.execute(count).fetchone()  # the fixture's own store
        # Every read of fulfillments now waits for this lock, holding its connection.
        blocker.execute("LOCK TABLE fulfillments IN ACCESS EXCLUSIVE MODE")
        threads = [
            threading.Thread(
                target=lambda: results.append(_outcome(store.count_fulfillments, world))
            )
            for _ in range(5)
        ]
        for t in threads:
            t.start()
        time.sleep(1.5)  # past the pool's wait: the callers without a connection gave up
        blocker.execute("SELECT pg_stat_clear_snapshot()")  # a fresh look, same transaction
        during = blocker.execute(count).fetchone()
        blocker.rollback()  # let the two waiting reads through
        for t in threads:
            t.join(timeout=30)
    store.close()
    assert before is not None and during is not None
    assert during[0] - before[0] == 2
    assert sorted(map(str, results)) == ["0", "0"] + ["no database connection free in time"] * 3


def _outcome(read: Callable[[int], int], world: World) -> object:
    try:
        return read(world.account_id)
    except StorageUnavailable as exc:
        return exc.detail


def test_the_writer_reads_earliest_rows_by_primary_key_whatever_the_statistics(
    postgres_world: tuple[Store, World, str],
) -> None:
    """first_fulfillments grows from empty with no statistics yet: planned for each batch,
    the read of a batch's earliest rows was a sequential scan; the writer's connection
    plans it once, generically, by its primary key."""
    store, world, _ = postgres_world
    assert isinstance(store, PostgresStore)
    conn = store._writer_connection()
    conn.execute(
        "INSERT INTO first_fulfillments (guid, goal_id, account_id, fulfillment_id,"
        " occurred_at, value) SELECT gen_random_uuid(), 1, %s, n, now(), 0"
        " FROM generate_series(1, 8192) AS n",
        (world.account_id,),
    )
    guids = "{" + ",".join(str(uuid.uuid4()) for _ in range(31)) + "}"
    conn.execute(f"PREPARE earliest(uuid[]) AS {FIRSTS.replace('%s', '$1')}")
    try:
        plan = [row[0] for row in conn.execute(f"EXPLAIN EXECUTE earliest('{guids}')")]
    finally:
        conn.execute("DEALLOCATE earliest")
    assert any("first_fulfillments_pkey" in line for line in plan), plan
