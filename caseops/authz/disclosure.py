"""Pure rules of the policy-change guard (issue 19, item 6): which rule changes can change
what a worker is shown of a client record, what a confirmation is bound to, and a rule
said in words. No Flask, no SQLAlchemy: ``caseops.authz.service`` asks these, and they
are property-tested on their own (``tests/authz/test_disclosure_rules.py``).

Why a guard at all: a rule added or removed takes effect on every worker's next request.
Replaying the logged views under the draft (``caseops.simulation``) tells, before the
change is saved, which sections of client records it would newly show; a change that
newly shows anything is saved only with an explicit, logged confirmation bound to that
very impact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from casbin.util import key_match

from caseops.vocabulary import CATEGORIES

# The Casbin actions the view's decision asks about a record section
# (``caseops.access.rules.decide_view``: ``record:<category>`` with these).
RECORD_ACTIONS = ("read", "break_glass", "break_glass_part2")
RULE_FIELDS = ("sub", "dom", "obj", "act", "eft")

Rule = Mapping[str, str]


def touches_records(rule: Rule) -> bool:
    """Whether a ``p`` rule can take part in any section decision of a client view: its
    object matches ``record:<category>`` for some category (Casbin's ``keyMatch``, as the
    model's matcher) and its action is one the view asks (or ``*``). A rule that does not
    (``scope:organisation``, ``admin:users:any``, ``care_team``...) cannot change what a
    view shows, so replaying the logged views for it would only say "nothing"."""
    if waives_agreements(rule):
        return True
    if rule["act"] != "*" and rule["act"] not in RECORD_ACTIONS:
        return False
    return any(key_match(f"record:{category}", rule["obj"]) for category in CATEGORIES)


# A waiver of data sharing agreements (``caseops.agreements.waivers``): a ``p`` rule of an
# ``agency:<code>`` subject on ``agreement_waiver:<code>``. Adding one can newly show every
# cross-agency section the pair's consents allow, so it is replayed like a record rule.
WAIVER_SUBJECT = "agency:"
WAIVER_PROBE = "agreement_waiver:any-agency"


def waives_agreements(rule: Rule) -> bool:
    """Whether a ``p`` rule can take part in a waiver verdict: an agency subject, an object
    matching ``agreement_waiver:<code>`` (``keyMatch``) and the ``waive`` action (or ``*``)."""
    return (
        rule["sub"].startswith(WAIVER_SUBJECT)
        and rule["act"] in ("waive", "*")
        and (rule["obj"].startswith("agreement_waiver:") or key_match(WAIVER_PROBE, rule["obj"]))
    )


def rule_key(rule: Rule) -> tuple[str, ...]:
    return tuple(rule.get(f, "allow" if f == "eft" else "") for f in RULE_FIELDS)


def impact_digest(
    actor: str,
    policy_version: int,
    add: Iterable[Rule],
    remove: Iterable[Rule],
    newly_shown: Iterable[Mapping[str, object]],
) -> str:
    """What a confirmation confirms: this person, this change (in any order), made to this
    policy version, newly showing exactly these counts per agency x category. Any of them
    different, and the confirmation no longer describes what saving would do."""
    payload = {
        "actor": actor,
        "version": policy_version,
        "add": sorted(rule_key(r) for r in add),
        "remove": sorted(rule_key(r) for r in remove),
        "newly_shown": sorted(
            (str(c["agency"]), str(c["category"]), int(c["count"]))  # type: ignore[call-overload]
            for c in newly_shown
        ),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def total(cells: Iterable[Mapping[str, object]]) -> int:
    return sum(int(c["count"]) for c in cells)  # type: ignore[call-overload]


def cell_lines(cells: Iterable[Mapping[str, object]]) -> list[str]:
    """``agency/category: count`` per cell: how an error's ``details`` carries counts."""
    return [f"{c['agency']}/{c['category']}: {c['count']}" for c in cells]


# --- a rule in words -----------------------------------------------------------------------

ROLE_WORDS = {
    "case_worker": "Case workers",
    "supervisor": "Supervisors",
    "consent_officer": "Consent officers",
    "data_steward": "Data stewards",
    "privacy_officer": "Privacy officers",
    "agency_admin": "Agency administrators",
    "system_admin": "System administrators",
    "integration": "Integration accounts",
}
ACTION_WORDS = {
    "read": "read",
    "break_glass": "break the glass on",
    "break_glass_part2": "break the glass (42 CFR Part 2 medical emergency) on",
    "manage": "manage",
    "write": "write",
    "audit": "oversee the access log of",
    "linkage": "oversee the client index of",
    "consents": "oversee the consents of",
    "review": "review",
    "*": "do anything with",
}
OBJECT_WORDS = {
    "record:*": "client records of every category",
    "client": "a client's record (emergency access)",
    "care_team": "care teams",
    "scope:organisation": "the whole organisation",
    "admin:policy": "the role policy",
    "admin:agencies": "agencies",
    "admin:users:any": "the users of every agency",
    "admin:users:own": "the users of their own agency",
    "admin:grants": "break-the-glass grants",
    "*": "everything",
}


def _object_words(obj: str) -> str:
    if obj in OBJECT_WORDS:
        return OBJECT_WORDS[obj]
    if obj.startswith("record:"):
        return f"{obj.removeprefix('record:').replace('_', ' ')} records"
    return obj.replace(":", " ").replace("_", " ")


def describe(rule: Rule) -> str:
    """One sentence per rule, for the policy page: who, where, may or may not, what."""
    if rule["sub"].startswith("agency:") and rule["obj"].startswith("agreement_waiver:"):
        first, second = rule["sub"].removeprefix("agency:"), rule["obj"].split(":", 1)[1]
        waived = "share" if rule.get("eft", "allow") == "allow" else "do not share"
        return f"{first} and {second} {waived} without a data sharing agreement (waiver)."
    who = ROLE_WORDS.get(rule["sub"], rule["sub"])
    where = "in every agency" if rule["dom"] == "*" else f"of {rule['dom']}"
    may = "may not" if rule.get("eft", "allow") == "deny" else "may"
    act = ACTION_WORDS.get(rule["act"], rule["act"].replace("_", " "))
    return f"{who} {where} {may} {act} {_object_words(rule['obj'])}."
