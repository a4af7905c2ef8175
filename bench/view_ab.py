"""Two builds of the record view served side by side, each against the bare app (issue 20).

``bench/view_load.py`` compares the view with the bare app. A change to the view used to
be judged by running that bench before and after it, minutes apart; on a shared two-core
machine that cannot settle a change of a few per cent: the same code measured **0.48x**
and **0.65x** of the bare app within one hour (2026-12-08), and in process the same view
cost 2.2 and 4.6 ms of CPU a request ten minutes apart while the bare app stayed within
a tenth. This bench serves the working tree ("this") and another commit (``--against``,
checked out into a temporary git worktree) on one seeded PostgreSQL database, beside the
bare app, and runs all three in every round at each connection count (the order reversed
every other round), so each round gives ``this / against`` from runs seconds apart and a
drift of the machine falls on both builds alike.

    .venv/bin/python -m bench.view_ab --against REV [--database-url URL] [--clients 300]
        [--connections 1,16] [--rounds 12] [--seconds 4] [--workers 2]

Both builds are served by this checkout's virtualenv under gunicorn with the same
settings (``bench.view_load.gunicorn_settings``), each with its own ``gunicorn.conf.py``,
on the database this checkout migrates: a commit whose ``migrations/`` differ from the
working tree's is refused (it would serve a schema it does not know). Printed per round
and as medians: throughput (2xx), CPU per request of the app server and of PostgreSQL,
p99; then per connection count the median of the per-round ratios ``this / bare``,
``against / bare`` and ``this / against``, and in how many rounds "this" served more.
Its control (``--against HEAD``) spread 0.79-1.38 a round on 2026-12-08: a change is told
by a dozen rounds or more, not by one. No target of its own: it says whether a change
moved the view, which ``bench/view_load.py`` then measures against the targets.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import seeding
from bench import view_load as load
from bench.cpu import Cpu, PostgresCpu

LABELS = ("this", "against", "bare")


def same_migrations(rev: str, root: Path = load.ROOT) -> bool:
    """Whether ``rev``'s ``migrations/`` are the working tree's (committed or not)."""
    return (
        subprocess.run(
            ["git", "diff", "--quiet", rev, "--", "migrations"], cwd=root, check=False
        ).returncode
        == 0
    )


@contextmanager
def worktree(rev: str, root: Path = load.ROOT) -> Iterator[Path]:
    """``rev`` checked out (detached) in a temporary directory, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="caseops-ab-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), rev],
        cwd=root,
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=root, check=False)


def imports_from(tree: Path, env: dict[str, str]) -> Path:
    """Where ``caseops`` is imported from when served from ``tree`` with ``env``: the bench
    refuses to compare a build with itself (this virtualenv installs the working tree)."""
    out = subprocess.run(
        [str(load.BIN / "python"), "-c", "import caseops; print(caseops.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip()).resolve().parent.parent


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    """Round by round: each ratio is of two runs of the same round, never across rounds."""
    if len(numerators) != len(denominators):
        raise ValueError("one run of each per round")
    return [n / d if d else 0.0 for n, d in zip(numerators, denominators, strict=True)]


def ahead(each: list[float]) -> int:
    """In how many rounds the first build served more than the second. Against the
    control's spread (the same commit on both sides: 0.79-1.38 a round on 2026-12-08), a
    change is told by rounds won, not by one round's ratio."""
    return sum(1 for ratio in each if ratio > 1)


def main() -> int:
    parser = seeding.view_bench_parser(__doc__)
    parser.add_argument("--against", required=True, help="the commit to compare with")
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not same_migrations(args.against):
        raise SystemExit(f"{args.against}'s migrations differ from the working tree's")
    seeding.bench_environment()
    with worktree(args.against) as tree, seeding.migrated_database(args.database_url) as url:
        return serve_and_compare(url, tree, args)


def serve_and_compare(url: str, tree: Path, args: argparse.Namespace) -> int:
    """Seed ``url``, serve the three, alternate them, print every run and the ratios."""
    from bench.view_layers import seed_rows

    workdir = Path(tempfile.mkdtemp(prefix="caseops-viewab-"))
    token, ids = seed_rows(url, args.clients)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN")}
    env.update(CASEOPS_DATABASE_URL=url, CASEOPS_INSTANCE_PATH=str(workdir))
    against_env = env | {"PYTHONPATH": str(tree)}
    if imports_from(tree, against_env) != tree.resolve():
        raise SystemExit(f"served from {tree}, caseops would not be imported from it")
    settings = load.gunicorn_settings(env, args.workers, workdir)
    (workdir / "bare").mkdir()
    served = {
        "this": ("wsgi:app", load.ROOT, env),
        "against": ("wsgi:app", tree, against_env),
        "bare": (
            "bench.bare_app:create_app()",
            workdir / "bare",
            env | {"PYTHONPATH": str(load.ROOT)},
        ),
    }
    paths = {"this": load.VIEW_PATH, "against": load.VIEW_PATH, "bare": load.BARE_PATH}
    processes, bases = {}, {}
    try:
        for label, (app, cwd, app_env) in served.items():
            port, log = load.free_port(), workdir / f"{label}.log"
            processes[label] = load.start(
                app, port, settings, app_env, cwd, log, config=label != "bare"
            )
            bases[label] = f"http://127.0.0.1:{port}"
            load.wait_ready(bases[label], processes[label], log)
        for label in LABELS:  # unmeasured warm-up: pools, prepared statements, policy
            load.saturate(bases[label], token, ids, paths[label], 3, 16, workdir)
        compare(args, token, ids, bases, paths, processes, workdir)
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            process.wait(30)
    return 0


def compare(args, token, ids, bases, paths, processes, workdir: Path) -> None:
    """Every round, at each connection count, one wrk run of each server (the order
    reversed every other round); print each run, the medians and the paired ratios.
    Many short rounds rather than a few long ones: the machine drifts within seconds."""
    connections = [int(c) for c in args.connections.split(",") if c]
    servers = {label: Cpu(process.pid) for label, process in processes.items()}
    postgres = PostgresCpu()
    runs: dict[tuple[int, str], list[tuple[float, float, float, float]]] = {}
    print(
        f"this ({load.ROOT}) and --against {args.against}, {args.clients} clients x 3 records, "
        f"{args.seconds} s a run, wrk; rps, CPU per request (app + PostgreSQL), p99:"
    )
    for round_ in range(args.rounds):
        for count in connections:
            for label in LABELS if round_ % 2 == 0 else tuple(reversed(LABELS)):
                before = servers[label].now()
                postgres.start()
                run = load.saturate(
                    bases[label], token, ids, paths[label], args.seconds, count, workdir
                )
                answered = run.rps * args.seconds or 1
                app_ms = (servers[label].now() - before) / answered * 1000
                pg_ms = postgres.stop() / answered * 1000
                runs.setdefault((count, label), []).append((run.rps, app_ms, pg_ms, run.p99))
                print(
                    f"  round {round_ + 1} c={count:<3} {label:<7} {run.rps:7.0f} req/s  "
                    f"{app_ms:.2f} + {pg_ms:.2f} ms  p99 {run.p99:.1f} ms"
                    + (f"  ({run.errors} errors)" if run.errors else "")
                )
    print(f"medians of {args.rounds} rounds:")
    for count in connections:
        for label in LABELS:
            rps, app_ms, pg_ms, p99 = (
                statistics.median(run[i] for run in runs[(count, label)]) for i in range(4)
            )
            print(
                f"  c={count:<3} {label:<7} {rps:7.0f} req/s  {app_ms:.2f} + {pg_ms:.2f} ms  "
                f"p99 {p99:.1f} ms"
            )
        rps = {label: [run[0] for run in runs[(count, label)]] for label in LABELS}
        for top, bottom in (("this", "bare"), ("against", "bare"), ("this", "against")):
            each = ratios(rps[top], rps[bottom])
            print(
                f"  c={count:<3} {top} / {bottom} by round: "
                + " ".join(f"{r:.2f}" for r in each)
                + f"; median {statistics.median(each):.2f}x"
                + (f"; {top} ahead in {ahead(each)} of {len(each)}" if bottom != "bare" else "")
            )


if __name__ == "__main__":
    raise SystemExit(main())
