"""Policy administration: only system administrators, every change versioned and audited,
separation of duties enforced."""

from __future__ import annotations

import pytest

from tests import factories
from tests.fixtures.records import bearer

RULE = {"sub": "supervisor", "dom": "hha", "obj": "record:justice", "act": "read", "eft": "deny"}


def test_add_list_and_remove_a_rule_bumps_the_version_and_is_audited(client, world):
    token = factories.token_for("hha.system_admin")
    before = client.get("/api/v1/policies", headers=bearer(token)).get_json()
    added = client.post("/api/v1/policies", json=RULE, headers=bearer(token))
    assert added.status_code == 201
    assert added.get_json()["version"] == before["version"] + 1
    listed = client.get("/api/v1/policies", headers=bearer(token)).get_json()
    assert RULE in listed["rules"] and listed["version"] == before["version"] + 1
    assert client.post("/api/v1/policies", json=RULE, headers=bearer(token)).status_code == 409
    removed = client.delete("/api/v1/policies", json=RULE, headers=bearer(token))
    assert removed.status_code == 200 and removed.get_json()["version"] == before["version"] + 2
    assert RULE not in client.get("/api/v1/policies", headers=bearer(token)).get_json()["rules"]
    [add_event] = factories.events("policy.rule_added")
    assert add_event.detail["after"] == RULE and add_event.detail["before"] is None
    assert add_event.detail["version_after"] == before["version"] + 1
    [remove_event] = factories.events("policy.rule_removed")
    assert remove_event.detail["before"] == RULE and remove_event.detail["after"] is None


@pytest.mark.parametrize("role", [p for p in factories.PERSONAS if p != "system_admin"])
def test_only_system_admins_touch_the_policy(client, world, role):
    token = factories.token_for(f"hha.{role}")
    assert client.get("/api/v1/policies", headers=bearer(token)).status_code == 403
    assert client.post("/api/v1/policies", json=RULE, headers=bearer(token)).status_code == 403


@pytest.mark.parametrize("role", ["system_admin", "agency_admin", "privacy_officer"])
def test_separation_of_duties_no_record_access_for_admins_or_privacy(client, world, role):
    token = factories.token_for("hha.system_admin")
    rule = {"sub": role, "dom": "*", "obj": "record:health", "act": "read", "eft": "allow"}
    response = client.post("/api/v1/policies", json=rule, headers=bearer(token))
    assert response.status_code == 422
    assert "Separation of duties" in response.get_json()["error"]["details"]["sub"][0]


def test_rules_are_validated(client, world):
    token = factories.token_for("hha.system_admin")
    bad = {"sub": "wizard", "dom": "*", "obj": "record:a,b", "act": "read", "eft": "maybe"}
    response = client.post("/api/v1/policies", json=bad, headers=bearer(token))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]) >= {"eft"}
