"""Access-decision speed: caseops' per-request compiled policy vs. calling pycasbin's
Enforcer.enforce per section, on the same facts, with identical answers.

World: 100 agencies, 10k users (Casbin grouping rules), 100k clients, 200k consents,
the default policy from the migrations. A "view" is a full 10-section decision for one
worker and one client (consent lookups included; record decryption is not).

    .venv/bin/python -m bench.decision [--users 10000 --clients 100000 --consents 200000]

Prints the median/p95 per view for both, the speed-up, and the agreement over
--requests random views (default 10,000).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

import casbin

import consent

ROLES = [
    "case_worker",
    "supervisor",
    "consent_officer",
    "privacy_officer",
    "data_steward",
    "agency_admin",
    "system_admin",
    "integration",
]
CATEGORIES = [
    "housing",
    "health",
    "behavioral_health",
    "substance_use",
    "education",
    "child_welfare",
    "justice",
    "economic_security",
    "early_childhood",
]
PURPOSES = ["care_coordination", "treatment", "payment", "operations", "eligibility", "emergency"]
AT = datetime(2026, 6, 1, tzinfo=UTC)


def build_world(args, rng):
    agencies = [f"a{i:03d}" for i in range(args.agencies)]
    part2 = {a: rng.random() < 0.05 for a in agencies}
    users = []
    for i in range(args.users):
        agency = rng.choice(agencies)
        roles = rng.sample(ROLES, k=rng.choice([1, 1, 1, 2]))
        users.append((f"user{i:05d}", agency, roles))
    by_client: dict[str, list[consent.Consent]] = {}
    for i in range(args.consents):
        client = f"c{rng.randrange(args.clients):06d}"
        start = AT - timedelta(days=rng.randint(0, 700))

        def scope(values, wildcard=0.2):
            return (
                frozenset({"*"})
                if rng.random() < wildcard
                else frozenset(rng.sample(values, k=rng.randint(1, 3)))
            )

        by_client.setdefault(client, []).append(
            consent.Consent(
                id=f"k{i:06d}",
                client_id=client,
                grantor=consent.Grantor(kind="self", name="C"),
                provision="deny" if rng.random() < 0.1 else "permit",
                source_agencies=scope(agencies),
                categories=scope(CATEGORIES),
                recipients=scope(agencies, 0.1),
                purposes=scope(PURPOSES),
                effective_from=start,
                expires_at=start + timedelta(days=rng.randint(30, 900)),
                signed_at=start,
                evidence=consent.Evidence(method="written"),
                revocation_right_acknowledged=True,
                recorded_by="o",
                recorded_at=start,
            )
        )
    return agencies, part2, users, by_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agencies", type=int, default=100)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--consents", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    os.environ.setdefault("CASEOPS_ENV", "test")
    os.environ.setdefault("CASEOPS_LOG_LEVEL", "WARNING")
    from alembic import command
    from sqlalchemy import insert

    from caseops import create_app
    from caseops.access.rules import Facts, SectionFacts, decide_view
    from caseops.authz import policy
    from caseops.authz.actor import Actor
    from caseops.authz.models import CasbinRule
    from caseops.extensions import db
    from caseops.migrations_state import alembic_config

    started = time.perf_counter()
    agencies, part2, users, by_client = build_world(args, rng)
    workdir = tempfile.mkdtemp(prefix="caseops-bench-")
    url = f"sqlite:///{workdir}/decision.sqlite3"
    command.upgrade(alembic_config(url), "head")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.session.execute(
            insert(CasbinRule),
            [
                {"ptype": "g", "v0": name, "v1": role, "v2": agency}
                for name, agency, roles in users
                for role in roles
            ],
        )
        policy.bump_version(db.session)
        db.session.commit()
        enforcer = policy.enforcer()
        print(
            f"world: {len(agencies)} agencies, {len(users)} users, {args.clients} clients, "
            f"{args.consents} consents, {len(enforcer.get_policy())} policy rules "
            f"(built in {time.perf_counter() - started:.1f}s)"
        )

        clients = sorted(by_client)
        requests = []
        for _ in range(args.requests):
            name, agency, _roles = rng.choice(users)
            client = rng.choice(clients)
            sections = [
                SectionFacts(j, rng.choice(agencies), False, rng.choice(CATEGORIES))
                for j in range(10)
            ]
            sections = [
                SectionFacts(s.record_id, s.agency, part2[s.agency], s.category) for s in sections
            ]
            facts = Facts(
                client_id=client,
                sections=sections,
                consents=by_client[client],
                revocations=[],
                birth_date=date(1990, 1, 1),
                relationship=rng.random() < 0.8,
                break_glass=False,
                # an upgraded installation: every pair waived from agreements
                agreements=consent.Agreements(
                    waived=consent.agreements.waived_pairs(
                        [(x, y) for x in agencies for y in agencies]
                    )
                ),
            )
            requests.append((name, agency, facts, rng.choice(PURPOSES)))

        def run(make_permits):
            timings, answers = [], []
            for name, agency, facts, purpose in requests:
                # One request: its policy-version check, role lookup and decisions.
                with app.test_request_context():
                    t0 = time.perf_counter()
                    permits = make_permits(name, agency)
                    decisions = decide_view(facts, agency, permits, purpose, AT)
                    timings.append(time.perf_counter() - t0)
                answers.append([(d.shown, d.reason) for d in decisions])
            return timings, answers

        def compiled(name, agency):
            roles = policy.roles_of(name, agency)
            return policy.permissions(Actor(username=name, agency=agency, roles=roles))

        def naive(name, agency):
            return lambda obj, act: enforcer.enforce(name, agency, obj, act)

        assert isinstance(enforcer, casbin.Enforcer)
        run(compiled)  # warm the per-version answers, as a long-running worker has them
        fast, fast_answers = run(compiled)
        slow, slow_answers = run(naive)
    agree = sum(a == b for a, b in zip(fast_answers, slow_answers, strict=True))

    def ms(values, q):
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    median_fast, median_slow = statistics.median(fast) * 1000, statistics.median(slow) * 1000
    for label, median, values in (
        ("compiled policy ", median_fast, fast),
        ("Enforcer.enforce", median_slow, slow),
    ):
        print(f"{label}: median {median:.3f} ms  p95 {ms(values, 95):.3f} ms per 10-section view")
    print(f"speed-up (median): {median_slow / median_fast:.1f}x")
    print(f"identical answers: {agree}/{len(requests)}")
    print(
        f"targets: median <= 1 ms: {'met' if median_fast <= 1 else 'MISSED'}; "
        f">= 5x: {'met' if median_slow / median_fast >= 5 else 'MISSED'}; "
        f"identical: {'met' if agree == len(requests) else 'MISSED'}"
    )
    return 0 if agree == len(requests) else 1


if __name__ == "__main__":
    sys.exit(main())
