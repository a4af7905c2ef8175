"""The client's verifiable access statement (issue 19): what it lists, what it reveals,
that every proven entry checks out with an independent checker, and that tampering with
anything it proves is caught."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
from sqlalchemy import text

from caseops.audit.keys import key_ring, log_key
from caseops.audit.seal import seal_once
from caseops.audit.statement import (
    FORMAT,
    StatementError,
    statement_for_client,
    verify_statement,
)
from caseops.audit.trail import public_key
from caseops.audit.verify import verify
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import break_glass, source_consent
from tests.fixtures.independent_statement import (
    StatementRejected,
    check_statement,
    leaf_bytes_from_export_line,
)
from tests.fixtures.pages import signed_in, text_of
from tests.fixtures.records import bearer


def officer() -> dict[str, str]:
    return bearer(factories.token_for("hha.privacy_officer"))


def seal() -> int:
    return seal_once(db.engine, log_key()).tree_size


@pytest.fixture
def org_officer(world):
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    return officer()


@pytest.fixture
def history(client, maria):
    """cchc reads hha housing under consent; hha reads its own housing; hha.supervisor's
    first view shows nothing (withheld only); a search; hha.supervisor breaks the glass
    and reads cchc health; all sealed."""
    join_care_team(client, "cchc.case_worker", maria)
    consent_id = source_consent(client, maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    join_care_team(client, "hha.case_worker", maria)
    assert view(client, "hha.case_worker", maria).status_code == 200
    assert view(client, "hha.supervisor", maria).status_code == 200  # nothing shown
    client.get(
        "/api/v1/clients",
        query_string={"q": "Maria"},
        headers=bearer(factories.token_for("hha.case_worker")),
    )
    grant = break_glass(client, "hha.supervisor", maria)
    assert view(client, "hha.supervisor", maria).status_code == 200
    size = seal()
    return {"client_id": maria, "consent_id": consent_id, "grant_id": grant, "size": size}


def pem() -> str:
    return public_key()["public_key_pem"]


# --- what it lists ---------------------------------------------------------------------


def test_lists_each_disclosure_with_its_basis_and_proves_it(app, history):
    statement = statement_for_client(history["client_id"], names=False)
    assert statement["format"] == FORMAT and statement["scope"] == "client"
    kinds = [(e["kind"], e["agency"], e["categories"], e["basis"]) for e in statement["entries"]]
    assert kinds == [
        ("view", "cchc", ["cchc/health", "hha/housing"], ["consent", "own_agency"]),
        ("view", "hha", ["hha/housing"], ["own_agency"]),
        ("emergency_access", "hha", [], ["emergency"]),
        ("view", "hha", ["cchc/health", "hha/housing"], ["break_glass"]),
    ]
    first, _, opened, under_glass = statement["entries"]
    assert [c["id"] for c in first["consents"]] == [history["consent_id"]]
    assert first["consents"][0]["signed_at"]
    assert opened["break_glass"] == {"grant_id": history["grant_id"], "review": "open"}
    assert under_glass["break_glass"] == {"grant_id": history["grant_id"], "review": "open"}
    assert all(e["proof_status"] == "proven" for e in statement["entries"])
    assert statement["counts"] == {
        "listed": 4,
        "proven": 4,
        "not_yet_sealed": 0,
        "v1_not_proven": 0,
    }
    assert statement["checkpoint"]["tree_size"] == history["size"]
    assert check_statement(statement, pem()) == 4
    assert verify_statement(statement, pem()) == 4


def test_reveals_only_what_a_client_may_see(app, history):
    statement = statement_for_client(history["client_id"], names=False)
    body = json.dumps(statement)
    for staff in ("cchc.case_worker", "hha.case_worker", "hha.supervisor"):
        assert staff not in body
    assert "unconscious" not in body  # the break-the-glass justification
    for entry in statement["entries"]:
        assert "staff" not in entry
        revealed, withheld = entry["leaf"]["revealed"], entry["leaf"]["withheld"]
        assert {"actor", "ip", "user_agent", "request_id"} <= set(withheld)
        assert not {"actor", "ip", "user_agent", "request_id", "token_id"} & set(revealed)
    view_entry = statement["entries"][0]
    assert "detail.fingerprint" in view_entry["leaf"]["withheld"]
    assert view_entry["leaf"]["revealed"]["detail.disclosed"]["value"] == view_entry["categories"]


def test_names_only_when_the_deployment_turns_them_on(app, history):
    statement = statement_for_client(history["client_id"], names=True)
    staff = [e["staff"] for e in statement["entries"]]
    assert staff == ["cchc.case_worker", "hha.case_worker", "hha.supervisor", "hha.supervisor"]
    assert all(e["leaf"]["revealed"]["actor"]["value"] == e["staff"] for e in statement["entries"])
    assert verify_statement(statement, pem()) == 4
    forged = copy.deepcopy(statement)
    forged["entries"][1]["staff"] = "someone.else"
    with pytest.raises(StatementError, match=f"entry {forged['entries'][1]['seq']}"):
        verify_statement(forged, pem())


def test_entries_after_the_checkpoint_are_listed_as_not_yet_provable(app, client, history):
    assert view(client, "cchc.case_worker", history["client_id"]).status_code == 200
    statement = statement_for_client(history["client_id"], names=False)
    latest = statement["entries"][-1]
    assert latest["proof_status"] == "not_yet_sealed" and "proof" not in latest
    assert statement["counts"]["not_yet_sealed"] == 1
    assert verify_statement(statement, pem()) == 4
    seal()
    assert statement_for_client(history["client_id"], names=False)["counts"]["proven"] == 5


def test_version_1_entries_are_listed_but_not_proven_and_the_log_still_verifies(
    app, client, history, org_officer
):
    """An entry written before leaf version 2 (no leaf_salt) keeps its whole-entry leaf:
    the statement lists it without proof; verify, export and the outside auditor agree."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO access_events (occurred_at, actor, actor_agency, actor_roles, "
                "action, outcome, target_type, target_id, client_id, purpose, request_id, "
                "channel, detail) VALUES (CURRENT_TIMESTAMP, 'old.worker', 'cchc', "
                "'[\"case_worker\"]', 'client.view', 'success', 'client', :c, :c, "
                "'care_coordination', 'r-old', 'http', :d)"
            ),
            {"c": history["client_id"], "d": json.dumps({"disclosed": ["cchc/health"]})},
        )
    seal()
    statement = statement_for_client(history["client_id"], names=False)
    old = statement["entries"][-1]
    assert old["proof_status"] == "v1_not_proven" and "leaf" not in old
    assert "whole entry" in statement["proof_statuses"]["v1_not_proven"]
    assert verify_statement(statement, pem()) == 4
    ring = key_ring()
    assert verify(db.engine, ring, ring.origin).ok
    lines = client.get("/api/v1/audit/export", headers=org_officer).get_data().splitlines()
    with db.engine.connect() as conn:
        stored = [bytes(h) for (h,) in conn.execute(text("SELECT leaf_hash FROM audit_leaves"))]
    derived = [hashlib.sha256(b"\x00" + leaf_bytes_from_export_line(x)).digest() for x in lines]
    assert sorted(derived) == sorted(stored)
    assert any(b"leaf_salt" not in x for x in lines) and any(b"leaf_salt" in x for x in lines)


def test_states_what_it_leaves_out(app, history):
    statement = statement_for_client(history["client_id"], names=False)
    left_out = {item["kind"] for item in statement["left_out"]}
    assert {"client.search", "refused_or_withheld", "other_client_ids"} <= left_out
    assert all(item["why"] for item in statement["left_out"])
    assert "consistency" in statement["consistency"]


# --- tampering -------------------------------------------------------------------------


def _tampered(statement, how):
    forged = copy.deepcopy(statement)
    entry = forged["entries"][1]
    if how == "value":
        entry["leaf"]["revealed"]["purpose"]["value"] = "billing"
        entry["purpose"] = "billing"
    elif how == "categories":
        entry["leaf"]["revealed"]["detail.disclosed"]["value"] = ["hha/housing", "rrp/x"]
        entry["categories"] = ["hha/housing", "rrp/x"]
    elif how == "salt":
        salt = bytearray(bytes.fromhex(entry["leaf"]["revealed"]["actor_agency"]["salt"]))
        salt[0] ^= 1
        entry["leaf"]["revealed"]["actor_agency"]["salt"] = salt.hex()
    elif how == "commitment":
        name = sorted(entry["leaf"]["withheld"])[0]
        entry["leaf"]["withheld"][name] = "00" * 32
    elif how == "proof":
        node = bytearray(bytes.fromhex(entry["proof"]["audit_path"][0]))
        node[-1] ^= 1
        entry["proof"]["audit_path"][0] = node.hex()
    elif how == "signature":
        signature = bytearray(base64.b64decode(forged["checkpoint"]["signature"]))
        signature[0] ^= 1
        forged["checkpoint"]["signature"] = base64.b64encode(signature).decode()
    return forged, entry["seq"]


@pytest.mark.parametrize("how", ["value", "categories", "salt", "commitment", "proof", "signature"])
def test_any_change_fails_both_checkers_naming_the_entry(app, history, how):
    statement = statement_for_client(history["client_id"], names=False)
    forged, seq = _tampered(statement, how)
    with pytest.raises(StatementError) as caseops_error:
        verify_statement(forged, pem())
    with pytest.raises(StatementRejected) as independent_error:
        check_statement(forged, pem())
    if how == "signature":
        assert caseops_error.value.seq is None and independent_error.value.seq is None
    else:
        assert caseops_error.value.seq == seq and independent_error.value.seq == seq


def test_another_key_does_not_verify(app, history):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    statement = statement_for_client(history["client_id"], names=False)
    with pytest.raises(StatementError, match="checkpoint"):
        verify_statement(statement, other)
    with pytest.raises(StatementRejected):
        check_statement(statement, other)


# --- the offline command ---------------------------------------------------------------


def test_verify_statement_command(app, history, tmp_path):
    statement = statement_for_client(history["client_id"], names=False)
    good, bad, key = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "key.pem"
    good.write_text(json.dumps(statement))
    forged, seq = _tampered(statement, "value")
    bad.write_text(json.dumps(forged))
    key.write_text(pem())
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify-statement", str(good), "--public-key", str(key)])
    assert ok.exit_code == 0, ok.output
    assert "ok: 4 entries proven" in ok.output
    failed = runner.invoke(args=["audit", "verify-statement", str(bad), "--public-key", str(key)])
    assert failed.exit_code == 1
    assert f"entry {seq}" in failed.output
    (tmp_path / "junk.json").write_text("[1, 2")
    junk = runner.invoke(args=["audit", "verify-statement", str(tmp_path / "junk.json")])
    assert junk.exit_code != 0 and "not a JSON statement" in junk.output


# --- the endpoint ----------------------------------------------------------------------


def test_the_endpoint_for_officers_logged(client, history, org_officer):
    path = f"/api/v1/clients/{history['client_id']}/access-statement"
    response = client.get(path, headers=org_officer)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "organisation" and body["counts"]["proven"] == 4
    assert check_statement(body, pem()) == 4
    [entry] = factories.events("audit.access_statement")
    assert entry.actor == "hha.privacy_officer" and entry.client_id == history["client_id"]
    assert entry.detail["listed"] == 4 and entry.detail["tree_size"] == history["size"]
    consent = client.get(path, headers=bearer(factories.token_for("hha.consent_officer")))
    assert consent.status_code == 200


@pytest.mark.parametrize("username", ["hha.case_worker", "hha.system_admin", "hha.integration"])
def test_other_roles_are_refused_and_logged(client, history, username):
    path = f"/api/v1/clients/{history['client_id']}/access-statement"
    response = client.get(path, headers=bearer(factories.token_for(username)))
    assert response.status_code == 403
    assert any(e.actor == username for e in factories.events("audit.denied"))
    assert client.get(path).status_code == 401


def test_unknown_client_is_404(client, history, org_officer):
    missing = client.get("/api/v1/clients/no-such/access-statement", headers=org_officer)
    assert missing.status_code == 404


def test_an_agency_scoped_officer_gets_their_part_unproven_sections(client, history):
    """hha's officer (agency scope) sees the entries about hha's records and by hha's
    workers, each redacted to hha's view; since a redacted list no longer hashes to its
    commitment, sections are never proven in a scoped statement (for every entry alike)."""
    path = f"/api/v1/clients/{history['client_id']}/access-statement"
    body = client.get(path, headers=officer()).get_json()
    assert body["scope"] == "agency:hha"
    first = body["entries"][0]
    assert first["agency"] == "cchc" and first["categories"] == ["hha/housing"]
    for entry in body["entries"]:
        assert "detail.disclosed" not in entry["leaf"]["revealed"]
        if entry["kind"] == "view":
            assert "detail.disclosed" in entry["leaf"]["withheld"]
    assert "categories" not in body["proves"]["fields"]
    assert check_statement(body, pem()) == len(body["entries"])
    assert verify_statement(body, pem()) == len(body["entries"])


# --- the printable page ----------------------------------------------------------------


def test_the_printable_page_carries_the_checkpoint(app, world, history):
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    browser = signed_in(app, world, "hha.privacy_officer")
    response = browser.get(f"/audit/clients/{history['client_id']}/access-statement")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html and "<main" in html and "<title>Access statement" in html
    page = text_of(response)
    statement = statement_for_client(history["client_id"], names=False)
    checkpoint = statement["checkpoint"]
    assert checkpoint["checkpoint"].split("\n")[2] in page  # the signed root
    assert checkpoint["signature"] in page and checkpoint["key_id"] in page
    assert "Emergency (break the glass)" in page and "review open" in page
    assert "hha.supervisor" not in page  # names are off by default
    assert "<script" not in html.split("</head>", 1)[1]  # works without JavaScript
    worker = signed_in(app, world, "hha.case_worker")
    denied = worker.get(f"/audit/clients/{history['client_id']}/access-statement")
    assert denied.status_code == 403
