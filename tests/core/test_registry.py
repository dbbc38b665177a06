"""The GUID registry: a GUID names one send, however and whenever it is claimed."""

from __future__ import annotations

import io
import threading
import uuid

import pytest

from goalkeeper.core.accounts import create_account
from goalkeeper.core.imports import import_records
from goalkeeper.core.keys import create_key
from goalkeeper.core.registry import create_message, register_recipients
from goalkeeper.errors import Conflict, InvalidField
from goalkeeper.model import Channel, Message, Scope
from goalkeeper.store import Store, open_store

GUID = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
FRESH = uuid.UUID("11111111-2222-4333-8444-555555555555")


@pytest.fixture
def message(store: Store) -> Message:
    account = create_account(store, "Shop")
    return create_message(store, account.account_id, "November news", Channel.EMAIL)


def test_a_guid_given_twice_in_one_call_for_two_sends_is_refused_whole(
    store: Store, message: Message
) -> None:
    with pytest.raises(Conflict, match="already registered to another send"):
        register_recipients(store, message, [("ann", FRESH), ("bob", GUID), ("cid", GUID)])
    assert store.get_recipient(FRESH.bytes) is None
    assert store.get_recipient(GUID.bytes) is None


def test_a_guid_given_twice_for_the_same_send_is_registered_once(
    store: Store, message: Message
) -> None:
    register_recipients(store, message, [("bob", GUID), (" bob ", GUID)])
    assert store.count_recipients(message.account_id) == 1
    stored = store.get_recipient(GUID.bytes)
    assert stored is not None and stored.subscriber_id == "bob"


def test_a_guid_claimed_by_calls_at_once_goes_to_one_send(
    store: Store, message: Message, database_url: str
) -> None:
    stores = [open_store(database_url) for _ in range(6)]
    won: list[str] = []
    refused: list[str] = []
    barrier = threading.Barrier(len(stores))

    def claim(own: Store, subscriber: str) -> None:
        barrier.wait()
        try:
            register_recipients(own, message, [(subscriber, GUID)])
        except Conflict:
            refused.append(subscriber)
        else:
            won.append(subscriber)

    threads = [
        threading.Thread(target=claim, args=(own, f"subscriber {i}"))
        for i, own in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for own in stores:
        own.close()
    assert len(won) == 1 and len(refused) == 5
    stored = store.get_recipient(GUID.bytes)
    assert stored is not None and stored.subscriber_id == won[0]
    assert store.count_recipients(message.account_id) == 1


def test_an_import_registers_what_it_can_and_names_the_lines_of_taken_guids(
    store: Store, message: Message
) -> None:
    register_recipients(store, message, [("ann", GUID)])  # another account's send
    other = create_account(store, "Other shop").account_id
    upper = str(FRESH).upper()
    stream = io.StringIO(
        "guid,subscriber,message,channel\n"
        f"{GUID},zed,News,Email\n"  # line 2: taken by the first account
        f"{upper},bob,News,Email\n"  # line 3: new
        f"{str(FRESH).lower()},cid,News,Email\n"  # line 4: taken by line 3
        f"{upper},bob,News,Email\n"  # line 5: line 3 again, already registered
    )
    result = import_records(store, other, stream, "csv")
    assert (result.records, result.inserted, result.already_registered) == (4, 1, 1)
    assert result.taken == [(2, str(GUID).upper()), (4, upper)]
    stored = store.get_recipient(FRESH.bytes)
    assert stored is not None and (stored.account_id, stored.subscriber_id) == (other, "bob")
    first = store.get_recipient(GUID.bytes)
    assert first is not None and first.account_id == message.account_id


@pytest.mark.parametrize("scope", [Scope.ADMIN, Scope.INGEST])
def test_origins_are_refused_on_keys_that_are_not_tracker_keys(
    store: Store, message: Message, scope: Scope
) -> None:
    with pytest.raises(InvalidField, match="only to tracker keys"):
        create_key(store, message.account_id, scope, ["https://shop.example"])


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("HTTPS://shop.example:443", "https://shop.example"),
        ("http://localhost:80", "http://localhost"),
        ("http://LOCALHOST:08080", "http://localhost:8080"),
        ("https://shop.example:80", "https://shop.example:80"),
        ("http://[FE80::1]:443", "http://[fe80::1]:443"),
        ("https://[::1]:443", "https://[::1]"),
    ],
)
def test_origins_are_kept_as_browsers_send_them(store: Store, given: str, kept: str) -> None:
    account = create_account(store, "Origins").account_id
    issued = create_key(store, account, Scope.TRACKER, [given, kept])
    assert issued.record.origins == (kept,)  # the beacon compares them exactly


@pytest.mark.parametrize("origin", ["https://shop.example:99999", "http://shop.example:0"])
def test_an_origin_with_an_impossible_port_is_refused(store: Store, origin: str) -> None:
    account = create_account(store, "Ports").account_id
    with pytest.raises(InvalidField, match="ports are 1 to 65535"):
        create_key(store, account, Scope.TRACKER, [origin])
