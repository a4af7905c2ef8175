"""Referrals as FHIR (issue 17, item 6): GET /fhir/Task/{id} and /fhir/ServiceRequest/{id}
in the HL7 Gravity SDOH shape, read by either side as the JSON API shows it to them, and
by nobody else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.extensions import db
from caseops.referrals import fhir
from caseops.referrals.machine import Status
from tests import factories
from tests.fixtures.consents import program_consent, source_consent
from tests.fixtures.records import bearer
from tests.fixtures.referrals import accepted_referral, assign, move, read, refer, referral_id_of

FHIR_JSON = "application/fhir+json"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "fhir.md"
DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
# The FHIR R4 Task status codes the SDOHCC referral task status value set keeps (all but
# `ready` and `received`).
SDOHCC_TASK_STATUSES = {
    "draft",
    "requested",
    "accepted",
    "rejected",
    "cancelled",
    "in-progress",
    "on-hold",
    "completed",
    "failed",
    "entered-in-error",
}
SERVICE_REQUEST_STATUSES = {
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
}


def fhir_get(client, kind: str, resource_id: str, username: str):
    return client.get(f"/fhir/{kind}/{resource_id}", headers=bearer(factories.token_for(username)))


def resource(client, kind: str, referral_id: str, username: str) -> dict:
    response = fhir_get(client, kind, referral_id.replace("_", "-"), username)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == FHIR_JSON
    return response.get_json()


def agency_name(code: str) -> str:
    return db.session.scalar(select(Agency.name).where(Agency.code == code))


# --- shape ----------------------------------------------------------------------------------


def test_the_task_and_its_service_request_in_the_gravity_shape(client, maria):
    consent_id = source_consent(client, maria)
    referral_id = accepted_referral(
        client,
        maria,
        note="Needs a stable address before treatment.",
        urgency="urgent",
        due_on="2099-01-31",
    )
    task = resource(client, "Task", referral_id, "hha.case_worker")
    rid = referral_id.replace("_", "-")
    assert task["resourceType"] == "Task" and task["id"] == rid
    assert task["meta"]["profile"] == [fhir.TASK_PROFILE]
    assert task["meta"]["security"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "COC"}
    ]
    assert task["identifier"][0]["value"] == referral_id
    assert task["status"] == "accepted" and task["businessStatus"]["text"] == "accepted"
    assert task["intent"] == "order" and task["priority"] == "urgent"
    assert task["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/CodeSystem/task-code",
        "code": "fulfill",
        "display": "Fulfill the focal request",
    }
    assert task["focus"] == {"reference": f"ServiceRequest/{rid}"}
    assert task["for"] == {"reference": f"Patient/{maria}"}
    assert task["requester"] == {"reference": "Organization/hha", "display": agency_name("hha")}
    assert task["owner"] == {"reference": "Organization/cchc", "display": agency_name("cchc")}
    seen = read(client, referral_id, "hha.case_worker").get_json()
    assert task["authoredOn"].startswith(seen["created_at"][:19])
    assert task["lastModified"].startswith(seen["history"][-1]["at"][:19])
    assert "statusReason" not in task and "output" not in task

    # the focus resolves, in the same shape
    request = fhir_get(client, "ServiceRequest", rid, "hha.case_worker").get_json()
    assert request["resourceType"] == "ServiceRequest" and request["id"] == rid
    assert request["status"] == "active" and request["intent"] == "order"
    assert request["priority"] == "urgent"
    [coding] = request["code"]["coding"]
    assert coding["system"].endswith("/CodeSystem/referral-service")
    assert (coding["code"], coding["display"]) == ("housing_assistance", "Housing assistance")
    assert request["code"]["text"] == seen["service"]["text"]
    sdoh, own = request["category"]
    assert sdoh["coding"][0]["system"] == fhir.SDOHCC_CODES
    assert sdoh["coding"][0]["code"] == "housing-instability"
    assert own["coding"][0]["code"] == "housing"
    assert [e["valueCoding"]["code"] for e in request["extension"]] == ["housing"]
    assert request["subject"] == {"reference": f"Patient/{maria}"}
    assert request["requester"]["reference"] == "Organization/hha"
    assert [p["reference"] for p in request["performer"]] == ["Organization/cchc"]
    assert request["occurrencePeriod"] == {"end": "2099-01-31"}
    assert request["note"] == [{"text": "Needs a stable address before treatment."}]
    assert request["supportingInfo"] == [{"reference": f"Consent/{consent_id.replace('_', '-')}"}]
    assert "meta" in request and "profile" not in request["meta"]

    # the Consent it names is one the reader may open
    consent = client.get(
        f"/fhir/{request['supportingInfo'][0]['reference']}",
        headers=bearer(factories.token_for("hha.consent_officer")),
    )
    assert consent.status_code == 200 and consent.get_json()["id"] == consent_id.replace("_", "-")


def test_either_sides_systems_read_it_and_the_recipient_sees_what_the_api_shows_it(client, maria):
    source_consent(client, maria)
    referral_id = accepted_referral(client, maria, note="Call after 5pm.")
    for username in ("hha.integration", "cchc.integration", "cchc.supervisor"):
        task = resource(client, "Task", referral_id, username)
        assert task["status"] == "accepted"
        request = resource(client, "ServiceRequest", referral_id, username)
        assert request["note"] == [{"text": "Call after 5pm."}]
    text = json.dumps(resource(client, "Task", referral_id, "cchc.case_worker"))
    assert "hha.case_worker" not in text  # another agency's users are never named


# --- status, every state ----------------------------------------------------------------------


def _drive(client, maria, target: str) -> tuple[str, dict]:
    """A referral in ``target``; the words each move was made with."""
    if target == "draft":
        return referral_id_of(refer(client, maria, send=False)), {}
    if target in ("requested", "rejected", "cancelled", "entered-in-error"):
        referral_id = referral_id_of(refer(client, maria))
        words = {
            "rejected": ("cchc.supervisor", {"reason": "No capacity this month"}),
            "cancelled": ("hha.case_worker", {"reason": "Client moved away"}),
            "entered-in-error": ("hha.case_worker", {}),
        }
        if target in words:
            username, said = words[target]
            assert move(client, referral_id, username, target, **said).status_code == 200
            return referral_id, said
        return referral_id, {}
    referral_id = accepted_referral(client, maria)
    words = {
        "accepted": {},
        "in-progress": {},
        "on-hold": {"reason": "Waiting for documents"},
        "completed": {"outcome": "Housing plan made"},
        "failed": {"reason": "Could not reach the client"},
    }[target]
    if target != "accepted":
        moved = move(client, referral_id, "cchc.case_worker", target, **words)
        assert moved.status_code == 200, moved.get_json()
    return referral_id, words


@pytest.mark.parametrize("target", [s.value for s in Status])
def test_every_state_maps_onto_task_and_service_request_status(client, maria, target):
    source_consent(client, maria)
    referral_id, words = _drive(client, maria, target)
    readers = ["hha.case_worker"] + ([] if target == "draft" else ["cchc.supervisor"])
    for username in readers:
        task = resource(client, "Task", referral_id, username)
        request = resource(client, "ServiceRequest", referral_id, username)
        assert task["status"] == target and task["businessStatus"]["text"] == target
        assert task["status"] in SDOHCC_TASK_STATUSES
        assert request["status"] in SERVICE_REQUEST_STATUSES
        assert request["status"] == fhir.SERVICE_REQUEST_STATUS[target]
        assert task.get("statusReason") == (
            {"text": words["reason"]} if "reason" in words else None
        )
        outputs = [o["valueString"] for o in task.get("output", [])]
        assert outputs == ([words["outcome"]] if "outcome" in words else [])


def test_a_reason_belongs_to_the_status_it_was_given_for(client, maria):
    source_consent(client, maria)
    referral_id, _ = _drive(client, maria, "on-hold")
    assert move(client, referral_id, "cchc.case_worker", "in-progress").status_code == 200
    assert assign(client, referral_id, "cchc.supervisor").status_code == 200
    task = resource(client, "Task", referral_id, "cchc.supervisor")
    assert task["status"] == "in-progress" and "statusReason" not in task


def test_the_table_is_the_sdohcc_value_set_and_every_shown_status_maps():
    assert {code for code in fhir.TASK_STATUS.values() if code} == SDOHCC_TASK_STATUSES
    assert {s.value for s in Status} | {"open", "closed"} == set(fhir.TASK_STATUS)
    assert set(fhir.TASK_STATUS) == set(fhir.SERVICE_REQUEST_STATUS)
    assert {c for c in fhir.SERVICE_REQUEST_STATUS.values() if c} <= SERVICE_REQUEST_STATUSES


def _described(status: str, **changes) -> dict:
    """A referral as ``service.describe`` returns it (the fields the mapping reads)."""
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    return {
        "id": "ref_0123456789abcdef0123",
        "client_id": "c" * 32,
        "from_agency": "hha",
        "to_agency": "rrp",
        "service": {
            "code": "substance_use_treatment",
            "display": "Substance-use treatment",
            "text": "Treatment program",
        },
        "purpose": "care_coordination",
        "shared_categories": ["housing"],
        "note": None,
        "urgency": "routine",
        "due_on": None,
        "created_at": at,
        "status": status,
        "outcome": None,
        "history": [{"kind": "created", "at": at, "reason": None, "to": "requested"}],
    } | changes


@pytest.mark.parametrize("shown", ["open", "closed"])
def test_a_masked_status_carries_no_words_even_if_handed_some(shown):
    """The mapping's own guard: with the status masked, no reason and no outcome go out,
    whatever the dict holds."""
    at = datetime(2026, 1, 6, tzinfo=UTC)
    described = _described(
        shown,
        outcome="Completed intensive outpatient",
        history=[{"kind": "moved", "at": at, "reason": "Waiting for a bed", "to": shown}],
    )
    task = fhir.to_task(described)
    request = fhir.to_service_request(described)
    text = json.dumps(task) + json.dumps(request)
    assert "intensive outpatient" not in text and "for a bed" not in text
    assert "status" not in task and "profile" not in task["meta"]
    assert ("status" in request) is (shown == "open")


def test_the_pure_mapping_writes_ids_references_and_codes():
    task = fhir.to_task(_described("requested"))
    assert task["id"] == "ref-0123456789abcdef0123"
    assert task["focus"] == {"reference": "ServiceRequest/ref-0123456789abcdef0123"}
    assert task["authoredOn"] == "2026-01-05T09:30:00+00:00"
    request = fhir.to_service_request(_described("requested", consent_ids=["cns_ab"]))
    assert request["supportingInfo"] == [{"reference": "Consent/cns-ab"}]
    assert request["category"][0]["coding"][0]["code"] == "sdoh-category-unspecified"
    assert "note" not in request and "occurrencePeriod" not in request


# --- a Part 2 recipient's words -------------------------------------------------------------


def _masked(element: dict) -> bool:
    return element == {"extension": [{"url": DAR, "valueCode": "masked"}]}


def test_a_part2_programs_steps_stay_masked_for_a_sender_without_its_consent(client, maria):
    """hha refers Maria to rrp. Without rrp's consent naming hha, hha's Task says only
    open / closed: no status code (each would assert what hha may not know), no reason,
    no outcome, and the program's own steps do not move lastModified."""
    source_consent(client, maria, categories=["housing", "substance_use"], recipients=["rrp"])
    referral_id = referral_id_of(refer(client, maria, to="rrp", service="substance_use_treatment"))
    assert assign(client, referral_id, "rrp.case_worker", by="rrp.supervisor").status_code == 200
    assert move(client, referral_id, "rrp.case_worker", "accepted").status_code == 200
    opened = resource(client, "Task", referral_id, "hha.case_worker")
    assert "status" not in opened and _masked(opened["_status"])
    assert opened["businessStatus"]["text"] == "open" and "profile" not in opened["meta"]
    assert resource(client, "ServiceRequest", referral_id, "hha.case_worker")["status"] == "active"

    for status, words in (
        ("on-hold", {"reason": "Waiting for a bed"}),
        ("in-progress", {}),
    ):
        assert move(client, referral_id, "rrp.case_worker", status, **words).status_code == 200
        task = resource(client, "Task", referral_id, "hha.case_worker")
        assert task == opened  # nothing the program did since shows, not even when
    own = resource(client, "Task", referral_id, "rrp.case_worker")
    assert own["status"] == "in-progress"  # the program sees its own steps

    outcome = {"outcome": "Completed intensive outpatient"}
    assert move(client, referral_id, "rrp.case_worker", "completed", **outcome).status_code == 200
    task = resource(client, "Task", referral_id, "hha.case_worker")
    request = resource(client, "ServiceRequest", referral_id, "hha.case_worker")
    assert _masked(task["_status"]) and task["businessStatus"]["text"] == "closed"
    assert "status" not in request and _masked(request["_status"])
    assert "statusReason" not in task and "output" not in task
    text = json.dumps(task) + json.dumps(request)
    # (whole words: a random hex id may well contain "bed")
    assert "for a bed" not in text and "intensive outpatient" not in text
    assert "rrp.case_worker" not in text
    seen = read(client, referral_id, "hha.case_worker").get_json()
    assert [h["to"] for h in seen["history"]] == ["requested", "open", "closed"]
    assert task["lastModified"].startswith(seen["history"][-1]["at"][:19])

    program_consent(client, maria, to="hha")
    task = resource(client, "Task", referral_id, "hha.case_worker")
    assert task["status"] == "completed" and task["meta"]["profile"] == [fhir.TASK_PROFILE]
    assert [o["valueString"] for o in task["output"]] == ["Completed intensive outpatient"]
    request = resource(client, "ServiceRequest", referral_id, "hha.case_worker")
    assert request["status"] == "completed"


def test_supporting_info_names_only_consents_the_reader_may_know_of(client, maria):
    """The send relied on hha's consent and on rrp's consent for its Part 2 record to
    cchc; hha knows of the record (rrp told hha) but not of rrp's consent to cchc."""
    hha_consent = source_consent(client, maria)
    program_consent(client, maria, to="hha")
    to_cchc = program_consent(client, maria, to="cchc")
    referral_id = referral_id_of(refer(client, maria, shared=("housing", "substance_use")))
    sent = resource(client, "ServiceRequest", referral_id, "hha.case_worker")
    received = resource(client, "ServiceRequest", referral_id, "cchc.supervisor")
    ids = sorted(c.replace("_", "-") for c in (hha_consent, to_cchc))
    assert [r["reference"] for r in received["supportingInfo"]] == [f"Consent/{i}" for i in ids]
    assert sent["supportingInfo"] == [{"reference": f"Consent/{hha_consent.replace('_', '-')}"}]
    hidden = client.get(
        f"/fhir/Consent/{to_cchc}", headers=bearer(factories.token_for("hha.consent_officer"))
    )
    assert hidden.status_code == 404  # so it is left out, not named


# --- who may read -------------------------------------------------------------------------


def _without(body: dict, *ids: str) -> str:
    text = json.dumps(body, sort_keys=True)
    for value in ids:
        text = text.replace(value, "X").replace(value.replace("_", "-"), "X")
    return text


@pytest.mark.parametrize("kind", ["Task", "ServiceRequest"])
def test_a_third_agency_and_an_unknown_id_get_the_same_404(client, maria, kind):
    source_consent(client, maria)
    referral_id = accepted_referral(client, maria)
    factories.make_user("cchc.worker2", "cchc", ["case_worker"])
    unknown = "ref_00000000000000000000"
    for username in (
        "rrp.case_worker",
        "rrp.supervisor",
        "rrp.integration",
        "cchc.worker2",  # the recipient's other workers do not know of it either
        "hha.consent_officer",  # nor does the sender's agency beyond its workers
    ):
        for form in (referral_id, referral_id.replace("_", "-")):
            hidden = fhir_get(client, kind, form, username)
            absent = fhir_get(client, kind, unknown.replace("_", "-"), username)
            assert hidden.status_code == absent.status_code == 404, username
            assert hidden.mimetype == absent.mimetype == FHIR_JSON
            assert hidden.get_json()["resourceType"] == "OperationOutcome"
            assert _without(hidden.get_json(), referral_id) == _without(absent.get_json(), unknown)


def test_drafts_are_the_senders_alone(client, maria):
    referral_id = referral_id_of(refer(client, maria, send=False))
    assert fhir_get(client, "Task", referral_id, "cchc.supervisor").status_code == 404
    assert resource(client, "Task", referral_id, "hha.case_worker")["status"] == "draft"


def test_either_id_form_reads_the_same_and_every_read_is_logged(client, maria):
    source_consent(client, maria)
    referral_id = referral_id_of(refer(client, maria))
    dashed = referral_id.replace("_", "-")
    assert dashed != referral_id
    for kind in ("Task", "ServiceRequest"):
        by_fhir_id = fhir_get(client, kind, dashed, "cchc.supervisor").get_json()
        by_caseops_id = fhir_get(client, kind, referral_id, "cchc.supervisor").get_json()
        assert by_fhir_id["id"] == by_caseops_id["id"] == dashed
        assert by_fhir_id == by_caseops_id
    logged = factories.events("referral.viewed")[-4:]
    assert [e.target_id for e in logged] == [referral_id] * 4
    assert [e.detail for e in logged] == [
        {"side": "recipient", "format": "fhir", "resource": kind}
        for kind in ("Task", "Task", "ServiceRequest", "ServiceRequest")
    ]
    assert all(e.client_id == maria and e.actor == "cchc.supervisor" for e in logged)


def test_the_capability_statement_lists_the_referral_reads(client, world):
    headers = bearer(factories.token_for("hha.integration"))
    statements = [client.get(path, headers=headers) for path in ("/fhir/metadata", "/fhir/")]
    assert all(r.status_code == 200 and r.mimetype == FHIR_JSON for r in statements)
    statement = statements[0].get_json()
    assert statement == statements[1].get_json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    served = {
        r["type"]: ({i["code"] for i in r["interaction"]}, r.get("supportedProfile"))
        for r in statement["rest"][0]["resource"]
    }
    assert served["Task"] == ({"read"}, [fhir.TASK_PROFILE])
    assert served["ServiceRequest"] == ({"read"}, None)
    assert served["Consent"][0] == {"read", "create"}


# --- the documentation --------------------------------------------------------------------


def test_the_mapping_table_in_the_docs_is_current():
    assert fhir.mapping_table_markdown() in DOCS.read_text(encoding="utf-8")
