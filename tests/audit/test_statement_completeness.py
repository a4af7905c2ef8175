"""Completeness of the access statement (issue 19, item 4): after N views by M workers
of several agencies -- some showing nothing, some searches, a break-the-glass, a
referral read -- the statement lists exactly the entries that disclosed something about
the client, as an independent query over the organisation-wide export finds them."""

from __future__ import annotations

import json
import random

import pytest

from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.audit.statement import statement_for_client
from caseops.audit.trail import public_key
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import break_glass, source_consent
from tests.fixtures.independent_statement import check_statement
from tests.fixtures.records import bearer
from tests.fixtures.referrals import accepted_referral, read

WORKERS = [
    "hha.case_worker",
    "hha.supervisor",
    "cchc.case_worker",
    "cchc.supervisor",
    "rrp.case_worker",
]


def disclosing(entry: dict, client_id: str) -> bool:
    """The independent rule, from the docs: a successful decision about the client that
    showed a section, opened emergency access or read a referral about them."""
    if entry.get("client_id") != client_id or entry.get("outcome") != "success":
        return False
    if entry["action"] == "client.view":
        return bool(entry["detail"].get("disclosed"))
    return entry["action"] in ("client.break_glass", "referral.viewed")


def search(client, worker: str):
    return client.get(
        "/api/v1/clients",
        query_string={"q": "Maria"},
        headers=bearer(factories.token_for(worker)),
    )


@pytest.mark.parametrize("seed", [7, 19])
def test_the_statement_lists_exactly_the_disclosing_entries(client, maria, seed):
    rng = random.Random(seed)
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    source_consent(client, maria)
    # some workers have need-to-know, some not (hha.supervisor never: withheld only)
    for worker in ["hha.case_worker", rng.choice(["cchc.supervisor", "rrp.case_worker"])]:
        join_care_team(client, worker, maria)
    assert view(client, "hha.supervisor", maria).status_code == 200  # shows nothing
    referral = accepted_referral(client, maria)
    for _ in range(18):
        action = rng.random()
        worker = rng.choice(WORKERS)
        if action < 0.7:
            assert view(client, worker, maria).status_code in (200, 403)
        elif action < 0.85:
            search(client, worker)
        else:
            read(client, referral, rng.choice(["hha.case_worker", "cchc.case_worker"]))
    assert read(client, referral, "cchc.case_worker").status_code == 200
    assert search(client, "cchc.case_worker").status_code == 200
    break_glass(client, "hha.supervisor", maria)
    view(client, "hha.supervisor", maria)
    seal_once(db.engine, log_key())

    export = client.get(
        "/api/v1/audit/export", headers=bearer(factories.token_for("hha.privacy_officer"))
    )
    entries = [json.loads(line) for line in export.get_data().splitlines()]
    expected = [e["seq"] for e in entries if disclosing(e, maria)]
    # the world is mixed enough for the comparison to mean something
    about = [e for e in entries if e.get("client_id") == maria]
    assert any(e["action"] == "client.view" and e["outcome"] == "denied" for e in about)
    assert any(e["action"] == "client.search" for e in entries)
    assert any(e["action"] == "referral.viewed" for e in about)

    statement = statement_for_client(maria, names=False)
    assert [e["seq"] for e in statement["entries"]] == expected
    assert statement["counts"]["proven"] == len(expected)
    assert check_statement(statement, public_key()["public_key_pem"]) == len(expected)
    left_out = {item["kind"] for item in statement["left_out"]}
    assert {"client.search", "refused_or_withheld"} <= left_out
