"""Referrals at scale on PostgreSQL: moves per second, and the record view through the
``referral`` relationship against the same view through the care team, in one run.

What it builds (in a throw-away database, through the service code):

* ``--clients`` people with a housing record at b1 (the bulk ingest path), 100k by default;
* a sample of ``--sample`` of them also known to b2 (a health record) with a consent,
  recorded by b1, sharing b1's housing with b2 and b3 for care coordination;
* b1's and b2's workers on each sample client's care team; b1's worker refers each sample
  client to b3 (an agency holding no record of anyone) sharing housing; b3's supervisor
  assigns b3's worker, who accepts: these three moves per referral are the timed moves;
* ``--open-referrals`` in all (20k by default): the rest are accepted referrals of other
  clients to b3, written in bulk, so the referral tables and their indexes have the size a
  busy deployment gives them.

Then it reads every sample client's record as b2's worker (care team: the baseline) and as
b3's worker (through the referral), alternating which goes first, and prints p50 / p95 of
each and their ratio. Both views decide the same sections under the same consent and each
commits its access-log entry: the difference is the referral path's own cost (the
referral lookup and its consent check). Target (issue 17): p95 through the referral within
1.2x of the care-team view's.

    .venv/bin/python -m bench.referrals [--database-url postgresql+psycopg://postgres@127.0.0.1/postgres]
        [--clients 100000] [--open-referrals 20000] [--sample 500] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from bench.ingest import (
    DEFAULT_SERVER,
    bench_environment,
    line,
    preload,
    throwaway_database,
    vacuum,
)
from caseops.demo.synthetic import Rates, generate

WORKERS = ("b1.worker", "b2.worker", "b3.worker", "b3.other")


def permit(now: datetime) -> dict[str, Any]:
    return {
        "provision": "permit",
        "source_agencies": ["b1"],
        "categories": ["housing"],
        "recipients": ["b2", "b3"],
        "purposes": ["care_coordination"],
        "effective_from": now - timedelta(days=1),
        "expires_at": now + timedelta(days=90),
        "grantor": {"kind": "self", "name": "Client"},
        "signed_at": now - timedelta(days=1),
        "evidence": {"method": "written"},
        "revocation_right_acknowledged": True,
    }


def accounts() -> dict[str, Any]:
    """Three agencies and the people the bench acts as (password-less service accounts)."""
    from caseops.agencies.service import create_agency
    from caseops.agreements.waivers import waive_all_pairs
    from caseops.auth.service import actor_for
    from caseops.authz.actor import Actor
    from caseops.users import service as users

    operator = Actor.operator()
    people = {
        "b1.feed": ("b1", "integration"),
        "b2.feed": ("b2", "integration"),
        "b1.officer": ("b1", "consent_officer"),
        "b1.worker": ("b1", "case_worker"),
        "b2.worker": ("b2", "case_worker"),
        "b3.worker": ("b3", "case_worker"),
        "b3.other": ("b3", "case_worker"),
        "b3.supervisor": ("b3", "supervisor"),
    }
    for code, kind in (("b1", "housing"), ("b2", "health"), ("b3", "other")):
        create_agency(operator, {"code": code, "name": f"Bench {code}", "kind": kind})
        # an upgraded installation: pairs waived from agreements (docs/agreements.md)
        waive_all_pairs()
    for username, (agency, role) in people.items():
        users.create_user(
            operator, {"username": username, "agency": agency, "roles": [role], "password": None}
        )
    return {name: actor_for(users.get_user(name)) for name in people}


def seed(
    actors: dict[str, Any], clients: int, sample: int, open_referrals: int, seed: int = 1
) -> tuple[list[str], float, int]:
    """Build the world (module docstring). Returns the sample's client ids and the moves
    per second of the sample's referrals (create+send, assign, accept)."""
    from caseops.access import service as access
    from caseops.clients.models import Client
    from caseops.db_types import utcnow
    from caseops.extensions import db
    from caseops.referrals import service as referrals
    from caseops.referrals.models import Referral, ReferralMove
    from caseops.registry import service as consents

    people = generate(clients, agencies=1, seed=seed, rates=Rates(coverage=(1.0,)))
    records = people.files["A1"][:clients]
    preload(actors["b1.feed"], [line(r, "housing", n) for n, r in enumerate(records)])
    preload(
        actors["b2.feed"],
        [line(r, "health", n, srid=f"H2-{n}") for n, r in enumerate(records[:sample])],
    )
    db.session.commit()
    both = list(
        db.session.scalars(
            select(Client.id)
            .where(Client.id.in_(select_clients_of("b2")), Client.id.in_(select_clients_of("b1")))
            .order_by(Client.id)
        )
    )
    now = utcnow()
    for client_id in both:
        consents.record_consent(actors["b1.officer"], client_id, permit(now))
        for worker in ("b1.worker", "b2.worker"):
            access.add_care_team_member(actors[worker], client_id, worker, None)
    started = time.perf_counter()
    for client_id in both:
        body = {
            "to_agency": "b3",
            "service": "housing_assistance",
            "purpose": "care_coordination",
            "shared_categories": ["housing"],
            "urgency": "routine",
            "send": True,
        }
        created = referrals.create(actors["b1.worker"], client_id, body)
        referrals.assign(actors["b3.supervisor"], created["id"], "b3.worker")
        referrals.move(actors["b3.worker"], created["id"], {"status": "accepted"})
    moves_per_second = 3 * len(both) / (time.perf_counter() - started)

    others = list(
        db.session.scalars(
            select(Client.id)
            .where(Client.id.not_in(both))
            .order_by(Client.id)
            .limit(max(0, open_referrals - len(both)))
        )
    )
    at = now - timedelta(hours=1)
    for offset in range(0, len(others), 5000):
        chunk = others[offset : offset + 5000]
        ids = [f"ref_bench{offset + i:011d}" for i in range(len(chunk))]
        db.session.execute(
            insert(Referral),
            [
                {
                    "id": ref,
                    "client_id": client_id,
                    "from_agency": "b1",
                    "from_user": "b1.worker",
                    "to_agency": "b3",
                    "service_code": "housing_assistance",
                    "service_text": "Housing assistance",
                    "purpose": "care_coordination",
                    "shared_categories": ["housing"],
                    "urgency": "routine",
                    "created_at": at,
                }
                for ref, client_id in zip(ids, chunk, strict=True)
            ],
        )
        db.session.execute(
            insert(ReferralMove),
            [
                {
                    "referral_id": ref,
                    "seq": seq,
                    "from_status": frm,
                    "to_status": to,
                    "side": side,
                    "assigned_to": "b3.other",
                    "by_user": "bench",
                    "by_agency": agency,
                    "at": at,
                }
                for ref in ids
                for seq, frm, to, side, agency in (
                    (1, None, "requested", "sender", "b1"),
                    (2, "requested", "accepted", "recipient", "b3"),
                )
            ],
        )
        db.session.commit()
    return both, moves_per_second, len(both) + len(others)


def select_clients_of(agency: str):
    from caseops.agencies.models import Agency
    from caseops.records.models import SourceRecord

    return (
        select(SourceRecord.client_id)
        .join(Agency, Agency.id == SourceRecord.agency_id)
        .where(Agency.code == agency)
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(actors: dict[str, Any], sample: list[str], rounds: int) -> dict[str, list[float]]:
    """Alternate the two readers over the sample, ``rounds`` times; ms per view."""
    from caseops.access import service as access
    from caseops.extensions import db

    readers = {"care_team": actors["b2.worker"], "referral": actors["b3.worker"]}
    for client_id in sample[:20]:  # warm-up: plans, policy, connections
        for actor in readers.values():
            access.view_record(actor, client_id, "care_coordination")
    timings: dict[str, list[float]] = {name: [] for name in readers}
    for round_ in range(rounds):
        for i, client_id in enumerate(sample):
            order = list(readers) if (i + round_) % 2 == 0 else list(reversed(readers))
            for name in order:
                started = time.perf_counter()
                view = access.view_record(readers[name], client_id, "care_coordination")
                timings[name].append(1000 * (time.perf_counter() - started))
                shown = [s for s in view["sections"] if s["status"] == "shown"]
                if not any(s["agency"] == "b1" for s in shown):
                    raise SystemExit(f"{name} saw no consented section: the bench is wrong")
                db.session.remove()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server")
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--open-referrals", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("the benchmark runs on PostgreSQL (--database-url postgresql+psycopg://...)")
    with throwaway_database(args.database_url, args.keep) as url:
        os.environ.update(bench_environment(url))
        from alembic import command

        from caseops import create_app
        from caseops.extensions import db
        from caseops.migrations_state import alembic_config

        command.upgrade(alembic_config(url), "head")
        app = create_app()
        with app.app_context():
            actors = accounts()
            sample, moves, open_total = seed(actors, args.clients, args.sample, args.open_referrals)
            print(f"VACUUM (ANALYZE): {vacuum(db.engine):.1f} s")
            timings = report(actors, sample, args.rounds, moves, open_total, args.clients)
            db.session.remove()
            db.engine.dispose()
    return 0 if timings else 1


def report(actors, sample, rounds, moves, open_total, clients) -> dict[str, list[float]]:
    timings = measure(actors, sample, rounds)
    care, via = timings["care_team"], timings["referral"]
    ratio = percentile(via, 0.95) / percentile(care, 0.95)
    print(
        f"{clients} clients, {open_total} open referrals; {len(sample)} sampled clients, "
        f"{len(care)} views per reader, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"referral moves: {moves:.0f} moves/s (create+send, assign, accept; each committed)")
    for name, values in timings.items():
        print(
            f"view via {name:<9}: p50 {statistics.median(values):.2f} ms, "
            f"p95 {percentile(values, 0.95):.2f} ms"
        )
    verdict = "meets" if ratio <= 1.2 else "misses"
    print(f"p95 via referral / p95 via care team = {ratio:.2f}x ({verdict} the 1.2x target)")
    return timings


if __name__ == "__main__":
    raise SystemExit(main())
