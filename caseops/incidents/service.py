"""Incident response: open, contain, scope from the log, notify, close (issue 22).

Who. Privacy officers (the role policy's ``audit``: ``read`` to look, ``review`` to act)
handle incidents. An incident belongs to the agency of the officer who opened it and is
known to that agency's officers, to the officers of the agencies it names, and to
organisation-wide officers (``permissions.has_organisation_scope(actor, "audit")``); to
anybody else it answers exactly like an unknown id.

Contain. One action deactivates the named accounts (``User.active``, which every session
and token check reads on the next request), ends their sessions
(``auth.service.end_all_sessions``) and revokes their tokens and the named tokens. An
agency-scoped officer contains their own agency's accounts and tokens only; the rest are
listed as referred ("ask that agency's administrator"), without saying whether such an
account exists. Reversal (reactivating the accounts the containment deactivated) is an
administrator's act with a reason: an administrator who manages the accounts' agency
(``permissions.may_manage_users_of``); revoked tokens stay revoked and ended sessions
stay ended (new ones are issued as usual).

Every step is a row of ``incident_steps`` (append-only) and an access-log entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.audit.canonical import iso_utc
from caseops.audit.scope import AuditScope, scope_of
from caseops.audit.service import record
from caseops.auth import service as auth_service
from caseops.auth.models import ApiToken
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.incidents import notices
from caseops.incidents import scope as log_scope
from caseops.incidents.models import Incident, IncidentStep
from caseops.users.models import User

REFERRED = "that agency's administrator (or an organisation-wide privacy officer)"
CONTAINED_REASON = "incident"
MAX_ID = 2**31 - 1


def not_found(incident_id: int) -> NotFound:
    return NotFound(f"No incident {incident_id}.")


def _authorize(actor: Actor, act: str, operation: str) -> AuditScope:
    if not permissions.may(actor, "audit", act):
        refuse(
            actor,
            "incident.denied",
            "Only a privacy officer may handle incidents.",
            target_type="incident",
            detail={"operation": operation},
        )
    return scope_of(actor)


def knows(scope: AuditScope, incident: Incident) -> bool:
    """The officer's agency opened it or is named by it, or the officer is organisation-wide."""
    if scope.organisation:
        return True
    return bool(scope.agency) and (
        incident.owner_agency == scope.agency or scope.agency in (incident.agencies or [])
    )


def _load(actor: Actor, incident_id: int, act: str, operation: str) -> tuple[Incident, AuditScope]:
    scope = _authorize(actor, act, operation)
    incident = db.session.get(Incident, incident_id) if incident_id <= MAX_ID else None
    if incident is None or not knows(scope, incident):
        raise not_found(incident_id)
    return incident, scope


def _steps(incident: Incident) -> list[IncidentStep]:
    return list(
        db.session.scalars(
            select(IncidentStep)
            .where(IncidentStep.incident_id == incident.id)
            .order_by(IncidentStep.id)
        )
    )


def _step_dict(step: IncidentStep) -> dict[str, Any]:
    detail = dict(step.detail or {})
    if isinstance(detail.get("notifications"), list):
        # the records themselves are read through ``notifications`` (filtered by scope)
        detail["notifications"] = len(detail["notifications"])
    return {
        "id": step.id,
        "step": step.step,
        "actor": step.actor,
        "actor_agency": step.actor_agency,
        "at": iso_utc(step.at),
        "reason": step.reason,
        "detail": detail,
        "access_event_seq": step.access_event_seq,
    }


def _status(steps: list[IncidentStep]) -> str:
    names = [s.step for s in steps]
    if "closed" in names:
        return "closed"
    if "notified" in names:
        return "notified"
    if "contained" in names:
        last = max(i for i, n in enumerate(names) if n in ("contained", "containment_reversed"))
        return "contained" if names[last] == "contained" else "containment_reversed"
    return "open"


def describe(incident: Incident, steps: list[IncidentStep] | None = None) -> dict[str, Any]:
    steps = _steps(incident) if steps is None else steps
    return {
        "id": incident.id,
        "kind": incident.kind,
        "summary": incident.summary,
        "owner_agency": incident.owner_agency,
        "opened_by": incident.opened_by,
        "opened_at": iso_utc(incident.opened_at),
        "discovered_at": iso_utc(incident.discovered_at),
        "window_start": iso_utc(incident.window_start),
        "window_end": iso_utc(incident.window_end),
        "accounts": list(incident.accounts or []),
        "token_ids": list(incident.token_ids or []),
        "agencies": list(incident.agencies or []),
        "status": _status(steps),
        "notification_deadline": notices.deadline(incident.discovered_at),
        "steps": [_step_dict(s) for s in steps],
    }


def _add_step(
    actor: Actor,
    incident: Incident,
    step: str,
    action: str,
    *,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    log_detail: dict[str, Any] | None = None,
) -> IncidentStep:
    """Log the step and add its row, in the caller's transaction."""
    logged = dict(detail or {}) if log_detail is None else log_detail
    if reason:
        logged["reason"] = reason
    event = record(
        action,
        actor=actor,
        target_type="incident",
        target_id=str(incident.id),
        detail=logged,
        session=db.session,
    )
    row = IncidentStep(
        incident_id=incident.id,
        step=step,
        actor=actor.username,
        actor_agency=actor.agency,
        at=utcnow(),
        reason=reason,
        detail=detail or {},
        access_event_seq=event.seq,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _closed(incident: Incident) -> None:
    if any(s.step == "closed" for s in _steps(incident)):
        raise Conflict(f"Incident {incident.id} is closed.", code="closed")


# --- open, read ----------------------------------------------------------------------------


def open_incident(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    _authorize(actor, "review", "open")
    start, end = data["window_start"], data["window_end"]
    if start >= end:
        raise ValidationFailed(
            "The time window is empty.",
            details={"window_end": ["Must be after window_start."]},
        )
    now = utcnow()
    discovered = data.get("discovered_at") or now
    if discovered > now:
        raise ValidationFailed(
            "Discovery cannot be in the future.",
            details={"discovered_at": ["Must not be in the future."]},
        )
    agencies = sorted(set(data.get("agencies") or []) | ({actor.agency} if actor.agency else set()))
    incident = Incident(
        kind=data["kind"],
        summary=data["summary"],
        owner_agency=actor.agency,
        opened_by=actor.username,
        opened_at=now,
        discovered_at=discovered,
        window_start=start,
        window_end=end,
        accounts=sorted({a.lower() for a in data.get("accounts") or []}),
        token_ids=sorted(set(data.get("token_ids") or [])),
        agencies=agencies,
    )
    db.session.add(incident)
    db.session.flush()
    _add_step(
        actor,
        incident,
        "opened",
        "incident.opened",
        detail={
            "kind": incident.kind,
            "accounts": incident.accounts,
            "token_ids": incident.token_ids,
            "agencies": incident.agencies,
            "window_start": iso_utc(start),
            "window_end": iso_utc(end),
        },
    )
    db.session.commit()
    return describe(incident)


def list_incidents(actor: Actor) -> list[dict[str, Any]]:
    scope = _authorize(actor, "read", "list")
    found = db.session.scalars(select(Incident).order_by(Incident.id.desc()))
    return [describe(i) for i in found if knows(scope, i)]


def get_incident(actor: Actor, incident_id: int) -> dict[str, Any]:
    incident, _ = _load(actor, incident_id, "read", "view")
    return describe(incident)


# --- contain ---------------------------------------------------------------------------------


def _own(scope: AuditScope, agency: str) -> bool:
    return scope.organisation or agency == scope.agency


def _revoke(actor: Actor, token: ApiToken, now: datetime) -> bool:
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    token.revoked_by = actor.username
    return True


def contain(actor: Actor, incident_id: int, reason: str) -> dict[str, Any]:
    """Deactivate the named accounts, end their sessions, revoke their tokens and the named
    tokens: those the officer may contain; the rest are referred."""
    incident, scope = _load(actor, incident_id, "review", "contain")
    _closed(incident)
    now = utcnow()
    accounts, tokens, referred = [], [], []
    for username in incident.accounts or []:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None or not _own(scope, user.agency.code):
            referred.append({"account": username, "ask": REFERRED})
            continue
        was_active = user.active
        user.active = False
        ended = auth_service.end_all_sessions(user, CONTAINED_REASON, now)
        revoked = [
            t.id
            for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id))
            if _revoke(actor, t, now)
        ]
        accounts.append(
            {
                "account": username,
                "agency": user.agency.code,
                "was_active": was_active,
                "sessions_ended": ended,
                "tokens_revoked": revoked,
            }
        )
    for token_id in incident.token_ids or []:
        token = db.session.get(ApiToken, token_id)
        if token is None or not _own(scope, token.user.agency.code):
            referred.append({"token_id": token_id, "ask": REFERRED})
            continue
        tokens.append({"token_id": token_id, "revoked": _revoke(actor, token, now)})
    detail = {"accounts": accounts, "tokens": tokens, "referred": referred}
    step = _add_step(
        actor, incident, "contained", "incident.contained", reason=reason, detail=detail
    )
    db.session.commit()
    if referred:
        record(
            "incident.contained",
            actor=actor,
            outcome="denied",
            target_type="incident",
            target_id=str(incident.id),
            detail={"reason": "other_agency", "referred": referred},
        )
    return {"incident_id": incident.id, "step": _step_dict(step)} | detail


def _is_admin(actor: Actor) -> bool:
    return actor.is_operator or any(
        permissions.may(actor, obj, "manage") for obj in ("admin:users:any", "admin:users:own")
    )


def reverse_containment(actor: Actor, incident_id: int, reason: str) -> dict[str, Any]:
    """Reactivate the accounts a containment deactivated (those the administrator manages)."""
    if not _is_admin(actor):
        refuse(
            actor,
            "incident.containment_reversed",
            "Only an administrator may reverse a containment.",
            target_type="incident",
            target_id=str(incident_id),
        )
    incident = db.session.get(Incident, incident_id) if incident_id <= MAX_ID else None
    steps = _steps(incident) if incident is not None else []
    deactivated: dict[str, str] = {}
    for step in steps:
        for item in (step.detail or {}).get("accounts") or []:
            if step.step == "contained" and item.get("was_active"):
                deactivated[item["account"]] = item["agency"]
            elif step.step == "containment_reversed":
                deactivated.pop(item["account"], None)
    mine = {a: ag for a, ag in deactivated.items() if permissions.may_manage_users_of(actor, ag)}
    managed_any = any(
        permissions.may_manage_users_of(actor, item["agency"])
        for step in steps
        if step.step == "contained"
        for item in (step.detail or {}).get("accounts") or []
    )
    if incident is None or not managed_any:
        raise not_found(incident_id)
    if not mine:
        raise Conflict("Nothing of this containment is left for you to reverse.", code="nothing")
    restored = []
    for username in sorted(mine):
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            user.active = True
            restored.append({"account": username, "agency": mine[username]})
    detail = {
        "accounts": restored,
        "note": "Revoked tokens stay revoked and ended sessions stay ended.",
    }
    step = _add_step(
        actor,
        incident,
        "containment_reversed",
        "incident.containment_reversed",
        reason=reason,
        detail=detail,
    )
    db.session.commit()
    return {"incident_id": incident.id, "step": _step_dict(step)} | detail


# --- scope, notify, close ----------------------------------------------------------------


def _compute(incident: Incident, scope: AuditScope) -> dict[str, Any]:
    return log_scope.compute(
        scope,
        incident.accounts or [],
        incident.token_ids or [],
        incident.window_start,
        incident.window_end,
    )


def compute_scope(actor: Actor, incident_id: int) -> dict[str, Any]:
    """The affected clients from the log (``caseops.incidents.scope``); logged as a step."""
    incident, scope = _load(actor, incident_id, "read", "scope")
    result = _compute(incident, scope)
    checkpoint = result["checkpoint"]
    _add_step(
        actor,
        incident,
        "scoped",
        "incident.scoped",
        detail={
            "scope": scope.as_dict(),
            "tree_size": checkpoint["tree_size"] if checkpoint else None,
        },
    )
    db.session.commit()
    return {"incident_id": incident.id} | result


def _being_done(steps: list[IncidentStep]) -> str:
    done = ["We are investigating what happened using our verified access log."]
    if any(s.step == "contained" for s in steps):
        done.append(
            "The accounts involved were locked, their sign-ins ended and their access "
            "tokens revoked."
        )
    done.append("We are reviewing access rules and training to prevent this from happening again.")
    return " ".join(done)


def _visible(scope: AuditScope, item: dict[str, Any]) -> bool:
    return (
        scope.organisation
        or item.get("source_agency") == scope.agency
        or scope.agency in (item.get("recipient_agencies") or [])
    )


def notify(actor: Actor, incident_id: int) -> dict[str, Any]:
    """Record one notification per affected client x source agency (164.404(c))."""
    incident, scope = _load(actor, incident_id, "review", "notify")
    _closed(incident)
    result = _compute(incident, scope)
    rows = db.session.execute(select(Agency.code, Agency.name, Agency.part2_program))
    agencies = {code: (name, bool(part2)) for code, name, part2 in rows}
    records = notices.build(
        incident, result["affected_clients"], agencies, _being_done(_steps(incident))
    )
    checkpoint = result["checkpoint"]
    _add_step(
        actor,
        incident,
        "notified",
        "incident.notified",
        detail={
            "notifications": records,
            "tree_size": checkpoint["tree_size"] if checkpoint else None,
            "deadline": notices.deadline(incident.discovered_at),
        },
        log_detail={
            "notifications": len(records),
            "clients": sorted({r["client_id"] for r in records}),
            "tree_size": checkpoint["tree_size"] if checkpoint else None,
        },
    )
    db.session.commit()
    return {"incident_id": incident.id, "items": records}


def notifications(actor: Actor, incident_id: int) -> dict[str, Any]:
    """The notification records of the newest notify step the officer may see."""
    incident, scope = _load(actor, incident_id, "read", "notifications")
    steps = [s for s in _steps(incident) if s.step == "notified"]
    items = (steps[-1].detail or {}).get("notifications") or [] if steps else []
    return {
        "incident_id": incident.id,
        "kind": incident.kind,
        "deadline": notices.deadline(incident.discovered_at),
        "items": [i for i in items if _visible(scope, i)],
    }


def close(actor: Actor, incident_id: int, reason: str) -> dict[str, Any]:
    incident, _ = _load(actor, incident_id, "review", "close")
    _closed(incident)
    _add_step(actor, incident, "closed", "incident.closed", reason=reason)
    db.session.commit()
    return describe(incident)


def timeline(actor: Actor, incident_id: int) -> dict[str, Any]:
    """Every step: who, when, why; exportable as JSON or CSV."""
    incident, _ = _load(actor, incident_id, "read", "timeline")
    steps = _steps(incident)
    return {
        "incident_id": incident.id,
        "status": _status(steps),
        "items": [_step_dict(s) for s in steps],
    }
