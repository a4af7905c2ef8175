"""What a caseload costs: ``GET /api/v1/me/caseload`` for a worker with N clients (default
50), every one viewed before and a few changed since, against two baselines measured in
the same run: one record view (``view_record``: the decision, the log entry, the
decryption) and the same listing without the "changed" marks.

The marks need one access decision per client the worker has viewed (three small
queries each; the log is read once for the whole caseload), so the listing costs about N
decisions, and that is what this bench shows: the ratio to one view, and to the listing
without marks.

    .venv/bin/python -m bench.desk [--clients 50 --changed 5 --runs 20]
    .venv/bin/python -m bench.desk --database-url postgresql+psycopg://user:pw@host/postgres

SQLite in a temporary directory by default; with ``--database-url`` a throw-away
PostgreSQL database on that server (dropped afterwards).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from bench.seeding import housing_permit


def accounts() -> dict[str, Any]:
    from caseops.agencies.service import create_agency
    from caseops.agreements.waivers import waive_all_pairs
    from caseops.auth.service import actor_for
    from caseops.authz.actor import Actor
    from caseops.users import service as users

    operator = Actor.operator()
    people = {
        "hha.feed": ("hha", "integration"),
        "cchc.feed": ("cchc", "integration"),
        "cchc.officer": ("cchc", "consent_officer"),
        "hha.officer": ("hha", "consent_officer"),
        "cchc.worker": ("cchc", "case_worker"),
    }
    for code, kind in (("hha", "housing"), ("cchc", "health")):
        create_agency(operator, {"code": code, "name": f"Bench {code}", "kind": kind})
        # an upgraded installation: pairs waived from agreements (docs/agreements.md)
        waive_all_pairs()
    for username, (agency, role) in people.items():
        users.create_user(
            operator, {"username": username, "agency": agency, "roles": [role], "password": None}
        )
    return {name: actor_for(users.get_user(name)) for name in people}


def person(n: int) -> dict[str, Any]:
    return {
        "given_name": f"Given{n:04d}",
        "family_name": f"Family{n:04d}",
        "birth_date": f"19{50 + n % 50:02d}-0{1 + n % 9}-1{n % 10}",
        "ssn": f"{100 + n:03d}-{10 + n % 89:02d}-{1000 + n:04d}",
    }


def seed(actors: dict[str, Any], clients: int, changed: int) -> list[str]:
    from caseops.access import service as access
    from caseops.records import service as records
    from caseops.registry import service as consents

    ids = []
    for n in range(clients):
        housing = {"category": "housing", "person": person(n), "data": {}, "source_version": 1}
        health = {"category": "health", "person": person(n), "data": {}, "source_version": 1}
        client_id = records.upsert(actors["hha.feed"], "hha", f"H-{n}", housing).client_id
        records.upsert(actors["cchc.feed"], "cchc", f"C-{n}", health)
        row = consents.record_consent(
            actors["cchc.officer"], client_id, housing_permit(datetime.now(UTC))
        )
        consents.attest(actors["hha.officer"], row.id)
        access.add_care_team_member(actors["cchc.worker"], client_id, "cchc.worker", None)
        access.view_record(actors["cchc.worker"], client_id, "care_coordination")
        ids.append(client_id)
    for n in range(changed):
        body = {
            "category": "health",
            "person": person(n),
            "data": {"notes": "new"},
            "source_version": 2,
        }
        records.upsert(actors["cchc.feed"], "cchc", f"C-{n}", body)
    return ids


def timed(runs: int, call) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--changed", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server")
    args = parser.parse_args(argv)

    os.environ.setdefault("CASEOPS_LOG_LEVEL", "WARNING")
    if args.database_url:
        from bench.ingest import bench_environment, throwaway_database

        database = throwaway_database(args.database_url, False)
    else:
        workdir = tempfile.mkdtemp(prefix="caseops-bench-desk-")
        database = nullcontext(f"sqlite:///{workdir}/desk.sqlite3")
    with database as url:
        if args.database_url:
            os.environ.update(bench_environment(url))
        else:
            os.environ.setdefault("CASEOPS_ENV", "test")
        from alembic import command

        from caseops import create_app
        from caseops.access import service as access
        from caseops.desk import service as desk
        from caseops.extensions import db
        from caseops.migrations_state import alembic_config

        command.upgrade(alembic_config(url), "head")
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            actors = accounts()
            ids = seed(actors, args.clients, args.changed)
            worker = actors["cchc.worker"]
            listed = desk.caseload(worker)
            marked = sum(1 for e in listed if e["changed_since_my_last_view"])
            assert len(listed) == args.clients, len(listed)
            assert marked == args.changed, marked

            def without_marks():
                from caseops.db_types import utcnow

                links = desk._links({worker.user_id: worker.username}, "cchc", utcnow())
                desk._entries(worker, links[worker.username], utcnow(), with_changes=False)

            results = {}
            # alternate so the machine's drift falls on all three alike
            for _ in range(args.runs):
                for name, call in (
                    ("caseload", lambda: desk.caseload(worker)),
                    ("listing without marks", without_marks),
                    (
                        "one record view",
                        lambda: access.view_record(worker, ids[len(ids) // 2], "care_coordination"),
                    ),
                ):
                    # one request each, as in the service (the policy is read once per
                    # request)
                    with app.test_request_context():
                        results.setdefault(name, []).extend(timed(1, call))
                    db.session.remove()
        print(
            f"{args.clients} clients, {args.changed} changed, {args.runs} runs, "
            f"{'PostgreSQL' if args.database_url else 'SQLite'}"
        )
        medians = {name: statistics.median(values) for name, values in results.items()}
        for name, values in results.items():
            p95 = statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)
            print(f"  {name:<24} median {medians[name]:8.2f} ms   p95 {p95:8.2f} ms")
        view = medians["one record view"]
        print(
            f"  caseload / one view:            {medians['caseload'] / view:6.1f}x "
            f"(≈ {medians['caseload'] / view / args.clients:.2f} views per client)"
        )
        print(
            f"  caseload / listing without marks: "
            f"{medians['caseload'] / medians['listing without marks']:6.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
