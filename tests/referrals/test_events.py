"""Referral events reach agency systems through the webhooks outbox (issue 17, item 7):
the recipient hears of a sent referral, both sides of each move, a third agency of nothing,
and a body never carries more than ids."""

from __future__ import annotations

from sqlalchemy import select

from caseops.extensions import db
from caseops.webhooks.models import WebhookEvent
from tests import factories
from tests.fixtures.consents import program_consent, source_consent
from tests.fixtures.records import bearer
from tests.fixtures.referrals import assign, move, refer, referral_id_of

KINDS = ["referral.requested", "referral.status_changed", "consent.revoked"]


def _subscribe(client, agency: str) -> None:
    admin = f"{agency}.agency_admin"
    if agency == "rrp":
        factories.make_user(admin, "rrp", ["agency_admin"])
    response = client.post(
        f"/api/v1/agencies/{agency}/webhooks",
        json={"url": f"https://{agency}.example/hook", "events": KINDS},
        headers=bearer(factories.token_for(admin)),
    )
    assert response.status_code == 201, response.get_json()


def _events() -> list[tuple[str, str, dict]]:
    db.session.expire_all()
    return [
        (e.agency_code, e.kind, e.data)
        for e in db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.occurred_at))
        if e.kind.startswith("referral.")
    ]


def test_each_side_hears_of_its_referral_and_a_third_agency_of_nothing(client, maria):
    for agency in ("hha", "cchc", "rrp"):
        _subscribe(client, agency)
    source_consent(client, maria)
    draft = referral_id_of(refer(client, maria, send=False))
    assert _events() == []  # a draft is the sender's alone
    assert move(client, draft, "hha.case_worker", "requested").status_code == 200
    assert assign(client, draft, "cchc.case_worker").status_code == 200
    assert move(client, draft, "cchc.case_worker", "accepted").status_code == 200
    ids = {"referral_id": draft}
    assert sorted(_events()) == [
        ("cchc", "referral.requested", ids),
        ("cchc", "referral.status_changed", ids),
        ("hha", "referral.status_changed", ids),
    ]
    assert all(agency != "rrp" for agency, _, _ in _events())


def test_a_refused_send_announces_nothing(client, maria):
    _subscribe(client, "cchc")
    assert refer(client, maria).status_code == 422  # no consent: nothing committed
    assert _events() == []


def test_a_part2_programs_own_steps_reach_the_sender_only_as_open_and_closed(client, maria):
    for agency in ("hha", "rrp"):
        _subscribe(client, agency)
    source_consent(client, maria, categories=["housing", "substance_use"], recipients=["rrp"])
    referral_id = referral_id_of(refer(client, maria, to="rrp", service="substance_use_treatment"))
    assert assign(client, referral_id, "rrp.case_worker", by="rrp.supervisor").status_code == 200
    for status, words in (
        ("accepted", {}),
        ("on-hold", {"reason": "Waiting for a bed"}),
        ("in-progress", {}),
        ("completed", {"outcome": "Completed"}),
    ):
        assert move(client, referral_id, "rrp.case_worker", status, **words).status_code == 200
    told = [kind for agency, kind, _ in _events() if agency == "hha"]
    # requested -> open (accepted), open -> closed (completed); on-hold and back say nothing
    assert told == ["referral.status_changed", "referral.status_changed"]
    assert [kind for agency, kind, _ in _events() if agency == "rrp"].count(
        "referral.status_changed"
    ) == 4
    # with rrp's consent naming hha, hha reads the program's steps: it hears of each
    program_consent(client, maria, to="hha")
    second = referral_id_of(refer(client, maria, to="rrp", service="substance_use_treatment"))
    assert assign(client, second, "rrp.case_worker", by="rrp.supervisor").status_code == 200
    assert move(client, second, "rrp.case_worker", "accepted").status_code == 200
    assert move(client, second, "rrp.case_worker", "on-hold", reason="Bed").status_code == 200
    assert [
        kind
        for agency, kind, data in _events()
        if agency == "hha" and data["referral_id"] == second
    ] == ["referral.status_changed", "referral.status_changed"]
