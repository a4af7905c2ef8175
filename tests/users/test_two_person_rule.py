"""No administrator becomes a reader alone (issue 14).

Roles that read client records, granted from outside the account's agency, wait for an
administrator of that agency (never the grantor); the wait is flagged to privacy
officers; an account used from its creator's address or session is flagged.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseops.auth import service as auth_service
from caseops.authz import policy
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.users import grants
from caseops.users.service import get_user
from tests import factories


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def root(world):
    """A system administrator of the operations agency (outside hha and cchc)."""
    factories.make_user("ops.root", "ops", ["system_admin"])
    return factories.token_for("ops.root")


def create(client, token, username, agency, roles):
    body = {"username": username, "agency": agency, "roles": roles}
    return client.post("/api/v1/users", json=body, headers=bearer(token))


def test_reader_roles_come_from_the_policy(app, world):
    assert grants.reader_roles("hha") == {"case_worker", "supervisor"}
    # A rule letting stewards read housing records makes them readers too.
    from caseops.authz.models import CasbinRule

    db.session.add(
        CasbinRule(ptype="p", v0="data_steward", v1="*", v2="record:housing", v3="read", v4="allow")
    )
    policy.bump_version(db.session)
    db.session.commit()
    assert grants.reader_roles("hha") == {"case_worker", "supervisor", "data_steward"}


def test_a_system_admin_creating_a_case_worker_waits_for_the_agency(client, root):
    created = create(client, root, "hha.newworker", "hha", ["case_worker"])
    assert created.status_code == 201
    body = created.get_json()
    assert (body["active"], body["roles"], body["pending_roles"]) == (
        False,
        [],
        ["case_worker"],
    )
    assert body["pending_granted_by"] == "ops.root"
    [flag] = factories.events("admin.grant_pending")
    assert (flag.outcome, flag.target_id) == ("success", "hha.newworker")
    assert flag.detail["review_required"] is True and flag.detail["new_account"] is True

    # It cannot be put to use: not reactivated, no token, not approved by the grantor.
    reactivated = client.post("/api/v1/users/hha.newworker/reactivate", headers=bearer(root))
    assert reactivated.status_code == 409
    token = client.post("/api/v1/users/hha.newworker/tokens", json={}, headers=bearer(root))
    assert token.status_code == 409  # the roles are not held and the account is inactive
    by_grantor = client.post("/api/v1/users/hha.newworker/approve", headers=bearer(root))
    assert by_grantor.status_code == 403

    # Waiting accounts are listed to those who manage them.
    hha_admin = factories.token_for("hha.agency_admin")
    waiting = client.get("/api/v1/users?pending=true", headers=bearer(hha_admin)).get_json()
    assert [u["username"] for u in waiting] == ["hha.newworker"]
    cchc_admin = factories.token_for("cchc.agency_admin")
    assert client.get("/api/v1/users?pending=true", headers=bearer(cchc_admin)).get_json() == []

    # Another agency's admin and a worker of hha do not even learn it exists.
    for outsider in (cchc_admin, factories.token_for("hha.case_worker")):
        response = client.post("/api/v1/users/hha.newworker/approve", headers=bearer(outsider))
        assert response.status_code == 404

    approved = client.post("/api/v1/users/hha.newworker/approve", headers=bearer(hha_admin))
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert (body["active"], body["roles"], body["pending_roles"]) == (True, ["case_worker"], [])
    assert [(e.actor, e.outcome) for e in factories.events("admin.grant_approved")] == [
        ("ops.root", "denied"),
        ("cchc.agency_admin", "denied"),
        ("hha.case_worker", "denied"),
        ("hha.agency_admin", "success"),
    ]
    again = client.post("/api/v1/users/hha.newworker/approve", headers=bearer(hha_admin))
    assert again.status_code == 409


def test_adding_a_reader_role_from_outside_waits_and_removals_apply_at_once(client, root):
    response = client.put(
        "/api/v1/users/hha.consent_officer/roles",
        json={"roles": ["supervisor"]},
        headers=bearer(root),
    )
    body = response.get_json()
    assert response.status_code == 200
    # consent_officer is removed now (narrowing); supervisor waits; the account stays usable.
    assert (body["roles"], body["pending_roles"], body["active"]) == ([], ["supervisor"], True)
    assert factories.events("admin.grant_pending")[0].detail["new_account"] is False
    approved = client.post(
        "/api/v1/users/hha.consent_officer/approve",
        headers=bearer(factories.token_for("hha.agency_admin")),
    )
    assert approved.get_json()["roles"] == ["supervisor"]


def test_nobody_approves_their_own_account_or_their_own_grant(client, root):
    client.put(
        "/api/v1/users/hha.agency_admin/roles",
        json={"roles": ["agency_admin", "case_worker"]},
        headers=bearer(root),
    )
    own = factories.token_for("hha.agency_admin")
    response = client.post("/api/v1/users/hha.agency_admin/approve", headers=bearer(own))
    assert response.status_code == 403
    # The grantor is never the approver, even one who could otherwise approve.
    user = get_user("hha.supervisor")
    hha_admin = auth_service.actor_for(get_user("hha.agency_admin"))
    grants.open_grant(hha_admin, user, {"case_worker"}, new_account=False)
    db.session.commit()
    response = client.post("/api/v1/users/hha.supervisor/approve", headers=bearer(own))
    assert response.status_code == 403
    assert response.get_json()["error"]["message"] == (
        "The administrator who granted the roles cannot approve them."
    )


def test_an_agency_admin_granting_in_their_own_agency_is_the_agencys_act(client, world):
    token = factories.token_for("hha.agency_admin")
    body = create(client, token, "hha.another", "hha", ["case_worker"]).get_json()
    assert (body["active"], body["roles"], body["pending_roles"]) == (True, ["case_worker"], [])
    assert factories.events("admin.grant_pending") == []


def test_outside_admins_issue_no_token_that_reads_or_speaks_for_the_agency(client, root):
    for username in ("hha.case_worker", "hha.agency_admin"):
        response = client.post(f"/api/v1/users/{username}/tokens", json={}, headers=bearer(root))
        assert response.status_code == 403, username
    other = client.post("/api/v1/users/hha.consent_officer/tokens", json={}, headers=bearer(root))
    assert other.status_code == 201


def _enrol(username: str) -> factories.Person:
    """Give an API-created account an authenticator, as make_user does."""
    from flask import current_app

    from caseops.auth.totp import new_secret
    from caseops.crypto import keyring_from_config

    user = get_user(username)
    secret = new_secret()
    keyring = keyring_from_config(current_app.config)
    user.totp_secret_encrypted = keyring.encrypt(secret.encode(), f"totp:{user.id}")
    user.totp_confirmed_at = utcnow()
    db.session.commit()
    return factories.Person(username, user.agency.code, [], factories.PASSWORD, secret)


def test_an_account_used_from_its_creators_session_is_flagged(app, client, world):
    factories.make_user("ops.root", "ops", ["system_admin"])
    root = factories.Person("ops.root", "ops", [], factories.PASSWORD, None)
    root.totp_secret = _enrol("ops.root").totp_secret
    factories.login(client, root)
    page = client.get("/admin/users")
    response = client.post(
        "/admin/users",
        data={
            "username": "hha.fresh",
            "agency": "hha",
            "roles": ["consent_officer"],
            "password": factories.PASSWORD,
            "csrf_token": factories.csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    fresh = _enrol("hha.fresh")
    second_browser = app.test_client()
    assert factories.login(second_browser, fresh).status_code == 302
    [flag] = factories.events("auth.creator_used_account")
    assert flag.target_id == "hha.fresh" and flag.detail["creator"] == "ops.root"
    assert flag.detail["review_required"] is True
    assert set(flag.detail["reasons"]) == {"same_address", "same_session"}
    [login] = [e for e in factories.events("auth.login") if e.target_id == "hha.fresh"]
    assert login.detail["flag"] == "creator_origin"
    # A day later the same login is no longer the creator's doing.
    later = utcnow() + timedelta(hours=25)
    assert auth_service.creator_origin(get_user("hha.fresh"), later) is None


def test_accounts_made_by_the_operator_are_not_flagged(client, world):
    factories.login(client, world["hha.case_worker"])
    assert factories.events("auth.creator_used_account") == []


def test_the_admin_page_shows_the_wait_and_offers_approve_to_the_agency_only(
    app, client, world, root
):
    create(client, root, "hha.newworker", "hha", ["case_worker"])
    grantor_view = client.get("/admin/users/hha.newworker", headers=bearer(root))
    html = grantor_view.get_data(as_text=True)
    assert "Pending approval" in html and ">Approve</button>" not in html
    outsider = app.test_client()
    factories.login(outsider, world["cchc.agency_admin"])
    assert outsider.get("/admin/users/hha.newworker").status_code == 404
    admin = app.test_client()
    factories.login(admin, world["hha.agency_admin"])
    page = admin.get("/admin/users/hha.newworker").get_data(as_text=True)
    assert "Pending approval" in page and ">Approve</button>" in page
    assert "pending approval" in admin.get("/admin/users").get_data(as_text=True)
    response = admin.post(
        "/admin/users/hha.newworker/approve", data={"csrf_token": factories.csrf_token(page)}
    )
    assert response.status_code == 302
    page = admin.get("/admin/users/hha.newworker").get_data(as_text=True)
    assert "Pending approval" not in page and ">Approve</button>" not in page
    assert get_user("hha.newworker").active


def test_a_token_first_used_from_its_creators_address_is_flagged(client, root):
    create(client, root, "hha.clerk", "hha", ["consent_officer"])
    issued = client.post("/api/v1/users/hha.clerk/tokens", json={}, headers=bearer(root))
    assert issued.status_code == 201
    client.get("/api/v1/users/hha.clerk", headers=bearer(issued.get_json()["token"]))
    client.get("/api/v1/users/hha.clerk", headers=bearer(issued.get_json()["token"]))
    [flag] = factories.events("auth.creator_used_account")
    assert flag.detail["reasons"] == ["same_address"]
    assert flag.detail["via"] == f"token:{issued.get_json()['id']}"
