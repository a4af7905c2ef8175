"""The access decision, per section (one source agency's record in one category):

    shown  iff  policy(roles, agency, "record:<category>", "read")
           and  (own agency's record  or  (an agreement between the source and this
                 agency covers the category and purpose at this instant, or the pair is
                 waived)  and  consent permits)
           and  relationship (care team, or an open referral sharing the category)

or, under an active break-the-glass grant, policy allows "break_glass" for the category
(42 CFR Part 2 data still needs a consent, unless the policy grants the separate
"break_glass_part2" action: the 2.51 medical-emergency rule).

A withheld section names one reason, the first that fails in that order: ``policy``,
``no_agreement`` (``consent.agreements``; issue 22), the consent's reason, then
``no_relationship``. Break-the-glass, an emergency, needs no agreement (nor consent, but
for Part 2).

Pure: facts in, decisions out. ``caseops.access.service`` gathers the facts, writes the
access log and only then decrypts what is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

import consent
from caseops.vocabulary import PART2_CATEGORY

Permits = Callable[[str, str], bool]
NO_AGREEMENT = "no_agreement"


@dataclass(frozen=True)
class SectionFacts:
    record_id: int | str  # the row id of its kind: a source record's, or a note's (issue 18)
    agency: str
    agency_part2: bool
    category: str
    # "record" (an agency's source record) or "note" (a worker's note: a section of the
    # author's agency in its category, decided exactly as a record of that agency is)
    kind: str = "record"

    @property
    def part2(self) -> bool:
        return self.category == PART2_CATEGORY or self.agency_part2


@dataclass(frozen=True)
class Facts:
    client_id: str
    sections: Sequence[SectionFacts]
    consents: Sequence[consent.Consent]
    revocations: Sequence[consent.Revocation]
    birth_date: date | None
    relationship: bool
    break_glass: bool
    # Attestations and standing rules: whom the consents speak for (``consent.trust``).
    # The default holds none, so only a consent's recording agency counts.
    trust: consent.Trust = consent.NO_TRUST
    # The ``referral`` relationship: category -> the open referral that shares it with
    # this worker (accepted, in progress or on hold, its consent standing). Care teams
    # cover every category; a referral only the categories it shares.
    referral_categories: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # 42 CFR Part 2 as amended in 2024 (``consent.designation_defect``): this deployment's
    # intermediary name, the recipient agency's facts (set by system administrators), and
    # whether the worker has a treating relationship with the client at this instant: the
    # care team, or an accepted referral for treatment. The defaults disclose nothing under
    # a general designation; nothing here is cached, so an ended relationship ends it.
    intermediary: str | None = None
    recipient_treating_provider: bool = False
    recipient_covered_entity: bool = False
    treating_relationship: bool = False
    # Data sharing agreements in force and waived pairs (``consent.agreements``). The
    # default holds none, so every cross-agency section is withheld as ``no_agreement``
    # until the caller passes what the database says (fail closed).
    agreements: consent.Agreements = consent.NO_AGREEMENTS

    def relationship_for(self, category: str) -> tuple[str | None, str | None]:
        """``(relationship kind, referral id)`` for one category, care team first."""
        if self.relationship:
            return "care_team", None
        if category in self.referral_categories:
            return "referral", self.referral_categories[category]
        return None, None


@dataclass(frozen=True)
class SectionDecision:
    section: SectionFacts
    shown: bool
    reason: str | None  # why withheld; None when shown
    basis: str | None  # own_agency | consent | break_glass | break_glass_part2 when shown
    consent_id: str | None
    notice: str | None
    hidden: bool  # withheld and not even listed (Part 2 existence is itself sensitive)
    relationship: str | None = None  # care_team | referral, when it was the need to know
    referral_id: str | None = None  # the referral that is the basis, for "referral"
    designation: bool = False  # the consent reached this agency by its general designation
    # the agreement behind a cross-agency section: its id, "waived", or None (none covers)
    agreement: str | None = None


def _consent_decision(
    facts: Facts, section: SectionFacts, recipient: str, purpose: str, at: datetime
) -> consent.ConsentDecision:
    return consent.decide(
        facts.consents,
        facts.revocations,
        consent.AccessRequest(
            client_id=facts.client_id,
            source_agency=section.agency,
            source_is_part2_program=section.agency_part2,
            category=section.category,
            recipient_agency=recipient,
            purpose=purpose,
            at=at,
            client_birth_date=facts.birth_date,
            intermediary=facts.intermediary,
            recipient_is_treating_provider=facts.recipient_treating_provider,
            treating_relationship=facts.treating_relationship,
            recipient_is_covered_entity=facts.recipient_covered_entity,
        ),
        trust=facts.trust,
    )


def decide_section(
    section: SectionFacts, facts: Facts, agency: str, permits: Permits, purpose: str, at: datetime
) -> SectionDecision:
    obj = f"record:{section.category}"
    own = section.agency == agency
    consented = None if own else _consent_decision(facts, section, agency, purpose, at)
    agreement = (
        None
        if own
        else facts.agreements.basis(section.agency, agency, section.category, purpose, at)
    )
    agreed = own or agreement is not None
    consent_ok = own or consented.permitted
    notice = consented.obligations[0] if consented and consented.obligations else None
    consent_id = consented.consent_id if consented else None

    kind, referral_id = facts.relationship_for(section.category)

    def shown(basis: str, with_notice: str | None = notice) -> SectionDecision:
        return SectionDecision(
            section,
            True,
            None,
            basis,
            consent_id,
            with_notice,
            False,
            kind,
            referral_id,
            designation=bool(consented and consented.designation),
            agreement=agreement,
        )

    if permits(obj, "read") and agreed and consent_ok and kind is not None:
        return shown("own_agency" if own else "consent")
    if facts.break_glass and permits(obj, "break_glass"):
        kind, referral_id = "break_glass", None
        if not section.part2 or consent_ok:
            return shown("break_glass")
        if permits(obj, "break_glass_part2"):
            return shown("break_glass_part2", consent.PART2_REDISCLOSURE_NOTICE)
    if not permits(obj, "read"):
        reason = "policy"
    elif not agreed:
        reason = NO_AGREEMENT
    elif not consent_ok:
        reason = str(consented.reason)
    else:
        reason = "no_relationship"
    # A Part 2 record another agency holds is not even listed unless a consent lets this
    # agency know of it.
    hidden = section.part2 and not consent_ok
    return SectionDecision(
        section, False, reason, None, consent_id, None, hidden, agreement=agreement
    )


def decide_view(
    facts: Facts, agency: str, permits: Permits, purpose: str, at: datetime
) -> list[SectionDecision]:
    return [decide_section(s, facts, agency, permits, purpose, at) for s in facts.sections]
