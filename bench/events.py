"""Event streams beside the record view: real gunicorn (2 workers) on PostgreSQL.

Runs the record-view load of bench/view_load.py (wrk, 16 connections) twice per round:
alone, and with 500 open ``/api/v1/me/events`` streams (asyncio clients in this process).
In both, a writer changes one of the streaming worker's records every 0.5 s (through the
records service, as ingest does), so the server does the same work apart from the
streams; with streams, every change becomes ``client.updated`` on all 500 of them, and
the delay from the change's commit to each stream receiving it is measured.

Each round also has two quiet stretches (changes only, no view load), without and with
the streams open, and every phase counts the server's own CPU (the gunicorn process
group, from /proc): CPU per second with no view load and CPU per view request, without
and with streams. On a shared machine those move far less with other people's load than
the throughput does, and they say where the streams' cost goes (heartbeats when idle, the
fan-out when every stream is told of every change). The streams' clients keep raw reads
and parse them after the round, so the bench itself takes as little CPU as it can.

    .venv/bin/python -m bench.events [--database-url postgresql+psycopg://postgres@127.0.0.1/postgres]
        [--clients 200] [--streams 500] [--seconds 10] [--rounds 2]

Targets (issue 18): view throughput with streams >= 0.9x without, p99 likewise reported;
commit-to-event delay p99 <= 1 s. Needs wrk (apt-get install wrk). Stops everything it
starts (gunicorn by process group, the bench database dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench import seeding
from bench.cpu import Cpu
from bench.view_load import BIN, ROOT, free_port, seed, wrk

WRITE_EVERY = 0.5


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Streams:
    """``count`` SSE clients on one asyncio loop in a thread. Each keeps what it reads as
    (arrival time, bytes) and nothing more while the measurement runs: the events are
    parsed afterwards (``received``), so the bench's own clients take as little of the
    two cores from the server as they can (an event's arrival is when the read that
    completed it returned)."""

    def __init__(self, port: int, tokens: list[str]) -> None:
        self.port, self.tokens, self.count = port, tokens, len(tokens)
        self.reads: list[list[tuple[float, bytes]]] = []
        self.open = 0
        self.refused = 0
        self.statuses: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(120)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)

    def received(self) -> list[tuple[str, float]]:
        """(client id, arrival) of every event every stream received."""
        out = []
        for reads in self.reads:
            buffer = b""
            for arrived, data in reads:
                buffer += data
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    for line in block.split(b"\n"):
                        if line.startswith(b"data: "):
                            event = json.loads(line[6:])
                            out.append((event["data"].get("client_id", ""), arrived))
        return out

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(self._one(token)) for token in self.tokens]
        while self.open + self.refused < self.count:
            await asyncio.sleep(0.05)
        self.ready.set()
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Let the transports' closing callbacks run: a stopped loop would leave the
        # sockets open, and the server would rightly go on holding those streams.
        await asyncio.sleep(0.2)

    async def _one(self, token: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(
                f"GET /api/v1/me/events HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                self.refused += 1
                self.statuses.append(status.decode(errors="replace").strip())
                return
            await reader.readuntil(b"retry:")  # the headers, then the stream's first line
            self.open += 1
            reads: list[tuple[float, bytes]] = []
            self.reads.append(reads)
            while data := await reader.read(65536):
                reads.append((time.time(), data))
        finally:
            writer.close()


class Phase:
    """Wall time and server CPU of one stretch of the bench."""

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu
        self.started = time.monotonic()
        self.cpu_started = cpu.now()

    def end(self) -> tuple[float, float]:
        return time.monotonic() - self.started, self.cpu.now() - self.cpu_started


class Writer:
    """Changes the streaming worker's own-agency records, one every ``WRITE_EVERY`` s, and
    notes when each change committed."""

    def __init__(self, url: str, ids: list[str]) -> None:
        self.url, self.ids = url, ids
        self.committed: dict[str, float] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.n = 0
        self.failed = 0
        self.last_error = ""

    def start(self) -> None:
        self._stop.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(30)

    def _run(self) -> None:
        from caseops import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": self.url})
        with app.app_context():
            while not self._stop.wait(WRITE_EVERY):
                self.change()

    def change(self) -> None:
        """One change of the next client's cchc health record, committed (an app context
        on this bench's database is open)."""
        from caseops.auth.service import actor_for
        from caseops.extensions import db
        from caseops.records import service as records
        from caseops.users import service as users

        i = self.n % len(self.ids)
        self.n += 1
        body = {
            "category": "health",
            "person": {
                "given_name": f"Given{i}",
                "family_name": f"Family{i % 97}",
                "birth_date": f"19{50 + i % 49}-0{1 + i % 9}-1{i % 9}",
                "ssn": f"{100 + i % 800:03d}-{10 + i % 89:02d}-{1000 + i:04d}",
            },
            "source_version": 100 + self.n,
            "data": {"conditions": ["asthma"], "notes": f"change {self.n}"},
        }
        try:
            feed = actor_for(users.get_user("cchc.feed"))
            records.upsert(feed, "cchc", f"C{i}", copy.deepcopy(body))
        except Exception as error:  # an overloaded database: count it, go on
            self.failed += 1
            self.last_error = repr(error)[:200]
            db.session.rollback()
            return
        self.committed[f"{self.ids[i]}#{self.n}"] = time.time()


def delays(writer: Writer, streams: Streams, since: float) -> list[float]:
    """Per (change, stream): receipt - commit, matching each receipt to the latest commit
    of that client at or before it (a client is changed again only after len(ids) writes)."""
    by_client: dict[str, list[float]] = {}
    for key, at in writer.committed.items():
        by_client.setdefault(key.split("#")[0], []).append(at)
    out = []
    for client_id, arrived in streams.received():
        if arrived < since:
            continue
        before = [t for t in by_client.get(client_id, []) if t <= arrived + 0.05]
        if before:
            out.append(max(0.0, arrived - max(before)))
    return out


def report_costs(
    costs: dict[str, list[tuple[float, float]]],
    alone: list[tuple[float, float]],
    beside: list[tuple[float, float]],
) -> None:
    """Where the streams' cost goes, in server CPU rather than in throughput (which on a
    shared machine moves with everyone else's load): per second with no view load,
    without and with the streams open, and per view request under wrk."""
    for label, key in (("without streams", "idle"), ("with streams", "idle_streams")):
        wall = sum(w for w, _ in costs[key])
        used = sum(c for _, c in costs[key])
        print(f"server CPU, no view load, {label:15s}: {used / wall * 1000:.0f} ms/s")
    for label, key, runs in (
        ("without streams", "view", alone),
        ("with streams", "view_streams", beside),
    ):
        requests = sum(w * rps for (w, _), (rps, _) in zip(costs[key], runs, strict=True))
        used = sum(c for _, c in costs[key])
        print(f"server CPU per view request, {label:15s}: {used / requests * 1000:.2f} ms")


def explain_failure(log: Path) -> None:
    """What the server answered and logged, when wrk met error answers."""
    text = log.read_text(errors="replace")
    statuses = Counter(re.findall(r'" (\d{3}) ', text))
    print("server answers by status:", dict(sorted(statuses.items())))
    errors = [line for line in text.splitlines() if "ERROR" in line or "Error" in line]
    print("\n".join(errors[-15:]))


def settle(url: str) -> int:
    """Decide the queued record changes now (the seed's, before any server listened);
    the number of events published."""
    from caseops import create_app
    from caseops.events import notifier
    from caseops.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        started = time.perf_counter()
        published = notifier.drain()
        print(
            f"decided the seed's queued changes: {published} events in "
            f"{time.perf_counter() - started:.1f}s"
        )
        db.session.remove()
        db.engine.dispose()
    return published


def idle_token(url: str) -> str:
    """A colleague of the streaming worker with no client of their own: their streams stay
    open and receive nothing (the desk left open by people the changes do not concern)."""
    from caseops import create_app
    from caseops.authz.actor import Actor
    from caseops.users import service as users

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        operator = Actor.operator()
        users.create_user(
            operator,
            {"username": "cchc.colleague", "agency": "cchc", "roles": ["case_worker"]},
        )
        return users.create_token(operator, "cchc.colleague", {}).plaintext


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "CASEOPS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument(
        "--listeners",
        type=int,
        default=None,
        help="how many of the streams are the changing client's worker's (each change "
        "reaches these); the others are a colleague's with no relationship, open and idle. "
        "Default: all of them (every change fans out to every stream: the worst case)",
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--server-log", help="keep gunicorn's log (access and errors) here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    seeding.bench_environment()
    with seeding.migrated_database(args.database_url) as url:
        return serve_and_measure(url, args)


def serve_and_measure(url: str, args: argparse.Namespace) -> int:
    """Seed the bench database at ``url``, serve it under gunicorn, run the rounds and
    print them."""
    workdir = Path(tempfile.mkdtemp(prefix="caseops-events-bench-"))
    # access log and errors, read when a run fails (kept at --server-log when given)
    server_log = Path(args.server_log) if args.server_log else workdir / "gunicorn.log"
    process = None
    try:
        started = time.perf_counter()
        token, ids = seed(url, args.clients)
        idle = idle_token(url)
        print(f"seeded {len(ids)} clients in {time.perf_counter() - started:.0f}s")
        print("load average before the runs: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
        # The seed's own record writes queued client.updated decisions before anyone
        # listened: decide them now, so the measured runs start with an empty queue.
        settle(url)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN")}
        # Stream slots per worker: room for all the bench's streams on either worker
        # (the kernel does not split connections evenly between two workers).
        env.update(
            CASEOPS_DATABASE_URL=url,
            CASEOPS_INSTANCE_PATH=str(workdir),
            CASEOPS_EVENT_STREAMS=str(args.streams),
        )
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "bench.view_app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=server_log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.2)
        path = "/api/v1/clients/%s/record"
        cpu = Cpu(process.pid)
        writer = Writer(url, ids)
        writer.start()
        wrk(base, token, ids, path, 3, args.connections, workdir)  # warm-up, unmeasured
        alone: list[tuple[float, float]] = []
        beside: list[tuple[float, float]] = []
        costs: dict[str, list[tuple[float, float]]] = {
            "idle": [],
            "idle_streams": [],
            "view": [],
            "view_streams": [],
        }
        all_delays: list[float] = []
        quiet_delays: list[float] = []
        opened: list[tuple[int, int]] = []
        listeners = args.streams if args.listeners is None else args.listeners
        quiet = args.seconds / 2
        for _ in range(args.rounds):
            phase = Phase(cpu)
            time.sleep(quiet)  # changes only: what the server does without streams or views
            costs["idle"].append(phase.end())
            phase = Phase(cpu)
            alone.append(wrk(base, token, ids, path, args.seconds, args.connections, workdir))
            costs["view"].append(phase.end())
            streams = Streams(port, [token] * listeners + [idle] * (args.streams - listeners))
            streams.start()
            opened.append((streams.open, streams.refused))
            if streams.statuses:
                print("refused streams answered:", sorted(set(streams.statuses)))
            since = time.time()
            phase = Phase(cpu)
            time.sleep(quiet)  # streams and changes, no view load
            costs["idle_streams"].append(phase.end())
            quiet_delays += delays(writer, streams, since)
            since = time.time()
            phase = Phase(cpu)
            beside.append(wrk(base, token, ids, path, args.seconds, args.connections, workdir))
            costs["view_streams"].append(phase.end())
            time.sleep(1.5)  # the last changes' events are still on their way
            all_delays += delays(writer, streams, since)
            streams.stop()
        writer.stop()
        print("load average after the runs: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
        for label, runs in (("view alone", alone), ("with streams", beside)):
            print(f"{label:13s}: " + ", ".join(f"{r:.0f} req/s p99 {p:.1f} ms" for r, p in runs))
        report_costs(costs, alone, beside)
        alone_rps = max(r for r, _ in alone)
        beside_rps = max(r for r, _ in beside)
        ratio = beside_rps / alone_rps
        p99_alone = min(p for _, p in alone)
        p99_beside = min(p for _, p in beside)
        failed = f", failed {writer.failed} ({writer.last_error})" if writer.failed else ""
        print(
            "streams open per round: "
            + ", ".join(f"{o} (refused {r})" for o, r in opened)
            + f"; changes: {writer.n}{failed}"
        )
        print(
            f"view throughput with {args.streams} streams / without: {ratio:.2f}x "
            f"(target >= 0.9x: {'met' if ratio >= 0.9 else 'MISSED'}); "
            f"p99 {p99_beside:.1f} ms vs {p99_alone:.1f} ms"
        )
        print(
            f"commit -> event, streams open and no view load: {len(quiet_delays)} deliveries, "
            f"p50 {percentile(quiet_delays, 50) * 1000:.0f} ms, "
            f"p99 {percentile(quiet_delays, 99) * 1000:.0f} ms"
        )
        p50, p99 = percentile(all_delays, 50), percentile(all_delays, 99)
        print(
            f"commit -> event on the stream: {len(all_delays)} deliveries, p50 "
            f"{p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(all_delays) * 1000:.0f} ms "
            f"(target p99 <= 1000 ms: {'met' if p99 <= 1.0 else 'MISSED'})"
        )
        return 0
    except SystemExit:
        if server_log.exists():
            explain_failure(server_log)
        raise
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
