"""Ingest benchmark: bulk ingest + linkage throughput and single-PUT latency on PostgreSQL.

Everything goes through the real code path: ``records.service.bulk`` for the bulk
figure (validation, linkage against the database, encryption, history, access log), and
``PUT /api/v1/agencies/{code}/records/{id}`` with an integration token for the latency
figure, served by gunicorn (``--http testclient`` uses Flask's test client instead).

The benchmark creates its own throw-away database on the server, migrates it, creates
two agencies with integration accounts, pre-loads ``--existing`` records of synthetic
people (caseops/demo/synthetic.py) through the same service (with ``VACUUM (ANALYZE)`` after
it where the server runs without autovacuum), then measures. The measured
records are half other records of those people (from another agency, so they link) and
half new people. The database is dropped at the end unless ``--keep``.

    python -m bench.ingest --existing 10000 --records 3000 --puts 300
    python -m bench.ingest                     # 100k existing records

The pre-load of 100k records takes minutes. ``--snapshot FILE`` keeps the pre-loaded
database as a template and writes its throw-away secrets to FILE; ``--from-snapshot
FILE`` then measures on a fresh copy of it (``CREATE DATABASE ... TEMPLATE``), with the
same ``--existing`` and ``--seed``, so changes to the code path can be compared quickly.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import http.client
import io
import json
import os
import pstats
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine, make_url

from caseops.demo.synthetic import Rates, SourceRecord, generate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHUNK = 2000
_SEX = {"f": "F", "female": "F", "m": "M", "male": "M"}


# -- data -------------------------------------------------------------------------------


def person_body(person: dict[str, Any]) -> dict[str, Any]:
    """A synthetic person in the API's shape (ISO dates, F/M, no empty fields)."""
    out: dict[str, Any] = {}
    for key, value in person.items():
        if value is None:
            continue
        if isinstance(value, date):
            value = value.isoformat()
        elif key == "sex":
            value = _SEX.get(str(value).casefold())
            if value is None:
                continue
        elif key == "address":
            value = {k: v for k, v in value.items() if v}
        out[key] = value
    return out


def line(record: SourceRecord, category: str, n: int, srid: str | None = None) -> dict[str, Any]:
    data: dict[str, Any]
    if category == "housing":
        data = {
            "program_type": ("rapid_rehousing", "emergency_shelter", "permanent_supportive")[n % 3],
            "enrollment_date": f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "housing_status": ("sheltered", "unsheltered", "housed")[n % 3],
            "notes": "Synthetic benchmark record.",
        }
    else:
        data = {
            "conditions": [("asthma", "diabetes", "hypertension")[n % 3]],
            "primary_care_provider": f"Dr. Example {n % 50}",
            "last_visit": f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
        }
    return {
        "source_record_id": srid or record.record_id,
        "category": category,
        "person": person_body(record.person),
        "data": data,
        "source_version": 1,
    }


@dataclass
class Workload:
    preload: list[dict[str, Any]]  # agency b1 (housing)
    bulk: list[dict[str, Any]]  # agency b2 (health): half known people, half new
    puts: list[dict[str, Any]]  # agency b2, disjoint from ``bulk``


def workload(existing: int, records: int, puts: int, seed: int) -> Workload:
    started = time.perf_counter()
    known = generate(existing, agencies=2, seed=seed, rates=Rates(coverage=(1.0, 0.5)))
    first = known.files["A1"][:existing]
    second = known.files["A2"]
    wanted_known = (records + puts) // 2
    fresh_count = records + puts - min(wanted_known, len(second))
    fresh = generate(fresh_count, agencies=1, seed=seed + 1, rates=Rates(coverage=(1.0,)))
    others = second[:wanted_known]
    news = fresh.files["A1"][:fresh_count]
    mixed: list[dict[str, Any]] = []
    for i in range(max(len(others), len(news))):
        if i < len(others):
            mixed.append(line(others[i], "health", i))
        if i < len(news):
            mixed.append(line(news[i], "health", i, srid=f"NEW-{i:07d}"))
    preload = [line(r, "housing", n) for n, r in enumerate(first)]
    print(
        f"generated {len(preload)} existing + {len(mixed)} measured records "
        f"({time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    return Workload(preload, mixed[:records], mixed[records : records + puts])


# -- database ---------------------------------------------------------------------------


def admin_engine(server_url: str) -> Engine:
    """An engine on the server's maintenance database: a database is created from a
    template, or dropped, only with nobody connected to it."""
    server = make_url(server_url).set(database="postgres")
    return create_engine(server, isolation_level="AUTOCOMMIT", pool_size=1)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database ``name`` on the server (a copy of ``template``, which nobody may
    be connected to) and return its URL."""
    server = make_url(server_url)
    admin = admin_engine(server_url)
    with admin.connect() as connection:
        copy = ""
        if template:
            # PostgreSQL 15 copies through the WAL by default: hundreds of MB of it,
            # whose checkpoints would then land in the middle of the measurement.
            version = connection.scalar(text("SHOW server_version_num"))
            strategy = " STRATEGY FILE_COPY" if int(version) >= 150000 else ""
            copy = f' TEMPLATE "{template}"{strategy}'
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


@contextmanager
def throwaway_database(
    server_url: str, keep: bool, template: str | None = None, name: str | None = None
) -> Iterator[str]:
    name = name or f"caseops_bench_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name, template)
    admin = admin_engine(server_url)
    print(f"database {name} created", flush=True)
    try:
        yield url
    finally:
        if keep:
            print(f"database {name} kept")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"database {name} dropped")
        admin.dispose()


def bench_environment(url: str, keys: dict[str, str] | None = None) -> dict[str, str]:
    """Production mode with throw-away secrets (``keys``: a snapshot's), shared by this
    process and gunicorn."""
    keys = keys or {
        "CASEOPS_SECRET_KEY": secrets.token_urlsafe(48),
        "CASEOPS_ENCRYPTION_KEYS": "b1:"
        + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "CASEOPS_PSEUDONYM_KEY": secrets.token_urlsafe(32),
        "CASEOPS_AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    return keys | {
        "CASEOPS_ENV": "production",
        "CASEOPS_DATABASE_URL": url,
        "CASEOPS_AUDIT_SEAL_INTERVAL": "0",
        "CASEOPS_LOG_LEVEL": "WARNING",
        "CASEOPS_INSTANCE_PATH": tempfile.mkdtemp(prefix="caseops-bench-"),
    }


class SqlMeter:
    """Statements (driver calls; an executemany is one) and time spent in the database
    driver, per phase. A COPY goes around the driver's execute and is not seen."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.seconds = 0.0
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *_args) -> None:
        self.seconds += time.perf_counter() - self._started.pop()
        self.statements += 1

    def reset(self) -> None:
        self.statements, self.seconds = 0, 0.0


# -- phases -----------------------------------------------------------------------------


def setup_accounts(existing: bool = False) -> dict[str, Any]:
    """Two agencies with integration accounts (made unless ``existing``, as in a
    snapshot) and an API token for the second one's feed."""
    from caseops.agencies.service import create_agency
    from caseops.authz.actor import Actor
    from caseops.users import service as users

    operator = Actor.operator()
    actors: dict[str, Any] = {}
    for code, kind in (("b1", "housing"), ("b2", "health")):
        username = f"{code}.feed"
        if not existing:
            create_agency(operator, {"code": code, "name": f"Bench {kind}", "kind": kind})
            users.create_user(
                operator,
                {"username": username, "agency": code, "roles": ["integration"], "password": None},
            )
        actors[code] = Actor(
            username=username,
            user_id=users.get_user(username).id,
            agency=code,
            roles=frozenset({"integration"}),
        )
    actors["token"] = users.create_token(operator, "b2.feed", {"name": "bench"}).plaintext
    return actors


def ndjson(lines: Sequence[dict[str, Any]], start: int = 1) -> list[tuple[int, str]]:
    return [(start + i, json.dumps(body)) for i, body in enumerate(lines)]


def chunks(total: int) -> Iterator[tuple[int, int]]:
    """(offset, size): 100, 200, 400, ... up to CHUNK, so statistics exist early."""
    offset, size = 0, 100
    while offset < total:
        yield offset, min(size, total - offset)
        offset += size
        size = min(2 * size, CHUNK)


def preload(actor, lines: list[dict[str, Any]]) -> None:
    """Pre-load through ``records.service.bulk`` in growing chunks, committed.

    A database that grows from empty has no planner statistics until autovacuum analyzes
    it (never, where autovacuum is off, as on many test servers); where it is off,
    ``vacuum`` does autovacuum's work once the pre-load is done."""
    from caseops.extensions import db
    from caseops.records import service

    # The bench proper runs on PostgreSQL; the seed test also runs this on SQLite.
    postgres = db.engine.dialect.name == "postgresql"
    autovacuum = db.session.scalar(text("SHOW autovacuum")) if postgres else "n/a"
    print(
        f"pre-loading {len(lines)} records through records.service.bulk (autovacuum {autovacuum})"
    )
    started = time.perf_counter()
    done = 0
    for offset, size in chunks(len(lines)):
        chunk = lines[offset : offset + size]
        chunk_started = time.perf_counter()
        report = service.bulk(actor, actor.agency, ndjson(chunk, offset + 1))
        chunk_rate = len(chunk) / (time.perf_counter() - chunk_started)
        errors = report.counts.get("error", 0)
        if errors:
            bad = next(e for e in report.lines if e["status"] == "error")
            raise SystemExit(f"pre-load refused {errors} lines, e.g. {bad}")
        done += len(chunk)
        elapsed = time.perf_counter() - started
        print(
            f"  pre-loaded {done}/{len(lines)}: this chunk {chunk_rate:.0f} records/s, "
            f"overall {done / elapsed:.0f} records/s",
            flush=True,
        )
    seconds = time.perf_counter() - started
    print(f"pre-load: {len(lines)} records in {seconds:.0f} s ({len(lines) / seconds:.0f}/s)")
    db.session.commit()
    if autovacuum == "off":
        print(f"VACUUM (ANALYZE), as autovacuum would have: {vacuum(db.engine):.1f} s")


def checkpoint(engine: Engine) -> None:
    """Start a measurement right after a checkpoint, so none lands inside it (each phase
    then pays the full-page writes that follow a checkpoint, as production does every
    few minutes)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("CHECKPOINT"))


def vacuum(engine: Engine) -> float:
    """What autovacuum would have done after the pre-load: statistics, and the
    visibility map that lets the name counts be answered from the index alone."""
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))
    return time.perf_counter() - started


def save_snapshot(args: argparse.Namespace, url: str, env: dict[str, str]) -> None:
    """Copy the pre-loaded database (no connection may be open to it) and write what
    ``--from-snapshot`` needs to FILE: the copy's name and the secrets it was made with."""
    database = make_url(url).database
    name = f"{database}_snapshot"
    create_database(url, name, template=database)
    keys = {k: v for k, v in env.items() if k.endswith("_KEY") or k.endswith("_KEYS")}
    snapshot = {"database": name, "existing": args.existing, "seed": args.seed, "keys": keys}
    Path(args.snapshot).write_text(json.dumps(snapshot, indent=1))
    print(f"snapshot {name} written to {args.snapshot} (drop the database when done)")


class _NoCandidates:
    """A chunk index that finds nobody: every record becomes a new client."""

    def __init__(self, *_args) -> None:
        pass

    def candidates(self, _keys) -> list[str]:
        return []

    def write(self, *_args, **_kwargs) -> None:
        pass


def measure_baseline(url: str, actor, lines: list[dict[str, Any]]) -> float:
    """Seconds for the same bulk load with linkage switched off, on a copy of the
    database: validation, encryption, identifiers, history, link events and the access
    log as written, but no candidate queries and no scoring. What the write path costs
    on this machine without linkage, measured in the same run."""
    from caseops import create_app
    from caseops.extensions import db
    from caseops.matching import store
    from caseops.records import service

    database = make_url(url).database
    with throwaway_database(url, False, template=database, name=f"{database}_baseline") as copy:
        app = create_app({"SQLALCHEMY_DATABASE_URI": copy})
        index, store._ChunkIndex = store._ChunkIndex, _NoCandidates
        try:
            with app.app_context():
                checkpoint(db.engine)
                started = time.perf_counter()
                service.bulk(actor, actor.agency, ndjson(lines))
                elapsed = time.perf_counter() - started
                db.session.remove()
                db.engine.dispose()
        finally:
            store._ChunkIndex = index
    return elapsed


def measure_bulk(actor, lines: list[dict[str, Any]], meter: SqlMeter, profile: str | None):
    from caseops.clients.models import LinkEvent
    from caseops.extensions import db
    from caseops.records import service

    before = db.session.scalar(select(func.max(LinkEvent.id))) or 0
    checkpoint(db.engine)
    meter.reset()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = service.bulk(actor, actor.agency, ndjson(lines))
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    decisions = Counter(db.session.scalars(select(LinkEvent.action).where(LinkEvent.id > before)))
    if profiler and profile:
        profiler.dump_stats(profile)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    return elapsed, report.counts, decisions, meter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    handle, log_name = tempfile.mkstemp(prefix="caseops-bench-gunicorn-", suffix=".log")
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--config",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--access-logfile",
        "/dev/null",
        "wsgi:app",
    ]
    with os.fdopen(handle, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=os.environ | env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {log_name}")
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def load_average() -> str:
    """Other work on the machine skews every figure: print it with them."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def python_speed() -> float:
    """Seconds for ten million additions in pure Python: machines of one kind differ
    by 2-3x in this, and every figure here is mostly Python, so print it with them."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure_puts_http(host: str, port: int, token: str, lines: list[dict[str, Any]], warmup: int):
    connection = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    for n, body in enumerate(lines):
        srid = body["source_record_id"]
        payload = json.dumps({k: v for k, v in body.items() if k != "source_record_id"})
        started = time.perf_counter()
        connection.request("PUT", f"/api/v1/agencies/b2/records/{srid}", payload, headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        statuses[response.status] += 1
        if n >= warmup:
            latencies.append(elapsed)
    connection.close()
    return latencies, statuses


def measure_puts_testclient(app, token: str, lines: list[dict[str, Any]], warmup: int):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    for n, body in enumerate(lines):
        srid = body["source_record_id"]
        payload = {k: v for k, v in body.items() if k != "source_record_id"}
        started = time.perf_counter()
        with app.app_context():
            response = client.put(
                f"/api/v1/agencies/b2/records/{srid}",
                json=payload,
                headers=headers,
                base_url="https://localhost",
            )
        elapsed = time.perf_counter() - started
        statuses[response.status_code] += 1
        if n >= warmup:
            latencies.append(elapsed)
    return latencies, statuses


# -- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=100_000, help="records pre-loaded")
    parser.add_argument("--records", type=int, default=5_000, help="records in the bulk run")
    parser.add_argument("--puts", type=int, default=500, help="single PUTs timed")
    parser.add_argument("--warmup", type=int, default=20, help="PUTs not counted")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server")
    parser.add_argument("--http", choices=("gunicorn", "testclient"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="cProfile the bulk run into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--snapshot", metavar="FILE", help="keep the pre-loaded database")
    parser.add_argument("--from-snapshot", metavar="FILE", help="start from a snapshot")
    parser.add_argument(
        "--train",
        action="store_true",
        help="learn the linkage model from the pre-loaded records (caseops link train) "
        "before measuring, so the bulk run links with the trained model",
    )
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("the benchmark runs on PostgreSQL (--database-url postgresql+psycopg://...)")
    snapshot = json.loads(Path(args.from_snapshot).read_text()) if args.from_snapshot else None
    if snapshot:
        args.existing, args.seed = snapshot["existing"], snapshot["seed"]

    work = workload(args.existing, args.records, args.puts, args.seed)
    template = snapshot["database"] if snapshot else None
    with throwaway_database(args.database_url, args.keep, template) as url:
        env = bench_environment(url, snapshot["keys"] if snapshot else None)
        os.environ.update(env)
        from alembic import command

        from caseops import create_app
        from caseops.clients.models import Client
        from caseops.extensions import db
        from caseops.migrations_state import alembic_config
        from caseops.records import prepare

        command.upgrade(alembic_config(url), "head")  # a snapshot may predate a migration
        app = create_app()
        with app.app_context():
            meter = SqlMeter(db.engine)
            accounts = setup_accounts(existing=bool(snapshot))
            if snapshot:
                print(f"pre-loaded {args.existing} records: a copy of {template}")
            else:
                preload(accounts["b1"], work.preload)
            if args.train:
                from caseops.matching import training

                started = time.perf_counter()
                version = training.train("bench", progress=print)
                db.session.commit()
                training.forget_cached_model()
                print(
                    f"trained linkage model version {version.id} on {version.records} records "
                    f"(converged: {version.converged}) in {time.perf_counter() - started:.1f} s"
                )
            clients = db.session.scalar(select(func.count()).select_from(Client))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()  # a database is copied only with nobody connected
            if args.snapshot:
                save_snapshot(args, url, env)
            # The worker that prepares chunks starts once per process: not in a figure.
            prepare.warm_worker(prepare.Keys.from_config(app.config))
            baseline = measure_baseline(url, accounts["b2"], work.bulk)
            elapsed, counts, decisions, sql = measure_bulk(
                accounts["b2"], work.bulk, meter, args.profile
            )
            n = len(work.bulk)
            print(
                f"(a) bulk: {n} records in {elapsed:.1f} s = {n / elapsed:.0f} records/s "
                f"(target >= 1000) with {clients} clients in the index"
            )
            print(
                f"    baseline, same run, linkage off (every record a new client; no candidate "
                f"queries, no scoring): {n / baseline:.0f} records/s; with linkage "
                f"{baseline / elapsed:.2f}x of it"
            )
            print(
                f"    machine: {os.cpu_count()} CPUs, load average {load_average()}, "
                f"pure-Python reference {python_speed():.2f} s per 10M additions"
            )
            print(f"    outcomes {dict(counts)}; link decisions {dict(decisions)}")
            print(
                f"    SQL: {sql.statements} statements ({sql.statements / n:.3f} per record, "
                f"executemany counted once; identifiers by COPY not counted), "
                f"{1000 * sql.seconds / n:.2f} ms per record in the driver "
                f"({100 * sql.seconds / elapsed:.0f}% of the time); "
                f"the rest {1000 * (elapsed - sql.seconds) / n:.2f} ms per record"
            )
            db.session.remove()
            if args.http == "gunicorn":
                with gunicorn(env, args.workers) as (host, port):
                    latencies, statuses = measure_puts_http(
                        host, port, accounts["token"], work.puts, args.warmup
                    )
                how = f"gunicorn ({args.workers} workers, keep-alive HTTP/1.1, sequential)"
            else:
                latencies, statuses = measure_puts_testclient(
                    app, accounts["token"], work.puts, args.warmup
                )
                how = "Flask test client"
            load = load_average()
            ms = [1000 * x for x in latencies]
            print(
                f"(b) single PUT via {how}: {len(ms)} timed ({args.warmup} warm-up), "
                f"statuses {dict(statuses)}"
            )
            print(
                f"    p50 {percentile(ms, 0.50):.1f} ms  p95 {percentile(ms, 0.95):.1f} ms  "
                f"p99 {percentile(ms, 0.99):.1f} ms  max {max(ms):.1f} ms  "
                f"mean {statistics.fmean(ms):.1f} ms (target p95 <= 50 ms)"
            )
            print(f"    machine: {os.cpu_count()} CPUs, load average {load}")
            db.session.remove()
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
