"""The tracker's beacon body: one small JSON object sent by ``tracker.js``.

``{"key": TRACKER_KEY, "guid": MESSAGE_GUID, "goal_id": 1, "value": 4990,
"order_id": "A-1001"}``. ``value`` (minor units, signed 64-bit) and ``order_id`` are
optional. The body travels as ``text/plain`` so browsers send it without a preflight.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from goalkeeper.model import INT32_MAX
from goalkeeper.wire import json_api

MAX_BODY = 4096
MAX_ORDER_ID = 200

_FIELDS = frozenset(("key", "guid", "goal_id", "value", "order_id"))
_REQUIRED = ("key", "guid", "goal_id")


@dataclasses.dataclass(frozen=True, slots=True)
class Beacon:
    key: str
    guid: bytes
    goal_id: int
    value: int | None  # None: the goal's default value
    order_id: str | None


def parse_beacon(body: bytes) -> Beacon:
    """The beacon's values, or an error of the family naming what is wrong."""
    data: dict[str, Any] = json_api.expect_object(json_api.parse_json(body), "The body")
    json_api.check_fields(data, _FIELDS, _REQUIRED)
    order = data.get("order_id")
    return Beacon(
        key=json_api.text(data["key"], "key"),
        guid=json_api.guid(data["guid"], "guid"),
        goal_id=json_api.integer(data["goal_id"], "goal_id", 1, INT32_MAX),
        value=None if data.get("value") is None else json_api.integer(data["value"], "value"),
        order_id=None if order is None else json_api.text(order, "order_id", MAX_ORDER_ID),
    )
