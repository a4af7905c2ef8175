"""Who may speak for a source agency: the trust half of the consent decision.

A consent names source agencies, but it is recorded by one agency's consent officer. An
agency speaks only for its own data, so a permit opens a source's records only once that
source *stood behind* it:

* the source agency recorded the consent itself (``Consent.recorded_by_agency``), or
* a consent officer of the source agency attested it (an ``Attestation``), or
* the source agency has a standing ``TrustRule`` accepting consents recorded by the
  recording agency for the category, in force at the decision's instant. Never for 42 CFR
  Part 2 data: a Part 2 program (or whoever holds substance-use data) always acts itself.

A narrowing amendment (``is_narrowing``) recorded by any agency keeps what the version it
supersedes was stood behind by, provided that version would itself have permitted the
request; a broadening one must be stood behind again. Deny provisions and revocations need
nobody's backing: they only ever narrow what is shared, and withdrawing is the client's right.

Pure (no Flask, no database): values in, answers out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from consent.model import ANY, SUBSTANCE_USE, Consent, Provision, require_aware, scope_set


@dataclass(frozen=True, slots=True, kw_only=True)
class Attestation:
    """A consent officer of ``agency`` stood behind consent version ``consent_id``."""

    consent_id: str
    agency: str
    attested_by: str
    attested_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "attested_at", require_aware(self.attested_at, "attested_at"))


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustRule:
    """``agency`` accepts consents recorded by ``partner`` for ``categories`` (named codes,
    never ANY, never substance use) while the rule is in force: [starts_at, ends_at)."""

    agency: str
    partner: str
    categories: frozenset[str]
    starts_at: datetime
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", scope_set(self.categories, "categories"))
        object.__setattr__(self, "starts_at", require_aware(self.starts_at, "starts_at"))
        if self.ends_at is not None:
            object.__setattr__(self, "ends_at", require_aware(self.ends_at, "ends_at"))

    def in_force(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def accepts(self, source: str, recorder: str | None, category: str, at: datetime) -> bool:
        """Whether this rule lets ``source`` stand behind a consent ``recorder`` recorded.
        ANY and substance use are never accepted, whatever a stored rule says."""
        return (
            self.agency == source
            and recorder is not None
            and self.partner == recorder
            and category != SUBSTANCE_USE
            and category != ANY
            and category in self.categories
            and self.in_force(at)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Trust:
    """The attestations and standing rules that bear on one client's consents.

    The empty default is the secure one: only the recording agency speaks for its data.
    """

    attestations: tuple[Attestation, ...] = field(default=())
    rules: tuple[TrustRule, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "attestations", tuple(self.attestations))
        object.__setattr__(self, "rules", tuple(self.rules))

    def attested(self, consent_id: str, agency: str, at: datetime) -> bool:
        return any(
            a.consent_id == consent_id and a.agency == agency and a.attested_at <= at
            for a in self.attestations
        )

    def accepted_by_rule(
        self, source: str, recorder: str | None, category: str, at: datetime
    ) -> bool:
        return any(rule.accepts(source, recorder, category, at) for rule in self.rules)


NO_TRUST = Trust()


# --- amendments ----------------------------------------------------------------------------


def _within(inner: frozenset[str], outer: frozenset[str]) -> bool:
    """Every code ``inner`` matches, ``outer`` matches too."""
    return ANY in outer or (ANY not in inner and inner <= outer)


def _start(consent: Consent) -> datetime | None:
    """When the consent can first be relied on (never before it was signed)."""
    if consent.signed_at is None:
        return None
    return max(consent.effective_from, consent.signed_at)


def _ends_no_later(new: Consent, old: Consent) -> bool:
    if old.expires_at is None:
        return True
    return new.expires_at is not None and new.expires_at <= old.expires_at


_SCOPES = ("source_agencies", "categories", "recipients", "purposes")


def _designation_within(new: Consent, old: Consent) -> bool:
    """A general designation, and the 42 CFR 2.31(a)(4)(iii) statement that lets covered
    entities redisclose, reach further: keeping or dropping them narrows, adding or
    changing them (or the intermediary) broadens."""
    if new.general_designation is not None and (
        new.general_designation != old.general_designation or new.intermediary != old.intermediary
    ):
        return False
    return old.hipaa_redisclosure_statement or not new.hipaa_redisclosure_statement


def is_narrowing(old: Consent, new: Consent) -> bool:
    """Whether ``new``, replacing ``old``, can only share less than ``old`` did.

    A permit stays narrowing while it keeps the client and signer, every scope within the
    old one (ANY only where the old one had ANY), starts no earlier, ends no later, keeps
    any expiry event and adds no general designation or HIPAA redisclosure statement. A
    permit replaced by a deny always narrows; a deny replaced by a deny narrows when it
    refuses at least as much for at least as long. A deny replaced by a permit, or anything
    unsigned replaced by something signed, broadens.
    """
    if new.client_id != old.client_id:
        return False
    new_start = _start(new)
    old_start = _start(old)
    if new.provision is Provision.DENY:
        if old.provision is Provision.PERMIT:
            return True
        # Replacing a deny removes it: the new one must refuse all it refused, as long.
        if old_start is None:
            return True  # the old draft refused nothing
        return (
            new_start is not None
            and new_start <= old_start
            and _ends_no_later(old, new)
            and all(_within(getattr(old, s), getattr(new, s)) for s in _SCOPES)
        )
    if old.provision is Provision.DENY:
        return new_start is None  # an unsigned permit shares nothing
    if new_start is None:
        return True
    if old_start is None:
        return False
    return (
        new.grantor == old.grantor
        and _designation_within(new, old)
        and new_start >= old_start
        and _ends_no_later(new, old)
        and (old.expiry_event is None or new.expiry_event == old.expiry_event)
        and all(_within(getattr(new, s), getattr(old, s)) for s in _SCOPES)
    )


def versions_by_id(consents: Iterable[Consent]) -> dict[str, Consent]:
    return {c.id: c for c in consents}
