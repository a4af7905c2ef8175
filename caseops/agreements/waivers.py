"""Waivers of data sharing agreements, as Casbin policy rules (issue 22).

"Deployments that share under consent alone set a policy rule that waives the agreement for
named agency pairs." A waiver is an ordinary ``p`` rule, so it is managed, versioned and
logged through ``/api/v1/policies`` like every other, and every worker sees a change on its
next request (the policy version):

    p, agency:<a>, *, agreement_waiver:<b>, waive, allow

It names an unordered pair: either order waives {a, b} (migration 0020 writes the lower code
as the subject). ``agreement_waiver:*`` waives every partner of ``a``. A ``deny`` line for
one direction does not undo the other direction's allow: remove the allow to end a waiver.
"""

from __future__ import annotations

from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.extensions import db

SUBJECT = "agency:"
OBJECT = "agreement_waiver:"
ACTION = "waive"


def rule_for(a: str, b: str) -> dict[str, str]:
    """The waiver of the pair {a, b}, in its canonical order."""
    low, high = sorted((a, b))
    return {"sub": f"{SUBJECT}{low}", "dom": "*", "obj": f"{OBJECT}{high}", "act": ACTION}


def problems(rule: dict[str, str]) -> dict[str, list[str]]:
    """What is wrong with a waiver rule, per field (empty when it is acceptable)."""
    errors: dict[str, list[str]] = {}
    codes = set(db.session.scalars(select(Agency.code)))
    a = (rule.get("sub") or "").removeprefix(SUBJECT)
    obj = rule.get("obj") or ""
    b = obj.removeprefix(OBJECT)
    if a not in codes:
        errors["sub"] = [f"agency:<code> of a known agency (no agency {a!r})."]
    if not obj.startswith(OBJECT) or (b not in codes and b != "*"):
        errors["obj"] = ["agreement_waiver:<code> of a known agency, or agreement_waiver:*."]
    elif b == a:
        errors["obj"] = ["An agency needs no agreement with itself."]
    if rule.get("act") != ACTION:
        errors["act"] = [f"A waiver's action is {ACTION!r}."]
    if rule.get("dom") != "*":
        errors["dom"] = ["A waiver holds in every agency's decisions: '*'."]
    return errors


def waive_all_pairs() -> int:
    """Write the waiver of every pair of agencies that has none (what migration 0020 does on
    upgrade), bump the policy version once and commit: for worlds that model an upgraded
    installation (test worlds, benches). Returns how many waivers were written."""
    from caseops.authz import policy
    from caseops.authz.models import CasbinRule

    codes = sorted(db.session.scalars(select(Agency.code)))
    existing = {
        (row.v0, row.v2)
        for row in db.session.scalars(
            select(CasbinRule).where(CasbinRule.ptype == "p", CasbinRule.v3 == ACTION)
        )
    }
    added = 0
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            rule = rule_for(a, b)
            if (rule["sub"], rule["obj"]) not in existing:
                db.session.add(
                    CasbinRule(
                        ptype="p", v0=rule["sub"], v1="*", v2=rule["obj"], v3=ACTION, v4="allow"
                    )
                )
                added += 1
    if added:
        policy.bump_version(db.session)
        db.session.commit()
    return added
