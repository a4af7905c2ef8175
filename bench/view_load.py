"""Consented record view under load: real gunicorn on PostgreSQL, wrk with 16 connections.

Compares GET /api/v1/clients/{id}/record (policy + consent + relationship decision, the
access-log entry committed before the response) with a bench-only baseline endpoint that
reads the same rows and inserts one log row without any checks (bench/view_app.py), in
the same run, alternating, against the same database.

    .venv/bin/python -m bench.view_load [--database-url postgresql+psycopg://postgres@127.0.0.1/postgres]
        [--clients 500] [--seconds 15] [--connections 16] [--workers 2]

Targets (issue 6): view throughput >= 0.6x baseline; view p99 <= 25 ms.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(url: str, clients: int) -> tuple[str, list[str]]:
    """Agencies, a worker on every client's care team, consents for half the clients."""
    from datetime import UTC, datetime

    from bench import seeding
    from caseops import create_app
    from caseops.access import service as access
    from caseops.agencies.service import create_agency
    from caseops.agreements.waivers import waive_all_pairs
    from caseops.auth.service import actor_for
    from caseops.authz.actor import Actor
    from caseops.records import service as records
    from caseops.users import service as users

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
        users.create_user(
            operator,
            {
                "username": "cchc.officer",
                "agency": "cchc",
                "roles": ["consent_officer"],
                "password": "x" * 16,
            },
        )
        users.create_user(
            operator,
            {
                "username": "hha.officer",
                "agency": "hha",
                "roles": ["consent_officer"],
                "password": "x" * 16,
            },
        )
        users.create_user(
            operator,
            {
                "username": "cchc.worker",
                "agency": "cchc",
                "roles": ["case_worker"],
                "password": "x" * 16,
            },
        )
        feeds = {c: actor_for(users.get_user(f"{c}.feed")) for c in ("hha", "cchc")}
        officer = actor_for(users.get_user("cchc.officer"))
        attester = actor_for(users.get_user("hha.officer"))
        worker = actor_for(users.get_user("cchc.worker"))
        for i in range(clients):
            person = {
                "given_name": f"Given{i}",
                "family_name": f"Family{i % 97}",
                "birth_date": f"19{50 + i % 49}-0{1 + i % 9}-1{i % 9}",
                "ssn": f"{100 + i % 800:03d}-{10 + i % 89:02d}-{1000 + i:04d}",
            }
            body = {
                "category": "housing",
                "person": person,
                "source_version": 1,
                "data": {"housing_status": "sheltered", "notes": "n" * 300},
            }
            client_id = records.upsert(feeds["hha"], "hha", f"H{i}", body).client_id
            health = copy.deepcopy(body) | {
                "category": "health",
                "data": {"conditions": ["asthma"], "notes": "m" * 300},
            }
            records.upsert(feeds["cchc"], "cchc", f"C{i}", health)
            second = copy.deepcopy(body) | {
                "category": "economic_security",
                "data": {"benefits": ["SNAP"]},
            }
            records.upsert(feeds["hha"], "hha", f"E{i}", second)
            if i % 2 == 0:
                seeding.consent_housing_to_cchc(officer, attester, client_id, now)
            access.add_care_team_member(worker, client_id, "cchc.worker", None)
            ids.append(client_id)
        token = users.create_token(operator, "cchc.worker", {}).plaintext
    return token, ids


def wrk(
    url: str, token: str, ids: list[str], path: str, seconds: int, connections: int, workdir: Path
) -> tuple[float, float]:
    script = workdir / f"{path.strip('/').replace('/', '_')}.lua"
    script.write_text(
        "ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n"
        "counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  local id = ids[(counter % #ids) + 1]\n"
        f'  return wrk.format("GET", string.format("{path}", id), '
        f'{{["Authorization"] = "Bearer {token}"}})\n'
        "end\n"
    )
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{path}: {non2xx.group(1)} error responses\n{out}")
    return rps, float(p99.group(1)) * scale


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
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    os.environ.setdefault("CASEOPS_ENV", "test")
    os.environ.setdefault("CASEOPS_LOG_LEVEL", "WARNING")
    import base64

    secrets = {
        "CASEOPS_SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "CASEOPS_ENCRYPTION_KEYS": "b1:" + base64.urlsafe_b64encode(b"b" * 32).decode(),
        "CASEOPS_PSEUDONYM_KEY": "bench-pseudonym-key",
        "CASEOPS_AUDIT_SIGNING_KEY": base64.b64encode(b"a" * 32).decode(),
    }
    os.environ.update(secrets)
    from alembic import command
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from caseops.migrations_state import alembic_config

    server = make_url(args.database_url)
    name = f"caseops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    workdir = Path(tempfile.mkdtemp(prefix="caseops-viewload-"))
    process = None
    try:
        command.upgrade(alembic_config(url), "head")
        started = time.perf_counter()
        token, ids = seed(url, args.clients)
        print(
            f"seeded {len(ids)} clients x 3 records on PostgreSQL in "
            f"{time.perf_counter() - started:.0f}s"
        )
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN")}
        env.update(CASEOPS_DATABASE_URL=url, CASEOPS_INSTANCE_PATH=str(workdir))
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--access-logfile",
                "/dev/null",
                "bench.view_app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.2)
        results: dict[str, list[tuple[float, float]]] = {"baseline": [], "view": []}
        paths = {"baseline": "/bench/baseline/%s", "view": "/api/v1/clients/%s/record"}
        # Unmeasured warm-up of both endpoints: pool connections, prepared statements and
        # the policy cache are then as warm for the first measured round as the last.
        for label in ("baseline", "view"):
            wrk(base, token, ids, paths[label], 3, args.connections, workdir)
        for _ in range(args.rounds):
            for label in ("baseline", "view"):
                results[label].append(
                    wrk(base, token, ids, paths[label], args.seconds, args.connections, workdir)
                )
        baseline_rps = max(r for r, _ in results["baseline"])
        view_rps = max(r for r, _ in results["view"])
        view_p99 = min(p for _, p in results["view"])
        for label, runs in results.items():
            print(f"{label:8s}: " + ", ".join(f"{r:.0f} req/s p99 {p:.1f} ms" for r, p in runs))
        ratio = view_rps / baseline_rps
        print(
            f"view/baseline throughput: {ratio:.2f}x (target >= 0.6x: "
            f"{'met' if ratio >= 0.6 else 'MISSED'}); view p99 {view_p99:.1f} ms "
            f"(target <= 25 ms: {'met' if view_p99 <= 25 else 'MISSED'})"
        )
        # With every connection busy, a request waits for the ones ahead of it: the mean
        # latency is connections / throughput (Little's law), whatever the code does.
        print(
            f"  queueing floor at {args.connections} connections: mean latency >= "
            f"{args.connections / view_rps * 1000:.1f} ms at {view_rps:.0f} req/s; "
            f"p99 <= 25 ms needs >= {args.connections / 0.025:.0f} req/s"
        )
        alone_rps, alone_p99 = wrk(base, token, ids, paths["view"], args.seconds, 1, workdir)
        print(
            f"view with 1 connection (no queueing): {alone_rps:.0f} req/s, p99 {alone_p99:.1f} ms"
        )
        return 0
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
