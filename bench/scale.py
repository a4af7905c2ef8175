"""Scale benchmark: do the hot paths stay flat from 10k to a million clients?

Builds (or reuses) two PostgreSQL databases of synthetic people (caseops/demo/synthetic.py),
a small one (``--baseline``, 10k clients) and a large one (``--clients``, 1M), each with
three records per client (one from each of three agencies) and ten access-log entries per
client, then measures in this process (``create_app`` against each database, one request
context per call, as bench/desk.py does), alternating between the two sizes so that other
work on the machine falls on both alike:

* **view**: ``access.view_record`` by a case worker on the care team of the client (a
  consented housing section, the health section of the worker's own agency), its log
  entry committed before it returns;
* **search**: ``clients.service.search`` by that worker, by name and birth date;
* **client trail**: ``audit.trail.search_events`` by the worker's agency's privacy officer
  (agency scope, the common case), every page of "all access to client X";
* **ingest**: records/s through ``records.service.bulk`` (validation, linkage against
  the database, encryption, log) for a batch of new people.

It prints p50/p95 per size, the ratio large/small (target: every p95 at most 1.5x) and the
disk used (``pg_database_size``) per million clients.

    python -m bench.scale --clients 20000 --baseline 2000          # minutes
    python -m bench.scale --snapshot                               # 1M vs 10k

How a database is built (``build``): records go through the bulk path's own write code
(``records.prepare`` validates, encrypts and pseudonymises every line, in ``--jobs``
worker processes; ``records.writes.apply`` writes each chunk with COPY: clients, records,
versions, identifiers, link events, the access-log entries of the writes). Linkage
scoring is skipped: the generator knows who is who, so a person's second and third
records are placed on the first one's client as an automatic link. The access log is then
filled by one ``INSERT ... SELECT generate_series`` up to ten entries per client (views and
searches by workers of the three agencies, spread over all clients and over two years,
one partition per month, each with its own 32-byte ``leaf_salt``: leaf version 2); the
log is not sealed. A sample of ``--sample``
clients gets the worker on its care team and an attested housing consent (through the
services). Then ``VACUUM (ANALYZE)``.

A million clients take about an hour and a half to build on a shared 2-core machine
(500-650 records/s). With ``--snapshot`` each built
database is kept as a template, ``caseops_scale_snapshot_<clients>`` (its secrets in
``--snapshot-dir``), and later runs measure on a fresh copy of it (``CREATE DATABASE ...
TEMPLATE``; migrations newer than the snapshot are applied to the copy). The build
commits chunk by chunk and writes the secrets first: run the same command again to
resume an interrupted build, or add ``--stop-growing`` to finish it at the size it
reached (the report then shows that size). Drop the templates when done (``DROP
DATABASE caseops_scale_snapshot_1000000``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.ingest import (
    admin_engine,
    create_database,
    line,
    load_average,
    ndjson,
    percentile,
    person_body,
)
from caseops.demo.synthetic import Rates, SourceRecord, generate

DEFAULT_SERVER = os.environ.get(
    "CASEOPS_BENCH_POSTGRES_URL",
    "postgresql+psycopg://caseops_test:caseops_test@127.0.0.1:5432/postgres",
)
# (code, kind, category): every client has one record of each, in this order.
AGENCIES = (
    ("hha", "housing", "housing"),
    ("cchc", "health", "health"),
    ("esa", "other", "economic_security"),
)
RECORDS_PER_CLIENT = len(AGENCIES)
LOG_PER_CLIENT = 10
CHUNK_PEOPLE = 2000  # people per prepared chunk (6,000 records, one transaction)
SNAPSHOT_PREFIX = "caseops_scale_snapshot_"
EVERY_RATE = Rates(coverage=(1.0,) * RECORDS_PER_CLIENT, duplicate=0.0)
USERS = {
    "hha.feed": ("hha", "integration"),
    "cchc.feed": ("cchc", "integration"),
    "esa.feed": ("esa", "integration"),
    "hha.officer": ("hha", "consent_officer"),
    "cchc.officer": ("cchc", "consent_officer"),
    "cchc.worker": ("cchc", "case_worker"),
    "cchc.privacy": ("cchc", "privacy_officer"),
}

# Views (nine in ten) and searches by 2,000 workers of the three agencies, spread over
# every client by a multiplicative hash of the entry number (so one client's entries lie
# far apart in the table, as a year of real traffic leaves them), each with its own
# 32-byte leaf salt, over two years of month partitions (``bench.seeding``). Searches
# are picked by another hash: by ``g % 10`` they would all fall on the clients numbered
# 0 mod 10 whenever the client count is a multiple of 10.
FILL_SQL = """
INSERT INTO access_events (occurred_at, actor, actor_user_id, actor_agency, actor_roles,
    token_id, action, outcome, target_type, target_id, client_id, purpose, request_id,
    channel, ip, user_agent, detail, leaf_salt)
SELECT CAST(:first AS timestamptz) + make_interval(secs => g * CAST(:step AS float8)),
       'worker' || (g % 2000), NULL, (ARRAY['hha', 'cchc', 'esa'])[g % 3 + 1],
       '["case_worker"]', NULL,
       CASE WHEN hashint8(g) % 10 = 0 THEN 'client.search' ELSE 'client.view' END,
       CASE WHEN g % 9 = 0 THEN 'denied' ELSE 'success' END,
       CASE WHEN hashint8(g) % 10 = 0 THEN NULL ELSE 'client' END,
       CASE WHEN hashint8(g) % 10 = 0 THEN NULL ELSE n.id END,
       CASE WHEN hashint8(g) % 10 = 0 THEN NULL ELSE n.id END,
       CASE WHEN hashint8(g) % 10 = 0 THEN NULL ELSE 'care_coordination' END,
       md5(g::text), 'http', '10.0.' || (g % 250) || '.' || (g % 200),
       'Mozilla/5.0 (X11; Linux x86_64) caseops-bench',
       CASE WHEN hashint8(g) % 10 = 0
         THEN json_build_object('criteria', json_build_array('birth_date', 'name'),
                                'result_client_ids', json_build_array(n.id))
         ELSE json_build_object(
           'requested', json_build_array('hha/housing', 'cchc/health', 'esa/economic_security'),
           'disclosed', json_build_array('cchc/health'),
           'reasons', json_build_object('hha/housing', 'no_consent',
                                        'esa/economic_security', 'no_consent'),
           'consent_ids', json_build_array(), 'policy_version', 1)
       END,
       decode(md5('a' || g) || md5('b' || g), 'hex')
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS g
JOIN scale_client_numbers AS n ON n.n = (g * 2654435761) % :clients
"""


# -- secrets and databases --------------------------------------------------------------


def new_keys() -> dict[str, str]:
    return {
        "CASEOPS_SECRET_KEY": secrets.token_urlsafe(48),
        "CASEOPS_ENCRYPTION_KEYS": "s1:"
        + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "CASEOPS_PSEUDONYM_KEY": secrets.token_urlsafe(32),
        "CASEOPS_AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def app_config(url: str, keys: dict[str, str]) -> dict[str, Any]:
    """Production settings with a database's own throw-away secrets (two databases, each
    with its own, are open in one process)."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": keys["CASEOPS_SECRET_KEY"],
        **keys,
    }


def base_environment() -> None:
    """What ``create_app`` reads from the environment before the per-database overrides."""
    os.environ.update(new_keys())
    os.environ.update(
        {
            "CASEOPS_ENV": "production",
            "CASEOPS_AUDIT_SEAL_INTERVAL": "0",
            "CASEOPS_LOG_LEVEL": "WARNING",
            "CASEOPS_INSTANCE_PATH": tempfile.mkdtemp(prefix="caseops-scale-"),
        }
    )
    os.environ.setdefault("CASEOPS_DATABASE_URL", DEFAULT_SERVER)


def make_app(url: str, keys: dict[str, str]):
    from caseops import create_app

    app = create_app(app_config(url, keys))
    for name in ("CASEOPS_ENCRYPTION_KEYS", "CASEOPS_PSEUDONYM_KEY"):
        if app.config[name] != keys[name]:  # pragma: no cover - a config key renamed
            raise SystemExit(f"create_app ignored the override of {name}")
    return app


def drop_database(server_url: str, name: str) -> None:
    admin = admin_engine(server_url)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def database_exists(server_url: str, name: str) -> bool:
    admin = admin_engine(server_url)
    with admin.connect() as connection:
        found = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    admin.dispose()
    return found is not None


@contextmanager
def scratch_database(server_url: str, label: str, template: str | None = None) -> Iterator[str]:
    """A database of our own (``caseops_scale_<label>_<random>``), dropped afterwards."""
    name = f"caseops_scale_{label}_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template)
    try:
        yield url
    finally:
        drop_database(server_url, name)


# -- building ---------------------------------------------------------------------------


def _line(record: SourceRecord, category: str, n: int, srid: str) -> dict[str, Any]:
    if category == "economic_security":
        return {
            "source_record_id": srid,
            "category": category,
            "person": person_body(record.person),
            "data": {"benefits": [("SNAP", "TANF", "WIC")[n % 3]], "employment_status": "part"},
            "source_version": 1,
        }
    return line(record, category, n, srid=srid)


def prepare_chunk(index: int, people: int, seed: int, keys: dict[str, str]):
    """Generate chunk ``index`` of the population (``people`` people, each in every
    agency's file once) and prepare every line as the bulk path does (in a worker
    process): per agency, [(person id, Item)]."""
    from caseops.records import prepare

    prep_keys = prepare.Keys(
        keys["CASEOPS_ENCRYPTION_KEYS"], keys["CASEOPS_PSEUDONYM_KEY"].encode()
    )
    dataset = generate(
        people, agencies=RECORDS_PER_CLIENT, seed=seed * 1_000_003 + index, rates=EVERY_RATE
    )
    out = []
    for (code, _kind, category), records in zip(AGENCIES, dataset.files.values(), strict=True):
        lines = [
            _line(r, category, n, f"{code.upper()}-{index:05d}-{n:05d}")
            for n, r in enumerate(records)
        ]
        prepared = prepare.prepare_lines(code, ndjson(lines), prep_keys)
        bad = [entry for entry, item in prepared if item is None]
        if bad:
            raise RuntimeError(f"synthetic line refused: {bad[0]}")
        out.append([(r.person_id, item) for r, (_, item) in zip(records, prepared, strict=True)])
    return out


def accounts() -> None:
    """Three agencies (pairs waived, as an upgraded installation), their feeds, the
    consent officers, a case worker and a privacy officer at cchc."""
    from caseops.agencies.service import create_agency
    from caseops.agreements.waivers import waive_all_pairs
    from caseops.authz.actor import Actor
    from caseops.users import service as users

    operator = Actor.operator()
    for code, kind, _ in AGENCIES:
        create_agency(operator, {"code": code, "name": f"Scale {code}", "kind": kind})
    waive_all_pairs()
    for username, (agency, role) in USERS.items():
        users.create_user(
            operator, {"username": username, "agency": agency, "roles": [role], "password": None}
        )


def actors() -> dict[str, Any]:
    from caseops.auth.service import actor_for
    from caseops.users import service as users

    return {name: actor_for(users.get_user(name)) for name in USERS}


def write_chunk(feeds: dict[str, Any], agencies: dict[str, Any], chunk) -> None:
    """Write one prepared chunk through ``records.writes.apply``: the first agency's
    records make the clients, the others link to them."""
    from caseops.matching import store
    from caseops.matching.engine import Decision
    from caseops.records import writes

    clients: dict[str, str] = {}
    for (code, _kind, _category), items in zip(AGENCIES, chunk, strict=True):
        results = []
        for person_id, item in items:
            body = item.body
            record = writes.RecordRow(
                None,
                item.source_record_id,
                clients.get(person_id),
                body["category"],
                body["source_version"],
                item.digest,
            )
            placement = store.Placement(
                record, body["person"], True, features=item.features, rows=item.rows
            )
            if record.client_id is None:
                record.client_id = clients[person_id] = store.new_client_id()
                placement.fresh_client = True
            else:
                placement.outcome = store.LinkOutcome(
                    Decision.LINK, record.client_id, "synthetic: same person", 20.0, ""
                )
            results.append(writes._Change(placement, item))
        plan = writes.Plan(
            agencies[code], [item.source_record_id for _, item in items], {}, results
        )
        writes.apply(feeds[code], plan)


def fill_log(engine, clients: int, target: int, progress: Callable[[str], None]) -> int:
    """Fill the access log up to ``target`` entries with bulk SQL, spread over two years of
    month partitions (``bench.seeding``); returns entries added."""
    from bench.seeding import LOG_FIRST_MONTH, create_log_months, log_span_seconds

    with engine.begin() as connection:
        have = connection.scalar(text("SELECT count(*) FROM access_events"))
        missing = max(0, target - have)
        if not missing:
            return 0
        create_log_months(connection)
        connection.execute(text("DROP TABLE IF EXISTS scale_client_numbers"))
        connection.execute(
            text(
                "CREATE UNLOGGED TABLE scale_client_numbers AS "
                "SELECT (row_number() OVER (ORDER BY id)) - 1 AS n, id FROM clients"
            )
        )
        connection.execute(text("ALTER TABLE scale_client_numbers ADD PRIMARY KEY (n)"))
        connection.execute(text("ANALYZE scale_client_numbers"))
    step = 1_000_000
    started = time.perf_counter()
    for start in range(1, missing + 1, step):
        stop = min(missing, start + step - 1)
        with engine.begin() as connection:
            connection.execute(
                text(FILL_SQL),
                {
                    "start": start,
                    "stop": stop,
                    "clients": clients,
                    "first": f"{LOG_FIRST_MONTH} 00:00:00+00",
                    "step": log_span_seconds() / (missing + 1),
                },
            )
        progress(
            f"  log: {stop}/{missing} entries added "
            f"({stop / (time.perf_counter() - started):,.0f}/s)"
        )
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE scale_client_numbers"))
    return missing


def relationships(worker, recorder, attester, sample: int, seed: int) -> list[str]:
    """The worker on the care team of ``sample`` clients (drawn by the seed), each with an
    attested consent for hha's housing section: what the view and search measure."""
    from datetime import UTC, datetime

    from bench.seeding import consent_housing_to_cchc
    from caseops.access import service as access
    from caseops.extensions import db

    now = datetime.now(UTC)
    chosen = list(
        db.session.scalars(
            text("SELECT id FROM clients ORDER BY md5(id || :seed) LIMIT :n"),
            {"seed": str(seed), "n": sample},
        )
    )
    for client_id in chosen:
        consent_housing_to_cchc(recorder, attester, client_id, now)
        access.add_care_team_member(worker, client_id, "cchc.worker", None)
    db.session.commit()
    return chosen


@dataclass
class Built:
    clients: int
    records: int
    log_entries: int
    seconds: float
    bytes: int


def counts() -> tuple[int, int, int]:
    from caseops.extensions import db

    return tuple(
        db.session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
        for table in ("clients", "source_records", "access_events")
    )


def build(
    url: str,
    keys: dict[str, str],
    clients: int,
    *,
    seed: int = 1,
    jobs: int = 1,
    sample: int = 200,
    progress: Callable[[str], None] = print,
    resume: bool = False,
    stop_growing: bool = False,
) -> Built:
    """Migrate the empty database at ``url`` and fill it (see the module docstring).

    Each chunk of people commits on its own, so an interrupted build leaves whole chunks:
    ``resume`` continues one from the clients it holds (same keys and seed);
    ``stop_growing`` finishes it at the size it reached (relationships, log, vacuum)."""
    from alembic import command

    from caseops.agencies.models import Agency
    from caseops.extensions import db
    from caseops.migrations_state import alembic_config
    from caseops.records.writes import AgencyRef

    started = time.perf_counter()
    command.upgrade(alembic_config(url), "head")
    app = make_app(url, keys)
    with app.app_context():
        if not db.session.scalar(select(func.count()).select_from(Agency)):
            accounts()
        people = actors()
        feeds = {code: people[f"{code}.feed"] for code, _, _ in AGENCIES}
        agencies = {a.code: AgencyRef.of(a) for a in db.session.scalars(select(Agency))}
        done = db.session.scalar(text("SELECT count(*) FROM clients")) if resume else 0
        db.session.commit()
        if stop_growing:
            clients = done
        if done % CHUNK_PEOPLE and done != clients:  # pragma: no cover - whole chunks commit
            raise SystemExit(f"{done} clients is not a whole number of chunks")
        sizes = [min(CHUNK_PEOPLE, clients - start) for start in range(0, clients, CHUNK_PEOPLE)]
        first = done // CHUNK_PEOPLE
        grown = done
        # The workers are forked: none may inherit a connection of this process.
        db.session.remove()
        db.engine.dispose()
        with ProcessPoolExecutor(max(1, jobs)) as pool:
            submitted = min(len(sizes), first + 2 * max(1, jobs))
            pending = [
                pool.submit(prepare_chunk, i, sizes[i], seed, keys) for i in range(first, submitted)
            ]
            while pending:
                chunk = pending.pop(0).result()
                if submitted < len(sizes):
                    pending.append(
                        pool.submit(prepare_chunk, submitted, sizes[submitted], seed, keys)
                    )
                    submitted += 1
                write_chunk(feeds, agencies, chunk)
                db.session.commit()
                done += len(chunk[0])
                elapsed = time.perf_counter() - started
                if done == clients or done % (10 * CHUNK_PEOPLE) == 0:
                    rate = (done - grown) * RECORDS_PER_CLIENT / elapsed
                    progress(
                        f"  {done}/{clients} clients, {done * RECORDS_PER_CLIENT} records "
                        f"({rate:,.0f} records/s, {elapsed:.0f} s)"
                    )
        relationships(
            people["cchc.worker"], people["cchc.officer"], people["hha.officer"], sample, seed
        )
        # The notifier would have consumed the queued record changes of the load.
        db.session.execute(text("DELETE FROM record_changes"))
        db.session.commit()
        fill_log(db.engine, clients, LOG_PER_CLIENT * clients, progress)
        progress("  VACUUM (ANALYZE), as autovacuum would have")
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
            connection.execute(text("CHECKPOINT"))
        made = counts()
        size = db.session.scalar(text("SELECT pg_database_size(current_database())"))
        db.session.remove()
        db.engine.dispose()
    return Built(*made, time.perf_counter() - started, size)


def started_clients(server_url: str, name: str) -> int:
    """Clients an interrupted build committed (0: nothing worth resuming)."""
    from sqlalchemy import create_engine

    engine = create_engine(make_url(server_url).set(database=name), pool_size=1)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT count(*) FROM clients"))
    except Exception:  # not even migrated: start afresh
        return 0
    finally:
        engine.dispose()


def snapshot_file(directory: str, clients: int) -> Path:
    return Path(directory) / f"{SNAPSHOT_PREFIX}{clients}.json"


def ensure_database(
    args: argparse.Namespace, clients: int, stack
) -> tuple[str, dict[str, str], Built]:
    """A database of ``clients`` clients to measure on: a fresh copy of the snapshot
    (built first if missing) with ``--snapshot``, else a new build dropped at the end."""
    server = args.database_url
    if not args.snapshot:
        keys = new_keys()
        url = stack.enter_context(scratch_database(server, str(clients)))
        print(f"building {clients} clients in {make_url(url).database}", flush=True)
        built = build(url, keys, clients, seed=args.seed, jobs=args.jobs, sample=args.sample)
        return url, keys, built
    name = f"{SNAPSHOT_PREFIX}{clients}"
    meta_path = snapshot_file(args.snapshot_dir, clients)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    exists = database_exists(server, name)
    partial = meta is not None and exists and "built" not in meta and started_clients(server, name)
    if meta is None or "built" not in meta or args.rebuild or not exists:
        resume = partial and not args.rebuild
        if not resume:
            drop_database(server, name)
            # The secrets first, so that an interrupted build can be resumed.
            meta = {"keys": new_keys(), "seed": args.seed}
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(json.dumps(meta, indent=1))
            meta_path.chmod(0o600)
            url = create_database(server, name)
        else:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
        how = "finishing at its current size" if args.stop_growing else "resuming"
        print(f"{how if resume else 'building'} snapshot {name}", flush=True)
        built = build(
            url,
            meta["keys"],
            clients,
            seed=meta["seed"],
            jobs=args.jobs,
            sample=args.sample,
            resume=resume,
            stop_growing=resume and args.stop_growing,
        )
        meta["built"] = built.__dict__
        meta_path.write_text(json.dumps(meta, indent=1))
        print(f"snapshot {name} kept (secrets in {meta_path})", flush=True)
    else:
        print(f"snapshot {name}: built {meta['built']['seconds']:.0f} s, reused", flush=True)
    if args.build_only:
        return "", meta["keys"], Built(**meta["built"])
    started = time.perf_counter()
    url = stack.enter_context(scratch_database(server, str(clients), template=name))
    from alembic import command

    from caseops.migrations_state import alembic_config

    command.upgrade(alembic_config(url), "head")  # a snapshot may predate a migration
    print(f"  copied to {make_url(url).database} in {time.perf_counter() - started:.0f} s")
    return url, meta["keys"], Built(**meta["built"])


# -- measuring --------------------------------------------------------------------------


@dataclass
class Size:
    clients: int
    app: Any
    built: Built
    sample: list[str]
    searches: list[tuple[str, date]]
    trail: list[str]
    people: dict[str, Any]
    times: dict[str, list[float]]
    ingest_records: int = 0
    ingest_seconds: float = 0.0


def prepare_size(
    clients: int, url: str, keys: dict[str, str], built: Built, trail: int, seed: int
) -> Size:
    from caseops.clients.models import Client  # noqa: F401 - models loaded
    from caseops.extensions import db
    from caseops.matching import store
    from caseops.records.models import SourceRecord

    app = make_app(url, keys)
    with app.app_context():
        people = actors()
        sample = list(
            db.session.scalars(
                text(
                    "SELECT client_id FROM care_team_members m JOIN users u ON u.id = m.user_id "
                    "WHERE u.username = 'cchc.worker' ORDER BY client_id"
                )
            )
        )
        searches = []
        for client_id in sample:
            found = db.session.scalars(
                text(
                    "SELECT r.id FROM source_records r JOIN agencies a ON a.id = r.agency_id "
                    "WHERE r.client_id = :c AND a.code = 'cchc'"
                ),
                {"c": client_id},
            ).first()
            person = store.decrypt_person(db.session.get(SourceRecord, found))
            name = " ".join(p for p in (person.get("given_name"), person.get("family_name")) if p)
            birth = person.get("birth_date")
            if name and birth:
                searches.append((name, date.fromisoformat(birth)))
        rng = random.Random(seed)
        count = db.session.scalar(text("SELECT count(*) FROM clients"))
        offsets = sorted(rng.sample(range(count), min(trail, count)))
        trail_ids = [
            db.session.scalar(
                text("SELECT id FROM clients ORDER BY id OFFSET :o LIMIT 1"), {"o": o}
            )
            for o in offsets
        ]
        rng.shuffle(trail_ids)
        db.session.remove()
    return Size(clients, app, built, sample, searches, trail_ids, people, {})


def run_view(size: Size, i: int) -> None:
    from caseops.access import service as access

    access.view_record(
        size.people["cchc.worker"], size.sample[i % len(size.sample)], "care_coordination"
    )


def run_search(size: Size, i: int) -> None:
    from caseops.clients import service as clients

    name, birth = size.searches[i % len(size.searches)]
    found = clients.search(size.people["cchc.worker"], name, birth)
    if not found:  # pragma: no cover - the searched record is the worker's client's
        raise SystemExit(f"search for {name} {birth} found nobody")


def run_trail(size: Size, i: int) -> None:
    from caseops.audit.trail import EventFilters, search_events

    filters = EventFilters(client_id=size.trail[i % len(size.trail)])
    cursor = None
    while True:
        page = search_events(size.people["cchc.privacy"], filters, cursor=cursor, limit=50)
        cursor = page["next_cursor"]
        if cursor is None:
            break


OPERATIONS: dict[str, Callable[[Size, int], None]] = {
    "view": run_view,
    "search": run_search,
    "client trail": run_trail,
}


def measure(sizes: Sequence[Size], runs: int, warmup: int) -> None:
    """Every operation, alternating between the sizes call by call; the first ``warmup``
    calls of each are not counted."""
    from caseops.extensions import db

    for name, call in OPERATIONS.items():
        for i in range(warmup + runs):
            for size in sizes:
                with size.app.test_request_context():
                    started = time.perf_counter()
                    call(size, i)
                    elapsed = time.perf_counter() - started
                    db.session.commit()
                    db.session.remove()
                if i >= warmup:
                    size.times.setdefault(name, []).append(1000 * elapsed)


def explain(size: Size, name: str, limit: int = 4) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest SELECT statements one call of operation
    ``name`` makes at this size (run after it, with the same parameters): where a p95
    grows with the data, this names the query and shows whether it used an index."""
    from sqlalchemy import event

    from caseops.extensions import db

    seen: list[tuple[float, str, Any]] = []
    started: list[float] = []

    def before(_conn, _cursor, statement, parameters, _context, _many) -> None:
        started.append(time.perf_counter())

    def after(_conn, _cursor, statement, parameters, _context, _many) -> None:
        elapsed = time.perf_counter() - started.pop()
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((elapsed, statement, parameters))

    with size.app.test_request_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            OPERATIONS[name](size, 0)
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
        db.session.rollback()
        raw = db.session.connection().connection.driver_connection
        print(f"-- {name} at {size.clients:,} clients: {len(seen)} SELECTs, slowest first")
        for elapsed, statement, parameters in sorted(seen, key=lambda x: -x[0])[:limit]:
            print(f"-- {1000 * elapsed:.2f} ms: {' '.join(statement.split())}")
            print(f"--   parameters: {parameters}")
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                for (row,) in cursor.fetchall():
                    print(f"     {row}")
        db.session.rollback()
        db.session.remove()


def ingest_lines(records: int, seed: int, batch: int) -> list[dict[str, Any]]:
    """New people for cchc's feed (health records), none of them known yet."""
    fresh = generate(records, agencies=1, seed=seed, rates=Rates(coverage=(1.0,), duplicate=0.0))
    return [
        line(r, "health", n, srid=f"NEW-{batch}-{n:06d}") for n, r in enumerate(fresh.files["A1"])
    ]


def measure_ingest(sizes: Sequence[Size], records: int, batches: int, seed: int) -> None:
    """``batches`` bulk loads of ``records`` new records per size, alternating."""
    from caseops.extensions import db
    from caseops.matching import store
    from caseops.records import prepare, service

    for batch in range(batches):
        lines = ingest_lines(records, seed * 7919 + batch, batch)
        for size in sizes:
            with size.app.app_context():
                store._totals_cache.clear()  # the record total is cached per process
                prepare.warm_worker(prepare.Keys.from_config(size.app.config))
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("CHECKPOINT"))
                started = time.perf_counter()
                report = service.bulk(size.people["cchc.feed"], "cchc", ndjson(lines))
                elapsed = time.perf_counter() - started
                db.session.commit()
                db.session.remove()
                if report.counts.get("error"):
                    raise SystemExit(f"ingest refused lines: {dict(report.counts)}")
                size.ingest_records += len(lines)
                size.ingest_seconds += elapsed
        store._totals_cache.clear()


def report(small: Size, large: Size) -> bool:
    """Print the table; True if every p95 target is met."""
    met_all = True
    print()
    print(f"{'metric':<22} {small.clients:>12,} {large.clients:>12,} {'ratio':>7}  target   result")
    for name in OPERATIONS:
        for q, label in ((0.5, "p50"), (0.95, "p95")):
            a = percentile(small.times[name], q)
            b = percentile(large.times[name], q)
            ratio = b / a
            if label == "p95":
                met = ratio <= 1.5
                met_all &= met
                verdict = f"<=1.5x   {'met' if met else 'MISSED'}"
            else:
                verdict = ""
            print(
                f"{name + ' ' + label + ' (ms)':<22} {a:>12.2f} {b:>12.2f} "
                f"{ratio:>6.2f}x  {verdict}"
            )
    a = small.ingest_records / small.ingest_seconds
    b = large.ingest_records / large.ingest_seconds
    print(f"{'ingest (records/s)':<22} {a:>12,.0f} {b:>12,.0f} {b / a:>6.2f}x  (reported)")
    for size in (small, large):
        built = size.built
        per_million = built.bytes / built.clients * 1_000_000
        print(
            f"{size.clients:>9,} clients: {built.records:,} records, {built.log_entries:,} log "
            f"entries, {built.bytes / 2**30:.2f} GiB (pg_database_size after the build) = "
            f"{per_million / 2**30:.1f} GiB per million clients; built in {built.seconds:.0f} s"
        )
    grown = (large.built.bytes - small.built.bytes) / (large.clients - small.clients)
    print(
        f"disk per million clients, from the growth between the two sizes: "
        f"{grown * 1_000_000 / 2**30:.1f} GiB"
    )
    counted = len(small.times["view"])
    print(
        f"{counted} timed calls per operation and size (in-process, one request context each), "
        f"alternating sizes; machine: {os.cpu_count()} CPUs, load average {load_average()}"
    )
    return met_all


# -- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1_000_000, help="the large size")
    parser.add_argument("--baseline", type=int, default=10_000, help="the small size")
    parser.add_argument("--runs", type=int, default=300, help="timed calls per operation")
    parser.add_argument("--warmup", type=int, default=30, help="calls not counted")
    parser.add_argument("--sample", type=int, default=200, help="clients on the worker's team")
    parser.add_argument(
        "--trail-clients", type=int, default=300, help="clients whose trail is read"
    )
    parser.add_argument("--ingest", type=int, default=1000, help="records per ingest batch")
    parser.add_argument("--ingest-batches", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="processes preparing records")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server")
    parser.add_argument("--snapshot", action="store_true", help="keep and reuse built databases")
    parser.add_argument(
        "--snapshot-dir", default=os.path.join(tempfile.gettempdir(), "caseops-scale")
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the snapshots")
    parser.add_argument(
        "--explain",
        action="append",
        choices=tuple(OPERATIONS),
        help="after measuring, EXPLAIN ANALYZE the slowest queries of one call of this",
    )
    parser.add_argument(
        "--stop-growing",
        action="store_true",
        help="finish an interrupted snapshot build at the size it reached",
    )
    parser.add_argument("--build-only", action="store_true", help="build the snapshots and stop")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("the benchmark runs on PostgreSQL")
    if args.build_only and not args.snapshot:
        parser.error("--build-only keeps nothing without --snapshot")
    base_environment()
    from contextlib import ExitStack

    with ExitStack() as stack:
        found = {}
        for clients in (args.baseline, args.clients):
            found[clients] = ensure_database(args, clients, stack)
        if args.build_only:
            return 0
        sizes = [
            prepare_size(built.clients, url, keys, built, args.trail_clients, args.seed)
            for url, keys, built in found.values()
        ]
        print(f"measuring: {args.runs} runs per operation after {args.warmup} warm-up", flush=True)
        measure(sizes, args.runs, args.warmup)
        measure_ingest(sizes, args.ingest, args.ingest_batches, args.seed)
        met = report(*sizes)
        for name in args.explain or ():
            for size in sizes:
                explain(size, name)
        for size in sizes:
            with size.app.app_context():
                from caseops.extensions import db

                db.engine.dispose()
    print("every p95 target met" if met else "a p95 target was MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
