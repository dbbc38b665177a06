"""Metrics, structured logs and request ids.

Metrics use the Prometheus client. With ``--workers N`` the server points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder so ``/metrics`` adds up every worker,
whichever one answers the scrape. Logs are text or one JSON object a line
(``log_format``); every line logged while a request is handled carries its request id,
which is also returned in the ``X-Request-Id`` response header.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import random
import sys
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from goalkeeper.text import visible

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

HTTP_REQUESTS = Counter(
    "goalkeeper_http_requests",
    "HTTP requests answered, by route group and status.",
    ["route", "status"],
)
FULFILLMENTS_ACCEPTED = Counter(
    "goalkeeper_fulfillments_accepted", "Fulfillments stored, by front door.", ["source"]
)
FULFILLMENTS_DUPLICATE = Counter(
    "goalkeeper_fulfillments_duplicate",
    "Requests answered as a repeat of an earlier fulfillment (Idempotency-Key, orderId).",
    ["source"],
)
FULFILLMENTS_REJECTED = Counter(
    "goalkeeper_fulfillments_rejected",
    "Fulfillments refused, by front door and error code.",
    ["source", "reason"],
)
WRITER_BATCH_SIZE = Histogram(
    "goalkeeper_writer_batch_size",
    "Fulfillments per writer transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
WRITER_COMMIT_SECONDS = Histogram(
    "goalkeeper_writer_commit_seconds",
    "Time to write and commit one writer batch.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DATABASE_ERRORS = Counter(
    "goalkeeper_database_errors", "Storage operations that failed (storage unavailable)."
)


def observe_batch(size: int, seconds: float) -> None:
    WRITER_BATCH_SIZE.observe(size)
    WRITER_COMMIT_SECONDS.observe(seconds)


def render_metrics() -> tuple[bytes, str]:
    """The exposition text for this process, or for all workers in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def new_request_id(incoming: bytes | None) -> str:
    """The caller's X-Request-Id when it is short and plain, else a fresh one."""
    if incoming and len(incoming) <= 64 and incoming.isascii():
        text = incoming.decode()
        if all(c.isalnum() or c in "-_.:" for c in text):
            return text
    # Not os.urandom: it releases the GIL, and on the hot path the event loop then waits
    # for the writer thread to hand it back. Request ids need to be unique, not secret.
    return f"{random.getrandbits(64):016x}"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One record, one line: a message's control characters (a newline decoded from a
    request path, say) are shown as ``\\xNN``; a traceback still follows on its own
    lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = visible(record.message)
        return super().formatMessage(record)


def configure_logging(log_format: str, log_level: str) -> None:
    """Route goalkeeper's and uvicorn's logs to stderr in the chosen format."""
    if log_format not in ("text", "json"):
        raise ValueError(f"log_format must be text or json, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
