"""The draft enforcer asks Casbin exactly as the live policy does: on a copy of the
default policy, every role's answer for every category and action equals
``policy.allowed``; a draft changes only the copy."""

from __future__ import annotations

from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.simulation import engine
from caseops.vocabulary import CATEGORIES, ROLES

ACTS = ("read", "break_glass", "break_glass_part2", "manage")


def test_the_copy_answers_as_the_live_policy(app):
    live = policy.enforcer()
    copy = engine.copy_of(live)
    role_sets = [frozenset({r}) for r in ROLES] + [frozenset({"case_worker", "privacy_officer"})]
    for roles in role_sets:
        actor = Actor(username="probe", agency="hha", roles=roles)
        for category in (*CATEGORIES, "*"):
            for act in ACTS:
                obj = f"record:{category}"
                assert engine.verdict(copy, roles, "hha", obj, act)[0] == policy.allowed(
                    actor, obj, act
                ), (roles, obj, act)


def test_a_deny_in_one_role_wins_and_is_named(app):
    copy = engine.copy_of(policy.enforcer())
    deny = {"sub": "supervisor", "dom": "hha", "obj": "record:health", "act": "read", "eft": "deny"}
    assert engine.apply_draft(copy, add=[deny]) == {"add": [], "remove": []}
    both = {"case_worker", "supervisor"}
    assert engine.verdict(copy, both, "hha", "record:health", "read") == (False, deny)
    assert engine.verdict(copy, both, "cchc", "record:health", "read")[0] is True
    # the live policy did not change
    live_actor = Actor(username="probe", agency="hha", roles=frozenset(both))
    assert policy.allowed(live_actor, "record:health", "read") is True


def test_no_rule_matched_names_no_rule(app):
    copy = engine.copy_of(policy.enforcer())
    assert engine.verdict(copy, {"consent_officer"}, "hha", "record:health", "read") == (
        False,
        None,
    )
    assert engine.verdict(copy, set(), "hha", "record:health", "read") == (False, None)
