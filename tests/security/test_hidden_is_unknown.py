"""Nothing hints at a hidden record (issue 14: findings 2, 3, 4, the client-id half of 5
and the data-steward half of 6), through HTTP.

A client whose only records are another agency's 42 CFR Part 2 records (no consent naming
the caller's agency) is *hidden*: every endpoint that takes its id answers exactly as it
answers an unknown id (same status, same body once the id is swapped), for every role.
Agency systems hear back the client id and the write's status, never how a record was
linked. Data stewards see and act on the linkage of their own agency's records, and on a
Part 2 program's records only as that program's steward (or with organisation scope).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.registry.models import ConsentRecord, ConsentRevocation
from tests import factories
from tests.fixtures.records import MARIA, bearer, put

NOW = datetime.now(UTC)
JUSTIFICATION = "Client unconscious in the ER, need the medication history"


def person(given: str, family: str, birth: str, ssn: str, number: str = "40") -> dict:
    return {
        "given_name": given,
        "family_name": family,
        "birth_date": birth,
        "ssn": ssn,
        "sex": "M",
        "address": {"street_number": number, "street": "Harbor Rd", "city": "Bayview"},
    }


JORDAN = person("Jordan", "Reyes", "1979-11-02", "321-54-9876")


def body(category: str, who: dict, data: dict | None = None, version: int = 1) -> dict:
    return {
        "category": category,
        "person": copy.deepcopy(who),
        "data": data or {},
        "source_version": version,
    }


def treatment(who: dict, **data) -> dict:
    return body("substance_use", who, {"program": "outpatient", "substances": ["opioids"]} | data)


def part2_permit(recipient: str) -> dict:
    """A Part 2 consent naming ``recipient``, as rrp's own consent officer records it."""
    return {
        "provision": "permit",
        "source_agencies": ["rrp"],
        "categories": ["substance_use"],
        "recipients": [recipient],
        "purposes": ["care_coordination"],
        "effective_from": (NOW - timedelta(days=1)).isoformat(),
        "expires_at": (NOW + timedelta(days=365)).isoformat(),
        "grantor": {"kind": "self", "name": "Jordan Reyes"},
        "signed_at": (NOW - timedelta(days=1)).isoformat(),
        "evidence": {"method": "written"},
        "revocation_right_acknowledged": True,
    }


def feed(agency: str) -> str:
    return factories.token_for(f"{agency}.integration")


def rrp_people() -> None:
    for role in ("integration", "case_worker", "consent_officer", "data_steward"):
        factories.make_user(f"rrp.{role}", "rrp", [role])


def grant_organisation_scope(client, role: str, area: str) -> None:
    """The operator's compliance function: ``role`` oversees ``area`` organisation-wide."""
    admin = factories.token_for("hha.system_admin")
    rule = {"sub": role, "dom": "*", "obj": "scope:organisation", "act": area, "eft": "allow"}
    assert client.post("/api/v1/policies", json=rule, headers=bearer(admin)).status_code == 201


def unknown_client_id() -> str:
    """An id nobody holds, as long as a real one (so only the id string differs)."""
    return secrets.token_hex(16)


def shape(response, *ids: str) -> tuple[int, str]:
    """Status and body with the ids swapped for placeholders, and the page's CSRF token
    (signed with the second it was made, so two pages a second apart differ) masked."""
    text = re.sub(
        r'(name="csrf_token" type="hidden" value=")[^"]+"',
        r'\1<csrf>"',
        response.get_data(as_text=True),
    )
    for n, value in enumerate(ids):
        text = text.replace(str(value), f"<id{n}>")
    return response.status_code, text


@pytest.fixture
def clients(world, client):
    """``known``: Maria, held by hha (housing: not Part 2, so every agency may know of her).
    ``hidden``: Jordan, whose only record is rrp's Part 2 record. ``unknown``: nobody."""
    rrp_people()
    known = put(client, feed("hha"), MARIA, srid="H-1").get_json()["client_id"]
    hidden = put(client, feed("rrp"), treatment(JORDAN), agency="rrp", srid="R-1")
    return {
        "known": known,
        "hidden": hidden.get_json()["client_id"],
        "unknown": unknown_client_id(),
    }


# --- client endpoints: hidden answers as unknown, for every role ------------------------------


def client_call(client, username: str, endpoint: str, client_id: str):
    token = factories.token_for(username)
    base = f"/api/v1/clients/{client_id}"
    if endpoint == "view":
        return client.get(f"{base}/record", headers=bearer(token))
    if endpoint == "fingerprint":
        return client.get(f"{base}/record/fingerprint", headers=bearer(token))
    if endpoint == "care_team":
        return client.post(f"{base}/care-team", json={"username": username}, headers=bearer(token))
    if endpoint == "refer":  # a draft: the relationship (joined above) is what it asks
        body = {"to_agency": "cchc", "service": "housing_assistance", "shared_categories": []}
        return client.post(f"{base}/referrals", json=body, headers=bearer(token))
    if endpoint == "preview":
        query = {"to_agency": "cchc", "service": "housing_assistance"}
        return client.get(f"{base}/referrals/preview", query_string=query, headers=bearer(token))
    return client.post(
        f"{base}/break-glass",
        json={"justification": JUSTIFICATION, "purpose": "emergency"},
        headers=bearer(token),
    )


ENDPOINTS = ("view", "fingerprint", "care_team", "break_glass", "refer", "preview")
WORKERS = ("case_worker", "supervisor")


@pytest.mark.parametrize("role", factories.PERSONAS)
def test_a_hidden_client_answers_every_role_exactly_as_an_unknown_id(client, clients, role):
    username = f"hha.{role}"
    for endpoint in ENDPOINTS:
        hidden = client_call(client, username, endpoint, clients["hidden"])
        unknown = client_call(client, username, endpoint, clients["unknown"])
        assert hidden.status_code == 404, (endpoint, hidden.get_json())
        assert shape(hidden, clients["hidden"]) == shape(unknown, clients["unknown"]), endpoint
        assert hidden.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("role", factories.PERSONAS)
def test_a_client_the_caller_may_know_of_keeps_its_answers(client, clients, role):
    """Status tells "may not" (403) from "no such client" (404) only for a client the caller
    may know of: a role that reads no records gets 403 for a known client."""
    expected = {
        "view": 200,
        "fingerprint": 200,
        "care_team": 201,
        "break_glass": 201,
        "refer": 201,
        "preview": 200,
    }
    for endpoint in ENDPOINTS:
        response = client_call(client, f"hha.{role}", endpoint, clients["known"])
        want = expected[endpoint] if role in WORKERS else 403
        assert response.status_code == want, (endpoint, response.get_json())


def test_the_part2_program_itself_and_agencies_a_consent_names_know_the_client(client, clients):
    hidden = clients["hidden"]
    assert client_call(client, "rrp.case_worker", "view", hidden).status_code == 200
    assert client_call(client, "cchc.case_worker", "view", hidden).status_code == 404
    officer = factories.token_for("rrp.consent_officer")
    recorded = client.post(
        f"/api/v1/clients/{hidden}/consents", json=part2_permit("cchc"), headers=bearer(officer)
    )
    assert recorded.status_code == 201, recorded.get_json()
    # Named by rrp's consent: cchc may know of Jordan now, hha still may not.
    assert client_call(client, "cchc.case_worker", "view", hidden).status_code == 200
    assert client_call(client, "hha.case_worker", "view", hidden).status_code == 404


def test_pages_answer_a_hidden_client_as_an_unknown_one(app, client, clients, world):
    browser = app.test_client()
    factories.login(browser, world["hha.case_worker"])
    for path in (
        "/clients/{}",
        "/clients/{}/break-glass",
        "/clients/{}?purpose=treatment",
        "/clients/{}/refer",
    ):
        hidden = browser.get(path.format(clients["hidden"]))
        unknown = browser.get(path.format(clients["unknown"]))
        assert hidden.status_code == unknown.status_code == 404
        assert shape(hidden, clients["hidden"]) == shape(unknown, clients["unknown"])


# --- finding 2: the view's version -----------------------------------------------------------


def test_finding_2_the_view_carries_no_count_of_hidden_records(client, clients):
    """Maria at hha and at rrp (Part 2): hha's worker sees one section; the answer says
    nothing of rrp's record and does not move when it changes."""
    maria = put(client, feed("rrp"), treatment(MARIA["person"]), agency="rrp", srid="R-2")
    assert maria.get_json()["client_id"] == clients["known"]
    client_call(client, "hha.case_worker", "care_team", clients["known"])
    before = client_call(client, "hha.case_worker", "view", clients["known"]).get_json()
    assert "version" not in before
    assert [(s["agency"], s["category"]) for s in before["sections"]] == [("hha", "housing")]
    polled = client_call(client, "hha.case_worker", "fingerprint", clients["known"]).get_json()
    assert before["fingerprint"] == polled["fingerprint"]

    changed = treatment(MARIA["person"], program="residential") | {"source_version": 2}
    assert put(client, feed("rrp"), changed, agency="rrp", srid="R-2").status_code == 200
    after = client_call(client, "hha.case_worker", "view", clients["known"]).get_json()
    assert after == before  # not one byte moved: no version, same fingerprint

    newer = copy.deepcopy(MARIA) | {"source_version": 2}
    newer["data"]["housing_status"] = "housed"
    put(client, feed("hha"), newer, srid="H-1")
    seen = client_call(client, "hha.case_worker", "view", clients["known"]).get_json()
    assert seen["fingerprint"] != before["fingerprint"]


def test_finding_2_a_client_known_only_to_a_part2_program_is_404_not_an_empty_view(client, clients):
    for username in ("hha.case_worker", "cchc.case_worker", "cchc.supervisor"):
        response = client_call(client, username, "view", clients["hidden"])
        assert response.status_code == 404
        assert "sections" not in response.get_json()


def test_the_openapi_view_has_a_fingerprint_and_no_version(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    view = schemas["ViewOut"]["properties"]
    assert "fingerprint" in view and "version" not in view


# --- finding 3: the integration write answer -------------------------------------------------

DANA = person("Dana", "Whitfield", "1990-06-21", "555-12-3456", number="7")
NOBODY = person("Kerry", "Ambrose", "1966-01-30", "555-98-7654", number="9")


def test_finding_3_a_write_answers_the_same_for_a_person_known_elsewhere_and_a_new_one(
    client, clients
):
    put(client, feed("rrp"), treatment(DANA), agency="rrp", srid="R-5")
    known_elsewhere = put(client, feed("hha"), body("housing", DANA), srid="H-7")
    new_person = put(client, feed("hha"), body("housing", NOBODY), srid="H-8")
    a, b = known_elsewhere.get_json(), new_person.get_json()
    assert known_elsewhere.status_code == new_person.status_code == 201
    assert shape(known_elsewhere, a["client_id"], "H-7") == shape(new_person, b["client_id"], "H-8")
    assert sorted(a) == [
        "agency",
        "category",
        "client_id",
        "source_record_id",
        "source_version",
        "status",
    ]
    text = known_elsewhere.get_data(as_text=True)
    assert "link" not in text and "weight" not in text and "decision" not in text
    # The decision is the stewards': in the log, with its reason.
    [logged] = [e for e in factories.events("record.write") if e.target_id == "hha/H-7"]
    assert logged.detail["link"]["decision"] == "link"
    assert logged.detail["link"]["reason"]


def test_finding_3_withdrawals_and_bulk_reports_answer_alike(client, clients):
    put(client, feed("rrp"), treatment(DANA), agency="rrp", srid="R-5")
    lines = [
        body("housing", DANA) | {"source_record_id": "B-1"},
        body("housing", NOBODY) | {"source_record_id": "B-2"},
    ]
    report = client.post(
        "/api/v1/agencies/hha/records:bulk",
        data="\n".join(json.dumps(line) for line in lines),
        headers=bearer(feed("hha")) | {"Content-Type": "application/x-ndjson"},
    ).get_json()
    first, second = report["lines"]
    assert first["status"] == second["status"] == "created"
    assert set(first) == set(second) == {"line", "source_record_id", "status", "client_id"}
    withdrawn = [
        client.delete(f"/api/v1/agencies/hha/records/{srid}", headers=bearer(feed("hha")))
        for srid in ("B-1", "B-2")
    ]
    assert shape(withdrawn[0], first["client_id"], "B-1") == shape(
        withdrawn[1], second["client_id"], "B-2"
    )
    assert withdrawn[0].status_code == 200


def test_the_openapi_write_answer_has_no_linkage_decision(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    answer = schemas["RecordResult"]["properties"]
    assert "link" not in answer
    assert {"client_id", "status"} <= set(answer)


# --- finding 4 and the steward half of 6: the review queue -------------------------------------

ELENA = {  # Maria's family name, birth date and address, another given name: a review pair
    "given_name": "Elena",
    "family_name": "Lopez",
    "birth_date": "1984-03-12",
    "sex": "F",
    "address": MARIA["person"]["address"],
}


def queue(client, username: str) -> list[dict]:
    token = factories.token_for(username)
    response = client.get("/api/v1/linkage/review", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def steward_post(client, username: str, path: str):
    return client.post(path, headers=bearer(factories.token_for(username)))


@pytest.fixture
def part2_pair(client, clients):
    """rrp's Part 2 record of Elena, queued against hha's record of Maria."""
    put(client, feed("rrp"), treatment(ELENA), agency="rrp", srid="R-7")
    [item] = queue(client, "rrp.data_steward")
    assert {item["record"]["agency"], item["candidate"]["agency"]} == {"rrp", "hha"}
    return item["id"]


def test_finding_4_part2_records_in_the_queue_only_for_the_programs_own_steward(client, part2_pair):
    for username in ("hha.data_steward", "cchc.data_steward"):
        listed = client.get("/api/v1/linkage/review", headers=bearer(factories.token_for(username)))
        assert listed.get_json() == []
        text = listed.get_data(as_text=True)
        assert "rrp" not in text and "Elena" not in text
    assert [i["id"] for i in queue(client, "rrp.data_steward")] == [part2_pair]


def test_finding_4_an_organisation_wide_steward_sees_every_pair(client, part2_pair):
    grant_organisation_scope(client, "data_steward", "linkage")
    [item] = queue(client, "cchc.data_steward")
    assert item["id"] == part2_pair and item["record"]["agency"] == "rrp"


@pytest.mark.parametrize("action", ["link", "keep-apart"])
def test_an_item_out_of_scope_answers_as_an_unknown_item(client, part2_pair, action):
    unknown = part2_pair + 1000
    for username in ("hha.data_steward", "cchc.data_steward"):
        out_of_scope = steward_post(
            client, username, f"/api/v1/linkage/review/{part2_pair}/{action}"
        )
        missing = steward_post(client, username, f"/api/v1/linkage/review/{unknown}/{action}")
        assert out_of_scope.status_code == 404
        assert shape(out_of_scope, part2_pair) == shape(missing, unknown)
    done = steward_post(client, "rrp.data_steward", f"/api/v1/linkage/review/{part2_pair}/{action}")
    assert done.status_code == 200
    # Resolved now: still 404 (not 409 "already ...") to those it does not concern.
    again = steward_post(
        client, "hha.data_steward", f"/api/v1/linkage/review/{part2_pair}/{action}"
    )
    assert shape(again, part2_pair) == shape(
        steward_post(client, "hha.data_steward", f"/api/v1/linkage/review/{unknown}/{action}"),
        unknown,
    )


@pytest.fixture
def plain_pair(client, clients):
    """cchc's record of Elena (health: not Part 2), queued against hha's Maria."""
    put(client, feed("cchc"), body("health", ELENA), agency="cchc", srid="C-7")
    [item] = queue(client, "cchc.data_steward")
    return item["id"]


def test_stewards_of_either_agency_see_a_pair_and_a_third_agency_does_not(
    client, world, plain_pair
):
    assert [i["id"] for i in queue(client, "hha.data_steward")] == [plain_pair]
    factories.make_agency("cws", name="County Child Welfare")
    factories.make_user("cws.data_steward", "cws", ["data_steward"])
    assert queue(client, "cws.data_steward") == []
    missing = steward_post(client, "cws.data_steward", "/api/v1/linkage/review/99999/link")
    out = steward_post(client, "cws.data_steward", f"/api/v1/linkage/review/{plain_pair}/link")
    assert shape(out, plain_pair) == shape(missing, 99999)
    linked = steward_post(client, "hha.data_steward", f"/api/v1/linkage/review/{plain_pair}/link")
    assert linked.status_code == 200
    event = linked.get_json()["link_event"]
    # The cchc steward may undo it too (the pair was theirs as well); cws may not.
    out = steward_post(client, "cws.data_steward", f"/api/v1/linkage/events/{event}/undo")
    missing = steward_post(client, "cws.data_steward", "/api/v1/linkage/events/99999/undo")
    assert out.status_code == 404 and shape(out, event) == shape(missing, 99999)
    undone = steward_post(client, "cchc.data_steward", f"/api/v1/linkage/events/{event}/undo")
    assert undone.status_code == 200


def record_id(srid: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(SourceRecord.id).where(SourceRecord.source_record_id == srid))


def test_unlink_is_for_the_records_own_agency(client, clients):
    health = copy.deepcopy(MARIA) | {"category": "health", "data": {}}
    put(client, feed("cchc"), health, agency="cchc", srid="C-1")
    cchc_record, unknown = record_id("C-1"), 99999
    out = steward_post(client, "hha.data_steward", f"/api/v1/linkage/records/{cchc_record}/unlink")
    missing = steward_post(client, "hha.data_steward", f"/api/v1/linkage/records/{unknown}/unlink")
    assert out.status_code == 404 and shape(out, cchc_record) == shape(missing, unknown)
    done = steward_post(
        client, "cchc.data_steward", f"/api/v1/linkage/records/{cchc_record}/unlink"
    )
    assert done.status_code == 200
    event = done.get_json()["link_event"]
    out = steward_post(client, "hha.data_steward", f"/api/v1/linkage/events/{event}/undo")
    missing = steward_post(client, "hha.data_steward", "/api/v1/linkage/events/99999/undo")
    assert out.status_code == 404 and shape(out, event) == shape(missing, 99999)


def test_unlink_does_not_tell_a_steward_that_a_part2_record_shares_the_client(client, clients):
    """Maria's hha record alone, and Dana's hha record sharing a client with rrp's Part 2
    record: the hha steward's unlink answers both alike (nothing to unlink)."""
    put(client, feed("rrp"), treatment(DANA), agency="rrp", srid="R-5")
    put(client, feed("hha"), body("housing", DANA), srid="H-5")
    alone, shared = record_id("H-1"), record_id("H-5")
    answers = [
        steward_post(client, "hha.data_steward", f"/api/v1/linkage/records/{rid}/unlink")
        for rid in (alone, shared)
    ]
    assert answers[0].status_code == answers[1].status_code == 409
    assert shape(answers[0], alone) == shape(answers[1], shared)


def test_the_review_page_lists_only_the_stewards_pairs(app, client, world, part2_pair):
    browser = app.test_client()
    factories.login(browser, world["hha.data_steward"])
    html = browser.get("/linkage/review").get_data(as_text=True)
    assert "0 pairs waiting." in html and "RRP" not in html and "Elena" not in html
    token = factories.csrf_token(html)
    browser.post(f"/linkage/review/{part2_pair}/link", data={"csrf_token": token})
    text = browser.get("/linkage/review").get_data(as_text=True)
    assert f"No review item {part2_pair}." in text
    assert "Linked as the same person" not in text


# --- search and knows_client agree --------------------------------------------------------------

SOURCES = [
    ("hha", "housing"),
    ("cchc", "health"),
    ("cchc", "substance_use"),
    ("rrp", "substance_use"),
]
SEARCHERS = ("hha", "cchc", "rrp")
# Who records the generated consents: only this source stands behind them (docs/trust-model.md).
RECORDER = "rrp"
_counter = itertools.count(1)


def _name(n: int) -> str:
    letters = "bcdfghjklmnpqrstvwxz"
    word = ""
    while True:
        n, r = divmod(n, len(letters))
        word += letters[r] + "ae"[len(word) % 2]
        if n == 0:
            return "Zo" + word


def _part2(agency: str, category: str) -> bool:
    return agency == "rrp" or category == "substance_use"


def _add_consent(client_id: str, recipient: str, source: str, category: str, state: str) -> None:
    consent_id = secrets.token_hex(16)
    db.session.add(
        ConsentRecord(
            id=consent_id,
            client_id=client_id,
            provision="permit",
            source_agencies=[source],
            categories=[category],
            recipients=[recipient],
            purposes=["care_coordination"],
            effective_from=NOW - timedelta(days=10),
            expires_at=NOW - timedelta(days=1) if state == "expired" else NOW + timedelta(days=90),
            signed_at=NOW - timedelta(days=10),
            grantor_kind="self",
            grantor_name="Generated",
            evidence_method="written",
            revocation_right_acknowledged=True,
            recorded_by="rrp.consent_officer",
            recorded_by_agency=RECORDER,
        )
    )
    db.session.flush()
    if state == "revoked":
        db.session.add(
            ConsentRevocation(
                consent_id=consent_id, revoked_by="test", reason="asked", method="written"
            )
        )
    db.session.commit()


WORLDS = st.tuples(
    st.lists(st.tuples(st.sampled_from(SOURCES), st.booleans()), min_size=1, max_size=3).map(
        lambda rs: list({source: withdrawn for source, withdrawn in rs}.items())
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["hha", "cchc", "*"]),
            st.sampled_from(["rrp", "cchc", "*"]),
            st.sampled_from(["substance_use", "health", "*"]),
            st.sampled_from(["active", "revoked", "expired"]),
        ),
        max_size=2,
    ),
)


@pytest.fixture
def searchers(world):
    rrp_people()
    return {
        agency: Actor(
            username=f"{agency}.case_worker", agency=agency, roles=frozenset({"case_worker"})
        )
        for agency in SEARCHERS
    }


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=WORLDS)
def test_search_finds_exactly_the_clients_knows_client_acknowledges(client, searchers, generated):
    """Over small generated worlds (one person's records at some agencies, some withdrawn,
    and consents in every state): search finds the client for an agency exactly when
    ``knows_client`` acknowledges it, and both follow the rule as written: a record of the
    agency's own, or not Part 2, or a Part 2 record whose source an active consent names
    the agency a recipient of and that the source stood behind (here: recorded, so only the
    recorder's own records open). (A client known through a withdrawn record only stays known
    but is no longer found: search lists current records.)"""
    records, consents = generated
    n = next(_counter)
    family = _name(n)
    birth = date(1930, 1, 1) + timedelta(days=97 * n)
    who = person("Sam", family, birth.isoformat(), f"6{n:02d}-{n % 90 + 10:02d}-{n:04d}", str(n))
    client_id = None
    for (agency, category), _ in records:
        srid = f"P-{n}-{category}"
        answer = put(client, feed(agency), body(category, who), agency=agency, srid=srid)
        assert answer.status_code == 201, answer.get_json()
        assert client_id in (None, answer.get_json()["client_id"])
        client_id = answer.get_json()["client_id"]
    for (
        agency,
        category,
    ), withdrawn in records:  # after all are linked: withdrawn ones link no more
        if withdrawn:
            srid = f"P-{n}-{category}"
            gone = client.delete(
                f"/api/v1/agencies/{agency}/records/{srid}", headers=bearer(feed(agency))
            )
            assert gone.status_code == 200
    for consent in consents:
        _add_consent(client_id, *consent)

    def opens(searcher: str, agency: str, category: str) -> bool:
        return (
            agency == searcher
            or not _part2(agency, category)
            or any(
                recipient == searcher
                and agency == RECORDER
                and source in (agency, "*")
                and named in (category, "*")
                and state == "active"
                for recipient, source, named, state in consents
            )
        )

    for searcher, actor in searchers.items():
        token = factories.token_for(actor.username)
        hits = client.get(
            "/api/v1/clients",
            query_string={"q": family, "birth_date": birth.isoformat()},
            headers=bearer(token),
        ).get_json()
        found = client_id in {hit["client_id"] for hit in hits}
        knows = permissions.knows_client(actor, client_id)
        assert found == any(opens(searcher, *src) for src, gone in records if not gone)
        assert knows == any(opens(searcher, *src) for src, _ in records)
        if not any(gone for _, gone in records):
            assert found == knows, (searcher, records, consents)


def test_an_organisation_wide_privacy_officer_finds_and_knows_every_client(client, clients):
    grant_organisation_scope(client, "privacy_officer", "audit")
    token = factories.token_for("hha.privacy_officer")
    hits = client.get("/api/v1/clients", query_string={"q": "Jordan Reyes"}, headers=bearer(token))
    assert clients["hidden"] in {hit["client_id"] for hit in hits.get_json()}
    local = factories.token_for("cchc.case_worker")
    hits = client.get("/api/v1/clients", query_string={"q": "Jordan Reyes"}, headers=bearer(local))
    assert hits.get_json() == []
