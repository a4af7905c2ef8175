"""Every administration endpoint x every role x own/other agency.

The expected answer of each cell is written from the rules, not read from the code:
  * agencies: system_admin only;
  * users of an agency: system_admin anywhere, agency_admin in its own agency only, and
    only for users who hold (or are given) non-admin roles;
  * an account the caller may not manage answers 404, as an unknown name does (hidden =
    unknown); lists and creation in an agency the caller does not manage answer 403
    (agency codes are public);
  * a token carrying a role that reads client records or an admin role is issued only from
    inside the account's agency (two-person rule): a system administrator of another agency
    is refused;
  * nobody else administers anything — no cross-agency administration.
"""

from __future__ import annotations

import pytest

from tests import factories

OK = "ok"
NO = 403
HIDDEN = 404
NAMED = ("plain_user", "admin_user", "plain_token", "admin_token")


def expected(role: str, scope: str, kind: str) -> object:
    if role == "system_admin":
        return NO if kind.endswith("_token") and scope == "other" else OK
    if kind in ("agencies",):
        return NO
    if role == "agency_admin" and scope == "own":
        return OK if kind.startswith("plain") else NO
    return HIDDEN if kind in NAMED else NO


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def calls(target_agency: str):
    """(label, kind, method, path, json) in an order where each call leaves the next valid."""
    plain = f"{target_agency}.target"
    admin = f"{target_agency}.target_admin"
    yield "list agencies", "agencies", "GET", "/api/v1/agencies", None
    yield (
        "create agency",
        "agencies",
        "POST",
        "/api/v1/agencies",
        {"code": "new-{n}", "name": "New agency"},
    )
    yield "list users", "plain_list", "GET", f"/api/v1/users?agency={target_agency}", None
    yield "view user", "plain_user", "GET", f"/api/v1/users/{plain}", None
    yield (
        "create worker",
        "plain_create",
        "POST",
        "/api/v1/users",
        {"username": "new{n}", "agency": target_agency, "roles": ["case_worker"]},
    )
    yield (
        "create admin",
        "admin_create",
        "POST",
        "/api/v1/users",
        {"username": "newadm{n}", "agency": target_agency, "roles": ["agency_admin"]},
    )
    for target, kind in ((plain, "plain_user"), (admin, "admin_user")):
        token_kind = kind.replace("_user", "_token")
        yield f"token for {target}", token_kind, "POST", f"/api/v1/users/{target}/tokens", {}
        yield f"list tokens of {target}", kind, "GET", f"/api/v1/users/{target}/tokens", None
        yield (
            f"revoke token of {target}",
            kind,
            "DELETE",
            f"/api/v1/users/{target}/tokens/{{tid}}",
            None,
        )
        for action in ("unlock", "reset-second-factor", "deactivate", "reactivate"):
            yield f"{action} {target}", kind, "POST", f"/api/v1/users/{target}/{action}", None
    yield (
        "roles of plain -> supervisor",
        "plain_user",
        "PUT",
        f"/api/v1/users/{plain}/roles",
        {"roles": ["supervisor"]},
    )
    yield (
        "roles of plain -> agency_admin",
        "admin_user",
        "PUT",
        f"/api/v1/users/{plain}/roles",
        {"roles": ["agency_admin"]},
    )
    yield (
        "roles of admin -> case_worker",
        "admin_user",
        "PUT",
        f"/api/v1/users/{admin}/roles",
        {"roles": ["case_worker"]},
    )


@pytest.mark.parametrize("scope", ["own", "other"])
@pytest.mark.parametrize("role", factories.PERSONAS)
def test_admin_endpoint_matrix(client, world, role, scope):
    for agency in ("hha", "cchc"):
        factories.make_user(f"{agency}.target", agency, ["case_worker"])
        factories.make_user(f"{agency}.target_admin", agency, ["agency_admin"])
    token = factories.token_for(f"hha.{role}")
    target_agency = "hha" if scope == "own" else "cchc"
    spare_tokens = {
        target: factories.issue_token_id(target)
        for target in (f"{target_agency}.target", f"{target_agency}.target_admin")
    }
    mismatches = []
    for n, (label, kind, method, path, body) in enumerate(calls(target_agency)):
        if "{tid}" in path:
            path = path.replace("{tid}", str(spare_tokens[path.split("/")[4]]))
        if body is not None:
            body = {
                k: v.replace("{n}", str(n)) if isinstance(v, str) else v for k, v in body.items()
            }
        response = client.open(path, method=method, json=body, headers=bearer(token))
        got = OK if response.status_code in (200, 201) else response.status_code
        want = expected(role, scope, kind)
        if got != want:
            mismatches.append(
                f"{label}: got {got} want {want} ({response.get_data(as_text=True)[:120]})"
            )
    assert mismatches == []


def test_refusals_and_changes_are_in_the_access_log(client, world):
    worker_token = factories.token_for("hha.case_worker")
    client.post("/api/v1/users/hha.supervisor/deactivate", headers=bearer(worker_token))
    admin_token = factories.token_for("hha.agency_admin")
    client.post("/api/v1/users/hha.supervisor/deactivate", headers=bearer(admin_token))
    client.put(
        "/api/v1/users/hha.supervisor/roles",
        json={"roles": ["case_worker"]},
        headers=bearer(admin_token),
    )
    denied = factories.events("admin.user_deactivated")
    assert [(e.actor, e.outcome) for e in denied] == [
        ("hha.case_worker", "denied"),
        ("hha.agency_admin", "success"),
    ]
    assert denied[1].detail["before"]["active"] is True
    assert denied[1].detail["after"]["active"] is False
    [change] = factories.events("admin.roles_changed")
    assert change.detail["before"]["roles"] == ["supervisor"]
    assert change.detail["after"]["roles"] == ["case_worker"]


def test_admins_cannot_change_their_own_account(client, world):
    token = factories.token_for("hha.system_admin")
    for path in ("/api/v1/users/hha.system_admin/deactivate",):
        assert client.post(path, headers=bearer(token)).status_code == 403
    response = client.put(
        "/api/v1/users/hha.system_admin/roles",
        json={"roles": ["case_worker"]},
        headers=bearer(token),
    )
    assert response.status_code == 403


def test_user_creation_validates_fields(client, world):
    token = factories.token_for("hha.system_admin")
    response = client.post(
        "/api/v1/users",
        json={"username": "supervisor", "agency": "hha", "roles": ["wizard"], "password": "short"},
        headers=bearer(token),
    )
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert details["username"] == ["A username cannot be a role name."]
    assert "roles.0" in details
    response = client.post(
        "/api/v1/users",
        json={
            "username": "fresh.person",
            "agency": "hha",
            "roles": ["case_worker"],
            "password": "short",
        },
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {
        "password": ["Must be at least 12 characters long."]
    }


def test_duplicate_usernames_conflict_and_nothing_is_half_written(client, world):
    token = factories.token_for("hha.system_admin")
    body = {"username": "hha.case_worker", "agency": "hha", "roles": ["supervisor"]}
    response = client.post("/api/v1/users", json=body, headers=bearer(token))
    assert response.status_code == 409
    from caseops.authz import policy
    from caseops.extensions import db

    assert policy.stored_roles(db.session, "hha.case_worker") == ["case_worker"]


def test_created_people_get_a_one_time_initial_password_and_integration_accounts_none(
    client, world
):
    token = factories.token_for("hha.system_admin")
    person = client.post(
        "/api/v1/users",
        json={"username": "pat.doe", "agency": "hha", "roles": ["case_worker"]},
        headers=bearer(token),
    )
    assert person.status_code == 201 and len(person.get_json()["initial_password"]) >= 12
    system = client.post(
        "/api/v1/users",
        json={"username": "hha.feed", "agency": "hha", "roles": ["integration"]},
        headers=bearer(token),
    )
    assert system.status_code == 201
    assert (
        system.get_json()["initial_password"] is None and system.get_json()["kind"] == "integration"
    )
    mixed = client.post(
        "/api/v1/users",
        json={"username": "hha.mixed", "agency": "hha", "roles": ["integration", "case_worker"]},
        headers=bearer(token),
    )
    assert mixed.status_code == 422
