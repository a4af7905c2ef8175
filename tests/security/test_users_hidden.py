"""Hidden = unknown for accounts (issue 14, finding 5).

Every operation that names an account (read from the OpenAPI document, so an endpoint
added tomorrow is covered the day it is added) x every role x (an account of the caller's
agency / of another agency / a name nobody holds). Where the caller may not manage the
account, its answer must equal the unknown name's answer: same status, same body once
the name is swapped. The admin pages are held to the same rule.
"""

from __future__ import annotations

import re

import pytest

from tests import factories

UNKNOWN = "nobody.here"
TARGETS = {"own": "hha.target", "other": "cchc.target"}
BODIES = {"roles": {"roles": ["supervisor"]}, "tokens": {}}
ADMIN_PAGE_ACTIONS = ("deactivate", "reactivate", "unlock", "reset-second-factor", "approve")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_operations(client) -> list[tuple[str, str]]:
    """(method, path template) of every operation under /api/v1/users/{username}."""
    document = client.get("/api/v1/openapi.json").get_json()
    found = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/users/{username}")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(found) >= 10, found  # view, roles, 4 actions, approve, 3 token operations
    return sorted(found)


def manages(role: str, scope: str) -> bool:
    """Written from the rules: system admins manage everyone, agency admins their agency."""
    return role == "system_admin" or (role == "agency_admin" and scope == "own")


def call(client, token: str, method: str, template: str, username: str, token_id: int):
    path = template.replace("{username}", username).replace("{token_id}", str(token_id))
    body = BODIES.get(path.rsplit("/", 1)[-1]) if method in ("POST", "PUT") else None
    return client.open(path, method=method, json=body, headers=bearer(token))


def shape(response, username: str) -> tuple[int, str]:
    return response.status_code, response.get_data(as_text=True).replace(username, "<name>")


@pytest.mark.parametrize("role", factories.PERSONAS)
def test_accounts_a_caller_may_not_manage_answer_like_unknown_names(client, world, role):
    for agency in ("hha", "cchc"):
        factories.make_user(f"{agency}.target", agency, ["consent_officer"])
    token_ids = {name: factories.issue_token_id(name) for name in TARGETS.values()}
    token = factories.token_for(f"hha.{role}")
    failures = []
    for method, template in user_operations(client):
        for scope, target in TARGETS.items():
            tid = token_ids[target]
            unknown = shape(call(client, token, method, template, UNKNOWN, tid), UNKNOWN)
            assert unknown[0] == 404, (method, template, unknown)
            got = shape(call(client, token, method, template, target, tid), target)
            if manages(role, scope):
                if got[0] == 404:
                    failures.append(f"{method} {template} {scope}: managed account not found")
            elif got != unknown:
                failures.append(f"{method} {template} {scope}: {got} != unknown {unknown}")
    assert failures == []


@pytest.mark.parametrize("role", ["agency_admin", "case_worker", "integration"])
def test_refusals_now_404_are_still_logged(client, world, role):
    token = factories.token_for(f"hha.{role}")
    response = client.post("/api/v1/users/cchc.case_worker/unlock", headers=bearer(token))
    assert response.status_code == 404
    [entry] = factories.events("admin.user_unlocked")
    assert (entry.actor, entry.outcome, entry.target_id) == (
        f"hha.{role}",
        "denied",
        "cchc.case_worker",
    )


def test_people_still_see_and_manage_their_own_account_and_tokens(client, world):
    token = factories.token_for("hha.case_worker")
    headers = bearer(token)
    assert client.get("/api/v1/users/hha.case_worker", headers=headers).status_code == 200
    listed = client.get("/api/v1/users/hha.case_worker/tokens", headers=headers)
    assert listed.status_code == 200 and len(listed.get_json()) == 1
    issued = client.post("/api/v1/users/hha.case_worker/tokens", json={}, headers=headers)
    assert issued.status_code == 201
    revoked = client.delete(
        f"/api/v1/users/hha.case_worker/tokens/{issued.get_json()['id']}", headers=headers
    )
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]


def _page_shape(response, username: str) -> tuple[int, str]:
    html = response.get_data(as_text=True).replace(username, "<name>")
    return response.status_code, re.sub(r'value="[^"]*"', 'value=""', html)  # CSRF tokens


@pytest.mark.parametrize("who", ["hha.agency_admin", "hha.case_worker"])
def test_admin_pages_answer_hidden_accounts_like_unknown_ones(client, world, who):
    factories.login(client, world[who])
    page = client.get("/admin/users/" + UNKNOWN)
    csrf = factories.csrf_token(client.get("/").get_data(as_text=True))
    for target in ("cchc.case_worker", "cchc.agency_admin"):
        assert _page_shape(client.get(f"/admin/users/{target}"), target) == _page_shape(
            page, UNKNOWN
        )
        for action in (*ADMIN_PAGE_ACTIONS, "no-such-action"):
            hidden = client.post(f"/admin/users/{target}/{action}", data={"csrf_token": csrf})
            unknown = client.post(f"/admin/users/{UNKNOWN}/{action}", data={"csrf_token": csrf})
            assert _page_shape(hidden, target) == _page_shape(unknown, UNKNOWN), action
            assert hidden.status_code == 404, action
