"""``make bench``: goalkeeper's Goals path measured against the machine's own limit.

One run, on one machine, in this order:

1. seed a fresh SQLite database (1M recipients by default; 10M more with ``--full``);
2. start a bare ASGI app answering 201 (``bench/bare.py``) under the same uvicorn
   settings as ``goalkeeper serve`` and drive it: 64 keep-alive connections for 10 s,
   then one connection;
3. start ``goalkeeper serve`` on the seeded database, timing the cold start to its
   first 201, and drive the XML Goals path the same way, with a rotating set of valid
   MessageGuids;
4. the JSON batch path (1,000 fulfillments a request), when the server has that route;
   then the bare app once more (the Goals figure's baseline is the mean of the bare
   runs before and after it), and a raw ``executemany`` of the JSON path's rows;
5. the Goals path on a throwaway PostgreSQL cluster seeded alike, between two more runs
   of the bare app whose mean is its baseline (``--no-postgres`` skips it);
6. after every load, check that the fulfillments stored equal the 201 answers.

Every figure is also given as a ratio to its baseline measured in the same run, since
the machine is shared and absolute numbers drift. Results go to
``bench/results/<time>.json`` with a description of the machine. The load generator is
Debian's ``wrk`` (installed with apt-get when missing); without it, a bounded Python
generator does the same job, more slowly.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
GOALS_PATH = "/v2/Api/Goals"
GOAL_ID = 1
SAMPLE_GUIDS = 4096

TARGETS = {
    "goals_ratio_min": 0.35,
    "goals_p99_ms_max": 10.0,
    "goals_non2xx_max": 0,
    "single_p50_excess_ms_max": 1.0,
    "peak_rss_mb_max": 150.0,
    "cold_start_s_max": 1.5,
    "registry_10m_drop_max": 0.20,
    "json_batch_ratio_min": 0.6,
    "postgres_ratio_min": 0.25,
    "postgres_p99_ms_max": 15.0,
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the machine -------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    import uvicorn

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "uvicorn": uvicorn.__version__,
        "load_average": os.getloadavg(),
    }


# -- the load generator ------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """The path of wrk, installing Debian's package if it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    log("installing wrk (apt-get)...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
        except (subprocess.SubprocessError, OSError) as exc:
            log(f"could not install wrk ({exc}); using the Python load generator")
            return None
    return shutil.which("wrk")


@dataclasses.dataclass
class Load:
    """What one load run measured."""

    generator: str
    connections: int
    seconds: float
    sent: int
    created: int  # 201 answers
    other: int  # any other answer (non-2xx for the Goals path)
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return (self.created + self.other) / self.seconds

    @property
    def abandoned(self) -> int:
        """Requests sent but never answered because the generator stopped first."""
        return self.sent - self.created - self.other

    def summary(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["requests_per_s"] = round(self.rps, 1)
        out["abandoned_at_stop"] = self.abandoned
        return out


def run_wrk(
    wrk: str, port: int, connections: int, seconds: float, guid_file: Path, key: str
) -> Load:
    threads = 1 if connections < 2 else min(2, os.cpu_count() or 1)
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(BENCH / "goals.lua"),
        f"http://127.0.0.1:{port}{GOALS_PATH}",
        "--",
        str(guid_file),
        key,
        str(GOAL_ID),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"^BENCH (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    r = json.loads(match.group(1))
    return Load(
        "wrk",
        connections,
        r["duration_us"] / 1e6,
        r["sent"],
        r["created"],
        r["other"],
        r["socket_errors"],
        r["p50_us"] / 1000,
        r["p90_us"] / 1000,
        r["p99_us"] / 1000,
        r["max_us"] / 1000,
    )


def goals_body(key: str, guid: str) -> bytes:
    return (
        '<ApiRequest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f"<ApiKey>{key}</ApiKey><Data><GoalId>{GOAL_ID}</GoalId><GoalValue>1999</GoalValue>"
        f"<MessageGuid>{guid}</MessageGuid></Data></ApiRequest>"
    ).encode()


def run_python_load(
    port: int, connections: int, seconds: float, guids: list[str], key: str
) -> Load:
    """Closed-loop keep-alive load from asyncio: stops sending at the deadline, then
    waits (bounded) for the answers still due, so nothing is abandoned."""
    requests = [
        (
            f"POST {GOALS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in (goals_body(key, g) for g in guids)
    ]
    latencies: list[float] = []
    counts = {"sent": 0, "created": 0, "other": 0, "errors": 0}

    async def connection(offset: int, deadline: float) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts["errors"] += 1
            return
        i = offset
        try:
            while time.perf_counter() < deadline:
                i = (i + 1) % len(requests)
                started = time.perf_counter()
                writer.write(requests[i])
                counts["sent"] += 1
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await asyncio.wait_for(reader.readexactly(length), 5)
                latencies.append(time.perf_counter() - started)
                counts["created" if status == 201 else "other"] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            counts["errors"] += 1
        finally:
            writer.close()

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(connection(n * 997, deadline) for n in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return Load(
        "python",
        connections,
        elapsed,
        counts["sent"],
        counts["created"],
        counts["other"],
        counts["errors"],
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
    )


class Driver:
    def __init__(self, wrk: str | None, guids: list[str], guid_file: Path, key: str):
        self.wrk = wrk
        self.guids = guids
        self.guid_file = guid_file
        self.key = key

    def load(self, port: int, connections: int, seconds: float) -> Load:
        if self.wrk is not None:
            return run_wrk(self.wrk, port, connections, seconds, self.guid_file, self.key)
        return run_python_load(port, connections, seconds, self.guids, self.key)


# -- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process we started; stopped by its own PID only."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int):
        self.name = name
        self.port = port
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def children(self) -> list[int]:
        """The server's child processes (goalkeeper's writer process)."""
        pid = self.proc.pid
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the server and its writer process, added up: what one
        worker costs."""
        total = 0.0
        for pid in [self.proc.pid, *self.children()]:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
        return total

    def cpu_seconds(self, children: bool = False) -> float:
        """User plus system CPU time the server process (or its children) used so far."""
        pids = self.children() if children else [self.proc.pid]
        return sum(proc_stat(Path(f"/proc/{pid}/stat"))[1] for pid in pids)

    def writer_metrics(self) -> dict[str, float]:
        """The writer's batch and commit histograms' sums and counts, from /metrics."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        out: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("goalkeeper_writer_") and name.endswith(("_sum", "_count")):
                out[name[len("goalkeeper_writer_") :]] = float(value)
        return out

    def post(self, body: bytes, timeout: float = 2.0) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", GOALS_PATH, body, {"Content-Type": "text/xml"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def first_201(self, body: bytes, limit: float = 30.0) -> float:
        """Seconds from now until the server answers ``body`` with 201."""
        started = time.perf_counter()
        while time.perf_counter() - started < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()}")
            try:
                status = self.post(body)
            except (ConnectionError, OSError):
                time.sleep(0.002)
                continue
            if status == 201:
                return time.perf_counter() - started
            raise RuntimeError(f"{self.name} answered {status}:\n{self.output()}")
        raise RuntimeError(f"{self.name} did not answer within {limit} s")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def proc_stat(path: Path) -> tuple[str, float]:
    """(parent pid, user plus system CPU seconds so far) from a /proc .../stat file."""
    fields = path.read_text().rsplit(")", 1)[1].split()
    return fields[1], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_bare(port: int) -> Server:
    return Server(
        "bare app", [sys.executable, str(BENCH / "bare.py"), str(port)], dict(os.environ), port
    )


def start_goalkeeper(url: str, port: int) -> Server:
    env = dict(os.environ)
    env.update(
        GOALKEEPER_DATABASE_URL=url,
        GOALKEEPER_PORT=str(port),
        GOALKEEPER_HOST="127.0.0.1",
        GOALKEEPER_LOG_LEVEL="warning",
        GOALKEEPER_WORKERS="1",
    )
    return Server("goalkeeper", [str(BIN / "goalkeeper"), "serve"], env, port)


# -- seeding -----------------------------------------------------------------------------


@dataclasses.dataclass
class Seeded:
    url: str  # the database URL goalkeeper is given
    recipients: int
    key: str
    account_id: int
    message_id: int
    guids: list[str]  # a random sample of registered GUIDs, in canonical text
    seconds: float


def _guid(i: int, base_ms: int, rand: int) -> bytes:
    """A UUIDv7-shaped GUID, increasing with ``i`` as goalkeeper's own are in time."""
    high = ((base_ms + (i >> 10)) << 16) | (0x7 << 12) | (i & 0x3FF)
    return struct.pack(">QQ", high, (0b10 << 62) | (rand & ((1 << 62) - 1)))


def seed(url: str, recipients: int) -> Seeded:
    """A fresh database: one account with an ingest key, goal 1, one message, and
    ``recipients`` GUIDs registered for it (bulk-loaded: big SQLite transactions, or
    COPY on PostgreSQL)."""
    from goalkeeper.core.accounts import create_account
    from goalkeeper.core.keys import create_key
    from goalkeeper.core.registry import create_goal, create_message
    from goalkeeper.model import Channel, Scope
    from goalkeeper.store import open_store
    from goalkeeper.store.sqlite import ts

    started = time.perf_counter()
    store = open_store(url)
    try:
        store.upgrade()
        account = create_account(store, "Bench shop")
        key = create_key(store, account.account_id, Scope.INGEST).key
        create_goal(store, account.account_id, "Purchase", goal_id=GOAL_ID)
        sent = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        message = create_message(
            store, account.account_id, "Bench campaign", Channel.EMAIL, "List", sent
        )
    finally:
        store.close()

    rng = random.Random(20261127)
    base_ms = int(sent.timestamp() * 1000)
    picks = set(rng.sample(range(recipients), min(SAMPLE_GUIDS, recipients)))
    sample: list[str] = []
    sent_s = ts(sent)
    account_id, message_id = account.account_id, message.id

    def rows(lo: int, hi: int) -> Iterator[tuple[Any, ...]]:
        getrandbits = rng.getrandbits
        for i in range(lo, hi):
            guid = _guid(i, base_ms, getrandbits(62))
            if i in picks:
                sample.append(str(uuid.UUID(bytes=guid)).upper())
            yield (guid, account_id, message_id, f"subscriber-{i}", "List", "Email", sent_s)

    if not url.startswith("sqlite:///"):
        _copy_recipients(url, recipients, rows, sent)
        rng.shuffle(sample)
        elapsed = time.perf_counter() - started
        return Seeded(url, recipients, key, account_id, message_id, sample, elapsed)
    conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    chunk = 250_000
    for lo in range(0, recipients, chunk):
        hi = min(recipients, lo + chunk)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO recipients (guid, account_id, message_id, subscriber_id, list,"
            " channel, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows(lo, hi),
        )
        conn.execute("COMMIT")
        if recipients >= 2_000_000 and hi % 2_000_000 == 0:
            log(f"  seeded {hi:,} of {recipients:,}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    rng.shuffle(sample)
    return Seeded(
        url, recipients, key, account_id, message_id, sample, time.perf_counter() - started
    )


def _copy_recipients(
    url: str,
    recipients: int,
    rows: Callable[[int, int], Iterator[tuple[Any, ...]]],
    sent: dt.datetime,
) -> None:
    import psycopg

    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cur,
        cur.copy(
            "COPY recipients (guid, account_id, message_id, subscriber_id, list, channel,"
            " sent_at) FROM STDIN"
        ) as copy,
    ):
        for row in rows(0, recipients):
            copy.write_row((uuid.UUID(bytes=row[0]), *row[1:6], sent))
    # As after any bulk load: statistics for the planner, and the rows marked visible
    # (hint bits, visibility map), which the first reads would otherwise do while the
    # measurement runs, writing every page of the registry once. Then a checkpoint, so
    # the load's WAL is not flushed in the middle of the measurement.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) recipients")
        conn.execute("CHECKPOINT")


def count_fulfillments(url: str) -> int:
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :])
        try:
            return int(conn.execute("SELECT count(*) FROM fulfillments").fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as pg:
        row = pg.execute("SELECT count(*) FROM fulfillments").fetchone()
        assert row is not None
        return int(row[0])


def verify(url: str, before: int, created: int, abandoned: int) -> dict[str, Any]:
    """Stored rows against 201 answers: every 201 stored, nothing beyond what was sent.

    A load generator stopped by the clock drops the answers of the requests it had in
    flight (``abandoned``); the server still commits those, so the stored count may
    exceed the 201 answers by at most that many.
    """
    stored = count_fulfillments(url) - before
    return {
        "answered_201": created,
        "abandoned_at_stop": abandoned,
        "stored": stored,
        "ok": created <= stored <= created + abandoned,
    }


def settle(url: str, expected: int, limit: float = 5.0) -> None:
    """Wait (bounded) until the server has committed what it was sent."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and count_fulfillments(url) < expected:
        time.sleep(0.05)


# -- the runs ----------------------------------------------------------------------------


def measure_bare(
    driver: Driver, seconds: float, connections: int, single: bool = True
) -> dict[str, Any]:
    port = free_port()
    server = start_bare(port)
    try:
        server.first_201(b"")
        driver.load(port, connections, 1.0)  # warm-up
        cpu = server.cpu_seconds()
        many = driver.load(port, connections, seconds)
        cpu = server.cpu_seconds() - cpu
        out = {
            "many": many.summary(),
            "server_cpu_us_per_request": round(cpu / max(1, many.created) * 1e6, 1),
            "peak_rss_mb": round(server.peak_rss_mb(), 1),
        }
        if single:
            out["single"] = driver.load(port, 1, max(3.0, seconds / 2)).summary()
        return out
    finally:
        server.stop()


def measure_goals(
    driver: Driver,
    seeded: Seeded,
    seconds: float,
    connections: int,
    single: bool = True,
    json_seconds: float = 0.0,
) -> dict[str, Any]:
    port = free_port()
    before = count_fulfillments(seeded.url)
    probe = goals_body(seeded.key, seeded.guids[0])
    launched = time.perf_counter()
    server = start_goalkeeper(seeded.url, port)
    try:
        server.first_201(probe)
        cold = time.perf_counter() - launched
        created = 1
        abandoned = 0
        warm = driver.load(port, connections, 1.0)
        cpu, batches = server.cpu_seconds(), server.writer_metrics()
        writer_cpu = server.cpu_seconds(children=True)
        many = driver.load(port, connections, seconds)
        cpu, batches = server.cpu_seconds() - cpu, _delta(server.writer_metrics(), batches)
        writer_cpu = server.cpu_seconds(children=True) - writer_cpu
        loads = [warm, many]
        if single:
            loads.append(driver.load(port, 1, max(3.0, seconds / 2)))
        for load in loads:
            created += load.created
            abandoned += load.abandoned
        settle(seeded.url, before + created + abandoned)
        out: dict[str, Any] = {
            "cold_start_s": round(cold, 3),
            "many": many.summary(),
            "server_cpu_us_per_request": round(cpu / max(1, many.created) * 1e6, 1),
            "writer_process_cpu_us_per_request": round(writer_cpu / max(1, many.created) * 1e6, 1),
            "writer": {
                "rows_per_batch": round(
                    batches.get("batch_size_sum", 0) / max(1, batches.get("batch_size_count", 0)),
                    1,
                ),
                "ms_per_batch": round(
                    batches.get("commit_seconds_sum", 0)
                    / max(1, batches.get("commit_seconds_count", 0))
                    * 1000,
                    2,
                ),
            },
            "peak_rss_mb": round(server.peak_rss_mb(), 1),
            "verify": verify(seeded.url, before, created, abandoned),
        }
        if single:
            out["single"] = loads[2].summary()
        if json_seconds:
            stored = count_fulfillments(seeded.url)
            batch = run_json_batches(port, seeded, json_seconds)
            settle(seeded.url, stored + batch["accepted"])
            batch["verify"] = verify(seeded.url, stored, batch["accepted"], 0)
            out["json_batch"] = batch
        return out
    finally:
        server.stop()


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


JSON_BATCH = 1000
JSON_CONNECTIONS = 2


def json_batch_body(seeded: Seeded, offset: int) -> bytes:
    guids = seeded.guids
    items = [
        {"goal_id": GOAL_ID, "message_guid": guids[(offset + i) % len(guids)], "value": 1999}
        for i in range(JSON_BATCH)
    ]
    return json.dumps({"fulfillments": items}).encode()


def run_json_batches(port: int, seeded: Seeded, seconds: float) -> dict[str, Any]:
    """POST /api/v1/fulfillments with 1,000 items a request from a few keep-alive
    connections for ``seconds``; every answer is read, so nothing is abandoned."""
    import threading

    bodies = [json_batch_body(seeded, n * 613) for n in range(4)]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {seeded.key}"}
    totals = {"requests": 0, "accepted": 0, "other": 0, "non_2xx": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = n
        try:
            while time.perf_counter() < deadline:
                conn.request("POST", "/api/v1/fulfillments", bodies[i % len(bodies)], headers)
                response = conn.getresponse()
                payload = response.read()
                i += 1
                accepted = other = 0
                if response.status == 200:
                    for result in json.loads(payload)["results"]:
                        if result["status"] == "accepted":
                            accepted += 1
                        else:
                            other += 1
                with lock:
                    totals["requests"] += 1
                    totals["accepted"] += accepted
                    totals["other"] += other
                    totals["non_2xx"] += response.status >= 300
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(JSON_CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "connections": JSON_CONNECTIONS,
        "rows_per_request": JSON_BATCH,
        "seconds": round(elapsed, 2),
        **totals,
        "rows_per_s": round(totals["accepted"] / elapsed, 1),
    }


def raw_executemany(seeded: Seeded, seconds: float) -> float:
    """Rows/s of the same rows written by a bare executemany, 1,000 a transaction, in a
    WAL database with synchronous=FULL: the storage limit the JSON path is held to."""
    from goalkeeper.store.sqlite import ts

    conn = sqlite3.connect(seeded.url[len("sqlite:///") :], isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        lookup = {
            g: conn.execute(
                "SELECT message_id, subscriber_id, channel FROM recipients WHERE guid = ?",
                (uuid.UUID(g).bytes,),
            ).fetchone()
            for g in seeded.guids
        }
        rows_done = 0
        offset = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            now = ts(dt.datetime.now(dt.UTC))
            rows = []
            for i in range(JSON_BATCH):
                g = seeded.guids[(offset + i) % len(seeded.guids)]
                m = lookup[g]
                rows.append(
                    (seeded.account_id, GOAL_ID, uuid.UUID(g).bytes, m[0], m[1], m[2], 1999,
                     "json", None, now, now)
                )  # fmt: skip
            offset += JSON_BATCH
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO fulfillments (account_id, goal_id, message_guid, message_id,"
                " subscriber_id, channel, value, source, idempotency_key, occurred_at,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
            rows_done += len(rows)
        return rows_done / (time.perf_counter() - started)
    finally:
        conn.close()


def measure_postgres(
    wrk: str | None, recipients: int, seconds: float, connections: int
) -> dict[str, Any]:
    """The Goals path on a throwaway PostgreSQL cluster (durable settings), seeded alike."""
    import psycopg

    script = ROOT / "scripts" / "pg-cluster"
    folder = tempfile.mkdtemp(prefix="goalkeeper-bench-pg-")
    os.chmod(folder, 0o755)  # the server runs as the postgres user
    try:
        done = subprocess.run(
            [str(script), "start", folder, "--owner", str(os.getpid())],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scripts/pg-cluster failed: {done.stderr.strip()[-500:]}")
        admin = done.stdout.strip().splitlines()[-1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE goalkeeper_bench")
        parts = urllib.parse.urlsplit(admin)
        url = urllib.parse.urlunsplit(parts._replace(path="/goalkeeper_bench"))
        seeded = seed(url, recipients)
        guid_file = Path(folder) / "guids.txt"
        guid_file.write_text("\n".join(seeded.guids) + "\n")
        driver = Driver(wrk, seeded.guids, guid_file, seeded.key)
        # The bare app again, just before and just after: this run comes minutes after the
        # first baseline, and on a shared machine the limit moves in between.
        before = measure_bare(driver, seconds, connections, single=False)
        out = measure_goals(driver, seeded, seconds, connections)
        after = measure_bare(driver, seconds, connections, single=False)
        out["bare_requests_per_s"] = [
            before["many"]["requests_per_s"],
            after["many"]["requests_per_s"],
        ]
        out["seed_seconds"] = round(seeded.seconds, 1)
        return out
    except (OSError, subprocess.SubprocessError, psycopg.Error) as exc:
        raise RuntimeError(str(exc)) from exc
    finally:
        subprocess.run([str(script), "destroy", folder], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def judge(result: dict[str, Any]) -> dict[str, bool]:
    t = TARGETS
    bare, goals = result["bare"], result["goals_1m"]
    checks = {
        "goals_ratio": goals["ratio_to_bare"] >= t["goals_ratio_min"],
        "goals_p99": goals["many"]["p99_ms"] <= t["goals_p99_ms_max"],
        "goals_non2xx": goals["many"]["other"] <= t["goals_non2xx_max"],
        "single_p50": goals["single"]["p50_ms"] - bare["single"]["p50_ms"]
        <= t["single_p50_excess_ms_max"],
        "peak_rss": goals["peak_rss_mb"] <= t["peak_rss_mb_max"],
        "cold_start": goals["cold_start_s"] <= t["cold_start_s_max"],
        "stored_equals_201": goals["verify"]["ok"],
    }
    if "goals_10m" in result:
        g10 = result["goals_10m"]
        checks["registry_10m"] = g10["ratio_to_1m"] >= 1 - t["registry_10m_drop_max"]
        checks["stored_equals_201_10m"] = g10["verify"]["ok"]
    if "postgres" in result:
        pg = result["postgres"]
        checks["postgres_ratio"] = pg["ratio_to_bare"] >= t["postgres_ratio_min"]
        checks["postgres_p99"] = pg["many"]["p99_ms"] <= t["postgres_p99_ms_max"]
        checks["postgres_non2xx"] = pg["many"]["other"] == 0
        checks["postgres_stored_equals_201"] = pg["verify"]["ok"]
    if "json_batch" in result:
        batch = result["json_batch"]
        checks["json_batch_ratio"] = batch["ratio_to_executemany"] >= t["json_batch_ratio_min"]
        checks["json_batch_non2xx"] = batch["non_2xx"] == 0 and batch["other"] == 0
        checks["json_stored_equals_accepted"] = batch["verify"]["ok"]
    return checks


def report(result: dict[str, Any]) -> None:
    def line(name: str, load: dict[str, Any], extra: str = "") -> None:
        print(
            f"  {name:<24} {load['requests_per_s']:>9,.0f} req/s  p50 {load['p50_ms']:6.2f} ms"
            f"  p99 {load['p99_ms']:6.2f} ms  non-2xx {load['other']}{extra}"
        )

    bare, goals = result["bare"], result["goals_1m"]
    c = result["settings"]["connections"]
    n = result["settings"]["recipients"]
    rows = f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"
    print(f"\ngoalkeeper bench ({result['settings']['generator']}, {c} connections)")
    line(f"bare app x{c}", bare["many"])
    line("bare app x1", bare["single"])
    line(f"Goals {rows} x{c}", goals["many"], f"  ratio {goals['ratio_to_bare']:.3f}")
    before, after = goals["bare_requests_per_s"]
    print(f"  against the bare app just before and after it: {before:,.0f}, {after:,.0f} req/s")
    line(f"Goals {rows} x1", goals["single"])
    print(
        f"  server CPU per request {goals['server_cpu_us_per_request']:.1f} us"
        f" (bare {bare['server_cpu_us_per_request']:.1f}),"
        f" writer process {goals.get('writer_process_cpu_us_per_request', 0):.1f} us;"
        f" writer {goals['writer']['rows_per_batch']:.1f} rows a batch,"
        f" {goals['writer']['ms_per_batch']:.2f} ms a batch"
    )
    print(
        f"  peak RSS {goals['peak_rss_mb']:.1f} MB with its writer process"
        f" (bare {bare['peak_rss_mb']:.1f}),"
        f" cold start to first 201 {goals['cold_start_s']:.3f} s"
    )
    v = goals["verify"]
    print(
        f"  stored {v['stored']} = 201 answers {v['answered_201']}"
        f" + abandoned at stop {v['abandoned_at_stop']}: {'ok' if v['ok'] else 'MISMATCH'}"
    )
    if "goals_10m" in result:
        g = result["goals_10m"]
        line(
            f"Goals 10M x{c}",
            g["many"],
            f"  vs 1M {g['ratio_to_1m']:.3f} (1M after: {g['requests_per_s_1m_after']:,.0f})",
        )
    if "postgres" in result:
        g = result["postgres"]
        line(f"Goals PostgreSQL x{c}", g["many"], f"  ratio {g['ratio_to_bare']:.3f}")
        before, after = g["bare_requests_per_s"]
        print(f"  against the bare app just before and after it: {before:,.0f}, {after:,.0f} req/s")
        v = g["verify"]
        print(
            f"  PostgreSQL: stored {v['stored']}, 201 answers {v['answered_201']},"
            f" abandoned at stop {v['abandoned_at_stop']}: {'ok' if v['ok'] else 'MISMATCH'}"
        )
    if "json_batch" in result:
        j = result["json_batch"]
        print(
            f"  JSON batch {j['rows_per_s']:,.0f} rows/s vs executemany"
            f" {j['executemany_rows_per_s']:,.0f}: ratio {j['ratio_to_executemany']:.3f}"
        )
    for name, ok in result["checks"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--full", action="store_true", help="also measure a 10M-row registry")
    parser.add_argument("--python-load", action="store_true", help="skip wrk")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)

    wrk = None if args.python_load else ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="goalkeeper-bench-"))
    result: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "generator": "wrk" if wrk else "python",
            "connections": args.connections,
            "seconds": args.seconds,
            "recipients": args.recipients,
        },
        "targets": TARGETS,
    }
    try:
        log(f"seeding {args.recipients:,} recipients...")
        seeded = seed(f"sqlite:///{work / 'bench.db'}", args.recipients)
        result["seed_seconds"] = round(seeded.seconds, 1)
        guid_file = work / "guids.txt"
        guid_file.write_text("\n".join(seeded.guids) + "\n")
        driver = Driver(wrk, seeded.guids, guid_file, seeded.key)
        big = None
        if args.full:
            log("seeding 10,000,000 recipients...")
            big = seed(f"sqlite:///{work / 'bench-10m.db'}", 10_000_000)

        log("bare app...")
        result["bare"] = measure_bare(driver, args.seconds, args.connections)
        log("goalkeeper, Goals path...")
        goals = measure_goals(
            driver, seeded, args.seconds, args.connections, json_seconds=args.seconds / 2
        )
        # Judged, as on PostgreSQL, against the bare app on either side of it: the
        # machine's speed moves within minutes.
        log("bare app again...")
        after = measure_bare(driver, args.seconds, args.connections, single=False)
        goals["bare_requests_per_s"] = [
            result["bare"]["many"]["requests_per_s"],
            after["many"]["requests_per_s"],
        ]
        goals["ratio_to_bare"] = ratio(
            goals["many"]["requests_per_s"], sum(goals["bare_requests_per_s"]) / 2
        )
        batch = goals.pop("json_batch")
        log("raw executemany of the same rows...")
        batch["executemany_rows_per_s"] = round(raw_executemany(seeded, args.seconds / 2), 1)
        batch["ratio_to_executemany"] = ratio(batch["rows_per_s"], batch["executemany_rows_per_s"])
        result["goals_1m"] = goals
        result["json_batch"] = batch

        if big is not None:
            # The 10M run sits between two 1M runs; it is judged against their mean, so a
            # change in the machine's load during the run does not pass for the registry.
            big_file = work / "guids-10m.txt"
            big_file.write_text("\n".join(big.guids) + "\n")
            log("goalkeeper on the 10M registry, Goals path...")
            g10 = measure_goals(
                Driver(wrk, big.guids, big_file, big.key),
                big,
                args.seconds,
                args.connections,
                single=False,
            )
            log("goalkeeper on the 1M registry again...")
            again = measure_goals(driver, seeded, args.seconds, args.connections, single=False)
            reference = (goals["many"]["requests_per_s"] + again["many"]["requests_per_s"]) / 2
            g10["seed_seconds"] = round(big.seconds, 1)
            g10["requests_per_s_1m_after"] = again["many"]["requests_per_s"]
            g10["ratio_to_1m"] = ratio(g10["many"]["requests_per_s"], reference)
            result["goals_10m"] = g10

        if not args.no_postgres:
            log("PostgreSQL (scripts/pg-cluster), Goals path...")
            try:
                pg = measure_postgres(wrk, args.recipients, args.seconds, args.connections)
            except RuntimeError as exc:
                log(f"PostgreSQL run skipped: {exc}")
                result["postgres_skipped"] = str(exc)
            else:
                around = pg["bare_requests_per_s"]
                pg["ratio_to_bare"] = ratio(pg["many"]["requests_per_s"], sum(around) / 2)
                result["postgres"] = pg

        result["checks"] = judge(result)
    finally:
        if args.keep:
            log(f"databases kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    print(f"  results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
