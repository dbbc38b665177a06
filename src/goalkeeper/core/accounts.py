"""Accounts: created with their first admin key."""

from __future__ import annotations

import dataclasses

from goalkeeper.core.keys import create_key
from goalkeeper.errors import InvalidField
from goalkeeper.model import Scope
from goalkeeper.store import Store


@dataclasses.dataclass(frozen=True)
class NewAccount:
    account_id: int
    api_key: str  # the admin key, shown once


def create_account(store: Store, name: str) -> NewAccount:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidField("Account name must be 1 to 200 characters.")
    account_id = store.create_account(name)
    issued = create_key(store, account_id, Scope.ADMIN)
    return NewAccount(account_id, issued.key)


def bootstrap_account(store: Store, name: str = "default") -> NewAccount | None:
    """The first account of an empty database, with its admin key; None if one exists.

    Safe when several processes start on the same new database at once: one creates it.
    """
    account_id = store.create_first_account(name)
    if account_id is None:
        return None
    issued = create_key(store, account_id, Scope.ADMIN)
    return NewAccount(account_id, issued.key)


def ensure_schema(store: Store) -> int:
    """Create the schema on an empty database; return how many migrations ran."""
    if store.schema_version() == 0:
        return len(store.upgrade())
    return 0
