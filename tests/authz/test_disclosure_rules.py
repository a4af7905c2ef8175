"""The policy-change guard's pure rules (``caseops.authz.disclosure``), property-tested:
a rule the guard does not replay cannot change any section decision; a confirmation's
digest is bound to exactly the person, change, version and counts; every rule has words."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from caseops.authz.disclosure import RECORD_ACTIONS, describe, impact_digest, touches_records
from caseops.simulation import engine
from caseops.vocabulary import CATEGORIES, ROLES

AGENCIES = ("hha", "cchc")
OBJECTS = (
    "record:*",
    "record:health",
    "record:substance_use",
    "rec*",
    "*",
    "record",
    "records",
    "scope:organisation",
    "care_team",
    "client",
    "referrals",
    "admin:policy",
)
ACTIONS = (*RECORD_ACTIONS, "*", "manage", "audit", "write", "create")

rules = st.fixed_dictionaries(
    {
        "sub": st.sampled_from(ROLES),
        "dom": st.sampled_from(("*", *AGENCIES)),
        "obj": st.sampled_from(OBJECTS),
        "act": st.sampled_from(ACTIONS),
        "eft": st.sampled_from(("allow", "deny")),
    }
)
BASE = [
    ["case_worker", "*", "record:*", "read", "allow"],
    ["supervisor", "*", "record:*", "break_glass", "allow"],
    ["case_worker", "hha", "record:justice", "read", "deny"],
]


def verdicts(p_rows) -> dict:
    enforcer = engine.build(p_rows, [])
    return {
        (role, agency, category, act): engine.verdict(
            enforcer, [role], agency, f"record:{category}", act
        )[0]
        for role in ROLES
        for agency in AGENCIES
        for category in CATEGORIES
        for act in RECORD_ACTIONS
    }


BEFORE = verdicts(BASE)


# Each example asks Casbin 432 questions twice: slower than hypothesis' default deadline.
SLOW = settings(deadline=None, max_examples=40)


@SLOW
@given(rules)
def test_a_rule_not_replayed_changes_no_section_decision(rule):
    if touches_records(rule):
        return
    assert verdicts([*BASE, engine.rule_values(rule)]) == BEFORE


@SLOW
@given(rules)
def test_a_rule_that_changes_a_section_decision_is_replayed(rule):
    """The converse, as a check that the property above is not vacuous."""
    if verdicts([*BASE, engine.rule_values(rule)]) != BEFORE:
        assert touches_records(rule)


def test_record_rules_are_replayed_and_others_are_not():
    read = {"sub": "case_worker", "dom": "*", "obj": "record:health", "act": "read", "eft": "allow"}
    assert touches_records(read)
    assert touches_records(read | {"obj": "*", "act": "*"})
    assert not touches_records(read | {"obj": "scope:organisation", "act": "audit"})
    assert not touches_records(read | {"act": "manage"})


cells = st.lists(
    st.fixed_dictionaries(
        {
            "agency": st.sampled_from(AGENCIES),
            "category": st.sampled_from(CATEGORIES),
            "count": st.integers(1, 50),
        }
    ),
    max_size=4,
    unique_by=lambda c: (c["agency"], c["category"]),
)


@given(st.lists(rules, max_size=3), st.lists(rules, max_size=3), cells, st.randoms())
def test_the_digest_ignores_order_only(add, remove, shown, rnd):
    digest = impact_digest("a", 3, add, remove, shown)
    shuffled = [list(x) for x in (add, remove, shown)]
    for items in shuffled:
        rnd.shuffle(items)
    assert impact_digest("a", 3, *shuffled) == digest
    assert impact_digest("b", 3, add, remove, shown) != digest
    assert impact_digest("a", 4, add, remove, shown) != digest
    if shown:
        grown = [dict(shown[0]) | {"count": shown[0]["count"] + 1}, *shown[1:]]
        assert impact_digest("a", 3, add, remove, grown) != digest
    if add:
        assert impact_digest("a", 3, add[1:], remove, shown) != digest or add[0] in add[1:]


@given(
    rules
    | st.fixed_dictionaries(
        {
            "sub": st.text(min_size=1, max_size=20),
            "dom": st.text(min_size=1, max_size=10),
            "obj": st.text(min_size=1, max_size=30),
            "act": st.text(min_size=1, max_size=20),
            "eft": st.sampled_from(("allow", "deny")),
        }
    )
)
def test_every_rule_has_words(rule):
    words = describe(rule)
    assert words.endswith(".")
    assert ("may not" in words or "do not share" in words) == (rule["eft"] == "deny")
