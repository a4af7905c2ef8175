"""Cross-agency trust through HTTP (issue 14): an agency speaks only for its own data.

Maria has records at hha (housing), cchc (health) and rrp (a 42 CFR Part 2 program).
Ana is known only to rrp: her existence is hidden from every other agency.
"""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from caseops.db_types import utcnow
from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.agreements import accept, agreement_body
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


# Standing rules are trust clauses of data sharing agreements now (issue 22, one mechanism:
# docs/agreements.md); the standard world is an upgraded installation (every pair waived),
# so an agreement here needs no share clause.


def trust_agreement(client, parties=("hha", "cchc"), clause=None, by="hha.agency_admin"):
    body = agreement_body(list(parties)) | {
        "share": [],
        "trust": [clause or {"agency": "hha", "partner": "cchc", "categories": ["housing"]}],
    }
    return client.post("/api/v1/agreements", json=body, headers=bearer(factories.token_for(by)))


def test_a_trust_clause_accepts_a_partners_consents_while_its_agreement_is_in_force(client, people):
    maria = people["maria"]
    join_care_team(client, "cchc.case_worker", maria)
    record(client, "cchc", maria)
    created = trust_agreement(client)
    assert created.status_code == 201, created.get_json()
    agreement_id = created.get_json()["id"]
    accept(client, agreement_id, "hha")
    housing = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert housing["reason"] == "consent_not_attested"  # pending: cchc has not accepted
    accept(client, agreement_id, "cchc")
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "shown"
    )
    assert queue(client, "hha") == []
    ended = client.post(
        f"/api/v1/agreements/{agreement_id}/terminate",
        json={"reason": "The partnership ended."},
        headers=bearer(factories.token_for("hha.agency_admin")),
    )
    assert ended.status_code == 200
    housing = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert housing["reason"] == "consent_not_attested"
    assert [e.action for e in factories.events() if e.action.startswith("agreement.")] == [
        "agreement.recorded",
        "agreement.accepted",
        "agreement.accepted",
        "agreement.terminated",
    ]


@pytest.mark.parametrize(
    ("parties", "clause", "field"),
    [
        (
            ["hha", "cchc"],
            {"partner": "cchc", "categories": ["substance_use"]},
            "trust.0.categories",
        ),
        (["hha", "cchc"], {"partner": "cchc", "categories": ["gossip"]}, "trust.0.categories"),
        (["hha", "nowhere"], {"partner": "nowhere", "categories": ["housing"]}, "parties"),
        (["hha", "cchc"], {"partner": "hha", "categories": ["housing"]}, "trust.0"),
    ],
)
def test_trust_clauses_never_cover_part2_and_name_each_bad_field(
    client, people, parties, clause, field
):
    response = trust_agreement(client, parties, {"agency": "hha"} | clause)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]


def test_a_part2_program_has_no_trust_clauses(client, people):
    factories.make_user("rrp.agency_admin", "rrp", ["agency_admin"])
    response = trust_agreement(
        client,
        ("rrp", "hha"),
        {"agency": "rrp", "partner": "hha", "categories": ["housing"]},
        by="rrp.agency_admin",
    )
    assert response.status_code == 422
    assert "trust.0" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    "username", ["hha.agency_admin", "cchc.agency_admin", "hha.consent_officer", "hha.system_admin"]
)
def test_the_standing_rule_endpoints_are_gone_pointing_to_agreements(client, people, username):
    token = bearer(factories.token_for(username))
    body = {"partner": "cchc", "categories": ["housing"]}
    for response in (
        client.post(rules_path("hha"), json=body, headers=token),
        client.get(rules_path("hha"), headers=token),
        client.delete(f"{rules_path('hha')}/1", headers=token),
    ):
        assert response.status_code == 410
        assert "/api/v1/agreements" in response.get_json()["error"]["message"]


def test_only_a_partys_admin_records_a_trust_agreement(client, people):
    factories.make_user("rrp.agency_admin", "rrp", ["agency_admin"])
    assert trust_agreement(client, by="rrp.agency_admin").status_code == 403
    assert trust_agreement(client, by="hha.consent_officer").status_code == 403


@pytest.mark.parametrize(
    "table", ["consent_attestations", "consent_trust_rules", "consent_trust_rule_ends"]
)
def test_attestations_and_standing_rules_are_append_only_in_the_database(
    client, people, database_url, table
):
    consent_id = record(client, "cchc", people["maria"]).get_json()["id"]
    attest(client, "hha", consent_id)
    engine = create_engine(database_url)
    with engine.begin() as connection:  # the old rules stay as history, append-only
        connection.execute(
            text(
                "INSERT INTO consent_trust_rules (id, agency_code, partner_code, categories, "
                "created_by, created_at) VALUES (1, 'hha', 'cchc', '[]', 'x', :now)"
            ),
            {"now": utcnow()},
        )
        connection.execute(
            text(
                "INSERT INTO consent_trust_rule_ends (rule_id, ended_by, ended_at) "
                "VALUES (1, 'x', :now)"
            ),
            {"now": utcnow()},
        )
    for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET id = id"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    engine.dispose()
