"""An agency administrator registers, lists and disables its webhooks; nobody else may."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseops.extensions import db
from caseops.webhooks.models import Webhook
from tests import factories

HOOKS = "/api/v1/agencies/hha/webhooks"


def test_the_secret_is_shown_once_and_stored_encrypted(hooks):
    created = hooks.register("hha", "https://hha.example/caseops", ["referral.requested"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["url"] == "https://hha.example/caseops"
    assert created["events"] == ["referral.requested"]
    assert created["active"] is True and created["agency"] == "hha"

    listed = hooks.call("GET", HOOKS, "hha.agency_admin")
    assert listed.status_code == 200
    assert [w["id"] for w in listed.get_json()] == [created["id"]]
    assert "secret" not in listed.get_json()[0]
    assert created["secret"] not in listed.get_data(as_text=True)

    db.session.expire_all()
    row = db.session.get(Webhook, created["id"])
    assert created["secret"] not in row.secret_encrypted  # encrypted, not in the clear


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hha.example/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "hha.example/no-scheme",
        "http://",
        "https://user:pw@hha.example/hook",
        "https://hha.example/with space",
    ],
)
def test_only_http_urls_are_accepted_and_the_answer_names_url(hooks, url):
    response = hooks.call(
        "POST", HOOKS, "hha.agency_admin", json={"url": url, "events": ["consent.revoked"]}
    )
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]) == ["url"]
    assert db.session.scalar(select(Webhook.id)) is None


def test_events_come_from_the_catalogue(hooks):
    for events in ([], ["client.updated"], ["consent.revoked", "referral.exploded"]):
        response = hooks.call(
            "POST", HOOKS, "hha.agency_admin", json={"url": "https://h.example/", "events": events}
        )
        assert response.status_code == 422, (events, response.get_json())
        assert "events" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    "username", ["cchc.agency_admin", "hha.case_worker", "hha.system_admin", "hha.integration"]
)
def test_only_the_agencys_own_administrator_manages_its_webhooks(hooks, username):
    created = hooks.register("hha", "https://hha.example/caseops")
    body = {"url": "https://evil.example/steal", "events": ["consent.revoked"]}
    calls = [
        ("POST", HOOKS, {"json": body}),
        ("GET", HOOKS, {}),
        ("DELETE", f"{HOOKS}/{created['id']}", {}),
        ("GET", f"{HOOKS}/{created['id']}/deliveries", {}),
    ]
    for method, url, kwargs in calls:
        response = hooks.call(method, url, username, **kwargs)
        assert response.status_code == 403, (method, url, response.get_json())
        assert "evil.example" not in response.get_data(as_text=True)
        assert "hha.example" not in response.get_data(as_text=True)
    denied = factories.events("webhook.denied")
    assert len(denied) == len(calls) and {e.actor for e in denied} == {username}
    db.session.expire_all()
    assert [w.url for w in db.session.scalars(select(Webhook))] == ["https://hha.example/caseops"]


def test_another_agencys_webhook_id_is_unknown_under_my_code(hooks):
    theirs = hooks.register("cchc", "https://cchc.example/caseops")
    for method, suffix in (("DELETE", ""), ("GET", "/deliveries")):
        response = hooks.call(method, f"{HOOKS}/{theirs['id']}{suffix}", "hha.agency_admin")
        assert response.status_code == 404
        unknown = hooks.call(method, f"{HOOKS}/whk_unknown{suffix}", "hha.agency_admin")
        assert unknown.status_code == 404
        assert "cchc" not in response.get_data(as_text=True)


def test_disabling_keeps_the_webhook_and_is_logged(hooks):
    created = hooks.register("hha", "https://hha.example/caseops")
    response = hooks.call("DELETE", f"{HOOKS}/{created['id']}", "hha.agency_admin")
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert response.get_json()["disabled_by"] == "hha.agency_admin"
    again = hooks.call("DELETE", f"{HOOKS}/{created['id']}", "hha.agency_admin")
    assert again.status_code == 409
    listed = hooks.call("GET", HOOKS, "hha.agency_admin").get_json()
    assert [(w["id"], w["active"]) for w in listed] == [(created["id"], False)]
    assert [e.target_id for e in factories.events("webhook.registered")] == [created["id"]]
    assert [e.target_id for e in factories.events("webhook.disabled")] == [created["id"]]
    assert "secret" not in str(factories.events("webhook.registered")[0].detail)
