"""Incident response (issue 22): scope from the log, containment, notification, closing."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from caseops.audit.keys import log_key
from caseops.audit.merkle import verify_inclusion
from caseops.audit.seal import seal_once
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import break_glass, source_consent
from tests.fixtures.records import bearer

V1 = "/api/v1/incidents"
NAMED = ["hha.supervisor", "cchc.case_worker"]
REASON = "Account used from an unknown device"


def org_officer() -> dict[str, str]:
    """An organisation-wide privacy officer (the operator's compliance function)."""
    factories.make_user("ops.privacy", "ops", ["privacy_officer"])
    factories.grant_organisation_scope("privacy_officer", "ops", "audit")
    return bearer(factories.token_for("ops.privacy"))


@pytest.fixture
def history(client, maria):
    """Across agencies: cchc reads hha housing under consent (and its own health); hha's
    supervisor is denied, breaks the glass, then reads; both search; hha's case worker (not
    named) reads too. Everything sealed."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    join_care_team(client, "cchc.case_worker", maria)
    source_consent(client, maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    assert view(client, "hha.supervisor", maria).status_code == 200  # nothing shown: denied
    break_glass(client, "hha.supervisor", maria)
    assert view(client, "hha.supervisor", maria).status_code == 200
    for username in NAMED:
        found = client.get(
            "/api/v1/clients",
            query_string={"q": "Maria Lopez"},
            headers=bearer(factories.token_for(username)),
        )
        assert found.status_code == 200
    join_care_team(client, "hha.case_worker", maria)
    assert view(client, "hha.case_worker", maria).status_code == 200
    seal_once(db.engine, log_key())
    return {"client_id": maria, "start": start, "end": datetime.now(UTC) + timedelta(minutes=1)}


def search(client, headers):
    return client.get("/api/v1/clients", query_string={"q": "Maria"}, headers=headers)


def open_incident(client, headers, history, **changes) -> dict:
    body = {
        "kind": "security_incident",
        "summary": "Two accounts were used from a stolen laptop.",
        "accounts": NAMED,
        "window_start": history["start"].isoformat(),
        "window_end": history["end"].isoformat(),
    } | changes
    response = client.post(V1, json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def exported(client, headers) -> list[dict]:
    response = client.get("/api/v1/audit/export", headers=headers)
    assert response.status_code == 200
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line]


def independent_scope(entries: list[dict], accounts, tokens, start, end) -> dict:
    """What the scope must be, computed from the exported log alone."""
    affected: dict[str, set[str]] = {}
    denials, searches = set(), set()
    for e in entries:
        at = datetime.fromisoformat(e["occurred_at"])
        if not (e.get("actor") in accounts or e.get("token_id") in tokens):
            continue
        if not start <= at < end:
            continue
        if e["outcome"] == "denied":
            denials.add(e["seq"])
        elif e["action"] == "client.search":
            searches.add(e["seq"])
        elif e["action"] == "client.view" and (e.get("detail") or {}).get("disclosed"):
            affected.setdefault(e["client_id"], set()).update(e["detail"]["disclosed"])
    return {"affected": affected, "denials": denials, "searches": searches}


def test_scope_equals_an_independent_computation_from_the_exported_log(client, history):
    officer = org_officer()
    incident = open_incident(client, officer, history)
    response = client.get(f"{V1}/{incident['id']}/scope", headers=officer)
    assert response.status_code == 200, response.get_json()
    scope = response.get_json()
    expected = independent_scope(
        exported(client, officer), set(NAMED), set(), history["start"], history["end"]
    )
    got = {c["client_id"]: set(c["sections"]) for c in scope["affected_clients"]}
    assert got == expected["affected"]
    assert got[history["client_id"]] >= {"hha/housing", "cchc/health"}
    assert {d["seq"] for d in scope["denials"]} == expected["denials"]
    assert {s["seq"] for s in scope["searches"]} == expected["searches"]
    assert len(expected["searches"]) == 2 and expected["denials"]
    # break-the-glass listed apart; the view under it names the grant
    assert [b["actor"] for b in scope["break_glass"]] == ["hha.supervisor"]
    entries = scope["affected_clients"][0]["entries"]
    assert any(e["break_glass_grant"] for e in entries if e["actor"] == "hha.supervisor")
    assert "hha.case_worker" not in {e["actor"] for e in entries}  # not named
    (only,) = scope["affected_clients"]
    assert set(only["source_agencies"]) >= {"hha", "cchc"}
    assert "housing" in only["categories"] and "health" in only["categories"]


def test_every_entry_relied_on_is_proved_in_the_signed_checkpoint(client, history):
    officer = org_officer()
    incident = open_incident(client, officer, history)
    scope = client.get(f"{V1}/{incident['id']}/scope", headers=officer).get_json()
    checkpoint = scope["checkpoint"]
    assert checkpoint["signature"] and checkpoint["checkpoint"]
    assert scope["unsealed_seqs"] == []
    root = bytes.fromhex(checkpoint["root_hash"])
    for entry in [e for c in scope["affected_clients"] for e in c["entries"]]:
        proof = entry["proof"]
        assert verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            checkpoint["tree_size"],
            [bytes.fromhex(n) for n in proof["audit_path"]],
            root,
        )


def test_an_agency_officer_sees_only_entries_touching_their_agency(client, history):
    factories.make_user("rrp.privacy_officer", "rrp", ["privacy_officer"])
    officer = bearer(factories.token_for("rrp.privacy_officer"))
    incident = open_incident(client, officer, history)
    scope = client.get(f"{V1}/{incident['id']}/scope", headers=officer).get_json()
    assert scope["scope"] == {"organisation": False, "agency": "rrp"}
    for client_row in scope["affected_clients"]:
        assert client_row["source_agencies"] == ["rrp"]
    # hha's officer: its own worker's views whole, another agency's worker's views of hha's
    # client only as far as hha's records go
    hha = bearer(factories.token_for("hha.privacy_officer"))
    mine = open_incident(client, hha, history)
    (row,) = client.get(f"{V1}/{mine['id']}/scope", headers=hha).get_json()["affected_clients"]
    by_actor = {}
    for entry in row["entries"]:
        by_actor.setdefault(entry["actor"], set()).update(entry["sections"])
    assert by_actor["cchc.case_worker"] == {"hha/housing"}
    assert "cchc/health" in by_actor["hha.supervisor"]
    # another agency's officer does not know of rrp's incident: like an unknown id
    cchc = bearer(factories.token_for("cchc.privacy_officer"))
    hidden = client.get(f"{V1}/{incident['id']}", headers=cchc)
    unknown = client.get(f"{V1}/987654", headers=cchc)
    assert hidden.status_code == unknown.status_code == 404
    assert client.get(V1, headers=cchc).get_json()["items"] == []


def test_only_privacy_officers_open_incidents(client, history):
    for username in ("hha.case_worker", "hha.agency_admin", "hha.system_admin"):
        response = client.post(
            V1,
            json={
                "kind": "breach",
                "summary": "x" * 10,
                "window_start": "2026-01-01T00:00:00Z",
                "window_end": "2026-01-02T00:00:00Z",
            },
            headers=bearer(factories.token_for(username)),
        )
        assert response.status_code == 403
    assert factories.events("incident.denied")


def test_bad_input_names_the_field(client, world):
    officer = bearer(factories.token_for("hha.privacy_officer"))
    response = client.post(
        V1,
        json={
            "kind": "rumour",
            "summary": "A laptop was lost.",
            "window_start": "2026-01-02T00:00:00Z",
            "window_end": "2026-01-01T00:00:00Z",
        },
        headers=officer,
    )
    assert response.status_code == 422 and "kind" in json.dumps(response.get_json())
    response = client.post(
        V1,
        json={
            "kind": "breach",
            "summary": "A laptop was lost.",
            "window_start": "2026-01-02T00:00:00Z",
            "window_end": "2026-01-01T00:00:00Z",
        },
        headers=officer,
    )
    assert response.status_code == 422 and "window_end" in json.dumps(response.get_json())


# --- containment --------------------------------------------------------------------------


def test_containment_takes_effect_on_the_next_request(app, client, world):
    token = factories.token_for("hha.case_worker")
    assert search(client, bearer(token)).status_code == 200
    browser = app.test_client()
    factories.login(browser, world["hha.case_worker"])
    assert browser.get("/").status_code == 200
    officer = bearer(factories.token_for("hha.privacy_officer"))
    now = datetime.now(UTC)
    incident = open_incident(
        client,
        officer,
        {"start": now - timedelta(days=1), "end": now},
        accounts=["hha.case_worker"],
    )
    response = client.post(
        f"{V1}/{incident['id']}/contain", json={"reason": REASON}, headers=officer
    )
    assert response.status_code == 200, response.get_json()
    (contained,) = response.get_json()["accounts"]
    assert contained["account"] == "hha.case_worker" and contained["sessions_ended"] == 1
    assert search(client, bearer(token)).status_code == 401
    page = browser.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    step = factories.events("incident.contained")[-1]
    assert step.detail["reason"] == REASON and step.actor == "hha.privacy_officer"


def test_an_agency_officer_contains_only_their_own_agencys_accounts(client, world):
    officer = bearer(factories.token_for("hha.privacy_officer"))
    cchc_token = factories.token_for("cchc.case_worker")
    spare = factories.issue_token_id("cchc.supervisor")
    now = datetime.now(UTC)
    incident = open_incident(
        client,
        officer,
        {"start": now - timedelta(days=1), "end": now},
        accounts=["hha.supervisor", "cchc.case_worker", "nobody.atall"],
        token_ids=[spare],
    )
    body = client.post(
        f"{V1}/{incident['id']}/contain", json={"reason": REASON}, headers=officer
    ).get_json()
    assert [a["account"] for a in body["accounts"]] == ["hha.supervisor"]
    referred = body["referred"]
    # another agency's account and an unknown one are referred alike: nothing is revealed
    assert {r.get("account") for r in referred} >= {"cchc.case_worker", "nobody.atall"}
    assert len({r["ask"] for r in referred}) == 1
    assert {r.get("token_id") for r in referred} >= {spare}
    assert search(client, bearer(cchc_token)).status_code == 200
    assert [e for e in factories.events("incident.contained") if e.outcome == "denied"]


def test_reversal_is_an_administrators_act_with_a_reason(client, world):
    officer = bearer(factories.token_for("hha.privacy_officer"))
    now = datetime.now(UTC)
    incident = open_incident(
        client,
        officer,
        {"start": now - timedelta(days=1), "end": now},
        accounts=["hha.case_worker"],
    )
    url = f"{V1}/{incident['id']}"
    client.post(f"{url}/contain", json={"reason": REASON}, headers=officer)
    reverse = f"{url}/containment/reverse"
    assert (
        client.post(reverse, json={"reason": "The laptop was found."}, headers=officer).status_code
        == 403
    )
    admin = bearer(factories.token_for("hha.agency_admin"))
    assert client.post(reverse, json={}, headers=admin).status_code == 422
    other_admin = bearer(factories.token_for("cchc.agency_admin"))
    assert (
        client.post(
            reverse, json={"reason": "The laptop was found."}, headers=other_admin
        ).status_code
        == 404
    )
    response = client.post(reverse, json={"reason": "The laptop was found."}, headers=admin)
    assert response.status_code == 200, response.get_json()
    assert [a["account"] for a in response.get_json()["accounts"]] == ["hha.case_worker"]
    fresh = factories.token_for("hha.case_worker")  # tokens stay revoked; a new one works
    assert search(client, bearer(fresh)).status_code == 200
    timeline = client.get(f"{url}/timeline", headers=officer).get_json()
    assert [s["step"] for s in timeline["items"]] == ["opened", "contained", "containment_reversed"]
    assert timeline["items"][-1]["reason"] == "The laptop was found."
    assert timeline["items"][-1]["actor"] == "hha.agency_admin"


# --- notify, close ----------------------------------------------------------------------------


def test_notifications_carry_the_164_404_elements_and_the_60_day_date(client, history):
    officer = org_officer()
    discovered = datetime.now(UTC) - timedelta(days=2)
    incident = open_incident(
        client, officer, history, kind="breach", discovered_at=discovered.isoformat()
    )
    url = f"{V1}/{incident['id']}"
    response = client.post(f"{url}/notifications", headers=officer)
    assert response.status_code == 201, response.get_json()
    items = response.get_json()["items"]
    assert {(i["client_id"], i["source_agency"]) for i in items} >= {
        (history["client_id"], "hha"),
        (history["client_id"], "cchc"),
    }
    deadline = (discovered + timedelta(days=60)).date().isoformat()
    for item in items:
        for element in (
            "what_happened",
            "kinds_of_data",
            "steps_individuals_should_take",
            "what_is_being_done",
            "contact_procedures",
        ):
            assert item[element], element
        assert item["deadline"] == deadline
        assert item["part2_program"] == (item["source_agency"] == "rrp")
    housing = next(i for i in items if i["source_agency"] == "hha")
    assert housing["kinds_of_data"] == ["housing"]
    assert client.get(url, headers=officer).get_json()["notification_deadline"] == deadline


def test_letters_and_csv_carry_no_record_contents(client, history):
    officer = org_officer()
    incident = open_incident(client, officer, history)
    url = f"{V1}/{incident['id']}"
    client.post(f"{url}/notifications", headers=officer)
    response = client.get(f"{url}/notifications.csv", headers=officer)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(r["client_id"] == history["client_id"] for r in rows)
    assert not {"address", "mailing_address", "email", "phone"} & set(rows[0])
    listed = client.get(f"{url}/notifications", headers=officer).get_data(as_text=True)
    for secret in (
        "Maria",
        "Lopez",
        "1984-03-12",
        "123-45-6780",
        "Seacliff",
        "asthma",
        "inhaler",
        "opioids",
        "outpatient",
    ):
        assert secret not in text and secret not in listed, secret


def test_close_and_export_the_timeline(client, history):
    officer = org_officer()
    incident = open_incident(client, officer, history)
    url = f"{V1}/{incident['id']}"
    client.get(f"{url}/scope", headers=officer)
    assert (
        client.post(
            f"{url}/close", json={"reason": "Scoped; nothing else."}, headers=officer
        ).status_code
        == 200
    )
    assert (
        client.post(f"{url}/close", json={"reason": "Again, please."}, headers=officer).status_code
        == 409
    )
    assert (
        client.post(f"{url}/contain", json={"reason": REASON}, headers=officer).status_code == 409
    )
    timeline = client.get(f"{url}/timeline", headers=officer).get_json()
    assert timeline["status"] == "closed"
    assert [s["step"] for s in timeline["items"]] == ["opened", "scoped", "closed"]
    assert all(s["actor"] == "ops.privacy" and s["access_event_seq"] for s in timeline["items"])
    exported_csv = client.get(f"{url}/timeline", query_string={"format": "csv"}, headers=officer)
    assert exported_csv.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported_csv.get_data(as_text=True))))
    assert [r["step"] for r in rows] == ["opened", "scoped", "closed"]


def test_an_agency_officer_reads_only_the_notifications_of_its_records(client, history):
    officer = org_officer()
    incident = open_incident(client, officer, history, agencies=["rrp"])
    url = f"{V1}/{incident['id']}"
    everything = client.post(f"{url}/notifications", headers=officer).get_json()["items"]
    assert {i["source_agency"] for i in everything} >= {"hha", "cchc"}
    factories.make_user("rrp.privacy_officer", "rrp", ["privacy_officer"])
    rrp = bearer(factories.token_for("rrp.privacy_officer"))
    seen = client.get(f"{url}/notifications", headers=rrp).get_json()["items"]
    assert all("rrp" in (i["source_agency"], *i["recipient_agencies"]) for i in seen)
    assert len(seen) < len(everything)
    # the incident's steps say how many records were made, never what they hold
    steps = client.get(url, headers=rrp).get_json()["steps"]
    assert [s["detail"]["notifications"] for s in steps if s["step"] == "notified"] == [
        len(everything)
    ]


def test_entries_not_sealed_yet_are_named_not_proved(client, history):
    assert view(client, "hha.supervisor", history["client_id"]).status_code == 200  # after seal
    officer = org_officer()
    incident = open_incident(client, officer, history)
    scope = client.get(f"{V1}/{incident['id']}/scope", headers=officer).get_json()
    entries = [e for c in scope["affected_clients"] for e in c["entries"]]
    unproved = [e["seq"] for e in entries if e["proof"] is None]
    assert len(unproved) == 1 and unproved == scope["unsealed_seqs"]
    seal_once(db.engine, log_key())
    again = client.get(f"{V1}/{incident['id']}/scope", headers=officer).get_json()
    assert again["unsealed_seqs"] == []
    assert again["checkpoint"]["tree_size"] > scope["checkpoint"]["tree_size"]
