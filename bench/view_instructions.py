"""The record view's and the bare app's instructions per request, counted (issue 20).

bench/view_load.py and bench/view_layers.py measure CPU time, and on a shared machine
their figures move 10-20 % from one run to the next: as much as most changes worth making
to the view, whose cost is spread thin over Flask, its extensions and caseops' own code.
This bench counts instead: under valgrind's callgrind it counts the instructions the
app's process executes per request, which repeat run after run to a fraction of a percent
whatever else the machine is doing. The rows of bench/view_layers.py, the bare app outside
caseops measured in the same run, in one process through Flask's test client, one request
at a time, on one seeded PostgreSQL database.

It counts this process only: PostgreSQL's work is not in it (bench/view_layers.py prints
that), and an instruction is not a nanosecond (a cache miss costs more than an add), so
the ratio printed is the in-process ratio of app-side work, not a throughput. What it is
for: telling whether a change to the view's Python made it cheaper, and by how much,
without a quiet machine.

    .venv/bin/python -m bench.view_instructions [--database-url URL] [--clients 100]
        [--requests 300]

Needs valgrind (Debian's package; on every machine of this project's kind). About a
minute: Python runs some fifty times slower under callgrind, so few requests are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import seeding

ROWS = ("bare no-op", "bare", "caseops public", "caseops signed in", "caseops view")
WARM = 100  # requests per row before counting: pools, prepared statements, plans, shapes


def main() -> int:
    parser = seeding.view_bench_parser(__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the seeded run, as JSON
    args = parser.parse_args()
    seeding.bench_environment()
    if args.child:
        count(json.loads(args.child), args.requests)
        return 0
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install valgrind)")
    from sqlalchemy.orm import close_all_sessions

    with seeding.migrated_database(args.database_url) as url:
        try:
            counted = under_callgrind(url, args)
        finally:
            close_all_sessions()
    report(counted, args)
    return 0


def under_callgrind(url: str, args: argparse.Namespace) -> dict[str, float]:
    """Seed, then run this module's child under callgrind; instructions per request by row."""
    from bench.view_layers import seed_rows

    token, ids = seed_rows(url, args.clients)
    with tempfile.TemporaryDirectory(prefix="caseops-callgrind-") as workdir:
        out = Path(workdir, "callgrind.out")
        env = os.environ | {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}
        child = json.dumps({"url": url, "token": token, "ids": ids})
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.view_instructions",
                "--requests",
                str(args.requests),
                "--child",
                child,
            ],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # one dump per row, in order: callgrind.out.1, .2, ...
        totals = [_total(Path(f"{out}.{part}")) for part in range(1, len(ROWS) + 1)]
    return {row: total / args.requests for row, total in zip(ROWS, totals, strict=True)}


def _total(dump: Path) -> int:
    match = re.search(r"^totals: (\d+)", dump.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"{dump}: no instruction total (did callgrind dump?)")
    return int(match[1])


def count(seeded: dict, requests: int) -> None:
    """The child, under callgrind with instrumentation off: warm every row, then count
    each row's ``requests`` with instrumentation on, dumping after each."""
    from sqlalchemy.orm import close_all_sessions

    from bench.view_layers import requests as sends

    by_row = sends(seeded["url"], seeded["token"], seeded["ids"])
    for row in ROWS:
        _run(by_row[row], WARM)
    me = str(os.getpid())
    for row in ROWS:
        _callgrind("-i", "on", me)
        _run(by_row[row], requests)
        _callgrind("-i", "off", me)
        _callgrind("-d", me)
    close_all_sessions()


def _run(send, count: int) -> None:
    for i in range(count):
        status = send(i)
        if status != 200:
            raise SystemExit(f"request {i} answered {status}: the seed or the app is wrong")


def _callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def report(counted: dict[str, float], args: argparse.Namespace) -> None:
    print(
        f"Instructions of the app's process per request (callgrind), in process, one at a "
        f"time, {args.requests} requests per row, {args.clients} clients x 3 records on "
        "PostgreSQL (PostgreSQL's own work not counted):"
    )
    for row in ROWS:
        print(f"  {row:<19} {counted[row] / 1000:>9,.0f}k")
    bare, floor, view = counted["bare"], counted["caseops signed in"], counted["caseops view"]
    print(
        f"bare / view: {bare / view:.2f}x (the app side's share of the 0.6x target); "
        f"caseops signed in, before any work of the view's own: {floor / bare:.2f}x "
        f"bare's whole request; the view's own work {(view - floor) / 1000:,.0f}k against "
        f"bare's own {(bare - counted['bare no-op']) / 1000:,.0f}k"
    )


if __name__ == "__main__":
    sys.exit(main())
