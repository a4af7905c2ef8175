"""Cross-agency trust through HTTP (issue 14): an agency speaks only for its own data.

Maria has records at hha (housing), cchc (health) and rrp (a 42 CFR Part 2 program).
Ana is known only to rrp: her existence is hidden from every other agency.
"""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import permit
from tests.fixtures.records import MARIA, bearer, put

ANA = {
    "category": "substance_use",
    "person": {"given_name": "Ana", "family_name": "Quiroga", "birth_date": "1991-07-02"},
    "data": {"program": "outpatient"},
    "source_version": 1,
}
PART2 = {
    "source_agencies": ["rrp"],
    "categories": ["substance_use"],
    "recipients": ["hha"],
    "purposes": ["care_coordination"],
}


@pytest.fixture
def people(world, client):
    factories.make_user("rrp.integration", "rrp", ["integration"])
    factories.make_user("rrp.consent_officer", "rrp", ["consent_officer"])
    feeds = {a: factories.token_for(f"{a}.integration") for a in ("hha", "cchc", "rrp")}
    maria = put(client, feeds["hha"], MARIA, srid="H-1").get_json()["client_id"]
    health = copy.deepcopy(MARIA) | {"category": "health", "data": {"conditions": ["asthma"]}}
    put(client, feeds["cchc"], health, agency="cchc", srid="C-1")
    treatment = copy.deepcopy(MARIA) | {"category": "substance_use", "data": {"program": "iop"}}
    put(client, feeds["rrp"], treatment, agency="rrp", srid="R-1")
    ana = put(client, feeds["rrp"], ANA, agency="rrp", srid="R-2").get_json()["client_id"]
    return {"maria": maria, "ana": ana}


def officer(agency: str) -> dict[str, str]:
    return bearer(factories.token_for(f"{agency}.consent_officer"))


def record(client, agency, client_id, **changes):
    return client.post(
        f"/api/v1/clients/{client_id}/consents", json=permit(**changes), headers=officer(agency)
    )


def attest(client, agency, consent_id):
    return client.post(f"/api/v1/consents/{consent_id}/attest", headers=officer(agency))


def queue(client, agency):
    response = client.get("/api/v1/consents/attestations?status=pending", headers=officer(agency))
    assert response.status_code == 200, response.get_json()
    return [c["id"] for c in response.get_json()]


# --- finding 1: a consent officer could unlock another agency's records ---------------------


def test_another_agencys_officer_cannot_open_a_part2_program_until_it_attests(client, people):
    maria = people["maria"]
    created = record(client, "hha", maria, **PART2)
    assert created.status_code == 201, created.get_json()
    consent_id = created.get_json()["id"]
    assert created.get_json()["recorded_by_agency"] == "hha"
    join_care_team(client, "hha.case_worker", maria)
    before = sections(view(client, "hha.case_worker", maria))
    assert ("rrp", "substance_use") not in before  # withheld, and Part 2: not even listed
    assert consent_id in queue(client, "rrp")
    assert attest(client, "rrp", consent_id).status_code == 200
    after = sections(view(client, "hha.case_worker", maria))[("rrp", "substance_use")]
    assert after["status"] == "shown" and "42 CFR part 2" in after["notice"]
    assert queue(client, "rrp") == []
    [event] = factories.events("consent.attested")
    assert (event.actor, event.target_id, event.detail["agency"]) == (
        "rrp.consent_officer",
        consent_id,
        "rrp",
    )


def test_a_section_waiting_for_attestation_says_so(client, people):
    maria = people["maria"]
    consent_id = record(client, "cchc", maria).get_json()["id"]  # hha's housing, cchc records
    join_care_team(client, "cchc.case_worker", maria)
    housing = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert (housing["status"], housing["reason"]) == ("withheld", "consent_not_attested")
    matrix = client.get(f"/api/v1/clients/{maria}/sharing", headers=officer("cchc")).get_json()
    cell = next(
        c for c in matrix["cells"] if (c["category"], c["recipient"]) == ("housing", "cchc")
    )
    assert cell["sources"] == [] and cell["withheld_reasons"] == ["consent_not_attested"]
    assert queue(client, "hha") == [consent_id]
    assert attest(client, "hha", consent_id).status_code == 200
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "shown"
    )


@pytest.mark.parametrize(
    ("agency", "status", "code"),
    [
        ("cchc", 403, "forbidden"),  # not a source the consent names
        ("rrp", 404, "not_found"),  # not involved: may not know of it
        ("hha", 409, "already_attested"),  # recorded it: stands behind it already
    ],
)
def test_only_a_named_source_attests(client, people, agency, status, code):
    consent_id = record(client, "hha", people["maria"]).get_json()["id"]
    response = attest(client, agency, consent_id)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize("role", ["case_worker", "privacy_officer", "agency_admin"])
def test_only_consent_officers_attest(client, people, role):
    consent_id = record(client, "cchc", people["maria"]).get_json()["id"]
    token = factories.token_for(f"hha.{role}")
    response = client.post(f"/api/v1/consents/{consent_id}/attest", headers=bearer(token))
    assert response.status_code == 403


# --- recording only for clients the agency serves --------------------------------------------


def test_officers_record_only_for_clients_their_agency_serves(client, world, people):
    factories.make_agency("usd", name="Unified School District")
    factories.make_user("usd.consent_officer", "usd", ["consent_officer"])
    served_elsewhere = record(client, "usd", people["maria"], recipients=["usd"])
    assert served_elsewhere.status_code == 403
    hidden = record(client, "hha", people["ana"])
    unknown = record(client, "hha", "0" * 32)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.get_json()["error"]["code"] == unknown.get_json()["error"]["code"]
    assert hidden.get_json()["error"]["message"].replace(people["ana"], "X") == (
        unknown.get_json()["error"]["message"].replace("0" * 32, "X")
    )
    # Named as a recipient of an active consent, usd now serves her.
    assert record(client, "hha", people["maria"], recipients=["usd"]).status_code == 201
    assert record(client, "usd", people["maria"], recipients=["usd"]).status_code == 201


# --- consent officers see what involves their agency --------------------------------------


def test_officers_see_only_consents_involving_their_agency(client, people):
    maria = people["maria"]
    hha_cchc = record(client, "hha", maria).get_json()["id"]
    rrp_hha = record(client, "hha", maria, **PART2).get_json()["id"]

    def listed(agency):
        response = client.get(f"/api/v1/clients/{maria}/consents", headers=officer(agency))
        return {c["id"] for c in response.get_json()["consents"]}

    assert listed("hha") == {hha_cchc, rrp_hha}
    assert listed("cchc") == {hha_cchc}  # rrp's involvement is not cchc's to know
    assert listed("rrp") == {rrp_hha}
    # A privacy officer oversees their own agency's consents, like its log ...
    privacy = factories.token_for("cchc.privacy_officer")
    scoped = client.get(f"/api/v1/clients/{maria}/consents", headers=bearer(privacy))
    assert {c["id"] for c in scoped.get_json()["consents"]} == {hha_cchc}
    # ... unless the policy gives them the organisation (the compliance function).
    factories.grant_organisation_scope("privacy_officer", "cchc", "audit")
    everything = client.get(f"/api/v1/clients/{maria}/consents", headers=bearer(privacy))
    assert {c["id"] for c in everything.get_json()["consents"]} == {hha_cchc, rrp_hha}
    for path in (f"/fhir/Consent/{rrp_hha}",):
        hidden = client.get(path, headers=officer("cchc"))
        unknown = client.get(path.replace(rrp_hha, "cns_" + "0" * 20), headers=officer("cchc"))
        assert hidden.status_code == unknown.status_code == 404
    for verb, body in (("revoke", {"reason": "asked"}), ("amend", permit(**PART2))):
        hidden = client.post(
            f"/api/v1/consents/{rrp_hha}/{verb}", json=body, headers=officer("cchc")
        )
        assert hidden.status_code == 404
        assert "rrp" not in hidden.get_data(as_text=True)


def test_sharing_shows_a_scoped_officer_only_what_involves_their_agency(client, people):
    maria = people["maria"]
    housing = record(client, "hha", maria).get_json()["id"]
    part2 = record(client, "hha", maria, **PART2).get_json()["id"]
    assert attest(client, "rrp", part2).status_code == 200

    def shared(agency):
        path = f"/api/v1/clients/{maria}/sharing"
        cells = client.get(path, headers=officer(agency)).get_json()["cells"]
        return {
            (c["category"], s["agency"], c["recipient"]): s["consent_id"]
            for c in cells
            for s in c["sources"]
        }

    assert shared("hha") == {
        ("housing", "hha", "cchc"): housing,
        ("substance_use", "rrp", "hha"): part2,
    }
    assert shared("cchc") == {("housing", "hha", "cchc"): housing}  # nothing of rrp
    cells = client.get(f"/api/v1/clients/{maria}/sharing", headers=officer("cchc")).get_json()
    assert "rrp" not in str([c for c in cells["cells"] if c["sources"]])


# --- revoke and amend by any agency that may know of the consent -----------------------------


def test_any_involved_agency_revokes_and_it_withholds_at_once(client, people):
    maria = people["maria"]
    consent_id = record(client, "hha", maria).get_json()["id"]
    join_care_team(client, "cchc.case_worker", maria)
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "shown"
    )
    revoked = client.post(
        f"/api/v1/consents/{consent_id}/revoke", json={"reason": "asked"}, headers=officer("cchc")
    )
    assert revoked.status_code == 200
    after = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert after["reason"] == "consent_revoked"


def test_a_narrowing_amendment_keeps_the_attestation_a_broadening_one_does_not(client, people):
    maria = people["maria"]
    join_care_team(client, "cchc.case_worker", maria)
    first = record(client, "hha", maria, recipients=["cchc", "rrp"]).get_json()["id"]

    def amend(consent_id, **changes):
        response = client.post(
            f"/api/v1/consents/{consent_id}/amend", json=permit(**changes), headers=officer("cchc")
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    narrower = amend(first, recipients=["cchc"])
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "shown"
    )
    broader = amend(narrower, categories=["housing", "health"])
    housing = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert housing["reason"] == "consent_not_attested"
    assert queue(client, "hha") == [broader]
    attest(client, "hha", broader)
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "shown"
    )


# --- standing rules -----------------------------------------------------------------------


def rules_path(agency: str) -> str:
    return f"/api/v1/agencies/{agency}/trust-rules"


def test_a_standing_rule_accepts_a_partners_consents_until_it_ends(client, people):
    maria = people["maria"]
    admin = bearer(factories.token_for("hha.agency_admin"))
    join_care_team(client, "cchc.case_worker", maria)
    record(client, "cchc", maria)
    rule = client.post(
        rules_path("hha"), json={"partner": "cchc", "categories": ["housing"]}, headers=admin
    )
    assert rule.status_code == 201, rule.get_json()
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "shown"
    )
    assert queue(client, "hha") == []
    listed = client.get(rules_path("hha"), headers=admin).get_json()
    assert [(r["partner"], r["categories"], r["in_force"]) for r in listed] == [
        ("cchc", ["housing"], True)
    ]
    ended = client.delete(f"{rules_path('hha')}/{rule.get_json()['id']}", headers=admin)
    assert ended.status_code == 200 and ended.get_json()["in_force"] is False
    housing = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert housing["reason"] == "consent_not_attested"
    assert [e.action for e in factories.events() if "trust_rule" in e.action] == [
        "consent.trust_rule_added",
        "consent.trust_rule_ended",
    ]


@pytest.mark.parametrize(
    ("agency", "body", "field"),
    [
        ("hha", {"partner": "cchc", "categories": ["substance_use"]}, "categories"),
        ("hha", {"partner": "cchc", "categories": ["gossip"]}, "categories"),
        ("hha", {"partner": "nowhere", "categories": ["housing"]}, "partner"),
        ("hha", {"partner": "hha", "categories": ["housing"]}, "partner"),
    ],
)
def test_standing_rules_never_cover_part2_and_name_each_bad_field(
    client, people, agency, body, field
):
    admin = bearer(factories.token_for(f"{agency}.agency_admin"))
    response = client.post(rules_path(agency), json=body, headers=admin)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]


def test_a_part2_program_has_no_standing_rules(client, people):
    factories.make_user("rrp.agency_admin", "rrp", ["agency_admin"])
    admin = bearer(factories.token_for("rrp.agency_admin"))
    response = client.post(
        rules_path("rrp"), json={"partner": "hha", "categories": ["housing"]}, headers=admin
    )
    assert response.status_code == 422
    assert "agency" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    "username", ["cchc.agency_admin", "hha.consent_officer", "hha.system_admin"]
)
def test_only_the_agencys_own_admin_keeps_its_rules(client, people, username):
    token = bearer(factories.token_for(username))
    body = {"partner": "cchc", "categories": ["housing"]}
    assert client.post(rules_path("hha"), json=body, headers=token).status_code == 403
    assert client.get(rules_path("hha"), headers=token).status_code == 403


@pytest.mark.parametrize(
    "table", ["consent_attestations", "consent_trust_rules", "consent_trust_rule_ends"]
)
def test_attestations_and_standing_rules_are_append_only_in_the_database(
    client, people, database_url, table
):
    consent_id = record(client, "cchc", people["maria"]).get_json()["id"]
    attest(client, "hha", consent_id)
    admin = bearer(factories.token_for("hha.agency_admin"))
    rule = client.post(
        rules_path("hha"), json={"partner": "cchc", "categories": ["housing"]}, headers=admin
    ).get_json()
    client.delete(f"{rules_path('hha')}/{rule['id']}", headers=admin)
    engine = create_engine(database_url)
    for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET id = id"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    engine.dispose()
