"""Data sharing agreements: the agencies' side of every cross-agency disclosure.

A client's consent says what *the client* allows; an agreement (MOU, data use licence) says
what *the agencies* have signed up to share with each other. A section of source agency S
reaches a worker of agency A (S != A) only while an agreement covering (S, A, category,
purpose) is in force at the decision's instant, or the deployment waives agreements for the
pair {S, A} (a Casbin rule, ``docs/agreements.md``), on top of consent and the role policy.

An agreement is in force from the later of its period's start and the last party's
acceptance until the earliest of its period's end, its termination, and the moment an
amendment superseding it was accepted by all its parties. Everything is derived from
append-only facts (rows), never stored, so a termination counts from its instant.

Trust clauses ("S accepts consents recorded by partner P for categories C") are how an
agency stands behind a partner's consents (``consent.trust``): ``Agreements.trust_rules``
turns the clauses of agreements into the ``TrustRule`` values the consent decision reads,
in force exactly while their agreement is. Never for substance use (42 CFR Part 2).

Pure (no Flask, no database): values in, answers out. The empty default (no agreement, no
waiver) is the safe one: every cross-agency flow needs an agreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType

from consent.model import ANY, SUBSTANCE_USE, require_aware
from consent.trust import TrustRule

WAIVED = "waived"
"""The basis named for a cross-agency flow allowed by a waiver instead of an agreement."""


class AgreementStatus(StrEnum):
    PENDING = "pending"  # not every party has accepted yet
    SCHEDULED = "scheduled"  # accepted, its period has not started
    ACTIVE = "active"
    EXPIRED = "expired"  # its period ended
    TERMINATED = "terminated"
    SUPERSEDED = "superseded"  # an amendment accepted by every party replaced it


def day_start(day: date) -> datetime:
    """00:00 UTC on ``day``: periods are dates, decisions instants."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def period_end(ends_on: date | None) -> datetime | None:
    """An agreement is in force through its termination date (to 24:00 UTC that day)."""
    return None if ends_on is None else day_start(ends_on) + timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareClause:
    """Parties share records of ``categories`` with each other for ``purposes``."""

    categories: frozenset[str]
    purposes: frozenset[str]

    def covers(self, category: str, purpose: str) -> bool:
        return (ANY in self.categories or category in self.categories) and (
            ANY in self.purposes or purpose in self.purposes
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustClause:
    """``agency`` accepts consents recorded by ``partner`` for ``categories`` (named codes,
    never substance use: ``TrustRule.accepts`` refuses those whatever is stored)."""

    agency: str
    partner: str
    categories: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """One version of an agreement, as its rows say. ``acceptances``: party -> instant."""

    id: str
    parties: frozenset[str]
    starts_at: datetime
    ends_at: datetime | None = None
    share: tuple[ShareClause, ...] = ()
    trust: tuple[TrustClause, ...] = ()
    acceptances: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))
    terminated_at: datetime | None = None
    supersedes: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "parties", frozenset(self.parties))
        object.__setattr__(self, "share", tuple(self.share))
        object.__setattr__(self, "trust", tuple(self.trust))
        object.__setattr__(self, "starts_at", require_aware(self.starts_at, "starts_at"))
        for name in ("ends_at", "terminated_at"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, require_aware(getattr(self, name), name))
        object.__setattr__(
            self,
            "acceptances",
            MappingProxyType(
                {a: require_aware(t, "accepted_at") for a, t in self.acceptances.items()}
            ),
        )

    @property
    def accepted_at(self) -> datetime | None:
        """When the last party accepted; None while one has not."""
        if not self.parties or any(p not in self.acceptances for p in self.parties):
            return None
        return max(self.acceptances[p] for p in self.parties)

    def accepted_by_all(self, at: datetime) -> bool:
        accepted = self.accepted_at
        return accepted is not None and accepted <= at


@dataclass(frozen=True, slots=True)
class Agreements:
    """Every agreement version that bears on a decision, and the waived agency pairs."""

    agreements: tuple[Agreement, ...] = ()
    waived: frozenset[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "agreements", tuple(sorted(self.agreements, key=lambda a: a.id)))
        object.__setattr__(self, "waived", frozenset(frozenset(p) for p in self.waived))

    # --- when each version is in force -----------------------------------------------

    def superseded_at(self, agreement: Agreement) -> datetime | None:
        """The first instant an amendment of ``agreement`` was accepted by all its parties
        (its later fate does not revive the version it replaced)."""
        instants = [
            a.accepted_at
            for a in self.agreements
            if a.supersedes == agreement.id and a.accepted_at is not None
        ]
        return min(instants) if instants else None

    def in_force_interval(self, agreement: Agreement) -> tuple[datetime, datetime | None] | None:
        """``[start, end)`` during which the version is in force, or None if never (not
        accepted by every party, or ended before it began)."""
        accepted = agreement.accepted_at
        if accepted is None:
            return None
        start = max(agreement.starts_at, accepted)
        ends = [
            t
            for t in (agreement.ends_at, agreement.terminated_at, self.superseded_at(agreement))
            if t is not None
        ]
        end = min(ends) if ends else None
        if end is not None and end <= start:
            return None
        return start, end

    def in_force(self, agreement: Agreement, at: datetime) -> bool:
        interval = self.in_force_interval(agreement)
        return (
            interval is not None and interval[0] <= at and (interval[1] is None or at < interval[1])
        )

    def status_at(self, agreement: Agreement, at: datetime) -> AgreementStatus:
        """The status a person reads, derived at ``at``: an ending is named by its cause."""
        at = require_aware(at, "at")
        superseded = self.superseded_at(agreement)
        if superseded is not None and superseded <= at:
            return AgreementStatus.SUPERSEDED
        if agreement.terminated_at is not None and agreement.terminated_at <= at:
            return AgreementStatus.TERMINATED
        if agreement.ends_at is not None and agreement.ends_at <= at:
            return AgreementStatus.EXPIRED
        if not agreement.accepted_by_all(at):
            return AgreementStatus.PENDING
        if at < agreement.starts_at:
            return AgreementStatus.SCHEDULED
        return AgreementStatus.ACTIVE

    # --- the decision -----------------------------------------------------------------

    def covering(
        self, source: str, recipient: str, category: str, purpose: str, at: datetime
    ) -> str | None:
        """The id of an agreement in force at ``at`` whose parties include both agencies and
        whose share clauses cover the category and purpose (the lowest id when several do)."""
        at = require_aware(at, "at")
        for agreement in self.agreements:
            if (
                source in agreement.parties
                and recipient in agreement.parties
                and any(c.covers(category, purpose) for c in agreement.share)
                and self.in_force(agreement, at)
            ):
                return agreement.id
        return None

    def is_waived(self, a: str, b: str) -> bool:
        """Waivers name unordered pairs: {a, b} waived lets either share with the other."""
        return frozenset((a, b)) in self.waived

    def basis(
        self, source: str, recipient: str, category: str, purpose: str, at: datetime
    ) -> str | None:
        """What lets ``source``'s section reach ``recipient`` on the agencies' side: an
        agreement id, ``WAIVED``, or None (no agreement: withheld as ``no_agreement``).
        An agency's own records need none; callers ask only across agencies."""
        if source == recipient:
            raise ValueError("an agency's own records need no agreement")
        found = self.covering(source, recipient, category, purpose, at)
        if found is not None:
            return found
        return WAIVED if self.is_waived(source, recipient) else None

    # --- trust clauses, as the consent decision reads them ---------------------------

    def trust_rules(self) -> tuple[TrustRule, ...]:
        """Each trust clause as a ``TrustRule`` in force exactly while its agreement is."""
        rules = []
        for agreement in self.agreements:
            interval = self.in_force_interval(agreement)
            if interval is None:
                continue
            for clause in agreement.trust:
                categories = frozenset(
                    c for c in clause.categories if c not in (ANY, SUBSTANCE_USE)
                )
                if not categories or clause.agency == clause.partner:
                    continue
                rules.append(
                    TrustRule(
                        agency=clause.agency,
                        partner=clause.partner,
                        categories=categories,
                        starts_at=interval[0],
                        ends_at=interval[1],
                    )
                )
        return tuple(rules)

    def involving(self, agency: str) -> Agreements:
        """Only the versions ``agency`` is a party to (and those they supersede)."""
        mine = {a.id for a in self.agreements if agency in a.parties}
        return Agreements(
            tuple(a for a in self.agreements if a.id in mine or _amends_one_of(a, mine)),
            self.waived,
        )


def _amends_one_of(agreement: Agreement, ids: set[str]) -> bool:
    return agreement.supersedes is not None and agreement.supersedes in ids


def waived_pairs(pairs: Iterable[tuple[str, str]]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(p) for p in pairs if p[0] != p[1])


NO_AGREEMENTS = Agreements()
