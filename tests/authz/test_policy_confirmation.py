"""A policy change that newly shows sections of client records is saved only with an
explicit confirmation bound to its impact, and the confirmation is logged (issue 19,
item 6); one that only withholds more is saved as before. System administrators get
counts only (item 8)."""

from __future__ import annotations

import pytest

from tests import factories
from tests.fixtures.access import view
from tests.fixtures.policies import (
    CASE_WORKER_READS,
    HOUSING_DENY,
    change,
    hha_worker_saw_housing,
    policy_version,
    stored_rules,
    withhold_first,
)

REASON = "Board approved cross-agency health sharing (minute 12)"


def refused(response) -> dict:
    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "confirmation_required"
    return error


def test_withholding_only_is_saved_without_confirmation_and_logs_its_impact(
    client, maria_at_three_agencies
):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    before = policy_version()
    response = change(client, "post", HOUSING_DENY)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["version"] == before + 1 and body["confirmed_disclosure"] is None
    assert body["impact"]["assessed"] is True
    assert body["impact"]["newly_withheld"] == [
        {"agency": "hha", "category": "housing", "count": 1}
    ]
    assert body["impact"]["newly_shown"] == []
    [entry] = factories.events("policy.rule_added")
    assert entry.detail["after"] == HOUSING_DENY
    assert entry.detail["impact"]["newly_withheld"][0]["count"] == 1
    assert "confirmed_disclosure" not in entry.detail
    # the guard's own replay is logged as an impact run, counts only
    [run] = factories.events("policy.impact")
    assert run.actor == "hha.system_admin" and run.detail["counts_only"] is True


def test_a_disclosing_removal_is_refused_with_counts_and_nothing_is_saved(
    client, maria_at_three_agencies
):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    version, rules = policy_version(), stored_rules()
    error = refused(change(client, "delete", HOUSING_DENY))
    assert error["details"]["newly_shown"] == ["hha/housing: 1"]
    assert error["details"]["views_replayed"] == ["1"]
    assert error["details"]["confirmation_token"][0]
    assert "confirm_disclosure" in error["details"]
    assert policy_version() == version and stored_rules() == rules
    [denied] = factories.events("policy.denied")
    assert denied.outcome == "denied" and denied.detail["reason"] == "confirmation_required"
    assert denied.detail["remove"] == [HOUSING_DENY]
    assert denied.detail["newly_shown"] == [{"agency": "hha", "category": "housing", "count": 1}]
    assert len(factories.events("policy.rule_removed")) == 0
    # the worker's view still withholds the section
    sections = view(client, "hha.case_worker", maria_at_three_agencies).get_json()["sections"]
    assert {(s["agency"], s["status"]) for s in sections if s["category"] == "housing"} == {
        ("hha", "withheld")
    }


def test_the_confirmed_change_is_saved_and_its_log_entry_carries_the_confirmation(
    client, maria_at_three_agencies
):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    version = policy_version()
    token = refused(change(client, "delete", HOUSING_DENY))["details"]["confirmation_token"][0]
    response = change(client, "delete", HOUSING_DENY, confirm_disclosure=token, reason=REASON)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["version"] == version + 1
    assert body["confirmed_disclosure"]["total"] == 1
    assert body["confirmed_disclosure"]["reason"] == REASON
    [entry] = factories.events("policy.rule_removed")
    confirmed = entry.detail["confirmed_disclosure"]
    assert confirmed["newly_shown"] == [{"agency": "hha", "category": "housing", "count": 1}]
    assert confirmed["reason"] == REASON and confirmed["views_replayed"] == 1
    assert entry.actor == "hha.system_admin" and entry.detail["before"] == HOUSING_DENY
    sections = view(client, "hha.case_worker", maria_at_three_agencies).get_json()["sections"]
    assert {(s["agency"], s["status"]) for s in sections if s["category"] == "housing"} == {
        ("hha", "shown")
    }


def test_an_addition_that_discloses_needs_confirmation_too(client, maria_at_three_agencies):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    assert change(client, "delete", CASE_WORKER_READS).status_code == 200  # withholds only
    error = refused(change(client, "post", CASE_WORKER_READS))
    assert error["details"]["newly_shown"] == ["hha/housing: 1"]
    token = error["details"]["confirmation_token"][0]
    saved = change(client, "post", CASE_WORKER_READS, confirm_disclosure=token, reason=REASON)
    assert saved.status_code == 201, saved.get_json()
    [entry] = factories.events("policy.rule_added")
    assert entry.detail["confirmed_disclosure"]["total"] == 1


def test_a_confirmation_cannot_be_given_blindly_or_reused_for_another_impact(
    client, maria_at_three_agencies
):
    factories.make_user("hha.case_worker2", "hha", ["case_worker"])
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    version = policy_version()
    blind = change(client, "delete", HOUSING_DENY, confirm_disclosure="yes", reason=REASON)
    assert "does not match" in refused(blind)["message"]
    token = refused(change(client, "delete", HOUSING_DENY))["details"]["confirmation_token"][0]
    # another administrator cannot use it
    other = change(
        client,
        "delete",
        HOUSING_DENY,
        who="cchc.system_admin",
        confirm_disclosure=token,
        reason=REASON,
    )
    refused(other)
    # the impact grew since: a second worker's view would now be disclosed too
    hha_worker_saw_housing(client, maria_at_three_agencies, "hha.case_worker2", shown=False)
    grown = refused(change(client, "delete", HOUSING_DENY, confirm_disclosure=token, reason=REASON))
    assert grown["details"]["newly_shown"] == ["hha/housing: 2"]
    assert policy_version() == version
    stale = [
        e for e in factories.events("policy.denied") if e.detail["reason"] == "confirmation_stale"
    ]
    assert len(stale) == 3
    # the fresh token confirms what the change does now
    fresh = grown["details"]["confirmation_token"][0]
    saved = change(client, "delete", HOUSING_DENY, confirm_disclosure=fresh, reason=REASON)
    assert saved.status_code == 200 and saved.get_json()["confirmed_disclosure"]["total"] == 2


def test_a_confirmation_needs_a_reason(client, maria_at_three_agencies):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    token = refused(change(client, "delete", HOUSING_DENY))["details"]["confirmation_token"][0]
    response = change(client, "delete", HOUSING_DENY, confirm_disclosure=token)
    assert response.status_code == 422
    assert "reason" in response.get_json()["error"]["details"]


def test_administrators_get_counts_only(client, maria_at_three_agencies):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    response = change(client, "delete", HOUSING_DENY)
    text = response.get_data(as_text=True)
    refused(response)
    assert maria_at_three_agencies not in text and "hha.case_worker" not in text
    token = response.get_json()["error"]["details"]["confirmation_token"][0]
    change(client, "delete", HOUSING_DENY, confirm_disclosure=token, reason=REASON)
    [entry] = factories.events("policy.rule_removed")
    assert maria_at_three_agencies not in str(entry.detail)


def test_the_guard_weighs_every_agency_even_for_an_agency_scoped_officer_who_administers(
    client, maria_at_three_agencies
):
    """A cchc account that is both system administrator and (cchc-scoped) privacy officer:
    its own impact view would not count hha's housing section shown to hha's worker, but
    the guard counts the whole organisation."""
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    factories.make_user("cchc.both", "cchc", ["system_admin", "privacy_officer"])
    officer_view = client.post(
        "/api/v1/policies/impact",
        json={"remove": [HOUSING_DENY]},
        headers={"Authorization": f"Bearer {factories.token_for('cchc.both')}"},
    ).get_json()
    assert officer_view["newly_shown"] == [] and officer_view["scope"]["agency"] == "cchc"
    error = refused(change(client, "delete", HOUSING_DENY, who="cchc.both"))
    assert error["details"]["newly_shown"] == ["hha/housing: 1"]


def test_a_rule_that_decides_no_record_section_is_not_replayed(client, maria_at_three_agencies):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    scope = {
        "sub": "privacy_officer",
        "dom": "cchc",
        "obj": "scope:organisation",
        "act": "audit",
        "eft": "allow",
    }
    response = change(client, "post", scope)
    assert response.status_code == 201
    assert response.get_json()["impact"] == {"assessed": False}
    assert factories.events("policy.impact") == []


def test_a_policy_changed_during_the_assessment_is_not_saved(
    client, maria_at_three_agencies, monkeypatch
):
    """Two administrators at once: the assessment (and any confirmation) describes the
    policy it was made on; if another change landed meanwhile, nothing is saved."""
    from caseops.authz import policy, service
    from caseops.extensions import db

    hha_worker_saw_housing(client, maria_at_three_agencies)
    assess = service.assess

    def racing(actor, add, remove):
        answer = assess(actor, add, remove)
        policy.bump_version(db.session)
        db.session.commit()
        return answer

    monkeypatch.setattr(service, "assess", racing)
    rules = stored_rules()
    response = change(client, "post", HOUSING_DENY)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "policy_changed"
    assert stored_rules() == rules
    assert factories.events("policy.rule_added") == []


@pytest.mark.parametrize("method", ["post", "delete"])
def test_the_existing_refusals_come_first(client, world, method):
    """Nothing is assessed for a caller who may not change the policy."""
    response = change(client, method, HOUSING_DENY, who="hha.privacy_officer")
    assert response.status_code == 403
    assert factories.events("policy.impact") == []


def test_any_stored_rule_can_be_removed(client, world):
    """Today's rules of acceptance hold for additions; a rule stored under older ones (or
    written by a migration) can still be taken out."""
    from caseops.authz import policy
    from caseops.authz.models import CasbinRule
    from caseops.extensions import db

    legacy = {"sub": "legacy_role", "dom": "*", "obj": "reports", "act": "read", "eft": "allow"}
    db.session.add(
        CasbinRule(ptype="p", v0="legacy_role", v1="*", v2="reports", v3="read", v4="allow")
    )
    policy.bump_version(db.session)
    db.session.commit()
    assert change(client, "post", legacy).status_code == 422
    removed = change(client, "delete", legacy)
    assert removed.status_code == 200, removed.get_json()
    assert ("legacy_role", "*", "reports", "read", "allow") not in stored_rules()
