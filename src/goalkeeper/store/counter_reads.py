"""Reading the report counters: the same queries on every backend.

Both stores inherit :class:`CounterReads`; each says how it writes a parameter (``?`` or
``%s``) and how it runs a read. Table and column names come from the fixed maps below,
never from input; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from goalkeeper.model import Channel
from goalkeeper.store.base import CounterQuery, CounterRow, SendRow
from goalkeeper.store.counting import BUCKETS_PER_DAY

GROUP_COLUMNS = {"goal": "goal_id", "message": "message_id", "channel": "channel"}


class CounterReads:
    _MARK = "?"  # the backend's parameter placeholder
    # How a value counter is summed: PostgreSQL's are numeric, one column; SQLite keeps
    # each in two integers (value_high * 2^32 + value), summed apart and joined here.
    _SPLIT_VALUES = False

    def _counter_rows(self, sql: str, params: Sequence[object]) -> Iterable[Sequence[Any]]:
        raise NotImplementedError

    def _grouped(
        self, table: str, sums: Sequence[str], query: CounterQuery, keys: Sequence[str]
    ) -> Iterator[tuple[dict[str, object], int | None, tuple[int, ...]]]:
        """Sums of one counter table per group: (keys, local day or None, sums).

        ``sums`` names the counter columns; each is summed, ``value`` as the backend
        keeps it.
        """
        mark = self._MARK
        where = [f"account_id = {mark}", f"bucket >= {mark}", f"bucket < {mark}"]
        filters: list[object] = []
        if query.goal_id is not None and table == "goal_counters":
            where.append(f"goal_id = {mark}")
            filters.append(query.goal_id)
        if query.message_id is not None:
            where.append(f"message_id = {mark}")
            filters.append(query.message_id)
        if query.channel is not None:
            where.append(f"channel = {mark}")
            filters.append(query.channel.value)
        if query.sends_only and table == "message_counters":
            where.append("sends <> 0")
        by_day = "day" in query.by
        select = [GROUP_COLUMNS[k] for k in keys]
        if by_day:
            # buckets are non-negative, so integer division floors
            select.append(f"({'bucket + ' + mark}) / {BUCKETS_PER_DAY}")
        group = ", ".join(str(i + 1) for i in range(len(select)))
        split = self._SPLIT_VALUES and "value" in sums
        totals = [f"sum({c})" for c in sums] + (["sum(value_high)"] if split else [])
        sql = f"SELECT {', '.join([*select, *totals])} FROM {table} WHERE {' AND '.join(where)}" + (
            f" GROUP BY {group}" if group else ""
        )
        width = len(select)
        for segment in query.segments:
            params: list[object] = [segment.offset] if by_day else []
            params += [query.account_id, segment.start, segment.end, *filters]
            for row in self._counter_rows(sql, params):
                if row[width] is None:  # no group and nothing in range
                    continue
                day = int(row[len(keys)]) if by_day else None
                values = [int(v) for v in row[width:]]
                if split:
                    values[sums.index("value")] += values.pop() << 32
                yield dict(zip(keys, row, strict=False)), day, tuple(values)

    def goal_counts(self, query: CounterQuery) -> list[CounterRow]:
        keys = [k for k in ("goal", "message", "channel") if k in query.by]
        return [
            CounterRow(
                goal_id=_int(values.get("goal")),
                message_id=_int(values.get("message")),
                channel=_channel(values.get("channel")),
                day=day,
                fulfillments=sums[0],
                value=sums[1],
                recipients=sums[2],
            )
            for values, day, sums in self._grouped(
                "goal_counters", ("fulfillments", "value", "recipients"), query, keys
            )
        ]

    def message_counts(self, query: CounterQuery) -> list[SendRow]:
        keys = [k for k in ("message", "channel") if k in query.by]
        return [
            SendRow(
                message_id=_int(values.get("message")),
                channel=_channel(values.get("channel")),
                day=day,
                sends=sums[0],
                converted=sums[1],
                fulfillments=sums[2],
                value=sums[3],
            )
            for values, day, sums in self._grouped(
                "message_counters",
                ("sends", "converted", "fulfillments", "value"),
                query,
                keys,
            )
        ]


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _channel(value: object) -> Channel | None:
    return None if value is None else Channel(str(value))
