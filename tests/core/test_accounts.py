"""Accounts: the first one of a new database is created once, however many processes start."""

from __future__ import annotations

import threading

from goalkeeper.core.accounts import bootstrap_account
from goalkeeper.store import Store, open_store


def test_bootstrap_creates_one_account_when_many_start_at_once(
    store: Store, database_url: str
) -> None:
    stores = [open_store(database_url) for _ in range(6)]
    results: list[object] = []
    barrier = threading.Barrier(len(stores))

    def start(own: Store) -> None:
        barrier.wait()
        results.append(bootstrap_account(own))

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for own in stores:
        own.close()
    created = [r for r in results if r is not None]
    assert len(results) == 6 and len(created) == 1
    assert store.account_ids() == [created[0].account_id]  # type: ignore[attr-defined]
    assert bootstrap_account(store) is None
