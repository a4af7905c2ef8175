"""Casbin questions asked of an enforcer other than the live one: a draft (the live rules
with some added and some removed) or a golden suite's isolated world.

``permits`` mirrors ``caseops.authz.policy.allowed`` exactly (each role asked in the
actor's agency; an explicit deny for any role wins over another role's allow), and
``explain`` names the rule that decided: the deny that refused, else an allow that
granted (pycasbin 2.8.0's ``enforce_ex`` reports the matching rule for allowed decisions
too; with deny-override it keeps scanning, so it names the *last* matching allow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import casbin

from caseops.access.rules import SectionDecision
from caseops.authz.policy import MODEL_PATH

FIELDS = ("sub", "dom", "obj", "act", "eft")
Rule = dict[str, str]
Permits = Callable[[str, str], bool]


def rule_values(rule: Rule) -> list[str]:
    return [rule[f] if f != "eft" else rule.get("eft", "allow") for f in FIELDS]


def as_rule(values: Sequence[str] | None) -> Rule | None:
    if not values:
        return None
    return dict(zip(FIELDS, values, strict=False))


def build(p_rows: Iterable[Sequence[str]], g_rows: Iterable[Sequence[str]]) -> casbin.Enforcer:
    """An in-memory enforcer on caseops' model: no adapter, nothing is ever saved."""
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    p_rows = [list(r) for r in p_rows]
    g_rows = [list(r) for r in g_rows]
    if p_rows:
        enforcer.add_policies(p_rows)
    if g_rows:
        enforcer.add_grouping_policies(g_rows)
    return enforcer


def copy_of(live: casbin.Enforcer) -> casbin.Enforcer:
    return build(live.get_policy(), live.get_grouping_policy())


def apply_draft(
    enforcer: casbin.Enforcer, add: Iterable[Rule] = (), remove: Iterable[Rule] = ()
) -> dict[str, list[Rule]]:
    """Apply a draft to an in-memory enforcer; returns the rules that changed nothing (a
    removal of a rule that is not there, an addition of one that is), for the answer."""
    ignored: dict[str, list[Rule]] = {"add": [], "remove": []}
    for rule in remove:
        if not enforcer.remove_policy(*rule_values(rule)):
            ignored["remove"].append(rule)
    for rule in add:
        if not enforcer.add_policy(*rule_values(rule)):
            ignored["add"].append(rule)
    return ignored


def verdict(
    enforcer: casbin.Enforcer, roles: Iterable[str], agency: str | None, obj: str, act: str
) -> tuple[bool, Rule | None]:
    """(allowed, the deciding rule or None when no rule matched) as ``policy.allowed``."""
    if agency is None or not roles:
        return False, None
    allowed_by: Rule | None = None
    for role in sorted(roles):
        ok, rule = enforcer.enforce_ex(role, agency, obj, act)
        if not ok and rule and rule[-1] == "deny":
            return False, as_rule(rule)
        if ok and allowed_by is None:
            allowed_by = as_rule(rule)
    if allowed_by is not None:
        return True, allowed_by
    return False, None


def permits(enforcer: casbin.Enforcer, roles: Iterable[str], agency: str | None) -> Permits:
    roles = frozenset(roles)
    answers: dict[tuple[str, str], bool] = {}

    def ask(obj: str, act: str) -> bool:
        if (obj, act) not in answers:
            answers[(obj, act)] = verdict(enforcer, roles, agency, obj, act)[0]
        return answers[(obj, act)]

    return ask


def deciding_action(decision: SectionDecision) -> str:
    """The Casbin action whose answer decided the section (see ``access.rules``)."""
    if decision.basis in ("break_glass", "break_glass_part2"):
        return decision.basis
    return "read"


def explain(
    enforcer: casbin.Enforcer, roles: Iterable[str], agency: str | None, d: SectionDecision
) -> Rule | None:
    return verdict(enforcer, roles, agency, f"record:{d.section.category}", deciding_action(d))[1]


def key(decision: SectionDecision) -> str:
    return f"{decision.section.agency}/{decision.section.category}"
