"""Importing a send log into the MessageGuid registry (CSV or NDJSON).

The whole file is checked first, so a bad record stops the import before anything is
written, with its line number; then it is written in chunks, idempotently on the GUID
(a GUID already registered to the same send is left as it is), so a re-run after an
interruption finishes the job without duplicates. A record whose GUID is already
registered to another send (another account, message or subscriber, or an earlier
line of the file) is not written: the result names its line.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

from goalkeeper.core.registry import (
    check_name,
    check_sent_at,
    check_subscriber,
    send_channel,
)
from goalkeeper.errors import GoalkeeperError, InvalidField
from goalkeeper.guid import format_guid, parse_guid
from goalkeeper.model import Channel, Message, Recipient
from goalkeeper.store import Store
from goalkeeper.wire.json_api import storable, timestamp

CHUNK = 5000
MAX_ERRORS = 10
FIELDS = ("guid", "message", "subscriber", "channel", "sent_at", "list")


class ImportFailed(Exception):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class ImportStopped(Exception):
    """The import stopped between two chunks when asked to: ``result`` is what was
    written, exactly."""

    def __init__(self, result: ImportResult):
        self.result = result
        super().__init__(f"stopped after {result.records} records")


@dataclasses.dataclass(frozen=True)
class Record:
    line: int
    guid: uuid.UUID
    message: str | None
    subscriber: str
    channel: Channel | None
    sent_at: dt.datetime | None
    list: str | None


@dataclasses.dataclass
class ImportResult:
    records: int = 0
    inserted: int = 0
    messages_created: int = 0
    # (line, GUID) of each record whose GUID names another send, in file order
    taken: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @property
    def already_registered(self) -> int:
        return self.records - self.inserted - len(self.taken)


def detect_format(name: str, head: str) -> str:
    lower = name.lower()
    if lower.endswith((".ndjson", ".jsonl")):
        return "ndjson"
    if lower.endswith(".csv"):
        return "csv"
    return "ndjson" if head.lstrip().startswith("{") else "csv"


def _raw_records(stream: IO[str], fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record or the reason it cannot be read) for each record."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        try:
            if reader.fieldnames is None:
                return
            unknown = [f for f in reader.fieldnames if f not in FIELDS]
            if unknown:
                yield (
                    1,
                    (
                        f"the first line must name the columns, among {', '.join(FIELDS)};"
                        f" it names {', '.join(repr(f[:40]) for f in unknown[:3])}"
                        + (" and more" if len(unknown) > 3 else "")
                    ),
                )
                return
            for row in reader:
                if None in row:
                    yield reader.line_num, "more values than columns"
                else:
                    yield reader.line_num, dict(row)
        except UnicodeDecodeError:
            yield reader.line_num + 1, "not UTF-8"
        return
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON ({exc.msg})"
                continue
            if not isinstance(value, dict):
                yield number, "each line must be a JSON object"
                continue
            yield number, value
    except UnicodeDecodeError:
        yield number + 1, "not UTF-8"


def _text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidField(f"{name} must be a string")
    return storable(value.strip(), name) or None


def _record(line: int, raw: dict[str, Any], message: Message | None) -> Record:
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        raise InvalidField(f"unknown field(s): {', '.join(map(str, unknown))}")
    guid_text = _text(raw, "guid")
    if guid_text is None:
        raise InvalidField("guid is required")
    guid = parse_guid(guid_text)
    if guid is None:
        raise InvalidField(f"guid {guid_text[:40]!r} is not a GUID")
    subscriber_text = _text(raw, "subscriber")
    if subscriber_text is None:
        raise InvalidField("subscriber is required")
    channel_text = _text(raw, "channel")
    channel = None if channel_text is None else send_channel(channel_text)
    name = _text(raw, "message")
    if name is not None:
        name = check_name(name, "message")
    if message is None:
        if name is None:
            raise InvalidField("message is required (or pass --message ID)")
        if channel is None:
            raise InvalidField("channel is required (or pass --message ID)")
    elif channel is not None and channel is not message.channel:
        raise InvalidField(f"channel {channel.value} differs from message {message.id}'s channel")
    sent_text = _text(raw, "sent_at")
    sent_at = None
    if sent_text is not None:
        sent_at = timestamp(sent_text, "sent_at")  # as the JSON API reads it
        check_sent_at(sent_at)
    return Record(
        line,
        uuid.UUID(bytes=guid),
        name,
        check_subscriber(subscriber_text),
        channel,
        sent_at,
        _text(raw, "list"),
    )


def read_records(stream: IO[str], fmt: str, message: Message | None) -> Iterator[Record | str]:
    """Each record, or an error text naming its line."""
    for line, raw in _raw_records(stream, fmt):
        if isinstance(raw, str):
            yield f"line {line}: {raw}"
            continue
        try:
            yield _record(line, raw, message)
        except GoalkeeperError as exc:
            yield f"line {line}: {exc.message}"


def check_file(
    stream: IO[str],
    fmt: str,
    message: Message | None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Validate every record; ImportFailed names the first bad lines. Returns the count;
    ``progress`` gets the count so far every 10,000 records."""
    errors: list[str] = []
    count = 0
    for item in read_records(stream, fmt, message):
        if isinstance(item, str):
            errors.append(item)
            if len(errors) >= MAX_ERRORS:
                break
        else:
            count += 1
            if progress and not count % 10_000:
                progress(count)
    if errors:
        raise ImportFailed(errors)
    return count


def import_records(
    store: Store,
    account_id: int,
    stream: IO[str],
    fmt: str,
    message: Message | None = None,
    progress: Callable[[int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> ImportResult:
    """Write the (already checked) records in chunks; ``progress`` gets each chunk's size.

    ``stop`` is asked after each chunk: when it says so, ImportStopped carries what was
    written, so an interrupted import reports it exactly.
    """
    result = ImportResult()
    messages: dict[tuple[str, Channel], Message] = {}
    now = dt.datetime.now(dt.UTC)
    chunk: list[Recipient] = []
    lines: dict[int, int] = {}  # id of a chunk's recipient -> its line in the file
    created: list[int] = []  # messages this import made

    def flush() -> None:
        registered = store.add_recipients(chunk)
        result.inserted += registered.added
        taken = sorted((lines[id(r)], format_guid(r.guid.bytes)) for r in registered.taken)
        result.taken.extend(taken)
        if progress:
            progress(len(chunk))
        chunk.clear()
        lines.clear()

    for record in read_records(stream, fmt, message):
        if isinstance(record, str):
            raise ImportFailed([record])  # the file changed since it was checked
        target = message
        if target is None:
            assert record.message is not None and record.channel is not None
            key = (record.message, record.channel)
            target = messages.get(key)
            if target is None:
                target = store.find_message(account_id, record.message, record.channel)
                if target is None:
                    target = store.create_message(
                        account_id, record.message, record.channel, record.list, record.sent_at
                    )
                    created.append(target.id)
                    result.messages_created += 1
                messages[key] = target
        recipient = Recipient(
            record.guid,
            account_id,
            target.id,
            record.subscriber,
            target.channel,
            record.sent_at or target.sent_at or now,
            record.list or target.list,
        )
        chunk.append(recipient)
        lines[id(recipient)] = record.line
        result.records += 1
        if len(chunk) >= CHUNK:
            flush()
            if stop is not None and stop():
                raise ImportStopped(result)
    if chunk:
        flush()
    # A message made for records whose GUIDs all turned out taken holds nothing.
    for message_id in created:
        if store.delete_empty_message(account_id, message_id):
            result.messages_created -= 1
    return result
