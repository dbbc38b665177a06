"""Where a Goals request's time goes: goalkeeper under wrk load, sampled by py-spy.

Seeds a database (1M recipients by default), starts ``goalkeeper serve``, drives the
XML Goals path with wrk at 64 connections, and samples the server process and its
writer process with py-spy (installed into the virtual environment, pinned, when
missing). Prints, per thread of each process, its CPU time per answered request (from
/proc); for the server, the time its threads held the GIL per request by part of the
code (py-spy --gil: Python runs one thread at a time, so GIL time added over a
process's threads is the ceiling on its requests per second); for the writer process,
where its time goes while it is not waiting for work (fsync included).

    .venv/bin/python bench/profile.py [--seconds 8] [--recipients 1000000]
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
    ("report counters", r"_count_fulfillments|counting\.py|sqlite_reports"),
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
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
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
    args = parser.parse_args()

    wrk = run.ensure_wrk()
    if wrk is None:
        print("profile.py needs wrk", file=sys.stderr)
        return 2
    py_spy = ensure_py_spy()
    work = Path(tempfile.mkdtemp(prefix="goalkeeper-profile-"))
    try:
        seeded = run.seed(f"sqlite:///{work / 'bench.db'}", args.recipients)
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
            threads = {name: thread_cpu(pid) for name, pid in pids.items()}
            load = run.run_wrk(wrk, port, 64, args.seconds, guid_file, seeded.key)
            threads = {name: _minus(thread_cpu(pid), threads[name]) for name, pid in pids.items()}
            for spy in spies:
                spy.wait(60)
        finally:
            server.stop()
        profiles = {name: categorize(raw) for name, raw in raws.items()}
    finally:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
