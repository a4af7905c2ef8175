"""The demo shows the trust model: hha's housing reaches cchc because hha recorded that
consent itself, and a consent cchc recorded for Jim waits in hha's attestation queue."""

from __future__ import annotations

from caseops.access import service as access
from caseops.auth.service import actor_for
from caseops.demo.clients import seed_clients
from caseops.demo.seed import seed
from caseops.registry import service as consents
from caseops.users.service import get_user


def actor(username):
    return actor_for(get_user(username))


def section(view, agency, category):
    return next(s for s in view["sections"] if (s["agency"], s["category"]) == (agency, category))


def test_the_demo_shows_an_attestation_waiting_and_sharing_that_works(app):
    seed()
    seed_clients()
    [waiting] = consents.attestation_queue(actor("hha.consent"))
    assert waiting["recorded_by_agency"] == "cchc" and waiting["source_agencies"] == ["hha"]
    jim = waiting["client_id"]
    worker = actor("cchc.worker")
    assert (
        section(access.view_record(worker, jim, "care_coordination"), "hha", "housing")["reason"]
        == "consent_not_attested"
    )
    consents.attest(actor("hha.consent"), waiting["id"])
    assert consents.attestation_queue(actor("hha.consent")) == []
    shown = section(access.view_record(worker, jim, "care_coordination"), "hha", "housing")
    assert shown["status"] == "shown"
    maria = next(
        c["client_id"]
        for c in consents.expiring(actor("cchc.consent"), 365)
        if c["grantor"]["name"] == "Maria Lopez"
    )
    housing = section(access.view_record(worker, maria, "care_coordination"), "hha", "housing")
    assert housing["status"] == "shown"
