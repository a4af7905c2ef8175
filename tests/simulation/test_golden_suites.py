"""Golden decision suites: the shipped suite passes on the default policy (this is how
``make test`` runs it), a wrong expectation fails with a readable diff and a non-zero
exit, and a draft is applied to a copy, never to the live policy."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select

from caseops.authz.models import CasbinRule
from caseops.extensions import db
from caseops.simulation.commands import run_file
from caseops.simulation.suites import DEFAULT_SUITE
from tests import factories


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _suite() -> dict:
    return yaml.safe_load(DEFAULT_SUITE.read_text(encoding="utf-8"))


def test_shipped_suite_passes_on_the_default_policy(app):
    status, report = run_file(DEFAULT_SUITE)
    assert status == 0, report
    assert "0 failed" in report
    [entry] = factories.events("policy.test")
    assert entry.outcome == "success" and entry.detail["failed"] == []


def test_a_wrong_expectation_fails_with_a_diff(app, tmp_path):
    data = _suite()
    first = data["cases"][0]
    first["expect"]["cchc/health"] = {"decision": "withheld", "reason": "no_consent"}
    status, report = run_file(_write(tmp_path, "wrong.yaml", data))
    assert status == 1
    assert f"FAIL  {first['name']}" in report
    assert (
        "cchc/health: expected withheld (reason=no_consent), got shown (basis=consent, "
        "relationship=care_team, consent_id=k-maria-health)" in report
    )
    assert "1 failed" in report
    [entry] = factories.events("policy.test")
    assert entry.outcome == "failure" and entry.detail["failed"] == [first["name"]]


def test_an_unlisted_section_is_a_mismatch(app, tmp_path):
    data = _suite()
    del data["cases"][0]["expect"]["rrp/substance_use"]
    status, report = run_file(_write(tmp_path, "partial.yaml", data))
    assert status == 1
    assert "rrp/substance_use: not in expect; got hidden" in report


def test_a_draft_changes_the_outcome_and_not_the_live_policy(app, tmp_path):
    rules_before = db.session.scalars(select(CasbinRule).where(CasbinRule.ptype == "p")).all()
    draft = _write(
        tmp_path,
        "draft.yaml",
        {
            "add": [
                {
                    "sub": "case_worker",
                    "dom": "hha",
                    "obj": "record:health",
                    "act": "read",
                    "eft": "deny",
                }
            ]
        },
    )
    status, report = run_file(DEFAULT_SUITE, draft)
    assert status == 1
    assert "cchc/health: expected shown (basis=consent" in report
    assert "got withheld (reason=policy" in report
    after = db.session.scalars(select(CasbinRule).where(CasbinRule.ptype == "p")).all()
    assert [r.values() for r in after] == [r.values() for r in rules_before]


def test_a_malformed_suite_names_each_problem(app, tmp_path):
    data = _suite()
    data["now"] = "2026-06-01T12:00:00"  # no time zone
    data["users"]["hha.worker"]["roles"] = ["wizard"]
    status, report = run_file(_write(tmp_path, "bad.yaml", data))
    assert status == 2
    assert "now: give a time zone" in report
    assert "users.hha.worker.roles: unknown ['wizard']" in report


def test_the_command_exits_non_zero_on_a_mismatch(app, tmp_path):
    data = _suite()
    data["cases"][0]["expect"]["hha/housing"] = "withheld"
    wrong = _write(tmp_path, "wrong.yaml", data)
    runner = app.test_cli_runner()
    failing = runner.invoke(args=["policy", "test", str(wrong)])
    assert failing.exit_code == 1, failing.output
    assert "hha/housing: expected withheld, got shown" in failing.output
    passing = runner.invoke(args=["policy", "test", str(DEFAULT_SUITE)])
    assert passing.exit_code == 0, passing.output
