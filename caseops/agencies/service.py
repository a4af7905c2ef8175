"""Agency administration (system administrators only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from caseops.agencies.models import AGENCY_FACTS, Agency, AgencyFactChange
from caseops.audit.service import record
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound
from caseops.extensions import db


def _require_agency_admin(actor: Actor) -> None:
    if not permissions.may(actor, "admin:agencies", "manage"):
        refuse(
            actor,
            "admin.agency_denied",
            "Only a system administrator may manage agencies.",
            target_type="agency",
        )


def list_agencies(actor: Actor) -> list[Agency]:
    _require_agency_admin(actor)
    return list(db.session.scalars(select(Agency).order_by(Agency.code)))


def get_agency(code: str) -> Agency:
    agency = db.session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise NotFound(f"No agency with code {code!r}.")
    return agency


def create_agency(actor: Actor, data: dict[str, Any]) -> Agency:
    _require_agency_admin(actor)
    if db.session.scalar(select(Agency.id).where(Agency.code == data["code"])) is not None:
        raise Conflict(
            f"An agency with code {data['code']!r} already exists.",
            details={"code": ["Already taken."]},
        )
    agency = Agency(**data)
    db.session.add(agency)
    db.session.flush()
    for fact in AGENCY_FACTS:
        if data.get(fact):
            _fact_change(actor, agency.code, fact, False, True, "set when the agency was created")
    record(
        "admin.agency_created",
        actor=actor,
        target_type="agency",
        target_id=agency.code,
        detail={"before": None, "after": data},
        session=db.session,
    )
    db.session.commit()
    return agency


# --- the facts 42 CFR Part 2 (2024) turns on ---------------------------------------------

FACT_READERS = frozenset({"consent_officer", "privacy_officer", "agency_admin"})


def _fact_change(
    actor: Actor, code: str, fact: str, before: bool, after: bool, reason: str
) -> AgencyFactChange:
    change = AgencyFactChange(
        agency_code=code,
        fact=fact,
        before=before,
        after=after,
        reason=reason,
        changed_by=actor.username,
        changed_at=utcnow(),
    )
    db.session.add(change)
    return change


def describe_change(change: AgencyFactChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "agency": change.agency_code,
        "fact": change.fact,
        "before": change.before,
        "after": change.after,
        "reason": change.reason,
        "changed_by": change.changed_by,
        "changed_at": change.changed_at,
    }


def set_facts(actor: Actor, code: str, data: dict[str, Any]) -> dict[str, Any]:
    """Set an agency's treating provider, covered entity and Part 2 program facts.

    System administrators only: an agency does not certify itself into another program's
    records. Each fact that changes is one append-only ``AgencyFactChange`` and the whole
    change one ``admin.agency_facts_changed`` entry, in one transaction; setting a fact to
    what it already is changes nothing and writes nothing but the answer.
    """
    _require_agency_admin(actor)
    agency = get_agency(code)
    reason = " ".join(str(data.get("reason") or "").split())
    changes = []
    for fact in AGENCY_FACTS:
        wanted = data.get(fact)
        before = bool(getattr(agency, fact))
        if wanted is None or bool(wanted) == before:
            continue
        setattr(agency, fact, bool(wanted))
        changes.append(_fact_change(actor, agency.code, fact, before, bool(wanted), reason))
    if changes:
        db.session.flush()
        record(
            "admin.agency_facts_changed",
            actor=actor,
            target_type="agency",
            target_id=agency.code,
            detail={
                "changes": [
                    {"fact": c.fact, "before": c.before, "after": c.after} for c in changes
                ],
                "reason": reason,
            },
            session=db.session,
        )
        db.session.commit()
    return facts_of(agency) | {"changes": [describe_change(c) for c in changes]}


def facts_of(agency: Agency) -> dict[str, Any]:
    return {
        "code": agency.code,
        "name": agency.name,
        **{fact: bool(getattr(agency, fact)) for fact in AGENCY_FACTS},
    }


def may_read_fact_changes(actor: Actor) -> bool:
    """System administrators, and the consent officers, privacy officers and
    administrators of a Part 2 program: the programs whose records the facts open."""
    if permissions.may(actor, "admin:agencies", "manage"):
        return True
    if not actor.agency or not (actor.roles & FACT_READERS):
        return False
    return bool(db.session.scalar(select(Agency.part2_program).where(Agency.code == actor.agency)))


def fact_changes(actor: Actor, limit: int = 200) -> dict[str, Any]:
    """Every agency's facts now and their changes, newest first (agency codes and these
    facts are not secret; no person but the administrator who changed them)."""
    if not may_read_fact_changes(actor):
        refuse(
            actor,
            "admin.agency_denied",
            "Only system administrators and the Part 2 programs' officers read the changes "
            "of agency facts.",
            target_type="agency",
        )
    rows = db.session.scalars(
        select(AgencyFactChange)
        .order_by(AgencyFactChange.changed_at.desc(), AgencyFactChange.id.desc())
        .limit(limit)
    )
    return {
        "agencies": [facts_of(a) for a in db.session.scalars(select(Agency).order_by(Agency.code))],
        "changes": [describe_change(c) for c in rows],
    }


def directory() -> list[dict[str, object]]:
    """Codes, names and the Part 2 / FERPA flags of every agency: what a consent form
    needs to name sources and recipients. No people, no records."""
    return [
        {
            "code": a.code,
            "name": a.name,
            "part2_program": a.part2_program,
            "ferpa_institution": a.ferpa_institution,
            "treating_provider": a.treating_provider,
            "covered_entity": a.covered_entity,
        }
        for a in db.session.scalars(select(Agency).order_by(Agency.code))
    ]
