"""What part of the access log a privacy officer oversees (issue 14, finding 6).

A privacy officer answers to their own agency: they oversee

* **their agency's workers' access**: every entry whose ``actor_agency`` is theirs, and
* **access to their agency's records**: the decisions about a client whose records their
  agency holds (``client.view``, ``client.view_check``, ``client.break_glass``), whoever
  asked. A source record counts once it exists, withdrawn or not: a withdrawal keeps the
  history the agency answers for. One exception: a 42 CFR Part 2 program's worker
  looking at a client tells who the program's patients are, so such an entry reaches
  another agency's officer only when it disclosed that agency's records to the program
  (a disclosure the agency must account for, made under a consent it stood behind).

unless an explicit policy rule ``p, privacy_officer, <agency>, scope:organisation, audit,
allow`` (the operator's compliance function) widens them to the whole organisation
(``permissions.has_organisation_scope(actor, "audit")``).

An entry in scope is still shown through the officer's agency's eyes (``redact``): an
entry by another agency's worker lists only the sections of the officer's agency's
records (the rest is the other agency's business), and an entry by one of their own
workers drops another agency's 42 CFR Part 2 sections that were not shown to that
worker (their mere listing would tell the officer that the person is a patient of the
program). Consent ids are kept only for consents that name the officer's agency (as a
source or a recipient, or "any"). Nothing marks an entry as redacted: a mark would itself
hint that something was hidden. The redacted entry no longer hashes to its leaf; the
bytes that do are the organisation-wide export's.

Nothing in an answer depends on entries outside the scope: pages are filled from entries
in scope only, counts are of them only.

One definition, used by the events search, the proofs, the accounting of disclosures,
the break-the-glass queue and the activity report, and so by their pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from caseops.access.models import BreakGlassGrant
from caseops.agencies.models import Agency
from caseops.audit.models import AccessEvent
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.registry.models import ConsentRecord
from caseops.vocabulary import PART2_CATEGORY

AREA = "audit"
# Decisions about a client's records: in scope of every agency holding a record of it.
ABOUT_RECORDS = ("client.view", "client.view_check", "client.break_glass")
# The lists and maps of "agency/category" keys a decision's entry carries.
SECTION_LISTS = ("requested", "disclosed", "shown")
SECTION_MAPS = ("reasons", "bases", "relationships", "referrals", "notes")
EVENTS = AccessEvent.__table__


def _agency_of(key: str) -> str:
    return key.split("/", 1)[0]


@dataclass(frozen=True)
class AuditScope:
    """``agency`` None: the whole organisation; else the officer's agency."""

    agency: str | None
    part2_agencies: frozenset[str] = field(default_factory=frozenset)

    @property
    def organisation(self) -> bool:
        return self.agency is None

    @property
    def label(self) -> str:
        """What the pages say the officer is looking at."""
        return "Organisation-wide" if self.organisation else f"Your agency: {self.agency}"

    def as_dict(self) -> dict[str, Any]:
        return {"organisation": self.organisation, "agency": self.agency}

    # --- which entries -------------------------------------------------------------------

    def holds(self, client_id) -> ColumnElement[bool]:
        """SQL condition: the client (``client_id``, a column) has a record (current or
        withdrawn) of the officer's agency. A correlated EXISTS, one index probe per
        candidate row: as ``client_id IN (every client the agency holds)`` under the OR
        of ``events_condition`` PostgreSQL hashed the agency's every record first — a
        scan of them all for one client's trail, 1.2 s at 500k clients
        (``bench/scale.py``) where the probe takes a fraction of a millisecond. The
        planner may still hash it when many rows are asked about."""
        return exists().where(
            SourceRecord.client_id == client_id,
            SourceRecord.agency_id == Agency.id,
            Agency.code == self.agency,
        )

    def events_condition(self, events=EVENTS) -> ColumnElement[bool]:
        """SQL condition on ``access_events`` columns: the entry is in scope."""
        if self.organisation:
            return true()
        return or_(
            events.c.actor_agency == self.agency,
            and_(events.c.action.in_(ABOUT_RECORDS), self.holds(events.c.client_id)),
        )

    def grants_condition(self) -> ColumnElement[bool]:
        """SQL condition on break-the-glass grants: by the agency's workers, or on a client
        whose records the agency holds."""
        if self.organisation:
            return true()
        if self.agency is None:  # pragma: no cover - organisation handled above
            return false()
        return or_(
            BreakGlassGrant.agency_code == self.agency,
            self.holds(BreakGlassGrant.client_id),
        )

    def admits(self, action: str, actor_agency: str | None, detail: Mapping | None) -> bool:
        """The refinement SQL cannot say (``events_condition`` holds already): a Part 2
        program's worker's decision about a client is another agency's business only if
        it disclosed that agency's records."""
        if self.organisation or actor_agency == self.agency:
            return True
        if actor_agency not in self.part2_agencies:
            return True
        detail = detail or {}
        shown = [*(detail.get("disclosed") or []), *(detail.get("shown") or [])]
        return any(isinstance(k, str) and _agency_of(k) == self.agency for k in shown)

    def admits_grant(self, grant_agency: str, events: Iterable[AccessEvent]) -> bool:
        """A grant in ``grants_condition``: the same refinement, over its entries."""
        if self.organisation or grant_agency == self.agency:
            return True
        if grant_agency not in self.part2_agencies:
            return True
        return any(self.admits(e.action, e.actor_agency, e.detail) for e in events)

    # --- what of an entry ----------------------------------------------------------------

    def _keeps(self, key: str, actor_agency: str | None, disclosed: set[str]) -> bool:
        agency = _agency_of(key)
        if agency == self.agency:
            return True
        if actor_agency != self.agency:
            return False
        part2 = agency in self.part2_agencies or key.endswith("/" + PART2_CATEGORY)
        return not part2 or key in disclosed

    def redact_detail(
        self, detail: Mapping[str, Any] | None, actor_agency: str | None, consents: set[str]
    ) -> dict[str, Any]:
        """``detail`` as the officer may read it (see the module doc); ``consents`` are the
        consent ids the officer may see (``visible_consents``)."""
        detail = dict(detail or {})
        if self.organisation:
            return detail
        disclosed = set(detail.get("disclosed") or [])

        def keep(key: Any) -> bool:
            return isinstance(key, str) and self._keeps(key, actor_agency, disclosed)

        for name in SECTION_LISTS:
            if isinstance(detail.get(name), list):
                detail[name] = [key for key in detail[name] if keep(key)]
        for name in SECTION_MAPS:
            if isinstance(detail.get(name), dict):
                detail[name] = {k: v for k, v in detail[name].items() if keep(k)}
        if isinstance(detail.get("consent_ids"), list):
            detail["consent_ids"] = [c for c in detail["consent_ids"] if str(c) in consents]
        return detail

    def visible_consents(self, details: Iterable[Mapping[str, Any] | None]) -> set[str]:
        """Of the consent ids the entries cite, those naming the officer's agency (as a
        source or recipient, or any agency); one query for a page of entries."""
        cited = {
            str(c) for d in details for c in (d or {}).get("consent_ids") or [] if c is not None
        }
        if self.organisation or not cited:
            return cited
        rows = db.session.execute(
            select(ConsentRecord.id, ConsentRecord.source_agencies, ConsentRecord.recipients).where(
                ConsentRecord.id.in_(sorted(cited))
            )
        )
        return {
            cid
            for cid, sources, recipients in rows
            if {self.agency, "*"} & (set(sources or []) | set(recipients or []))
        }

    def redact_entries(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Entries (dicts with ``detail`` and ``actor_agency``) as the officer may read them."""
        if self.organisation:
            return entries
        consents = self.visible_consents(e.get("detail") for e in entries)
        return [
            e | {"detail": self.redact_detail(e.get("detail"), e.get("actor_agency"), consents)}
            for e in entries
        ]


def scope_of(actor: Actor) -> AuditScope:
    """The part of the log ``actor`` oversees. The operator (CLI) and officers granted
    organisation-wide audit scope see everything."""
    if permissions.has_organisation_scope(actor, AREA):
        return AuditScope(None)
    part2 = frozenset(db.session.scalars(select(Agency.code).where(Agency.part2_program)))
    # An officer without an agency (never created so) oversees no agency's matters.
    return AuditScope(actor.agency or "", part2)
