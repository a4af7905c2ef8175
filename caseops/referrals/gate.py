"""The consent gate on sending a referral, and the consent test that keeps it open.

Pure: facts in, answer out (no Flask, no database), deciding with ``consent.decide`` (the
very decision the record view uses) so that a referral can never disclose what a view
would not.

Sending (``draft -> requested``) is a disclosure from the sending agency to the
recipient: it says the client needs the service. So it needs

* **the referral itself**: a consent permitting the sending agency's information in the
  service's category to go to the recipient for the referral's purpose, and naming the
  recipient (a permit for "any recipient" does not make a referral), and
* **every shared category and every source agency that holds it**: the consent decision for
  that source's records to reach the recipient for the purpose (Part 2 data, as always,
  only under a consent that names the recipient: ``consent.decide`` says so).

What the sender may not know stays out of it: a source whose records are hidden from the
sender (another agency's Part 2 record that no consent lets the sender's agency know of)
is never named and never changes the answer. The recipient's own view decides those
sections later, as it does for any reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import consent
from caseops.referrals.machine import OPENS_ACCESS, Status

TREATMENT = "treatment"
REFERRAL_ITSELF = "referral"  # the "source" named for the referral-itself check
RECIPIENT_NOT_NAMED = "recipient_not_named"  # a permit to "any recipient" only
NO_AGREEMENT = "no_agreement"  # no data sharing agreement covers the flow (nor a waiver)


@dataclass(frozen=True)
class Source:
    """One agency's holding of one category of the client's records."""

    agency: str
    part2_program: bool
    category: str
    known_to_sender: bool  # False: the sender may not even know it exists


@dataclass(frozen=True)
class Uncovered:
    category: str
    source: str  # an agency code, or REFERRAL_ITSELF
    reason: str
    consent_id: str | None


@dataclass(frozen=True)
class GateAnswer:
    uncovered: tuple[Uncovered, ...]
    consent_ids: tuple[str, ...]  # the consents relied on, for the log and FHIR

    @property
    def passed(self) -> bool:
        return not self.uncovered


@dataclass(frozen=True)
class RecipientFacts:
    """What 42 CFR Part 2 as amended in 2024 asks of a recipient agency (``docs/
    part2-2024.md``): a general designation reaches only a treating provider."""

    treating_provider: bool = False
    covered_entity: bool = False


@dataclass(frozen=True)
class ConsentFacts:
    client_id: str
    consents: Sequence[consent.Consent]
    revocations: Sequence[consent.Revocation]
    trust: consent.Trust
    birth_date: date | None
    # this deployment's legal name as an intermediary, and the recipient agencies' facts
    # (absent: the answer that discloses least)
    intermediary: str | None = None
    recipients: Mapping[str, RecipientFacts] = field(default_factory=dict)
    # data sharing agreements and waivers (``consent.agreements``): none by default, so a
    # caller that passes none sends nothing across agencies (fail closed)
    agreements: consent.Agreements = consent.NO_AGREEMENTS


def _decide(
    facts: ConsentFacts,
    *,
    source: str,
    source_part2: bool,
    category: str,
    recipient: str,
    purpose: str,
    at: datetime,
) -> consent.ConsentDecision:
    agency = facts.recipients.get(recipient, RecipientFacts())
    return consent.decide(
        facts.consents,
        facts.revocations,
        consent.AccessRequest(
            client_id=facts.client_id,
            source_agency=source,
            source_is_part2_program=source_part2,
            category=category,
            recipient_agency=recipient,
            purpose=purpose,
            at=at,
            client_birth_date=facts.birth_date,
            intermediary=facts.intermediary,
            recipient_is_treating_provider=agency.treating_provider,
            recipient_is_covered_entity=agency.covered_entity,
            # A referral for treatment, once accepted, is the treating relationship that
            # opens a general designation (42 CFR 2.31(a)(4)(ii)(B)); the gate asks on
            # sending what will hold once it is accepted, the view while it is open.
            treating_relationship=purpose == TREATMENT,
        ),
        trust=facts.trust,
    )


def referral_consent(
    facts: ConsentFacts,
    *,
    sender: str,
    sender_part2: bool,
    recipient: str,
    service_category: str,
    purpose: str,
    at: datetime,
) -> tuple[bool, str, str | None]:
    """Whether a consent lets the sender tell the recipient of this referral at ``at``:
    ``(permitted, reason, consent_id)``. Asked again on every request while the referral
    is open, so a revocation or an expiry ends the recipient's access at once."""
    # Only permits that name the recipient may carry a referral: read every other permit as
    # if it named nobody (it still supersedes what it replaced, so nothing older revives).
    named = replace(facts, consents=[_naming_only(c, recipient) for c in facts.consents])
    decision = _decide(
        named,
        source=sender,
        source_part2=sender_part2,
        category=service_category,
        recipient=recipient,
        purpose=purpose,
        at=at,
    )
    if decision.permitted:
        return True, str(decision.reason), decision.consent_id
    if decision.reason is consent.Reason.NO_CONSENT:
        # say so when a permit to "any recipient" was there: the officer knows what to fix
        broad = _decide(
            facts,
            source=sender,
            source_part2=sender_part2,
            category=service_category,
            recipient=recipient,
            purpose=purpose,
            at=at,
        )
        if broad.permitted:
            return False, RECIPIENT_NOT_NAMED, broad.consent_id
    return False, str(decision.reason), decision.consent_id


def _naming_only(item: consent.Consent, recipient: str) -> consent.Consent:
    """A permit as a referral may read it: naming the recipient, or designating it through
    the intermediary (``consent.decide`` checks the designation's limits)."""
    if (
        item.provision is not consent.Provision.PERMIT
        or recipient in item.recipients
        or item.general_designation is not None
    ):
        return item
    return replace(item, recipients=item.recipients - {consent.ANY})


def check_send(
    facts: ConsentFacts,
    *,
    sender: str,
    sender_part2: bool,
    recipient: str,
    service_category: str,
    purpose: str,
    shared_categories: Iterable[str],
    sources: Iterable[Source],
    at: datetime,
) -> GateAnswer:
    """Every uncovered (category, source) pair the sender may know of, and why."""
    uncovered: list[Uncovered] = []
    relied: set[str] = set()
    # Sending is a disclosure across agencies: it needs an agreement (or a waiver) first,
    # for the referral itself and for every shared source, as a view does (issue 22).
    if facts.agreements.basis(sender, recipient, service_category, purpose, at) is None:
        uncovered.append(Uncovered(service_category, REFERRAL_ITSELF, NO_AGREEMENT, None))
        ok, reason, consent_id = True, "", None
    else:
        ok, reason, consent_id = referral_consent(
            facts,
            sender=sender,
            sender_part2=sender_part2,
            recipient=recipient,
            service_category=service_category,
            purpose=purpose,
            at=at,
        )
    if ok and consent_id:
        relied.add(consent_id)
    elif not ok:
        uncovered.append(Uncovered(service_category, REFERRAL_ITSELF, reason, consent_id))
    shared = set(shared_categories)
    for source in sorted(set(sources), key=lambda s: (s.category, s.agency)):
        if source.category not in shared or not source.known_to_sender:
            continue
        if source.agency == recipient:
            continue  # the recipient's own records need no consent to reach it
        if facts.agreements.basis(source.agency, recipient, source.category, purpose, at) is None:
            uncovered.append(Uncovered(source.category, source.agency, NO_AGREEMENT, None))
            continue
        decision = _decide(
            facts,
            source=source.agency,
            source_part2=source.part2_program,
            category=source.category,
            recipient=recipient,
            purpose=purpose,
            at=at,
        )
        if decision.permitted:
            if decision.consent_id:
                relied.add(decision.consent_id)
        else:
            uncovered.append(
                Uncovered(source.category, source.agency, str(decision.reason), decision.consent_id)
            )
    return GateAnswer(tuple(uncovered), tuple(sorted(relied)))


@dataclass(frozen=True)
class ReferralFacts:
    """What the ``referral`` relationship turns on, for one referral of the client."""

    id: str
    from_agency: str
    from_part2: bool
    to_agency: str
    service_category: str
    purpose: str
    shared: tuple[str, ...]
    state: str
    assigned_to: str | None


@dataclass(frozen=True)
class Reader:
    agency: str
    username: str
    supervises: bool  # a supervisor of their agency


def referral_relationship(
    referrals: Iterable[ReferralFacts], reader: Reader, facts: ConsentFacts, at: datetime
) -> dict[str, str]:
    """The categories an open referral gives ``reader`` need-to-know for, each with the
    referral that does (the oldest, when several do): a referral addressed to the reader's
    agency, accepted / in progress / on hold, assigned to the reader or the reader
    supervises there, and whose own consent (``referral_consent``) stands at ``at``.
    Consent for each section is still decided by the view: a referral never replaces it."""
    access: dict[str, str] = {}
    for referral in referrals:
        if referral.to_agency != reader.agency or Status(referral.state) not in OPENS_ACCESS:
            continue
        if not (reader.supervises or referral.assigned_to == reader.username):
            continue
        ok, _, _ = referral_consent(
            facts,
            sender=referral.from_agency,
            sender_part2=referral.from_part2,
            recipient=referral.to_agency,
            service_category=referral.service_category,
            purpose=referral.purpose,
            at=at,
        )
        if ok:
            for category in referral.shared:
                access.setdefault(category, referral.id)
    return access
