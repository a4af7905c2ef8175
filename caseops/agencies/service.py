"""Agency administration (system administrators only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.audit.service import record
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
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


def directory() -> list[dict[str, object]]:
    """Codes, names and the Part 2 / FERPA flags of every agency: what a consent form
    needs to name sources and recipients. No people, no records."""
    return [
        {
            "code": a.code,
            "name": a.name,
            "part2_program": a.part2_program,
            "ferpa_institution": a.ferpa_institution,
        }
        for a in db.session.scalars(select(Agency).order_by(Agency.code))
    ]
