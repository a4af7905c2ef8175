"""Policy administration (system administrators): the Casbin ``p`` rules in the database.

Every change is one transaction: the rule, a policy-version bump (so every worker reloads
on its next request) and the audit entry with the rule and the versions before and after.
Role grouping (``g``) lines are changed through the users API, not here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from caseops.audit.service import record as audit
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.authz.guard import require
from caseops.authz.models import CasbinRule
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.vocabulary import ADMIN_ROLES, ROLES

# Separation of duties: these roles are never granted anything on client records.
NO_RECORD_ACCESS = ADMIN_ROLES | {"privacy_officer"}
FIELDS = ("sub", "dom", "obj", "act", "eft")


def _require(actor: Actor) -> None:
    require(
        actor,
        "admin:policy",
        "manage",
        action="policy.denied",
        message="Only a system administrator may change the policy.",
    )


def list_rules(actor: Actor) -> dict[str, Any]:
    _require(actor)
    rows = db.session.scalars(
        select(CasbinRule).where(CasbinRule.ptype == "p").order_by(CasbinRule.id)
    )
    return {
        "version": policy.current_version(),
        "rules": [dict(zip(FIELDS, row.values(), strict=False)) for row in rows],
    }


def _validate(rule: dict[str, str]) -> list[str]:
    errors: dict[str, list[str]] = {}
    if rule["sub"] not in ROLES:
        errors["sub"] = [f"One of the roles: {', '.join(ROLES)}."]
    if rule["eft"] not in ("allow", "deny"):
        errors["eft"] = ["allow or deny."]
    for name, value in rule.items():
        if "," in value or not value.strip():
            errors.setdefault(name, []).append("Must be non-empty and contain no comma.")
    if (
        rule["obj"].startswith("record:")
        and rule["eft"] == "allow"
        and rule["sub"] in NO_RECORD_ACCESS
    ):
        errors.setdefault("sub", []).append(
            "Separation of duties: administrators and privacy officers get no access to "
            "client records."
        )
    if errors:
        raise ValidationFailed("The rule is not acceptable.", details=errors)
    return [rule[f] for f in FIELDS]


def _find(values: list[str]) -> CasbinRule | None:
    query = select(CasbinRule).where(CasbinRule.ptype == "p")
    for index, value in enumerate(values):
        query = query.where(getattr(CasbinRule, f"v{index}") == value)
    return db.session.scalar(query)


def add_rule(actor: Actor, rule: dict[str, str]) -> dict[str, Any]:
    _require(actor)
    values = _validate(rule)
    if _find(values) is not None:
        raise Conflict("The rule exists already.")
    before = policy.current_version()
    db.session.add(CasbinRule(ptype="p", **{f"v{i}": v for i, v in enumerate(values)}))
    after = policy.bump_version(db.session)
    audit(
        "policy.rule_added",
        actor=actor,
        target_type="policy_rule",
        target_id=",".join(values),
        detail={"before": None, "after": rule, "version_before": before, "version_after": after},
        session=db.session,
    )
    db.session.commit()
    return {"rule": rule, "version": after}


def remove_rule(actor: Actor, rule: dict[str, str]) -> dict[str, Any]:
    _require(actor)
    values = [rule[f] for f in FIELDS]
    row = _find(values)
    if row is None:
        raise NotFound("No such rule.")
    before = policy.current_version()
    db.session.delete(row)
    after = policy.bump_version(db.session)
    audit(
        "policy.rule_removed",
        actor=actor,
        target_type="policy_rule",
        target_id=",".join(values),
        detail={"before": rule, "after": None, "version_before": before, "version_after": after},
        session=db.session,
    )
    db.session.commit()
    return {"rule": rule, "version": after}
