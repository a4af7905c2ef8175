"""Golden decision suites say which installation they model: without ``waivers`` a suite is
a new installation (cross-agency sections need agreements); ``agreements`` open them."""

from __future__ import annotations

import pytest

from caseops.authz.models import CasbinRule
from caseops.extensions import db
from caseops.simulation.suites import SuiteError, run_suite

SUITE = {
    "suite": "agreements",
    "now": "2026-06-01T12:00:00Z",
    "agencies": {"hha": {}, "cchc": {}},
    "users": {"cchc.worker": {"agency": "cchc", "roles": ["case_worker"]}},
    "clients": {"maria": {"records": ["hha/housing", "cchc/health"]}},
    "consents": [
        {
            "id": "k1",
            "client": "maria",
            "sources": ["hha"],
            "categories": ["housing"],
            "recipients": ["cchc"],
            "purposes": ["care_coordination"],
            "effective_from": "2026-01-01T00:00:00Z",
        }
    ],
    "relationships": [{"user": "cchc.worker", "client": "maria", "kind": "care_team"}],
}


def _case(housing: dict) -> dict:
    return {
        "name": "cchc reads hha's housing",
        "user": "cchc.worker",
        "client": "maria",
        "purpose": "care_coordination",
        "expect": {"hha/housing": housing, "cchc/health": {"decision": "shown"}},
    }


def _rows():
    return [r.values() for r in db.session.scalars(db.select(CasbinRule)) if r.ptype == "p"]


@pytest.mark.parametrize(
    ("extra", "housing"),
    [
        ({}, {"decision": "withheld", "reason": "no_agreement"}),
        ({"waivers": "all"}, {"decision": "shown", "basis": "consent"}),
        ({"waivers": [["cchc", "hha"]]}, {"decision": "shown", "basis": "consent"}),
        (
            {
                "agreements": [
                    {
                        "parties": ["hha", "cchc"],
                        "categories": ["housing"],
                        "purposes": ["care_coordination"],
                        "starts_on": "2026-01-01",
                        "ends_on": "2026-05-31",
                    }
                ]
            },
            {"decision": "withheld", "reason": "no_agreement"},  # ended the day before
        ),
        (
            {
                "agreements": [
                    {
                        "parties": ["hha", "cchc"],
                        "categories": ["housing"],
                        "purposes": ["care_coordination"],
                        "starts_on": "2026-01-01",
                        "ends_on": "2026-06-01",
                    }
                ]
            },
            {"decision": "shown", "basis": "consent"},
        ),
    ],
)
def test_suites_model_agreements_and_waivers(app, extra, housing):
    result = run_suite(SUITE | extra | {"cases": [_case(housing)]}, _rows())
    assert result.passed, result.report()


def test_a_malformed_waiver_is_named(app):
    with pytest.raises(SuiteError, match="waivers"):
        run_suite(SUITE | {"waivers": [["hha", "nowhere"]], "cases": []}, _rows())
