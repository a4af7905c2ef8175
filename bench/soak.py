"""Soak: N simulated users for S seconds against gunicorn on a throw-away PostgreSQL.

Each user loops over a mix of client views, client searches, consent reads and record
writes. Every request carries its own ``X-Request-Id``; afterwards each answer that
carried data (2xx) is matched to its access-log entry by that id, so the run says
exactly how many answers had no entry (``missing``, must be 0) and how many had more
than one (``duplicate``, must be 0). Optional faults on the way: ``--kill-worker-at``
sends SIGKILL to one gunicorn worker, ``--stop-database-for`` stops the PostgreSQL
cluster (``pg_ctl stop -m fast``) for that many seconds and starts it again.

    .venv/bin/python -m bench.soak --users 10 --seconds 20 \
        [--kill-worker-at 5] [--stop-database-for 3 [--stop-database-at 8]] [--workers 2]

The cluster is made with ``initdb`` from ``CASEOPS_PG_BIN`` (default
/usr/lib/postgresql/15/bin) in a temporary directory, on a free port, as the
``postgres`` user when run as root, and removed afterwards. Exit status 1 when any
answer was a 5xx other than 503, or any answer with data had no (or two) log entries.

tests/test_outage.py runs the same machinery (a shorter load, the database stopped
for a few seconds), so this bench cannot rot unnoticed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.seeding import BENCH_SECRETS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_BIN = Path(os.environ.get("CASEOPS_PG_BIN", "/usr/lib/postgresql/15/bin"))
# What each kind of request must leave in the access log when it answers with data.
LOGGED_AS = {
    "view": "client.view",
    "search": "client.search",
    "consents": "consent.viewed",
    "write": "record.write",
}
MIX = (("view", 50), ("search", 25), ("consents", 15), ("write", 10))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a throw-away PostgreSQL cluster ---------------------------------------------------


class Cluster:
    """``initdb`` + ``pg_ctl`` in a temporary directory: a server this process may stop.

    PostgreSQL refuses to run as root, so as root every command runs as ``postgres``
    (``runuser``) in a directory owned by it.
    """

    def __init__(self, bindir: Path = PG_BIN) -> None:
        self.bindir = bindir
        self.workdir = Path(tempfile.mkdtemp(prefix="caseops-pg-"))
        self.data = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.workdir, "postgres", "postgres")

    @staticmethod
    def available(bindir: Path = PG_BIN) -> bool:
        return (bindir / "initdb").exists() and (bindir / "pg_ctl").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, cwd=self.workdir, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr or result.stdout}\n"
                f"{self.log.read_text() if self.log.exists() else ''}"
            )

    def init(self) -> Cluster:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--locale=C",
        )  # fmt: skip
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: sessions are ended and the server shuts down cleanly, as in a restart
        or a fail-over; what was committed stays committed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)


@contextlib.contextmanager
def throwaway_cluster(bindir: Path = PG_BIN) -> Iterator[Cluster]:
    cluster = Cluster(bindir)
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.destroy()


# --- data ------------------------------------------------------------------------------


@dataclass
class Seeded:
    client_ids: list[str]
    tokens: dict[str, str]  # worker, officer, feed
    names: list[str]


def letters(i: int) -> str:
    """``i`` spelt in letters (names are searched by their letters only)."""
    return "".join("abcdefghij"[int(d)] for d in str(i))


def person(i: int) -> dict[str, str]:
    return {
        "given_name": f"Given{letters(i)}",
        "family_name": f"Family{letters(i % 97)}",
        "birth_date": f"19{50 + i % 49}-0{1 + i % 9}-1{i % 9}",
        "ssn": f"{100 + i % 800:03d}-{10 + i % 89:02d}-{1000 + i:04d}",
    }


def seed(url: str, clients: int) -> Seeded:
    """Migrate; agencies hha and cchc; a cchc worker on every client's care team, with a
    consent (hha housing to cchc) for half of them; tokens for the worker, cchc's consent
    officer and hha's feed."""
    from alembic import command

    from bench import seeding
    from caseops import create_app
    from caseops.access import service as access
    from caseops.agencies.service import create_agency
    from caseops.agreements.waivers import waive_all_pairs
    from caseops.auth.service import actor_for
    from caseops.authz.actor import Actor
    from caseops.extensions import db
    from caseops.migrations_state import alembic_config
    from caseops.records import service as records
    from caseops.users import service as users

    command.upgrade(alembic_config(url), "head")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    operator = Actor.operator()
    now = datetime.now(UTC)
    ids = []
    with app.app_context():
        for code in ("hha", "cchc"):
            create_agency(operator, {"code": code, "name": code.upper(), "kind": "other"})
            # an upgraded installation: pairs waived from agreements (docs/agreements.md)
            waive_all_pairs()
            users.create_user(
                operator, {"username": f"{code}.feed", "agency": code, "roles": ["integration"]}
            )
        for username, role in (
            ("cchc.officer", "consent_officer"),
            ("cchc.worker", "case_worker"),
            ("hha.officer", "consent_officer"),
        ):
            users.create_user(
                operator,
                {
                    "username": username,
                    "agency": username.split(".")[0],
                    "roles": [role],
                    "password": "x" * 16,
                },
            )
        feeds = {c: actor_for(users.get_user(f"{c}.feed")) for c in ("hha", "cchc")}
        officer = actor_for(users.get_user("cchc.officer"))
        attester = actor_for(users.get_user("hha.officer"))
        worker = actor_for(users.get_user("cchc.worker"))
        for i in range(clients):
            body = {
                "category": "housing",
                "person": person(i),
                "source_version": 1,
                "data": {"housing_status": "sheltered", "notes": "n" * 300},
            }
            client_id = records.upsert(feeds["hha"], "hha", f"H{i}", body).as_dict()["client_id"]
            health = copy.deepcopy(body) | {
                "category": "health",
                "data": {"conditions": ["asthma"], "notes": "m" * 300},
            }
            records.upsert(feeds["cchc"], "cchc", f"C{i}", health)
            if i % 2 == 0:
                seeding.consent_housing_to_cchc(officer, attester, client_id, now)
            access.add_care_team_member(worker, client_id, "cchc.worker", None)
            ids.append(client_id)
        tokens = {
            "worker": users.create_token(operator, "cchc.worker", {}).plaintext,
            "officer": users.create_token(operator, "cchc.officer", {}).plaintext,
            "feed": users.create_token(operator, "hha.feed", {}).plaintext,
        }
        db.session.remove()
        db.engine.dispose()
    return Seeded(ids, tokens, [person(i)["given_name"] for i in range(clients)])


# --- gunicorn ---------------------------------------------------------------------------


class Server:
    """caseops under gunicorn (the project's gunicorn.conf.py) on ``database_url``."""

    def __init__(self, database_url: str, workdir: Path, workers: int = 2, env=None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "gunicorn.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CASEOPS_", "GUNICORN"))}
        base.update({k: os.environ[k] for k in BENCH_SECRETS if k in os.environ})
        base.update(
            CASEOPS_ENV="test",
            CASEOPS_DATABASE_URL=database_url,
            CASEOPS_INSTANCE_PATH=str(workdir / "instance"),
            CASEOPS_LOG_LEVEL="WARNING",
            # The background sealer runs through the faults too, as in production.
            CASEOPS_AUDIT_SEAL_INTERVAL="2",
            PYTHONUNBUFFERED="1",
        )
        base.update(env or {})
        self.env = base
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "--config",
                    "gunicorn.conf.py",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(workers),
                    "--graceful-timeout",
                    "2",
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=base,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/readyz", timeout=2) as answer,  # noqa: S310
            ):
                if answer.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"/readyz did not answer 200 in {timeout:.0f}s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
        return sorted(pids)

    def kill_worker(self) -> int | None:
        """SIGKILL one worker (the master forks a new one), as the kernel's OOM killer would."""
        pids = self.workers()
        if not pids:
            return None
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def errors_for(self, request_ids: set[str], limit: int = 200) -> str:
        """The server log's lines of these requests, each with the traceback after it."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        picked: list[str] = []
        for i, line in enumerate(lines):
            if "unhandled error" in line or "[ERROR]" in line:  # the app's, gunicorn's
                picked.append(line)
                for follow in lines[i + 1 : i + 60]:
                    if follow[:4].isdigit() or follow.startswith("127.0.0.1"):
                        break
                    picked.append(follow)
        return "\n".join(picked[:limit])

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


# --- load -------------------------------------------------------------------------------


@dataclass
class Answer:
    kind: str
    request_id: str
    started: float  # seconds since the load began
    latency_ms: float
    status: int  # 0: no HTTP answer (connection refused, reset, worker killed)
    code: str | None = None  # the error code of a JSON error answer


@dataclass
class Timeline:
    events: list[tuple[float, str]] = field(default_factory=list)

    def note(self, at: float, what: str) -> None:
        self.events.append((round(at, 2), what))


def _request(seeded: Seeded, kind: str, rng: random.Random) -> tuple[str, str, str, bytes | None]:
    client_id = rng.choice(seeded.client_ids)
    if kind == "view":
        return "GET", f"/api/v1/clients/{client_id}/record", seeded.tokens["worker"], None
    if kind == "search":
        return "GET", f"/api/v1/clients?q={rng.choice(seeded.names)}", seeded.tokens["worker"], None
    if kind == "consents":
        return "GET", f"/api/v1/clients/{client_id}/consents", seeded.tokens["officer"], None
    i = rng.randrange(len(seeded.client_ids))
    body = {
        "category": "economic_security",
        "person": person(i),
        "source_version": 1,
        "data": {"benefits": ["SNAP"]},
    }
    path = f"/api/v1/agencies/hha/records/S-{uuid.uuid4().hex[:16]}"
    return "PUT", path, seeded.tokens["feed"], json.dumps(body).encode()


def run_load(
    base_url: str,
    seeded: Seeded,
    users: int,
    seconds: float,
    faults: list[tuple[float, Callable[[], object]]] = (),
    seed_value: int = 16,
    mix: tuple[tuple[str, int], ...] = MIX,
) -> tuple[list[Answer], Timeline]:
    """``users`` threads, each with its own keep-alive connection, for ``seconds``;
    ``faults`` are (at, action) pairs run on their own thread at that second."""
    port = int(base_url.rsplit(":", 1)[1])
    answers: list[Answer] = []
    lock = threading.Lock()
    timeline = Timeline()
    began = time.monotonic()
    stop_at = began + seconds
    kinds = [k for k, weight in mix for _ in range(weight)]

    def user(number: int) -> None:
        rng = random.Random(seed_value * 1000 + number)
        connection = None
        mine = []
        while (now := time.monotonic()) < stop_at:
            kind = rng.choice(kinds)
            method, path, token, body = _request(seeded, kind, rng)
            request_id = f"soak-{number}-{uuid.uuid4().hex}"
            headers = {"Authorization": f"Bearer {token}", "X-Request-Id": request_id}
            if body is not None:
                headers["Content-Type"] = "application/json"
            status, code = 0, None
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                if status >= 400 and payload.startswith(b"{"):
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        code = json.loads(payload)["error"]["code"]
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.05)
            mine.append(
                Answer(
                    kind,
                    request_id,
                    now - began,
                    (time.monotonic() - now) * 1000,
                    status,
                    code,
                )
            )
            if status == 503:
                time.sleep(0.05)  # a client that honours Retry-After would wait longer
        if connection is not None:
            connection.close()
        with lock:
            answers.extend(mine)

    def fault(at: float, action: Callable[[], object]) -> None:
        delay = began + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        timeline.note(time.monotonic() - began, f"{getattr(action, '__name__', 'fault')}")
        action()
        timeline.note(time.monotonic() - began, f"{getattr(action, '__name__', 'fault')} done")

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    threads += [threading.Thread(target=fault, args=f, daemon=True) for f in faults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    answers.sort(key=lambda a: a.started)
    return answers, timeline


# --- accounting -------------------------------------------------------------------------


@dataclass
class Accounting:
    answered_with_data: int
    missing: list[str]  # request ids answered with data but without their log entry
    duplicate: list[str]  # ... with more than one
    logged_without_data: int  # entries for requests that got no data (allowed: fail closed)


def account(database_url: str, answers: list[Answer]) -> Accounting:
    """Match every answer to the access log by request id."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    counts: Counter[tuple[str, str]] = Counter()
    ids = [a.request_id for a in answers]
    try:
        with engine.connect() as connection:
            for start in range(0, len(ids), 1000):
                rows = connection.execute(
                    text(
                        "SELECT request_id, action, count(*) FROM access_events "
                        "WHERE request_id = ANY(:ids) GROUP BY request_id, action"
                    ),
                    {"ids": ids[start : start + 1000]},
                )
                for request_id, action, count in rows:
                    counts[(request_id, action)] += count
    finally:
        engine.dispose()
    with_data = [a for a in answers if 200 <= a.status < 300]
    missing = [a.request_id for a in with_data if counts[(a.request_id, LOGGED_AS[a.kind])] == 0]
    duplicate = [a.request_id for a in with_data if counts[(a.request_id, LOGGED_AS[a.kind])] > 1]
    logged_without = sum(
        1
        for a in answers
        if not 200 <= a.status < 300 and counts[(a.request_id, LOGGED_AS[a.kind])]
    )
    return Accounting(len(with_data), missing, duplicate, logged_without)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(answers: list[Answer], accounting: Accounting, seconds: float) -> str:
    statuses = Counter(a.status for a in answers)
    codes = Counter(f"{a.status} {a.code}" for a in answers if a.code)
    latencies = [a.latency_ms for a in answers if a.status]
    lines = [
        f"requests: {len(answers)} ({len(answers) / seconds:.1f}/s)",
        "status: "
        + ", ".join(f"{'no answer' if s == 0 else s}: {n}" for s, n in sorted(statuses.items())),
    ]
    if codes:
        lines.append("error codes: " + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())))
    lines.append(
        f"latency ms (answered): p50 {percentile(latencies, 50):.1f}  "
        f"p95 {percentile(latencies, 95):.1f}  p99 {percentile(latencies, 99):.1f}"
    )
    for kind, _ in MIX:
        mine = [a.latency_ms for a in answers if a.kind == kind and a.status]
        ok = sum(1 for a in answers if a.kind == kind and 200 <= a.status < 300)
        lines.append(
            f"  {kind:9s} {len(mine):6d} answered, {ok:6d} with data; p50 "
            f"{percentile(mine, 50):.1f} p95 {percentile(mine, 95):.1f} "
            f"p99 {percentile(mine, 99):.1f}"
        )
    by_kind = {a.request_id: a.kind for a in answers}
    if accounting.missing or accounting.duplicate:
        lines.append(
            "  missing by kind: "
            + str(Counter(by_kind[r] for r in accounting.missing))
            + "; duplicate by kind: "
            + str(Counter(by_kind[r] for r in accounting.duplicate))
            + "; first missing: "
            + ", ".join(accounting.missing[:5])
        )
    lines.append(
        f"accounting: {accounting.answered_with_data} answers with data matched to the log by "
        f"request id: missing {len(accounting.missing)}, duplicate {len(accounting.duplicate)}; "
        f"entries for requests refused or failed (no data sent): "
        f"{accounting.logged_without_data}"
    )
    return "\n".join(lines)


def audit_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    """``caseops audit ...`` against the soak database, as an operator would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEOPS_")}
    env.update({k: os.environ[k] for k in BENCH_SECRETS if k in os.environ})
    env.update(CASEOPS_ENV="test", CASEOPS_DATABASE_URL=database_url)
    return subprocess.run(
        [str(BIN / "caseops"), "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-worker-at", type=float, default=None, metavar="SECOND")
    parser.add_argument("--stop-database-for", type=float, default=None, metavar="SECONDS")
    parser.add_argument(
        "--stop-database-at", type=float, default=None, metavar="SECOND",
        help="when to stop the database (default: a third into the run)",
    )  # fmt: skip
    args = parser.parse_args()
    if not Cluster.available():
        raise SystemExit(f"PostgreSQL binaries not found in {PG_BIN} (set CASEOPS_PG_BIN)")
    for name, value in BENCH_SECRETS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("CASEOPS_ENV", "test")
    os.environ.setdefault("CASEOPS_LOG_LEVEL", "WARNING")

    with throwaway_cluster() as cluster:
        url = cluster.create_database("caseops_soak")
        started = time.perf_counter()
        seeded = seed(url, args.clients)
        print(f"seeded {args.clients} clients in {time.perf_counter() - started:.1f}s")
        workdir = Path(tempfile.mkdtemp(prefix="caseops-soak-"))
        server = Server(url, workdir, workers=args.workers)
        try:
            server.wait_ready()
            faults: list[tuple[float, Callable[[], object]]] = []
            if args.kill_worker_at is not None:

                def kill_worker() -> None:
                    print(f"  killed worker {server.kill_worker()}")

                faults.append((args.kill_worker_at, kill_worker))
            if args.stop_database_for:

                def stop_database() -> None:
                    cluster.stop()
                    time.sleep(args.stop_database_for)
                    cluster.start()

                at = args.stop_database_at
                faults.append((args.seconds / 3 if at is None else at, stop_database))
            print(
                f"soak: {args.users} users x {args.seconds:g}s, {args.workers} gunicorn workers, "
                f"PostgreSQL (throw-away cluster), mix " + ", ".join(f"{k} {w}%" for k, w in MIX)
            )
            answers, timeline = run_load(server.url, seeded, args.users, args.seconds, faults)
            for at, what in timeline.events:
                print(f"  at {at:5.2f}s: {what}")
            accounting = account(url, answers)
            print(summary(answers, accounting, args.seconds))
            restarted = [at for at, what in timeline.events if what == "stop_database done"]
            if restarted:
                first = next(
                    (a for a in answers if a.started >= restarted[0] and a.status < 300), None
                )
                last_503 = max((a.started for a in answers if a.status == 503), default=None)
                print(
                    f"recovery: database back at {restarted[0]:.2f}s; first answer with data "
                    f"asked at {first.started:.2f}s; last 503 asked at {last_503:.2f}s"
                    if first and last_503 is not None
                    else "recovery: no answer with data after the database came back"
                )
            failed = {a.request_id for a in answers if a.status >= 500 and a.status != 503}
            if failed:
                print("server errors (server log):")
                print(server.errors_for(failed))
            seal = audit_cli(url, "seal", "--grace", "0")
            verify = audit_cli(url, "verify")
            print(f"caseops audit seal: {(seal.stdout or seal.stderr).strip()}")
            print(f"caseops audit verify: {(verify.stdout or verify.stderr).strip()}")
        finally:
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    server_errors = sum(1 for a in answers if a.status >= 500 and a.status != 503)
    bad = server_errors or accounting.missing or accounting.duplicate or verify.returncode
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
