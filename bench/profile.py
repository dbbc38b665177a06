"""Where a Goals request's time goes: goalkeeper under wrk load, sampled by py-spy.

Seeds a database (1M recipients by default), starts ``goalkeeper serve``, drives the
XML Goals path with wrk at 64 connections, and samples the server process and its
writer process with py-spy (installed into the virtual environment, pinned, when
missing). Prints, per thread of each process, its CPU time per answered request (from
/proc); for the server, the time its threads held the GIL per request by part of the
code (py-spy --gil: Python runs one thread at a time, so GIL time added over a
process's threads is the ceiling on its requests per second); for the writer process,
where its time goes while it is not waiting for work (fsync included).

With ``--postgres`` the database is a throwaway PostgreSQL cluster with
pg_stat_statements loaded: it also prints the database processes' CPU per request and,
per statement, its calls and execution time.

    .venv/bin/python bench/profile.py [--seconds 8] [--recipients 1000000] [--postgres]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/run.py, beside this file

PY_SPY = "py-spy==0.4.3"

# (part, pattern on a frame): a sample belongs to the part of its innermost matching frame.
# A blocked recv() can look busy to py-spy: the writer process waiting for requests.
WAITING = "waiting for requests (not counted)"

PARTS = [
    ("XML parse", r"parse_goals_document|_parse_plain|_parse_expat|_Collector"),
    ("field conversion", r"expertsender\.py.*(goal_id|goal_value|channel|message_guid|_int32)"
     r"|parse_guid|idempotency_key"),
    ("authenticate + rate limit", r"Ingestor\.authenticate|KeyCache|hash_key|RateLimiter"),
    ("writer hand-over", r"Writer\.(submit|expect)|_resolve|Ingestor\.fulfill"),
    ("body read", r"read_body|decode_content|BodyDeadlines|RequestResponseCycle\.receive"),
    ("response send", r"send_response|tracked_send|RequestResponseCycle\.send"),
    ("request id, metrics", r"observability|prometheus|GuardedApp"),
    ("Goals handler", r"GoalsHandler"),
    ("dispatch", r"Goalkeeper\.__call__"),
    ("uvicorn (HTTP parsing, tasks)", r"uvicorn"),
    ("GUID lookup", r"_recipients_of"),
    ("report counters", r"_count_fulfillments|_count_stored|counting\.py|_reports\.py"),
    ("PostgreSQL parameters", r"postgres_arrays|_batch_params"),
    ("PostgreSQL statements, waiting included", r"PostgresFulfillments\._write_batch|psycopg"),
    ("row insert", r"insert_pending|write_fulfillments\.<locals>\.stored"),
    ("BEGIN/COMMIT (fsync)", r"SqliteStore\._write"),
    ("batch assembly", r"write_fulfillments|Writer\._take|Writer\._run"),
    (WAITING, r"_serve\.<locals>\.read .*writer_process\.py"),
    ("writer process: frames in and out", r"writer_process\.py"),
]  # fmt: skip


def ensure_py_spy() -> str:
    found = Path(sys.executable).parent / "py-spy"
    if not found.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PY_SPY], check=True)
    return str(found)


def thread_cpu(pid: int) -> dict[str, float]:
    """Thread id -> CPU seconds it has used so far."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[task.name] = run.proc_stat(task / "stat")[1]
        except OSError:
            continue
    return out


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def categorize(raw: Path) -> tuple[dict[str, collections.Counter[str]], dict[str, str]]:
    """(thread name -> part -> samples, thread id -> name) from py-spy's raw output."""
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    names: dict[str, str] = {}
    compiled = [(name, re.compile(pattern)) for name, pattern in PARTS]
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        header = re.match(r"thread \((\w+)\)(?:: (.*))?", frames[0])
        thread = (header.group(2) or header.group(1)) if header else "other"
        if header:
            names[header.group(1)] = thread
        part = "event loop, other"
        for frame in reversed(frames[1:]):
            hit = next((name for name, rx in compiled if rx.search(frame)), None)
            if hit is not None:
                part = hit
                break
        out[thread][part] += int(count)
    return out, names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--postgres", action="store_true", help="on a PostgreSQL cluster")
    args = parser.parse_args()

    wrk = run.ensure_wrk()
    if wrk is None:
        print("profile.py needs wrk", file=sys.stderr)
        return 2
    py_spy = ensure_py_spy()
    work = Path(tempfile.mkdtemp(prefix="goalkeeper-profile-"))
    statements: list[tuple[Any, ...]] = []
    database_cpu = 0.0
    try:
        url = f"sqlite:///{work / 'bench.db'}"
        if args.postgres:
            url = start_postgres(work)
        seeded = run.seed(url, args.recipients)
        guid_file = work / "guids.txt"
        guid_file.write_text("\n".join(seeded.guids) + "\n")
        port = run.free_port()
        server = run.start_goalkeeper(seeded.url, port)
        try:
            server.first_201(run.goals_body(seeded.key, seeded.guids[0]))
            run.run_wrk(wrk, port, 64, 2, guid_file, seeded.key)  # warm-up
            pids = {"server": server.proc.pid}
            for pid in server.children():
                pids["writer process"] = pid
            raws = {name: work / f"{name}.txt" for name in pids}
            spies = []
            for name, pid in pids.items():
                gil = ["--gil"] if name == "server" else []
                command = [py_spy, "record", "-p", str(pid), "-d", str(args.seconds + 1),
                           "-r", str(args.rate), "-f", "raw", "--threads", "--nonblocking",
                           *gil, "-o", str(raws[name])]  # fmt: skip
                spies.append(
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
            time.sleep(0.5)
            if args.postgres:
                reset_statements(url)
                database_cpu = postgres_cpu(work / "pg")
            threads = {name: thread_cpu(pid) for name, pid in pids.items()}
            load = run.run_wrk(wrk, port, 64, args.seconds, guid_file, seeded.key)
            threads = {name: _minus(thread_cpu(pid), threads[name]) for name, pid in pids.items()}
            if args.postgres:
                database_cpu = postgres_cpu(work / "pg") - database_cpu
                statements = read_statements(url)
            for spy in spies:
                spy.wait(60)
        finally:
            server.stop()
        profiles = {name: categorize(raw) for name, raw in raws.items()}
    finally:
        if args.postgres:
            subprocess.run([str(PG_CLUSTER), "destroy", str(work / "pg")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    requests = max(1, load.created)
    print(f"{load.rps:,.0f} requests/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms")
    for process, (parts, names) in profiles.items():
        cpu = sum(threads[process].values())
        print(f"\n{process}: CPU {cpu / requests * 1e6:.1f} us a request")
        for tid, seconds in sorted(threads[process].items(), key=lambda kv: -kv[1]):
            if seconds > 0:
                print(f"  CPU {seconds / requests * 1e6:6.1f} us a request  {names.get(tid, tid)}")
        held = "held the GIL" if process == "server" else "busy (not waiting for work)"
        for thread, counter in sorted(parts.items(), key=lambda kv: -sum(kv[1].values())):
            counter.pop(WAITING, None)
            total = sum(counter.values())
            us = total / args.rate / requests * 1e6
            print(f"  {thread}: {held} {us:.1f} us a request")
            for part, samples in counter.most_common():
                share = samples / args.rate / requests * 1e6
                print(f"    {share:6.1f} us  {samples / total:6.1%}  {part}")
    if args.postgres:
        print(f"\nPostgreSQL processes: CPU {database_cpu / requests * 1e6:.1f} us a request")
        print("  per statement: calls, mean execution, execution a request")
        for query, calls, mean_ms, total_ms in statements:
            print(
                f"  {calls:8,d}  {mean_ms * 1000:8.1f} us  {total_ms * 1000 / requests:6.1f} us"
                f"  {query}"
            )
    return 0


PG_CLUSTER = run.ROOT / "scripts" / "pg-cluster"


def start_postgres(work: Path) -> str:
    """A throwaway cluster with pg_stat_statements; the URL of a fresh database in it."""
    import psycopg

    folder = work / "pg"
    folder.mkdir()
    os.chmod(work, 0o755)  # the server runs as the postgres user
    os.chmod(folder, 0o755)
    done = subprocess.run(
        [str(PG_CLUSTER), "start", str(folder), "--stats", "--owner", str(os.getpid())],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    admin = done.stdout.strip().splitlines()[-1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE goalkeeper_profile")
    return admin.rsplit("/", 1)[0] + "/goalkeeper_profile"


def reset_statements(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")


def read_statements(url: str) -> list[tuple[Any, ...]]:
    """(statement, calls, mean ms, total ms) of the busiest statements since the reset."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60), calls,"
            " mean_exec_time, total_exec_time FROM pg_stat_statements"
            " WHERE query NOT LIKE '%pg_stat_statements%' AND calls > 0"
            " ORDER BY total_exec_time DESC LIMIT 8"
        ).fetchall()
    return [tuple(r) for r in rows]


def postgres_cpu(folder: Path) -> float:
    """CPU seconds used so far by the cluster in ``folder``: its postmaster and the
    processes it started (backends, WAL writer, checkpointer...)."""
    postmaster = (folder / "data" / "postmaster.pid").read_text().split()[0]
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent, seconds = run.proc_stat(entry / "stat")
        except OSError:
            continue
        if entry.name == postmaster or parent == postmaster:
            total += seconds
    return total


if __name__ == "__main__":
    sys.exit(main())
