"""Consented record view under load against a bare app outside caseops (issue 20).

Compares GET /api/v1/clients/{id}/record (token, policy, consent and relationship
decision, the access-log entry committed before the response) served by caseops under
gunicorn with ``bench/bare_app.py``: a bare Flask app that imports nothing from caseops
and per request reads the same client's records (decrypting them) and commits one log row
into its own ``bare_log`` table. A baseline endpoint inside caseops would pay caseops'
per-request overhead and hide it; this one does not. Both are started by this bench under
gunicorn with the same workers, worker class and threads (those caseops' gunicorn.conf.py
resolves to, read with ``gunicorn --print-config``), on the same seeded PostgreSQL
database; both stay up, and only one of them serves load at a time.

Two phases, each alternating view and bare (the order swapped every round, so a drift of
the shared machine's speed falls on both):

1. saturation: ``--rounds`` runs of wrk with ``--connections`` connections each; the
   median throughput of each and the ratio view / bare;
2. fixed rate: ``--rate-fraction`` of the lower median throughput (a rate both carry),
   paced by Debian's ``hey -q``: ``--connections`` senders, one hey process each, their
   sends spread evenly over the interval (``hey`` below says why not one hey with many
   workers), over four clients; the median p99 of each over ``--rounds`` runs and the
   ratio.

    .venv/bin/python -m bench.view_load [--database-url URL] [--clients 500]
        [--seconds 15] [--connections 16] [--workers 2] [--rounds 5]

``CASEOPS_THREADS`` and ``CASEOPS_EVENT_STREAMS`` change the threads of both, as they
change caseops' (gunicorn.conf.py). Only 2xx answers count as throughput; error answers
and requests unanswered within 30 s are counted and printed, not fatal, so a run that
stalls still reports what it measured (and misses the targets).

Targets (issue 20): view throughput >= 0.6x bare at saturation; at the fixed rate, view
p99 <= 1.5x bare p99.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from bench import seeding
from bench.cpu import Cpu, PostgresCpu

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VIEW_PATH = "/api/v1/clients/%s/record"
BARE_PATH = "/bare/%s"
HEY = "/usr/bin/hey"


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
        # The seed's writes queued a client.updated decision per record (docs/events.md);
        # a server that has settled has decided them. Left queued, the servers' notifiers
        # would decide ~3 per client during the measured rounds, work the bare app has no
        # part of (and a backlog no deployment carries after its first seconds).
        from caseops.events.notifier import drain

        drain()
    return token, ids


class Run(NamedTuple):
    """One load run: answered requests/s (2xx only), latency over every answer (ms), and
    what went wrong (non-2xx answers; requests with no answer within the timeout)."""

    rps: float
    mean: float
    p50: float
    p99: float
    errors: int
    timeouts: int

    def show(self) -> str:
        bad = f" ({self.errors} errors, {self.timeouts} timeouts)" if self.failed else ""
        return f"{self.rps:.0f} req/s p50 {self.p50:.1f} p99 {self.p99:.1f} ms{bad}"

    @property
    def failed(self) -> int:
        return self.errors + self.timeouts


def saturate(
    url: str, token: str, ids: list[str], path: str, seconds: int, connections: int, workdir: Path
) -> Run:
    """Closed-loop saturation with wrk over every client in turn. The timeout is 30 s (wrk's
    default, 2 s, would drop a stalled request from the latencies instead of counting it)."""
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
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        found = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    elapsed = float(done.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"Socket errors: .*timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return Run(
        rps=(int(done.group(1)) - errors) / elapsed,
        mean=ms("Latency"),
        p50=ms("50%"),
        p99=ms("99%"),
        errors=errors,
        timeouts=int(timeouts.group(1)) if timeouts else 0,
    )


def wrk(
    url: str, token: str, ids: list[str], path: str, seconds: int, connections: int, workdir: Path
) -> tuple[float, float]:
    """(requests/s, p99 ms) at saturation; an error answer stops the bench (bench/events.py
    uses this)."""
    run = saturate(url, token, ids, path, seconds, connections, workdir)
    if run.errors:
        raise SystemExit(f"{path}: {run.errors} error responses")
    return run.rps, run.p99


def hey(
    url: str, token: str, ids: list[str], path: str, rate: float, seconds: int, connections: int
) -> Run:
    """Paced load: ``connections`` paced senders sharing ``rate`` requests/s in total,
    their sends spread evenly over each interval, over the first four clients (two with a
    consent, two without, as the seed alternates). Latencies over every answer's own time
    (hey's ``-o csv``).

    Each sender is its own ``hey -c 1 -q r`` process, started ``i / connections`` of an
    interval after the first. One hey with ``-c N`` would not do: its N workers start
    together and each ticks at ``-q``, so all N send at the same instant every interval —
    a burst of N simultaneous requests, whose latency is the time to drain the burst
    (N x CPU per request / cores), not the latency at a rate (measured 2026-12-06: the
    view at 20 req/s, 1 % of what it carries, had p50 73 ms sent as 16 x 1.25 req/s by one
    hey and 8.8 ms sent by one worker). A sender waits for its answer before its next
    tick, so a stall holds back only that sender."""
    clients = ids[: min(4, connections, len(ids))]
    per_sender = rate / connections
    processes = []
    started = time.monotonic()
    for n in range(connections):
        time.sleep(max(0.0, started + n / rate - time.monotonic()))
        processes.append(
            subprocess.Popen(
                [
                    HEY,
                    "-z",
                    f"{seconds}s",
                    "-c",
                    "1",
                    "-q",
                    f"{per_sender:.3f}",
                    "-t",
                    "30",
                    "-o",
                    "csv",
                    "-H",
                    f"Authorization: Bearer {token}",
                    url + path % clients[n % len(clients)],
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    # hey's csv lists answers only: a request unanswered within 30 s shows as a lower
    # answered rate (the "did not carry the rate" note), not here.
    times: list[float] = []
    errors = 0
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"hey failed ({process.returncode}): {err}")
        for line in out.splitlines()[1:]:
            fields = line.split(",")
            if len(fields) < 8:
                continue
            if not fields[6].startswith("2"):
                errors += 1
            times.append(float(fields[0]) * 1000)
    if not times:
        raise SystemExit(f"{path}: no answers at {rate:.0f} req/s")
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return Run(
        rps=(len(times) - errors) / seconds,
        mean=statistics.fmean(times),
        p50=cuts[49],
        p99=cuts[98],
        errors=errors,
        timeouts=0,
    )


def alternate(rounds: int, measure: Callable[[str], Run]) -> dict[str, list[Run]]:
    """``rounds`` runs of ``measure`` for each of view and bare, the order swapped every
    round, so a drift of the shared machine's speed falls on both."""
    runs: dict[str, list[Run]] = {"view": [], "bare": []}
    for round_ in range(rounds):
        for label in ("view", "bare") if round_ % 2 == 0 else ("bare", "view"):
            runs[label].append(measure(label))
    return runs


def gunicorn_settings(env: dict[str, str], workers: int, workdir: Path) -> dict[str, str]:
    """threads and worker_class as caseops' gunicorn.conf.py resolves them in this
    environment (gunicorn's own --print-config), so the bare app gets the same."""
    out = subprocess.run(
        [
            str(BIN / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "--workers",
            str(workers),
            "--print-config",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env | {"PROMETHEUS_MULTIPROC_DIR": str(workdir / "print-config-metrics")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings = dict(
        (m.group(1), m.group(2).strip())
        for m in re.finditer(r"^(\w+)\s+=\s?(.*)$", out, re.MULTILINE)
    )
    return {name: settings[name] for name in ("workers", "worker_class", "threads")}


def start(
    app: str,
    port: int,
    settings: dict[str, str],
    env: dict,
    cwd: Path,
    log: Path,
    config: bool | None = None,
):
    """gunicorn serving ``app`` with ``settings`` given explicitly (both apps alike), with
    ``cwd``'s ``gunicorn.conf.py`` when ``config`` (by default: when ``cwd`` is this
    checkout; the bare app's directory has none, and caseops' would import caseops)."""
    if config is None:
        config = cwd == ROOT
    flags = ["--config", "gunicorn.conf.py"] if config else []
    return subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            *flags,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            settings["workers"],
            "--worker-class",
            settings["worker_class"],
            "--threads",
            settings["threads"],
            "--access-logfile",
            "/dev/null",
            # as caseops' config does: several gunicorns per user must not share one
            "--no-control-socket",
            app,
        ],
        cwd=cwd,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    for _ in range(150):
        if process.poll() is not None:
            break
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)  # noqa: S310 - loopback
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{base} did not start:\n{log.read_text()[-3000:]}")


def server_warnings(workdir: Path) -> None:
    """The first warnings and errors each server logged: why it answered errors."""
    for log in sorted(workdir.glob("*.log")):
        lines = [
            line for line in log.read_text().splitlines() if "WARNING" in line or "ERROR" in line
        ]
        if lines:
            print(f"--- {log.name}: {len(lines)} warnings/errors, the first:")
            print("\n".join(lines[:3]))


def main() -> int:
    parser = seeding.view_bench_parser(__doc__)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--rate-fraction",
        type=float,
        default=0.7,
        help="fixed rate as a fraction of the lower median saturation throughput",
    )
    args = parser.parse_args()
    for tool in ("wrk", HEY):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install wrk hey")

    seeding.bench_environment()
    with seeding.migrated_database(args.database_url) as url:
        return serve_and_measure(url, args)


def serve_and_measure(url: str, args: argparse.Namespace) -> int:
    """Seed the bench database at ``url``, serve it with caseops and the bare app, run
    both phases and print them."""
    from sqlalchemy import create_engine

    from bench.bare_app import create_log_table

    workdir = Path(tempfile.mkdtemp(prefix="caseops-viewload-"))
    processes: list[subprocess.Popen] = []
    try:
        started = time.perf_counter()
        token, ids = seed(url, args.clients)
        engine = create_engine(url)
        create_log_table(engine)
        engine.dispose()
        print(
            f"seeded {len(ids)} clients x 3 records on PostgreSQL in "
            f"{time.perf_counter() - started:.0f}s"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN")}
        env.update(CASEOPS_DATABASE_URL=url, CASEOPS_INSTANCE_PATH=str(workdir))
        settings = gunicorn_settings(env, args.workers, workdir)
        print(
            f"both under gunicorn: {settings['workers']} workers, {settings['worker_class']}, "
            f"{settings['threads']} threads (caseops' gunicorn.conf.py)"
        )
        bare_dir = workdir / "bare"  # no gunicorn.conf.py here: caseops' imports caseops
        bare_dir.mkdir()
        bare_env = env | {"PYTHONPATH": str(ROOT)}
        bases, paths = {}, {"view": VIEW_PATH, "bare": BARE_PATH}
        for label, app, cwd, app_env in (
            ("view", "wsgi:app", ROOT, env),
            ("bare", "bench.bare_app:create_app()", bare_dir, bare_env),
        ):
            port, log = free_port(), workdir / f"{label}.log"
            processes.append(start(app, port, settings, app_env, cwd, log))
            bases[label] = f"http://127.0.0.1:{port}"
            wait_ready(bases[label], processes[-1], log)

        # Unmeasured warm-up of both: pool connections, prepared statements and the
        # policy cache are then as warm for the first measured round as the last.
        for label in ("view", "bare"):
            saturate(bases[label], token, ids, paths[label], 3, args.connections, workdir)
        # Where each request's CPU went (the app server's processes, PostgreSQL's): at
        # saturation on a small machine, throughput is CPU per request.
        servers = dict(zip(("view", "bare"), (Cpu(p.pid) for p in processes), strict=True))
        postgres = PostgresCpu()
        spent: dict[str, list[tuple[float, float, float]]] = {"view": [], "bare": []}

        def saturated(label: str) -> Run:
            server_before = servers[label].now()
            postgres.start()
            run = saturate(
                bases[label], token, ids, paths[label], args.seconds, args.connections, workdir
            )
            answered = run.rps * args.seconds
            spent[label].append((servers[label].now() - server_before, postgres.stop(), answered))
            return run

        saturation = alternate(args.rounds, saturated)
        print(f"saturation, wrk {args.connections} connections, {args.seconds} s per run:")
        for label, runs in saturation.items():
            print(f"  {label}: " + ", ".join(run.show() for run in runs))
        for label, rounds in spent.items():
            requests = sum(n for *_, n in rounds) or 1
            print(
                f"  CPU per {label} request (all rounds): app server "
                f"{sum(s for s, _, _ in rounds) / requests * 1000:.2f} ms, PostgreSQL "
                f"{sum(p for _, p, _ in rounds) / requests * 1000:.2f} ms"
            )
        median = {
            label: statistics.median(run.rps for run in runs) for label, runs in saturation.items()
        }
        if min(median.values()) <= 0:
            silent = [label for label, rps in median.items() if rps <= 0]
            print(f"MISSED: {' and '.join(silent)} answered nothing (2xx) at saturation")
            server_warnings(workdir)
            return 1
        ratio = median["view"] / median["bare"]
        print(
            f"view/bare throughput (medians of {args.rounds}): {median['view']:.0f} / "
            f"{median['bare']:.0f} req/s = {ratio:.2f}x "
            f"(target >= 0.6x: {'met' if ratio >= 0.6 else 'MISSED'})"
        )
        # With every connection busy, a request waits for the ones ahead of it: the mean
        # latency is connections / throughput (Little's law), whatever the code does.
        # So saturation latencies say how fast each drains its queue; latency is compared
        # at a rate both carry instead.
        print(
            f"  queueing floor at {args.connections} connections (Little's law, mean latency "
            f"= connections / throughput): view >= "
            f"{args.connections / median['view'] * 1000:.1f} ms at {median['view']:.0f} "
            f"req/s, bare >= {args.connections / median['bare'] * 1000:.1f} ms at "
            f"{median['bare']:.0f} req/s"
        )

        rate = args.rate_fraction * min(median.values())
        fixed = alternate(
            args.rounds,
            lambda label: hey(
                bases[label], token, ids, paths[label], rate, args.seconds, args.connections
            ),
        )
        print(
            f"fixed rate {rate:.0f} req/s ({args.rate_fraction:.0%} of the lower median), "
            f"{args.connections} hey senders at -q {rate / args.connections:.2f}, spread evenly, "
            f"{args.seconds} s per run:"
        )
        for label, runs in fixed.items():
            print(f"  {label}: " + ", ".join(run.show() for run in runs))
        p99 = {label: statistics.median(run.p99 for run in runs) for label, runs in fixed.items()}
        latency = p99["view"] / p99["bare"]
        print(
            f"view/bare p99 at {rate:.0f} req/s (medians of {args.rounds}): "
            f"{p99['view']:.1f} / {p99['bare']:.1f} ms = {latency:.2f}x "
            f"(target <= 1.5x: {'met' if latency <= 1.5 else 'MISSED'})"
        )
        for label, runs in fixed.items():
            answered = statistics.median(run.rps for run in runs)
            if answered < 0.95 * rate:
                print(
                    f"  note: {label} was offered {rate:.0f} req/s and answered {answered:.0f} "
                    "(2xx): it did not carry the rate, so its p99 is flattered (hey waits for "
                    "each answer before that worker's next request)"
                )
        # Little's law again: requests in the server on average = rate x mean latency.
        print(
            f"  in flight on average at {rate:.0f} req/s (Little's law, rate x mean latency): "
            + ", ".join(
                f"{label} {rate * statistics.median(run.mean for run in runs) / 1000:.2f}"
                for label, runs in fixed.items()
            )
        )
        failed = {
            label: sum(run.failed for run in (*saturation[label], *fixed[label]))
            for label in ("view", "bare")
        }
        for label, count in failed.items():
            if count:
                print(
                    f"FAILED requests: {label} answered {count} requests with an error or not "
                    f"within 30 s (see above); the targets are missed whatever the ratios"
                )
        if any(failed.values()):
            server_warnings(workdir)
        return 0
    except SystemExit:
        for log in sorted(workdir.glob("*.log")):  # why a server answered an error
            print(f"--- {log.name} (last lines)\n{log.read_text()[-2000:]}", file=sys.stderr)
        raise
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
