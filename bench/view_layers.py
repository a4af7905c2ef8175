"""Where the record view's CPU goes, layer by layer, next to the bare app (issue 20).

bench/view_load.py finds the view serving about half the bare app's throughput at
saturation, and on two cores throughput is CPU per request. This bench says which layer
that CPU is spent in. In one process, through Flask's test client (no gunicorn, no
network client: the same for every row), on one seeded PostgreSQL database, it measures
the CPU per request of this process and of PostgreSQL's for (the background sealer is
off, as in bench/view_load.py's servers: ``CASEOPS_ENV=test``):

====================  ===============================  ===================================
row                   request                          what it adds to the row above
====================  ===============================  ===================================
bare no-op            bare app ``GET /readyz``         Flask and WSGI, nothing else
bare                  bare app ``GET /bare/<id>``      its read, decryption, log row
caseops public        ``GET /healthz``                 caseops' hooks (request id, headers,
                                                       limits, metrics, session, login)
caseops signed in     ``GET /bench/noop``              the bearer token read and its
                                                       policy version (bench/view_app.py)
caseops view          ``GET /api/v1/clients/<id>/      the decision's reads, the decision,
                      record``                         its log entry, the answer
====================  ===============================  ===================================

``--rounds`` rounds of ``--requests`` requests each, the rows alternating in every round
(order reversed every other round); the medians are printed, then the budget the 0.6x
target leaves the view's own work once caseops' signed-in floor is paid, the ratio a view
would reach whose own work cost what the bare app's own work costs, and the ratio of the
view's and the bare app's elapsed time one request at a time: their service times, which
the fixed-rate p99 target compares once queued.

    .venv/bin/python -m bench.view_layers [--database-url URL] [--clients 100]
        [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable

from bench import seeding
from bench.cpu import PostgresCpu

ROWS = (
    "bare no-op",
    "bare",
    "caseops public",
    "caseops signed in",
    "caseops view",
)


def requests(url: str, token: str, ids: list[str]) -> dict[str, Callable[[int], int]]:
    """Per row, a function sending its ``i``-th request and answering the status."""
    os.environ["CASEOPS_DATABASE_URL"] = url
    from bench import bare_app

    view_app = importlib.import_module("bench.view_app")  # builds its app from the environment

    caseops = view_app.app.test_client()
    bare = bare_app.create_app(url, os.environ["CASEOPS_ENCRYPTION_KEYS"]).test_client()
    signed = {"Authorization": f"Bearer {token}"}

    def get(client, path: str, per_client: bool, headers: dict | None = None):
        def send(i: int) -> int:
            target = path % ids[i % len(ids)] if per_client else path
            return client.get(target, headers=headers).status_code

        return send

    return {
        "bare no-op": get(bare, "/readyz", False),
        "bare": get(bare, "/bare/%s", True),
        "caseops public": get(caseops, "/healthz", False),
        "caseops signed in": get(caseops, "/bench/noop", False, signed),
        "caseops view": get(caseops, "/api/v1/clients/%s/record", True, signed),
    }


def measure(
    send: Callable[[int], int], count: int, postgres: PostgresCpu
) -> tuple[float, float, float]:
    """(this process's CPU, PostgreSQL's CPU, elapsed time) per request in ms, over
    ``count`` requests sent one at a time."""
    postgres.start()
    started, elapsed = time.process_time(), time.perf_counter()
    for i in range(count):
        status = send(i)
        if status != 200:
            raise SystemExit(f"request {i} answered {status}: the seed or the app is wrong")
    app_ms = (time.process_time() - started) / count * 1000
    wall_ms = (time.perf_counter() - elapsed) / count * 1000
    return app_ms, postgres.stop() / count * 1000, wall_ms


def main() -> int:
    parser = seeding.view_bench_parser(__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    seeding.bench_environment()
    from sqlalchemy.orm import close_all_sessions

    with seeding.migrated_database(args.database_url) as url:
        try:
            measure_layers(url, args)
        finally:
            close_all_sessions()
    return 0


def seed_rows(url: str, clients: int) -> tuple[str, list[str]]:
    """The database at ``url`` as every row needs it: the view load's seed (its token and
    client ids, returned) and the bare app's log table."""
    from sqlalchemy import create_engine

    from bench.bare_app import create_log_table
    from bench.view_load import seed

    token, ids = seed(url, clients)
    engine = create_engine(url)
    try:
        create_log_table(engine)
    finally:
        engine.dispose()
    return token, ids


def measure_layers(url: str, args: argparse.Namespace) -> None:
    """Seed the bench database at ``url``, measure every row, print the layers."""
    token, ids = seed_rows(url, args.clients)
    sends = requests(url, token, ids)
    postgres = PostgresCpu()
    for send in sends.values():  # warm: pools, prepared statements, caches
        measure(send, 200, postgres)
    spent: dict[str, list[tuple[float, float, float]]] = {row: [] for row in ROWS}
    for round_ in range(args.rounds):
        for row in ROWS if round_ % 2 == 0 else reversed(ROWS):
            spent[row].append(measure(sends[row], args.requests, postgres))
    print(
        f"Per request, in process (Flask's test client), one at a time, medians of "
        f"{args.rounds} rounds of {args.requests}, {args.clients} clients x 3 records on "
        "PostgreSQL:"
    )
    median = {
        row: tuple(statistics.median(r[k] for r in rounds) for k in (0, 1, 2))
        for row, rounds in spent.items()
    }
    cpu = {row: app_ms + pg_ms for row, (app_ms, pg_ms, _) in median.items()}
    for row, previous in zip(ROWS, (None, *ROWS[:-1]), strict=True):
        app_ms, pg_ms, wall_ms = median[row]
        under = "bare no-op" if row == "caseops public" else previous
        added = f"  (+{cpu[row] - cpu[under]:.3f} over {under})" if under else ""
        print(
            f"  {row:<19} CPU app {app_ms:.3f} + PostgreSQL {pg_ms:.3f} = "
            f"{cpu[row]:.3f} ms{added}; elapsed {wall_ms:.3f} ms"
        )
    bare, floor, view = cpu["bare"], cpu["caseops signed in"], cpu["caseops view"]
    budget = bare / 0.6
    print(
        f"view / bare CPU: {bare:.3f} / {view:.3f} ms = {bare / view:.2f}x the throughput "
        f"at saturation if CPU bounds both (target 0.6x: the view within {budget:.3f} ms)"
    )
    bare_own = bare - cpu["bare no-op"]
    print(
        f"  caseops signed in, before any work of the view's own: {floor:.3f} ms "
        f"({floor / bare:.2f}x bare's whole request); the view's own work costs "
        f"{view - floor:.3f} ms, and the target leaves it {budget - floor:.3f} ms"
    )
    print(
        f"  were the view's own work to cost what bare's own does ({bare_own:.3f} ms): "
        f"{floor + bare_own:.3f} ms, {bare / (floor + bare_own):.2f}x"
    )
    for row in ("bare", "caseops view"):  # one more run each, for how it is spread
        measure(sends[row], args.requests, postgres)
        shares = [s / args.requests * 1000 for s in postgres.by_process]
        print(
            f"  PostgreSQL's CPU for {row} by process, ms a request, largest first: "
            + ", ".join(f"{share:.3f}" for share in shares if share >= 0.005)
            + " (each backend a request wakes is one share)"
        )
    alone = median["caseops view"][2] / median["bare"][2]
    print(
        f"elapsed, one request at a time (no queue): view / bare {alone:.2f}x, the service "
        "times any latency at a fixed rate starts from (target: p99 <= 1.5x)"
    )


if __name__ == "__main__":
    sys.exit(main())
