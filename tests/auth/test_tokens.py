"""API tokens: shown once, hashed at rest, scoped to a subset of roles, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from caseops.auth.models import ApiToken
from caseops.db_types import utcnow
from caseops.extensions import db
from tests import factories


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def two_role_admin(app):
    factories.make_agency("hha")
    factories.make_user("hha.boss", "hha", ["agency_admin", "supervisor"])
    factories.make_user("hha.clerk", "hha", ["case_worker"])


def test_token_is_shown_once_and_only_its_hash_is_stored(client, two_role_admin):
    token = factories.token_for("hha.boss")
    # cop_<public id, hex>_<secret>: the secret is URL-safe base64 and may itself hold "_"
    prefix, public_id, secret = token.split("_", 2)
    assert (prefix, len(secret)) == ("cop", 43) and "_" not in public_id
    row = db.session.scalar(select(ApiToken))
    assert secret not in row.secret_hash and token not in row.secret_hash
    assert len(row.secret_hash) == 64
    listed = client.get("/api/v1/users/hha.boss/tokens", headers=bearer(token)).get_json()
    assert listed[0]["id"] == row.id and "token" not in listed[0]
    assert secret not in str(listed)


def test_token_works_and_records_last_use(client, two_role_admin):
    token = factories.token_for("hha.boss")
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken.last_used_at)) is not None


def test_a_token_carries_only_its_scopes(client, two_role_admin):
    supervisor_only = factories.token_for("hha.boss", scopes=["supervisor"])
    assert client.get("/api/v1/users", headers=bearer(supervisor_only)).status_code == 403
    admin_scope = factories.token_for("hha.boss", scopes=["agency_admin"])
    assert client.get("/api/v1/users", headers=bearer(admin_scope)).status_code == 200


def test_a_token_cannot_be_issued_with_roles_the_user_does_not_hold(client, two_role_admin):
    token = factories.token_for("hha.boss")
    response = client.post(
        "/api/v1/users/hha.boss/tokens", json={"scopes": ["system_admin"]}, headers=bearer(token)
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"scopes": ["Not held: system_admin."]}


def test_a_token_cannot_mint_a_broader_token_for_its_user(client, two_role_admin):
    narrow = factories.token_for("hha.boss", scopes=["supervisor"])
    response = client.post(
        "/api/v1/users/hha.boss/tokens", json={"scopes": ["agency_admin"]}, headers=bearer(narrow)
    )
    assert response.status_code == 422
    response = client.post("/api/v1/users/hha.boss/tokens", json={}, headers=bearer(narrow))
    assert response.status_code == 201
    assert response.get_json()["scopes"] == ["supervisor"]


def test_a_token_loses_a_role_the_user_loses(client, two_role_admin, app):
    token = factories.token_for("hha.boss")
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 200
    from caseops.users import service

    service.change_roles(factories.OPERATOR, "hha.boss", ["supervisor"])
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 403


def test_expired_token_is_refused(client, two_role_admin):
    token = factories.token_for("hha.boss", days=1)
    db.session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = client.get("/api/v1/users", headers=bearer(token))
    assert response.status_code == 401
    [event] = factories.events("auth.token_rejected")
    assert event.detail == {"reason": "expired"}


def test_revoked_token_stops_working_at_once_and_revocation_is_audited(client, two_role_admin):
    token = factories.token_for("hha.boss")
    other = factories.token_for("hha.boss")
    token_id = db.session.scalars(select(ApiToken.id).order_by(ApiToken.id)).first()
    response = client.delete(f"/api/v1/users/hha.boss/tokens/{token_id}", headers=bearer(other))
    assert response.status_code == 200 and response.get_json()["revoked_at"]
    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/users", headers=bearer(other)).status_code == 200
    assert [e.target_id for e in factories.events("auth.token_revoked")] == [str(token_id)]
    assert len(factories.events("auth.token_created")) == 2


@pytest.mark.parametrize("value", ["garbage", "cop_abc", "cop_0000_wrongsecret", "Basic abc"])
def test_malformed_or_unknown_tokens_are_refused(client, two_role_admin, value):
    response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {value}"})
    assert response.status_code == 401


def test_tampered_secret_is_refused(client, two_role_admin):
    token = factories.token_for("hha.boss")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/api/v1/users", headers=bearer(tampered)).status_code == 401


def test_deactivated_users_tokens_stop_working(client, two_role_admin):
    token = factories.token_for("hha.clerk")
    from caseops.users import service

    service.deactivate(factories.OPERATOR, "hha.clerk")
    response = client.get("/api/v1/users/hha.clerk", headers=bearer(token))
    assert response.status_code == 401


def test_bearer_requests_need_no_csrf_token(client, two_role_admin):
    token = factories.token_for("hha.boss")
    response = client.post("/api/v1/users/hha.clerk/unlock", headers=bearer(token))
    assert response.status_code == 200


def test_users_may_issue_their_own_tokens(client, two_role_admin):
    own = factories.token_for("hha.clerk")
    response = client.post(
        "/api/v1/users/hha.clerk/tokens", json={"expires_in_days": 7}, headers=bearer(own)
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("cop_") and body["scopes"] == ["case_worker"]
    # Another person's account is one the clerk may not know of: 404, as for no account.
    response = client.post("/api/v1/users/hha.boss/tokens", json={}, headers=bearer(own))
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == "No user named 'hha.boss'."


def test_token_lifetime_is_bounded(client, two_role_admin):
    token = factories.token_for("hha.boss")
    response = client.post(
        "/api/v1/users/hha.clerk/tokens", json={"expires_in_days": 1000}, headers=bearer(token)
    )
    assert response.status_code == 422
    assert "expires_in_days" in response.get_json()["error"]["details"]


def test_a_stray_remember_me_cookie_does_not_hide_the_token(client, two_role_admin):
    """Another Flask-Login app's remember-me cookie on the same domain: caseops never sets
    one, so the bearer token alone still decides who calls (it used to answer 401)."""
    token = factories.token_for("hha.boss")
    client.set_cookie("remember_token", "1|not-caseops")
    assert client.get("/api/v1/users/hha.boss/tokens", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/users/hha.boss/tokens").status_code == 401


def test_a_bearer_answer_sets_no_cookie_and_does_not_vary_by_one(client, two_role_admin):
    """The token alone decides a bearer request, so its answer neither sets a cookie nor
    tells caches it depends on one (Flask-Login's hook made every answer ``Vary: Cookie``)."""
    token = factories.token_for("hha.boss")
    read = client.get("/api/v1/users/hha.boss/tokens", headers=bearer(token))
    change = client.post("/api/v1/users/hha.clerk/unlock", headers=bearer(token))
    refused = client.post("/api/v1/users/nobody/unlock", headers=bearer(token))
    assert (read.status_code, change.status_code, refused.status_code) == (200, 200, 404)
    for answer in (read, change, refused):
        assert "Set-Cookie" not in answer.headers and "Cookie" not in answer.vary
