"""Agency-scoped privacy officers (issue 14, finding 6), audit side, through HTTP.

One scenario, three kinds of officer -- of the agency (hha), of another agency (cchc),
of the Part 2 program (rrp) -- and the operator's organisation-wide officer (ops, granted
``p, privacy_officer, ops, scope:organisation, audit, allow``), against every audit
endpoint. Each row says what the officer may see; every cell also checks that nothing
outside the row leaks: no entry, no section key, no grant, and that a hidden id answers
exactly as an unknown one.

The scenario (``world``):

* maria: housing at hha, health at cchc, substance use at rrp (Part 2).
  hha's worker views her (rrp's section is hidden from him); cchc's worker views her and
  is shown hha's housing under a consent hha recorded; cchc's supervisor breaks the
  glass and views her; rrp's worker views her (shown only rrp's own section) and breaks
  the glass on her without viewing anything under it.
* ana: housing at hha only; hha's supervisor breaks the glass and views her.
* paul: known only to rrp; rrp's worker views him.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pytest

from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import break_glass, source_consent
from tests.fixtures.records import MARIA, bearer, put

OFFICERS = ("hha", "cchc", "rrp", "ops")  # ops: organisation-wide
UNKNOWN_CLIENT = "0" * 32
TREATMENT = {"program": "outpatient", "substances": ["opioids"]}


def person(given: str, family: str, birth: str, ssn: str, category: str) -> dict:
    body = copy.deepcopy(MARIA)
    body["person"] |= {"given_name": given, "family_name": family, "birth_date": birth}
    body["person"]["ssn"] = ssn
    body["category"] = category
    if category != "housing":
        body["data"] = TREATMENT
    return body


@dataclass
class Scenario:
    maria: str
    ana: str
    paul: str
    grants: dict[str, int]  # "cchc_maria", "rrp_maria", "hha_ana"

    def officer(self, agency: str) -> dict[str, str]:
        return bearer(factories.token_for(f"{agency}.privacy_officer"))


@pytest.fixture
def scenario(world, client) -> Scenario:
    for username, roles in (
        ("rrp.integration", ["integration"]),
        ("rrp.case_worker", ["case_worker"]),
        ("rrp.privacy_officer", ["privacy_officer"]),
        ("ops.privacy_officer", ["privacy_officer"]),
    ):
        factories.make_user(username, username.split(".")[0], roles)
    factories.grant_organisation_scope("privacy_officer", "ops", "audit")
    feeds = {a: factories.token_for(f"{a}.integration") for a in ("hha", "cchc", "rrp")}

    def ingest(agency: str, body: dict, srid: str) -> str:
        response = put(client, feeds[agency], body, agency=agency, srid=srid)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()["client_id"]

    maria = ingest("hha", MARIA, "H-1")
    health = copy.deepcopy(MARIA) | {"category": "health", "data": {"conditions": ["asthma"]}}
    assert ingest("cchc", health, "C-1") == maria
    treatment = copy.deepcopy(MARIA) | {"category": "substance_use", "data": TREATMENT}
    assert ingest("rrp", treatment, "R-1") == maria
    ana = ingest("hha", person("Ana", "Quiroz", "1990-07-01", "987-65-4320", "housing"), "H-2")
    paul = ingest(
        "rrp", person("Paul", "Nakamura", "1971-11-23", "555-12-3456", "substance_use"), "R-2"
    )
    assert len({maria, ana, paul}) == 3

    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    assert view(client, "hha.case_worker", maria).status_code == 200
    source_consent(client, maria)  # hha's housing to cchc, recorded by hha itself
    assert join_care_team(client, "cchc.case_worker", maria).status_code == 201
    shown = view(client, "cchc.case_worker", maria).get_json()["sections"]
    assert {"hha", "cchc"} <= {s["agency"] for s in shown if s["status"] == "shown"}
    grants = {"cchc_maria": break_glass(client, "cchc.supervisor", maria)}
    assert view(client, "cchc.supervisor", maria).status_code == 200
    assert join_care_team(client, "rrp.case_worker", maria).status_code == 201
    assert view(client, "rrp.case_worker", maria).status_code == 200
    grants["rrp_maria"] = break_glass(client, "rrp.case_worker", maria)
    grants["hha_ana"] = break_glass(client, "hha.supervisor", ana)
    assert view(client, "hha.supervisor", ana).status_code == 200
    assert join_care_team(client, "rrp.case_worker", paul).status_code == 201
    assert view(client, "rrp.case_worker", paul).status_code == 200
    seal_once(db.engine, log_key())
    return Scenario(maria, ana, paul, grants)


def all_events(client, headers, **query) -> list[dict]:
    """Every page of the events search."""
    items, cursor = [], None
    while True:
        params = query | ({"cursor": cursor} if cursor else {}) | {"limit": 7}
        response = client.get("/api/v1/audit/events", query_string=params, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def section_keys(detail: dict) -> set[str]:
    keys = set()
    for name in ("requested", "disclosed", "shown"):
        keys |= set(detail.get(name) or [])
    for name in ("reasons", "bases"):
        keys |= set(detail.get(name) or {})
    return keys


def views_of(items: list[dict]) -> set[tuple[str, str]]:
    """(actor, client) of the client.view and client.break_glass entries."""
    return {
        (e["actor"], e["client_id"])
        for e in items
        if e["action"] in ("client.view", "client.break_glass")
    }


def without_id(body: dict, *ids) -> str:
    """A response body with the caller's own id taken out, to compare hidden with unknown."""
    text = json.dumps(body, sort_keys=True)
    for value in ids:
        text = text.replace(str(value), "<id>")
    return text


# --- what each officer sees in the log ------------------------------------------------

EXPECTED_VIEWS = {
    # hha: its workers, and others' decisions about its clients -- but not the Part 2
    # program's worker's, which disclosed nothing of hha's (it would tell of a patient).
    "hha": {
        ("hha.case_worker", "maria"),
        ("cchc.case_worker", "maria"),
        ("cchc.supervisor", "maria"),
        ("hha.supervisor", "ana"),
    },
    "cchc": {
        ("hha.case_worker", "maria"),
        ("cchc.case_worker", "maria"),
        ("cchc.supervisor", "maria"),
    },
    "rrp": {
        ("hha.case_worker", "maria"),
        ("cchc.case_worker", "maria"),
        ("cchc.supervisor", "maria"),
        ("rrp.case_worker", "maria"),
        ("rrp.case_worker", "paul"),
    },
    "ops": {
        ("hha.case_worker", "maria"),
        ("cchc.case_worker", "maria"),
        ("cchc.supervisor", "maria"),
        ("rrp.case_worker", "maria"),
        ("hha.supervisor", "ana"),
        ("rrp.case_worker", "paul"),
    },
}


@pytest.mark.parametrize("agency", OFFICERS)
def test_events_search_is_the_officers_scope(client, scenario, agency):
    names = {scenario.maria: "maria", scenario.ana: "ana", scenario.paul: "paul"}
    items = all_events(client, scenario.officer(agency))
    seen = {(actor, names.get(cid, cid)) for actor, cid in views_of(items)}
    assert seen == EXPECTED_VIEWS[agency]
    if agency == "ops":
        return
    for entry in items:
        # Another agency's worker: only this agency's sections. Own worker: everything
        # but another agency's Part 2 sections not shown to them.
        keys = section_keys(entry["detail"])
        if entry["actor_agency"] != agency:
            assert {k.split("/")[0] for k in keys} <= {agency}, entry
        elif agency != "rrp":
            assert not any(k.startswith("rrp/") for k in keys), entry
        assert entry["actor_agency"] == agency or entry["client_id"] in names, entry
    if agency != "rrp":
        text = json.dumps(items)
        assert scenario.paul not in text and "rrp/" not in text


@pytest.mark.parametrize("agency", ("hha", "cchc"))
def test_filters_narrow_the_scope_and_never_widen_it(client, scenario, agency):
    headers = scenario.officer(agency)
    assert all_events(client, headers, agency="rrp") == []
    assert all_events(client, headers, actor="rrp.case_worker") == []
    assert all_events(client, headers, client_id=scenario.paul) == []
    assert all_events(client, headers, client_id=UNKNOWN_CLIENT) == []
    mine = all_events(client, headers, agency=agency)
    assert mine and all(e["actor_agency"] == agency for e in mine)
    # ops's (organisation-wide) filter sees what the scoped ones may not.
    assert all_events(client, scenario.officer("ops"), agency="rrp")


def test_an_unknown_action_filter_is_422_naming_the_field(client, scenario):
    response = client.get(
        "/api/v1/audit/events?action=client.peek", headers=scenario.officer("hha")
    )
    assert response.status_code == 422
    assert list(response.get_json()["error"]["details"]) == ["action"]


# --- proofs, export, consistency -------------------------------------------------------


def seq_of(client, actor: str, client_id: str) -> int:
    [entry] = [
        e
        for e in all_events(client, bearer(factories.token_for("ops.privacy_officer")))
        if e["actor"] == actor and e["client_id"] == client_id and e["action"] == "client.view"
    ]
    return entry["seq"]


@pytest.mark.parametrize("agency", OFFICERS)
def test_proofs_of_entries_in_scope_only_and_hidden_is_unknown(client, scenario, agency):
    headers = scenario.officer(agency)
    own = seq_of(client, "hha.case_worker", scenario.maria)
    hidden = seq_of(client, "rrp.case_worker", scenario.paul)
    proof = client.get(f"/api/v1/audit/events/{own}/proof", headers=headers)
    assert proof.status_code == 200 and proof.get_json()["audit_path"]
    other = client.get(f"/api/v1/audit/events/{hidden}/proof", headers=headers)
    if agency in ("rrp", "ops"):
        assert other.status_code == 200
        return
    unknown = client.get("/api/v1/audit/events/999999/proof", headers=headers)
    assert other.status_code == unknown.status_code == 404
    assert without_id(other.get_json(), hidden) == without_id(unknown.get_json(), 999999)


@pytest.mark.parametrize("agency", OFFICERS)
@pytest.mark.parametrize("path", ["/api/v1/audit/export", "/api/v1/audit/consistency?first=1"])
def test_export_and_consistency_need_organisation_scope(client, scenario, agency, path):
    response = client.get(path, headers=scenario.officer(agency))
    if agency == "ops":
        assert response.status_code == 200
        return
    assert response.status_code == 403
    assert "organisation-wide" in response.get_json()["error"]["message"]
    [denied] = [
        e for e in factories.events("audit.denied") if e.actor == f"{agency}.privacy_officer"
    ]
    assert denied.detail["reason"] == "scope"
    assert factories.events("audit.export") == []


def test_verification_checkpoint_and_key_are_open_to_every_officer(client, scenario):
    bodies = {}
    for agency in OFFICERS:
        headers = scenario.officer(agency)
        verify = client.get("/api/v1/audit/verify", headers=headers)
        assert verify.status_code == 200 and verify.get_json()["ok"] is True
        latest = client.get("/api/v1/audit/checkpoints/latest", headers=headers)
        assert latest.status_code == 200
        key = client.get("/api/v1/audit/public-key", headers=headers)
        assert key.status_code == 200
        bodies[agency] = (latest.get_json(), key.get_json())
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1


# --- accounting of disclosures ---------------------------------------------------------


def disclosures(client, scenario, agency, client_id):
    return client.get(f"/api/v1/clients/{client_id}/disclosures", headers=scenario.officer(agency))


EXPECTED_DISCLOSURES = {
    # (recipient, description) rows of maria's accounting, per officer.
    "hha": [("cchc.case_worker", ["hha/housing"]), ("cchc.supervisor", ["hha/housing"])],
    "cchc": [("cchc.case_worker", ["hha/housing"]), ("cchc.supervisor", ["hha/housing"])],
    "rrp": [],
    "ops": [("cchc.case_worker", ["hha/housing"]), ("cchc.supervisor", ["hha/housing"])],
}


@pytest.mark.parametrize("agency", OFFICERS)
def test_accounting_lists_the_officers_agency_part(client, scenario, agency):
    body = disclosures(client, scenario, agency, scenario.maria).get_json()
    rows = [(i["recipient_person"], i["description"]) for i in body["items"]]
    assert rows == EXPECTED_DISCLOSURES[agency]
    assert body["scope"] == {
        "organisation": agency == "ops",
        "agency": None if agency == "ops" else agency,
    }


@pytest.mark.parametrize("agency", OFFICERS)
def test_accounting_of_a_hidden_client_is_exactly_unknown(client, scenario, agency):
    hidden = disclosures(client, scenario, agency, scenario.paul)
    unknown = disclosures(client, scenario, agency, UNKNOWN_CLIENT)
    assert unknown.status_code == 404
    if agency in ("rrp", "ops"):
        assert hidden.status_code == 200
        return
    assert hidden.status_code == 404
    assert without_id(hidden.get_json(), scenario.paul) == without_id(
        unknown.get_json(), UNKNOWN_CLIENT
    )


# --- break-the-glass queue and review ------------------------------------------------

EXPECTED_GRANTS = {
    "hha": {"cchc_maria", "hha_ana"},
    "cchc": {"cchc_maria"},
    "rrp": {"cchc_maria", "rrp_maria"},
    "ops": {"cchc_maria", "rrp_maria", "hha_ana"},
}


def review(client, headers, grant_id):
    return client.post(
        f"/api/v1/audit/break-glass/{grant_id}/review",
        json={"decision": "acknowledge", "note": "Checked with the ER"},
        headers=headers,
    )


@pytest.mark.parametrize("agency", OFFICERS)
def test_break_glass_queue_and_review_in_scope_only(client, scenario, agency):
    headers = scenario.officer(agency)
    names = {v: k for k, v in scenario.grants.items()}
    queue = client.get("/api/v1/audit/break-glass?status=all", headers=headers).get_json()
    assert {names[g["id"]] for g in queue["items"]} == EXPECTED_GRANTS[agency]
    if agency != "ops":
        for grant in queue["items"]:
            for event in grant["events"]:
                owners = {k.split("/")[0] for k in event["disclosed"]}
                assert event["actor"].startswith(agency + ".") or owners <= {agency}
    unknown = review(client, headers, 999999)
    assert unknown.status_code == 404
    for name, grant_id in scenario.grants.items():
        response = review(client, headers, grant_id)
        if name in EXPECTED_GRANTS[agency]:
            assert response.status_code == 201, (name, response.get_json())
        else:
            assert response.status_code == 404
            assert without_id(response.get_json(), grant_id) == without_id(
                unknown.get_json(), 999999
            )


# --- activity report -----------------------------------------------------------------


@pytest.mark.parametrize("agency", OFFICERS)
def test_activity_counts_only_the_scope(client, scenario, agency):
    body = client.get("/api/v1/audit/activity", headers=scenario.officer(agency)).get_json()
    users = {u["username"] for u in body["users"]}
    assert users == {actor for actor, _ in EXPECTED_VIEWS[agency]}
    [flag] = [f for f in body["flags"] if f["kind"] == "unreviewed_break_glass"]
    assert set(flag["grant_ids"]) == {scenario.grants[g] for g in EXPECTED_GRANTS[agency]}


# --- issue 14, finding 6 -----------------------------------------------------------------


def test_finding_6_another_agencys_officer_no_longer_reads_and_manages_everything(client, scenario):
    """Before: cchc's privacy officer read hha's worker's view of ana (a client cchc has
    nothing to do with), her accounting, and reviewed hha's break-the-glass grant on her;
    and every officer exported the whole log."""
    cchc = scenario.officer("cchc")
    assert all_events(client, cchc, client_id=scenario.ana) == []
    assert disclosures(client, scenario, "cchc", scenario.ana).get_json()["items"] == []
    queue = client.get("/api/v1/audit/break-glass?status=all", headers=cchc).get_json()
    assert scenario.grants["hha_ana"] not in {g["id"] for g in queue["items"]}
    assert review(client, cchc, scenario.grants["hha_ana"]).status_code == 404
    assert client.get("/api/v1/audit/export", headers=cchc).status_code == 403
    # hha's own officer still oversees all of it.
    hha = scenario.officer("hha")
    assert {e["actor"] for e in all_events(client, hha, client_id=scenario.ana)} >= {
        "hha.supervisor"
    }
    assert review(client, hha, scenario.grants["hha_ana"]).status_code == 201


# --- the demo keeps organisation-wide officers -------------------------------------------


def test_demo_seed_grants_ops_organisation_scope_once_through_the_policy_service(app):
    """The demo's ``privacy`` and ``steward`` (ops) oversee every agency, by two policy
    rules added like any other (logged, version bumped); seeding again adds nothing."""
    from caseops.authz import permissions, policy
    from caseops.authz.actor import Actor
    from caseops.demo.seed import ACCOUNTS, seed

    seed()
    version = policy.current_version()
    added = [e.detail["after"] for e in factories.events("policy.rule_added")]
    assert {(r["sub"], r["dom"], r["obj"], r["act"]) for r in added} == {
        ("privacy_officer", "ops", "scope:organisation", "audit"),
        ("data_steward", "ops", "scope:organisation", "linkage"),
        # the demo's waiver of data sharing agreements (docs/agreements.md)
        ("agency:cws", "*", "agreement_waiver:hha", "waive"),
    }
    seed()
    assert len(factories.events("policy.rule_added")) == 3
    assert policy.current_version() == version

    def actor(agency: str, role: str) -> Actor:
        return Actor(username=f"x.{role}", agency=agency, roles=frozenset({role}))

    assert permissions.has_organisation_scope(actor("ops", "privacy_officer"), "audit")
    assert permissions.has_organisation_scope(actor("ops", "data_steward"), "linkage")
    assert not permissions.has_organisation_scope(actor("hha", "privacy_officer"), "audit")
    assert not permissions.has_organisation_scope(actor("ops", "case_worker"), "audit")
    assert ("hha.consent", "hha", ["consent_officer"], True) in ACCOUNTS
