"""Policy administration (system administrators): the Casbin ``p`` rules in the database.

Every change is one transaction: the rules, a policy-version bump (so every worker reloads
on its next request) and one audit entry per rule with the rule and the versions before
and after. Role grouping (``g``) lines are changed through the users API, not here.

Before a change that can affect what a worker is shown of a client record is saved, its
impact is assessed (issue 19, item 6): the views logged in the last 30 days are replayed
under today's policy and under the policy with the change
(``caseops.simulation.service.policy_impact``, counts only, organisation-wide). A change
that newly shows anything is refused with ``ConfirmationRequired`` (409
``confirmation_required``, the counts and a confirmation token) unless the request
carries that token and a reason: the token is signed and bound to this person, this
change, this policy version and these very counts, so a confirmation cannot be given
blindly in advance, and one given for another impact (new views logged meanwhile, the
policy changed, another draft) does not pass. The confirmation is written into the
change's own log entries (``confirmed_disclosure``). A change that only withholds more
needs none.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select, update

from caseops.agreements import waivers
from caseops.audit.service import record as audit
from caseops.authz import disclosure, policy
from caseops.authz.actor import Actor
from caseops.authz.guard import require
from caseops.authz.models import CasbinRule, PolicyVersion
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.vocabulary import ADMIN_ROLES, ROLES

# Separation of duties: these roles are never granted anything on client records.
NO_RECORD_ACCESS = ADMIN_ROLES | {"privacy_officer"}
FIELDS = ("sub", "dom", "obj", "act", "eft")
# A confirmation is for the impact someone just looked at, not for one of last week.
CONFIRMATION_MAX_AGE = 30 * 60
_CONFIRMATION_SALT = "caseops.policy.confirm-disclosure"
MIN_REASON = 5


class ConfirmationRequired(Conflict):
    """The change newly shows sections of client records; it needs an explicit confirmation
    bound to this impact. ``details`` carries the counts and the token (the error shape
    of every caseops answer); ``impact`` and ``token`` are there for the pages."""

    code = "confirmation_required"

    def __init__(self, message: str, *, impact: dict[str, Any], token: str, stale: bool):
        self.impact = impact
        self.token = token
        self.stale = stale
        super().__init__(message, details=_confirmation_details(message, impact, token))


@dataclass(frozen=True)
class Confirmation:
    """What the person sent back: the token of the impact they saw, and why."""

    token: str
    reason: str


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


def rule_problems(rule: dict[str, str]) -> dict[str, list[str]]:
    """What makes a rule unacceptable, by field (empty: acceptable)."""
    errors: dict[str, list[str]] = {}
    if (rule.get("sub") or "").startswith(waivers.SUBJECT):
        errors = waivers.problems(rule)  # a waiver of agreements (docs/agreements.md)
    elif rule.get("sub") not in ROLES:
        errors["sub"] = [f"One of the roles: {', '.join(ROLES)}, or agency:<code> (a waiver)."]
    if rule.get("eft") not in ("allow", "deny"):
        errors["eft"] = ["allow or deny."]
    for name in FIELDS:
        value = rule.get(name) or ""
        if "," in value or not value.strip():
            errors.setdefault(name, []).append("Must be non-empty and contain no comma.")
    if (
        (rule.get("obj") or "").startswith("record:")
        and rule.get("eft") == "allow"
        and rule.get("sub") in NO_RECORD_ACCESS
    ):
        errors.setdefault("sub", []).append(
            "Separation of duties: administrators and privacy officers get no access to "
            "client records."
        )
    return errors


def _validate(rule: dict[str, str]) -> list[str]:
    errors = rule_problems(rule)
    if errors:
        raise ValidationFailed("The rule is not acceptable.", details=errors)
    return [rule[f] for f in FIELDS]


def _find(values: list[str]) -> CasbinRule | None:
    query = select(CasbinRule).where(CasbinRule.ptype == "p")
    for index, value in enumerate(values):
        query = query.where(getattr(CasbinRule, f"v{index}") == value)
    return db.session.scalar(query)


def add_rule(
    actor: Actor, rule: dict[str, str], confirmation: Confirmation | None = None
) -> dict[str, Any]:
    """Add one rule (``POST /api/v1/policies``)."""
    _require(actor)
    _validate(rule)
    return _single(change_rules(actor, add=[rule], remove=[], confirmation=confirmation), rule)


def remove_rule(
    actor: Actor, rule: dict[str, str], confirmation: Confirmation | None = None
) -> dict[str, Any]:
    """Remove one rule (``DELETE /api/v1/policies``): removing a deny can disclose too."""
    _require(actor)
    if _find([rule[f] for f in FIELDS]) is None:
        raise NotFound("No such rule.")
    return _single(change_rules(actor, add=[], remove=[rule], confirmation=confirmation), rule)


def _single(change: dict[str, Any], rule: dict[str, str]) -> dict[str, Any]:
    return {
        "rule": rule,
        "version": change["version"],
        "impact": change["impact"],
        "confirmed_disclosure": change["confirmed_disclosure"],
    }


def _check_draft(add: list[dict[str, str]], remove: list[dict[str, str]]) -> None:
    """Every addition acceptable and new, every removal there, each rule named once: all
    checked before anything is assessed or written. (A removal is not held to today's
    rules of acceptance: any stored rule can be removed.)"""
    errors: dict[str, list[str]] = {}
    seen: set[tuple[str, ...]] = set()
    for kind, rules in (("add", add), ("remove", remove)):
        for index, rule in enumerate(rules):
            prefix = f"{kind}.{index}"
            for name, reasons in (rule_problems(rule) if kind == "add" else {}).items():
                errors[f"{prefix}.{name}"] = reasons
            key = disclosure.rule_key(rule)
            if key in seen:
                errors.setdefault(prefix, []).append("The draft names this rule twice.")
            seen.add(key)
    if errors:
        raise ValidationFailed("The change is not acceptable.", details=errors)
    if not add and not remove:
        raise ValidationFailed("The change is empty.", details={"add": ["Nothing to change."]})
    for rule in add:
        if _find([rule[f] for f in FIELDS]) is not None:
            raise Conflict(f"The rule exists already: {disclosure.describe(rule)}")
    for rule in remove:
        if _find([rule[f] for f in FIELDS]) is None:
            raise NotFound(f"No such rule: {disclosure.describe(rule)}")


def assess(actor: Actor, add: list[dict[str, str]], remove: list[dict[str, str]]) -> dict[str, Any]:
    """The impact the guard weighs (counts only, the whole organisation's logged views),
    or ``{"assessed": False}`` when no rule of the change can decide a record section."""
    if not any(disclosure.touches_records(r) for r in [*add, *remove]):
        return {"assessed": False}
    from caseops.simulation.service import policy_impact  # simulation sits above authz

    answer = policy_impact(actor, add, remove, None, counts_only=True)
    return {
        "assessed": True,
        "since": answer["since"].isoformat(),
        "views_replayed": answer["views_replayed"],
        "truncated": answer["truncated"],
        "newly_shown": answer["newly_shown"],
        "newly_withheld": answer["newly_withheld"],
    }


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_CONFIRMATION_SALT)


def _digest(actor: Actor, version: int, add, remove, impact: dict[str, Any]) -> str:
    return disclosure.impact_digest(actor.username, version, add, remove, impact["newly_shown"])


def _confirmed(confirmation: Confirmation | None, digest: str) -> bool:
    if confirmation is None:
        return False
    try:
        signed = _serializer().loads(confirmation.token, max_age=CONFIRMATION_MAX_AGE)
    except BadSignature:  # altered, forged or expired (SignatureExpired is a BadSignature)
        return False
    return isinstance(signed, str) and hmac.compare_digest(signed, digest)


def _confirmation_details(message: str, impact: dict[str, Any], token: str) -> dict[str, list]:
    return {
        "confirm_disclosure": [message],
        "confirmation_token": [token],
        "newly_shown": disclosure.cell_lines(impact["newly_shown"]),
        "newly_withheld": disclosure.cell_lines(impact["newly_withheld"]),
        "since": [impact["since"]],
        "views_replayed": [str(impact["views_replayed"])],
    }


def _refuse_unconfirmed(
    actor: Actor,
    add: list[dict[str, str]],
    remove: list[dict[str, str]],
    impact: dict[str, Any],
    digest: str,
    stale: bool,
) -> NoReturn:
    shown = disclosure.total(impact["newly_shown"])
    if stale:
        message = (
            f"The confirmation does not match what this change would do now (it newly shows "
            f"{shown} section(s) of client records; the confirmation was for another impact, "
            "another change, or has expired). Review the counts and confirm again."
        )
    else:
        message = (
            f"This change newly shows {shown} section(s) of client records that were withheld "
            f"in the views logged since {impact['since'][:10]}. It is saved only when "
            "confirmed: send `confirm_disclosure` set to `confirmation_token`, with a `reason`."
        )
    audit(
        "policy.denied",
        actor=actor,
        outcome="denied",
        target_type="policy",
        target_id=str(policy.current_version()),
        detail={
            "reason": "confirmation_stale" if stale else "confirmation_required",
            "add": add,
            "remove": remove,
            "newly_shown": impact["newly_shown"],
            "since": impact["since"],
        },
    )
    token = _serializer().dumps(digest)
    raise ConfirmationRequired(message, impact=impact, token=token, stale=stale)


def _bump_from(version: int) -> int:
    """The next version, only if no one changed the policy since it was assessed at
    ``version`` (else the assessment, and any confirmation of it, describe another policy)."""
    result = db.session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == 1, PolicyVersion.version == version)
        .values(version=version + 1, changed_at=utcnow())
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict(
            "The policy changed while this change was being assessed; assess it again.",
            code="policy_changed",
        )
    return version + 1


def _normalised(rules: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{f: r.get(f) or ("allow" if f == "eft" else "") for f in FIELDS} for r in rules]


def preview(
    actor: Actor, add: list[dict[str, str]], remove: list[dict[str, str]]
) -> dict[str, Any]:
    """The policy page's "Preview impact" for a system administrator: the very assessment
    ``change_rules`` will weigh, and, when the draft newly shows anything, the token that
    confirms this impact (logged as an impact run; nothing is saved)."""
    _require(actor)
    add, remove = _normalised(add), _normalised(remove)
    _check_draft(add, remove)
    version = policy.current_version()
    impact = assess(actor, add, remove)
    token = None
    if impact["assessed"] and disclosure.total(impact["newly_shown"]) > 0:
        token = _serializer().dumps(_digest(actor, version, add, remove, impact))
    return impact | {"confirmation_token": token}


def change_rules(
    actor: Actor,
    add: list[dict[str, str]],
    remove: list[dict[str, str]],
    confirmation: Confirmation | None = None,
) -> dict[str, Any]:
    """Remove and add rules in one transaction, after weighing what the change would newly
    show. Returns the new version, the impact and the confirmation recorded (or None)."""
    _require(actor)
    add, remove = _normalised(add), _normalised(remove)
    _check_draft(add, remove)
    if confirmation is not None and len(confirmation.reason.strip()) < MIN_REASON:
        raise ValidationFailed(
            "A confirmation needs a reason.",
            details={"reason": [f"Say why, in {MIN_REASON} characters or more."]},
        )
    before = policy.current_version()
    impact = assess(actor, add, remove)
    confirmed: dict[str, Any] | None = None
    if impact["assessed"] and disclosure.total(impact["newly_shown"]) > 0:
        digest = _digest(actor, before, add, remove, impact)
        if not _confirmed(confirmation, digest):
            _refuse_unconfirmed(actor, add, remove, impact, digest, stale=confirmation is not None)
        assert confirmation is not None  # _confirmed() is False without one
        confirmed = {
            "newly_shown": impact["newly_shown"],
            "total": disclosure.total(impact["newly_shown"]),
            "since": impact["since"],
            "views_replayed": impact["views_replayed"],
            "reason": confirmation.reason.strip(),
            "digest": digest,
        }
    for rule in remove:
        row = _find([rule[f] for f in FIELDS])
        if row is not None:
            db.session.delete(row)
    for rule in add:
        values = [rule[f] for f in FIELDS]
        db.session.add(CasbinRule(ptype="p", **{f"v{i}": v for i, v in enumerate(values)}))
    after = _bump_from(before) if impact["assessed"] else policy.bump_version(db.session)
    for action, rules in (("policy.rule_removed", remove), ("policy.rule_added", add)):
        for rule in rules:
            detail: dict[str, Any] = {
                "before": rule if action == "policy.rule_removed" else None,
                "after": rule if action == "policy.rule_added" else None,
                "version_before": before,
                "version_after": after,
                "change": {"add": add, "remove": remove},
                "impact": impact,
            }
            if confirmed is not None:
                detail["confirmed_disclosure"] = confirmed
            audit(
                action,
                actor=actor,
                target_type="policy_rule",
                target_id=",".join(rule[f] for f in FIELDS),
                detail=detail,
                session=db.session,
            )
    db.session.commit()
    return {"version": after, "impact": impact, "confirmed_disclosure": confirmed}
