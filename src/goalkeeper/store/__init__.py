"""Storage backends: SQLite (embedded default) and PostgreSQL, behind one protocol."""

from __future__ import annotations

from goalkeeper.store.base import Store

_SQLITE = "sqlite:///"


def sqlite_path(url: str) -> str | None:
    """The file a ``sqlite:///PATH`` URL names (empty when it names none); None for a URL
    of another database."""
    return url[len(_SQLITE) :] if url.startswith(_SQLITE) else None


def open_store(url: str, *, pool_size: int = 8) -> Store:
    """Open the store a database URL names (``sqlite:///PATH`` or ``postgresql://...``).

    ``pool_size`` bounds a PostgreSQL store's read connections (its writer has its own).
    """
    path = sqlite_path(url)
    if path is not None:
        from goalkeeper.store.sqlite import SqliteStore

        if not path:
            raise ValueError("sqlite:/// URL needs a file path, e.g. sqlite:///goalkeeper.db")
        if "?" in path or "#" in path:  # not a file name anyone means: a URI's options
            raise ValueError(
                f"{url!r}: a sqlite:/// URL takes a file path only, no ?options or #fragment"
            )
        return SqliteStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        from goalkeeper.store.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size)
    raise ValueError(
        f"Unsupported database URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


__all__ = ["Store", "open_store", "sqlite_path"]
