"""Access codes and the client's own pages: issuing, revoking, listing, signing in, and
what a signed-in client may see and do.

Two kinds of caller. Consent officers (an ``Actor`` with roles) issue, list and revoke
codes for clients their agency serves. A client signed in with a code is a
``ClientPrincipal``: it names the client and the code, and its ``actor`` has no agency
and no roles, so it passes no staff permission anywhere, even if it reached a staff
service. Every page takes the client from the session, never from a URL.

Sign-in failures all raise the same ``PortalSignInFailed``: an unknown code, a wrong
secret, a wrong birth date, an expired, revoked or locked code and a locked address are
indistinguishable to the caller (and each costs one argon2 verification).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from caseops.agencies.models import Agency
from caseops.audit.service import record
from caseops.audit.statement import statement_for_client
from caseops.auth.passwords import hash_password, verify_password
from caseops.auth.service import lockout_delay
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.context import current_origin
from caseops.db_types import utcnow
from caseops.errors import Conflict, DomainError, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.portal import codes
from caseops.portal.models import ClientAccessCode, ClientPortalSession, PortalAddressFailure
from caseops.referrals.models import Referral, ReferralMove
from caseops.registry import service as registry

DENIED = "portal.denied"
GENERIC_SIGN_IN_MESSAGE = "That access code and birth date do not match. Check both and try again."
SESSION_ABSOLUTE = timedelta(hours=1)
TOUCH_GRANULARITY = timedelta(seconds=15)


class PortalSignInFailed(DomainError):
    status, code = 401, "sign_in_failed"

    def __init__(self) -> None:
        super().__init__(GENERIC_SIGN_IN_MESSAGE)


@dataclass(frozen=True)
class ClientPrincipal:
    """A client signed in on their own pages."""

    client_id: str
    code_id: str
    session_id: str

    @property
    def actor(self) -> Actor:
        """Who the log names: the client, through this code. No agency, no roles."""
        return Actor(username=f"client:{self.code_id}")


# --- consent officers: issue, list, revoke ------------------------------------------------


def _require_officer(actor: Actor, client_id: str | None, attempted: str) -> None:
    if permissions.may(actor, "consents", "manage"):
        return
    refuse(
        actor,
        DENIED,
        "Your role may not manage clients' access codes.",
        client_id=client_id,
        detail={"attempted": attempted},
    )


def _require_served(actor: Actor, client_id: str, attempted: str) -> None:
    """As for consents: an officer speaks for clients their agency serves."""
    if actor.is_operator or registry.serves(actor.agency or "", client_id, utcnow()):
        return
    refuse(
        actor,
        DENIED,
        "Your agency does not serve this client: it holds no record of them and no active "
        "consent names it as a recipient.",
        reason="not_served",
        client_id=client_id,
        detail={"attempted": attempted},
    )


def describe_code(row: ClientAccessCode, at: datetime | None = None) -> dict[str, Any]:
    """A code as consent officers see it: never its secret or hash."""
    at = at or utcnow()
    if row.revoked_at is not None:
        state = "revoked"
    elif row.expires_at <= at:
        state = "expired"
    elif row.locked_until is not None and row.locked_until > at:
        state = "locked"
    else:
        state = "active"
    return {
        "id": row.code_id,
        "client_id": row.client_id,
        "issued_by": row.issued_by,
        "issued_by_agency": row.issued_by_agency,
        "issued_at": row.issued_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "revoked_by": row.revoked_by,
        "last_used_at": row.last_used_at,
        "state": state,
    }


def issue_code(actor: Actor, client_id: str, expires_in_days: int | None = None) -> dict[str, Any]:
    """A new code for the client; its text exists only in this answer (shown once)."""
    permissions.load_client(actor, client_id)
    _require_officer(actor, client_id, "issue")
    _require_served(actor, client_id, "issue")
    try:
        lifetime = codes.lifetime(expires_in_days)
    except ValueError as error:
        raise ValidationFailed(
            "Invalid expiry.", details={"expires_in_days": [str(error)]}
        ) from error
    now = utcnow()
    parts = codes.new_code()
    while db.session.scalar(
        select(ClientAccessCode.id).where(ClientAccessCode.code_id == parts.code_id)
    ):
        parts = codes.new_code()  # pragma: no cover - 39 bits of public id collide rarely
    row = ClientAccessCode(
        code_id=parts.code_id,
        secret_hash=hash_password(parts.secret),
        client_id=client_id,
        issued_by=actor.username,
        issued_by_agency=actor.agency or "",
        issued_at=now,
        expires_at=now + lifetime,
        failed_attempts=0,
    )
    db.session.add(row)
    db.session.flush()
    record(
        "portal.code_issued",
        actor=actor,
        target_type="access_code",
        target_id=row.code_id,
        client_id=client_id,
        detail={"expires_at": row.expires_at.isoformat()},
        session=db.session,
    )
    db.session.commit()
    return describe_code(row, now) | {"code": parts.text}


def _officer_code(actor: Actor, code_id: str) -> ClientAccessCode:
    """A code of the officer's own agency about a client they may know of; any other id
    answers as an unknown one (a code issued elsewhere would tell that the client deals
    with that agency, a Part 2 program perhaps)."""
    row = db.session.scalar(select(ClientAccessCode).where(ClientAccessCode.code_id == code_id))
    if (
        row is None
        or not (actor.is_operator or row.issued_by_agency == actor.agency)
        or not permissions.knows_client(actor, row.client_id)
    ):
        raise NotFound(f"No access code {code_id!r}.")
    return row


def list_codes(actor: Actor, client_id: str) -> list[dict[str, Any]]:
    """The client's codes issued by the officer's agency (no secrets), newest first."""
    permissions.load_client(actor, client_id)
    _require_officer(actor, client_id, "list")
    query = select(ClientAccessCode).where(ClientAccessCode.client_id == client_id)
    if not actor.is_operator:
        query = query.where(ClientAccessCode.issued_by_agency == (actor.agency or ""))
    rows = list(db.session.scalars(query.order_by(ClientAccessCode.id.desc())))
    record(
        "portal.codes_listed",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        detail={"code_ids": [r.code_id for r in rows]},
    )
    now = utcnow()
    return [describe_code(r, now) for r in rows]


def revoke_code(actor: Actor, code_id: str) -> dict[str, Any]:
    """Revoke a code and end the sessions it opened, at once."""
    _require_officer(actor, None, "revoke")
    row = _officer_code(actor, code_id)
    if row.revoked_at is not None:
        raise Conflict("The access code is already revoked.", code="already_revoked")
    now = utcnow()
    row.revoked_at = now
    row.revoked_by = actor.username
    _end_sessions_of(row, now, "code_revoked")
    record(
        "portal.code_revoked",
        actor=actor,
        target_type="access_code",
        target_id=row.code_id,
        client_id=row.client_id,
        session=db.session,
    )
    db.session.commit()
    return describe_code(row, now)


def _end_sessions_of(row: ClientAccessCode, now: datetime, reason: str) -> None:
    for session in db.session.scalars(
        select(ClientPortalSession).where(
            ClientPortalSession.code_pk == row.id, ClientPortalSession.ended_at.is_(None)
        )
    ):
        session.ended_at = now
        session.end_reason = reason


# --- the client: signing in and out ---------------------------------------------------------


def _address() -> str:
    return (current_origin().ip or "unknown")[:64]


def _address_row(address: str) -> PortalAddressFailure | None:
    return db.session.get(PortalAddressFailure, address)


def _lock_if_due(row: Any, failures: int, now: datetime, who: Actor, **target: Any) -> None:
    """Lock a code or an address once its failures reach the staff sign-in threshold
    (``caseops.auth.service.lockout_delay``: the same doubling delay, capped), and log it."""
    delay = lockout_delay(failures)
    if delay is None:
        return
    row.locked_until = now + delay
    record(
        "portal.lockout",
        actor=who,
        outcome="denied",
        detail={"failures": failures, "locked_seconds": int(delay.total_seconds())},
        session=db.session,
        **target,
    )


def _fail(row: ClientAccessCode | None, reason: str, now: datetime) -> PortalSignInFailed:
    """Count the failure against the code (if one was named) and the address, lock either
    past the threshold, log it, commit; return the one error the caller raises."""
    address = _address()
    who = Actor.unauthenticated(f"client:{row.code_id}" if row is not None else None)
    counted = _address_row(address)
    if counted is None:
        try:  # two first failures from one address at once: the second finds the first's row
            with db.session.begin_nested():
                counted = PortalAddressFailure(address=address, failures=0, last_failure_at=now)
                db.session.add(counted)
        except IntegrityError:
            counted = _address_row(address)
            assert counted is not None
    # Counted in the database (failures + 1), so concurrent guesses are all counted.
    counted.failures = PortalAddressFailure.failures + 1
    counted.last_failure_at = now
    db.session.flush()
    _lock_if_due(counted, counted.failures, now, who, target_type="address", target_id=address)
    if row is not None and reason not in ("code_locked", "address_locked"):
        row.failed_attempts = ClientAccessCode.failed_attempts + 1
        db.session.flush()
        _lock_if_due(
            row,
            row.failed_attempts,
            now,
            who,
            target_type="access_code",
            target_id=row.code_id,
            client_id=row.client_id,
        )
    record(
        "portal.sign_in",
        actor=who,
        outcome="failure",
        target_type="access_code",
        target_id=row.code_id if row is not None else None,
        client_id=row.client_id if row is not None else None,
        detail={"reason": reason},
        session=db.session,
    )
    db.session.commit()
    return PortalSignInFailed()


def _session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(typed_code: str, birth_date: date, now: datetime | None = None) -> str:
    """Check the code and birth date; open a client session and return its cookie token.
    Any failure raises ``PortalSignInFailed`` (the same for every reason) after one
    argon2 verification."""
    now = now or utcnow()
    parts = codes.parse(typed_code or "")
    row = None
    if parts is not None:
        row = db.session.scalar(
            select(ClientAccessCode).where(ClientAccessCode.code_id == parts.code_id)
        )
    counted = _address_row(_address())
    if counted is not None and counted.locked_until is not None and counted.locked_until > now:
        verify_password(None, parts.secret if parts else "-")
        raise _fail(row, "address_locked", now)
    if row is None or parts is None:
        verify_password(None, parts.secret if parts else "-")
        raise _fail(None, "unknown_code" if parts else "malformed_code", now)
    if row.locked_until is not None and row.locked_until > now:
        verify_password(None, parts.secret)
        raise _fail(row, "code_locked", now)
    if not verify_password(row.secret_hash, parts.secret):
        raise _fail(row, "wrong_secret", now)
    if registry.client_birth_date(row.client_id) != birth_date:
        raise _fail(row, "wrong_birth_date", now)
    if row.revoked_at is not None:
        raise _fail(row, "revoked", now)
    if row.expires_at <= now:
        raise _fail(row, "expired", now)
    row.failed_attempts = 0
    row.locked_until = None
    row.last_used_at = now
    if counted is not None:
        counted.failures = 0
        counted.locked_until = None
    token = secrets.token_urlsafe(32)
    db.session.add(
        ClientPortalSession(
            id=_session_key(token),
            code_pk=row.id,
            client_id=row.client_id,
            created_at=now,
            last_seen_at=now,
        )
    )
    record(
        "portal.sign_in",
        actor=Actor(username=f"client:{row.code_id}"),
        target_type="access_code",
        target_id=row.code_id,
        client_id=row.client_id,
        session=db.session,
    )
    db.session.commit()
    return token


def resolve(token: str | None, now: datetime | None = None) -> ClientPrincipal | None:
    """The client behind a session cookie, or None if it ended, idled, outlived its
    maximum, or its code was revoked or expired meanwhile."""
    if not token:
        return None
    now = now or utcnow()
    session = db.session.get(ClientPortalSession, _session_key(token))
    if session is None or session.ended_at is not None:
        return None
    code = db.session.get(ClientAccessCode, session.code_pk)
    idle = timedelta(seconds=current_app.config["CASEOPS_IDLE_TIMEOUT"])
    ended = None
    if code is None or code.revoked_at is not None:
        ended = "code_revoked"
    elif code.expires_at <= now:
        ended = "code_expired"
    elif now - session.created_at > SESSION_ABSOLUTE:
        ended = "absolute_timeout"
    elif now - session.last_seen_at > idle:
        ended = "idle_timeout"
    if ended is not None:
        session.ended_at = now
        session.end_reason = ended
        db.session.commit()
        return None
    if now - session.last_seen_at > TOUCH_GRANULARITY:
        session.last_seen_at = now
        db.session.commit()
    assert code is not None
    return ClientPrincipal(client_id=session.client_id, code_id=code.code_id, session_id=session.id)


def sign_out(principal: ClientPrincipal) -> None:
    session = db.session.get(ClientPortalSession, principal.session_id)
    if session is None or session.ended_at is not None:
        return
    session.ended_at = utcnow()
    session.end_reason = "sign_out"
    record(
        "portal.sign_out",
        actor=principal.actor,
        target_type="access_code",
        target_id=principal.code_id,
        client_id=principal.client_id,
        session=db.session,
    )
    db.session.commit()


# --- the client: what they see -------------------------------------------------------------


def _logged_look(principal: ClientPrincipal, page: str, detail: dict[str, Any]) -> None:
    """The client's own look at their data is a disclosure too: logged before it is shown."""
    record(
        "portal.viewed",
        actor=principal.actor,
        target_type="client",
        target_id=principal.client_id,
        client_id=principal.client_id,
        detail={"page": page} | detail,
    )


def agency_names() -> dict[str, str]:
    return {code: name for code, name in db.session.execute(select(Agency.code, Agency.name))}


def accesses(principal: ClientPrincipal) -> dict[str, Any]:
    """Who accessed my record: the entries of my verifiable statement (the page lists
    exactly what the download proves), newest first; the look is logged first."""
    names = bool(current_app.config.get("CASEOPS_TRANSPARENCY_NAMES", False))
    found = statement_for_client(principal.client_id, names)
    entries = list(reversed(found.get("entries") or []))
    _logged_look(principal, "accesses", {"seqs": [e["seq"] for e in entries]})
    return {"entries": entries, "agencies": agency_names(), "names": names}


def statement(principal: ClientPrincipal, how: str) -> dict[str, Any]:
    """My verifiable access statement (``caseops.audit.statement``), logged before it is
    handed over; staff names only where the deployment turns them on."""
    names = bool(current_app.config.get("CASEOPS_TRANSPARENCY_NAMES", False))
    found = statement_for_client(principal.client_id, names)
    record(
        "portal.statement",
        actor=principal.actor,
        target_type="client",
        target_id=principal.client_id,
        client_id=principal.client_id,
        detail={"how": how, "entries": len(found.get("entries") or [])},
    )
    return found


def my_consents(principal: ClientPrincipal) -> dict[str, Any]:
    """My consents, newest first, each with its status now (the client sees all of theirs)."""
    data = registry.consents_of(principal.client_id)
    now = utcnow()
    described = [registry.describe(row, data, now) for row in data.rows]
    described.sort(key=lambda c: c["recorded_at"], reverse=True)
    _logged_look(principal, "consents", {"consent_ids": [c["id"] for c in described]})
    return {"consents": described, "agencies": agency_names()}


def revocable(described: dict[str, Any]) -> bool:
    """Only an active permit, the latest version and not revoked, may be revoked here."""
    return (
        described["provision"] == "permit"
        and described["status"] == "active"
        and described["superseded_by"] is None
        and described["revocation"] is None
    )


def consent_for_revocation(principal: ClientPrincipal, consent_id: str) -> dict[str, Any]:
    """One of my consents, for the confirmation page; any other id is unknown."""
    data = registry.consents_of(principal.client_id)
    row = next((r for r in data.rows if r.id == consent_id), None)
    if row is None:
        raise registry.consent_not_found(consent_id)
    return registry.describe(row, data, utcnow())


CLIENT_REVOCATION_REASON = "Revoked by the client on their own pages (access code {code})."


def revoke_my_consent(principal: ClientPrincipal, consent_id: str) -> Any:
    """The client withdraws a consent: effective on the next request everywhere, logged as
    the client's own electronic revocation, announced to the agencies it names."""
    described = consent_for_revocation(principal, consent_id)
    if not revocable(described):
        raise Conflict("This consent is not in force, so there is nothing to revoke.")
    return registry.revoke_by_client(
        principal.actor,
        principal.client_id,
        consent_id,
        CLIENT_REVOCATION_REASON.format(code=principal.code_id),
    )


def my_referrals(principal: ClientPrincipal) -> list[dict[str, Any]]:
    """My referrals: service, the two agencies, status now and dates; never notes, reasons
    or outcomes (those are the agencies' words)."""
    rows = list(
        db.session.scalars(
            select(Referral)
            .where(Referral.client_id == principal.client_id)
            .order_by(Referral.created_at.desc())
        )
    )
    found = []
    for referral in rows:
        moves = list(
            db.session.scalars(
                select(ReferralMove)
                .where(ReferralMove.referral_id == referral.id)
                .order_by(ReferralMove.seq)
            )
        )
        last = moves[-1] if moves else None
        found.append(
            {
                "id": referral.id,
                "service_code": referral.service_code,
                "from_agency": referral.from_agency,
                "to_agency": referral.to_agency,
                "created_at": referral.created_at,
                "status": last.to_status if last else "draft",
                "changed_at": last.at if last else referral.created_at,
            }
        )
    # A draft was never sent: it is the sending agency's work in progress, not a referral.
    found = [r for r in found if r["status"] != "draft"]
    _logged_look(principal, "referrals", {"referral_ids": [r["id"] for r in found]})
    return found
