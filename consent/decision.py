"""The consent side of the access decision: records in, decision out, nothing cached.

Only a client's consents whose scope covers the request take part, and only those active at
the request's instant decide. Deny beats permit; 42 CFR Part 2 and FERPA add conditions a
permit must meet before it counts. Every withheld answer names one reason code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from consent.model import (
    ANY,
    EDUCATION,
    SUBSTANCE_USE,
    TPO_PURPOSES,
    Consent,
    GrantorKind,
    Provision,
    Revocation,
    Status,
    age_on,
    require_aware,
    status_at,
)
from consent.notices import PART2_REDISCLOSURE_NOTICE
from consent.trust import NO_TRUST, Trust, is_narrowing

ADULT_AGE = 18
"""FERPA rights pass from the parents to the student at 18 (34 CFR 99.3, 99.5(a))."""


class Reason(StrEnum):
    CONSENT_PERMIT = "consent_permit"
    CONSENT_DENIED = "consent_denied"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_NOT_YET_EFFECTIVE = "consent_not_yet_effective"
    NO_CONSENT = "no_consent"
    PART2_SOURCE_NOT_NAMED = "part2_source_not_named"
    PART2_INFORMATION_NOT_NAMED = "part2_information_not_named"
    PART2_RECIPIENT_NOT_NAMED = "part2_recipient_not_named"
    PART2_PURPOSE_NOT_NAMED = "part2_purpose_not_named"
    PART2_NO_EXPIRY = "part2_no_expiry"
    FERPA_SIGNER_UNVERIFIABLE = "ferpa_signer_unverifiable"
    FERPA_SIGNER_INVALID = "ferpa_signer_invalid"
    CONSENT_NOT_ATTESTED = "consent_not_attested"
    # A general designation (42 CFR 2.31(a)(4)(ii)(B)) reaches a recipient it does not name
    # only through the intermediary it names, only a treating provider with a treating
    # provider relationship with the patient at the request's instant, only for treatment,
    # payment or health care operations (the single consent of 2.31(a)(4)(i)).
    PART2_INTERMEDIARY_NOT_NAMED = "part2_intermediary_not_named"
    PART2_NOT_TREATING_PROVIDER = "part2_not_treating_provider"
    PART2_NO_TREATING_RELATIONSHIP = "part2_no_treating_relationship"
    PART2_PURPOSE_NOT_TPO = "part2_purpose_not_tpo"
    # 2.31(a)(4)(iii): to a covered entity or business associate for TPO, the consent must
    # carry the statement that the record may be redisclosed under the HIPAA regulations.
    PART2_HIPAA_STATEMENT_MISSING = "part2_hipaa_statement_missing"


# When no active permit exists, the most specific lifecycle cause among covering permits wins.
_LIFECYCLE_REASONS = (
    (Status.REVOKED, Reason.CONSENT_REVOKED),
    (Status.EXPIRED, Reason.CONSENT_EXPIRED),
    (Status.NOT_YET_EFFECTIVE, Reason.CONSENT_NOT_YET_EFFECTIVE),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRequest:
    """Section `category` of `client_id` from `source_agency`, wanted by `recipient_agency`.

    The recipient facts default to the answer that discloses least (fail closed): a
    general designation reaches a recipient only when `intermediary` (this deployment's
    configured legal name) matches the one the consent names, the recipient agency is a
    treating provider and its worker has a treating relationship with the client at `at`
    (`treating_relationship`: care team, or an accepted referral for treatment).
    `recipient_is_covered_entity` (HIPAA covered entity or business associate) brings in
    the 2.31(a)(4)(iii) statement for TPO purposes. It defaults to False so that callers
    that predate the agency facts keep their answers; the access service always passes the
    recipient agency's recorded fact, and a consent with a general designation for TPO
    carries the statement from recording on (``validate_consent``).
    """

    client_id: str
    source_agency: str
    source_is_part2_program: bool
    category: str
    recipient_agency: str
    purpose: str
    at: datetime
    client_birth_date: date | None = None
    intermediary: str | None = None
    recipient_is_treating_provider: bool = False
    treating_relationship: bool = False
    recipient_is_covered_entity: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_aware(self.at, "at"))

    @property
    def is_part2(self) -> bool:
        """Substance-use data, or anything from a Part 2 program, is protected by 42 CFR Part 2."""
        return self.category == SUBSTANCE_USE or self.source_is_part2_program


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentDecision:
    """`consent_id` is the consent relied on, or the one that explains the refusal.

    `part2` tells callers to hide even the existence of a withheld section; `obligations`
    are notices that must accompany the disclosed data.
    """

    permitted: bool
    reason: Reason
    consent_id: str | None
    part2: bool
    obligations: tuple[str, ...] = ()
    # True when the permit reached the recipient only through its general designation:
    # a disclosure the intermediary lists for the patient on request (42 CFR 2.24).
    designation: bool = False


def _matches(scope: frozenset[str], code: str) -> bool:
    return ANY in scope or code in scope


def _names(scope: frozenset[str], code: str) -> bool:
    return ANY not in scope and code in scope


def covers(consent: Consent, request: AccessRequest) -> bool:
    """Whether the consent's scope reaches this request, whatever its status. A general
    designation reaches every recipient here; ``designation_defect`` then narrows it."""
    return (
        consent.client_id == request.client_id
        and _matches(consent.source_agencies, request.source_agency)
        and _matches(consent.categories, request.category)
        and (
            _matches(consent.recipients, request.recipient_agency)
            or consent.general_designation is not None
        )
        and _matches(consent.purposes, request.purpose)
    )


def same_intermediary(named: str | None, configured: str | None) -> bool:
    """Whether the intermediary a consent names is this deployment's: both given, equal
    but for case and runs of white space."""

    def norm(value: str | None) -> str:
        return " ".join((value or "").split()).casefold()

    return bool(norm(named)) and norm(named) == norm(configured)


def by_designation(consent: Consent, request: AccessRequest) -> bool:
    """Whether the permit reaches the recipient only through its general designation."""
    return consent.general_designation is not None and not _matches(
        consent.recipients, request.recipient_agency
    )


def designation_defect(consent: Consent, request: AccessRequest) -> Reason | None:
    """Why a general designation does not reach this recipient now, or None when it does.

    42 CFR 2.31(a)(4)(ii)(B): through the intermediary the consent names (this
    deployment's), limited to participants with a treating provider relationship with the
    patient; 2.31(a)(4)(i), 2.33(a)(2): the single consent is for treatment, payment and
    health care operations. Decided at the request's instant: nothing is remembered, so a
    relationship that ended ends the disclosure on the next request.
    """
    if not same_intermediary(consent.intermediary, request.intermediary):
        return Reason.PART2_INTERMEDIARY_NOT_NAMED
    if request.purpose not in TPO_PURPOSES:
        return Reason.PART2_PURPOSE_NOT_TPO
    if not request.recipient_is_treating_provider:
        return Reason.PART2_NOT_TREATING_PROVIDER
    if not request.treating_relationship:
        return Reason.PART2_NO_TREATING_RELATIONSHIP
    return None


def _part2_defect(consent: Consent, request: AccessRequest) -> Reason | None:
    """The first 42 CFR 2.31 element the permit leaves general; a blanket consent is no consent."""
    if not (
        _names(consent.recipients, request.recipient_agency) or by_designation(consent, request)
    ):
        return Reason.PART2_RECIPIENT_NOT_NAMED
    if not _names(consent.purposes, request.purpose):
        return Reason.PART2_PURPOSE_NOT_NAMED
    if consent.expires_at is None and not consent.expiry_event:
        return Reason.PART2_NO_EXPIRY
    if not _names(consent.source_agencies, request.source_agency):
        return Reason.PART2_SOURCE_NOT_NAMED
    if not _names(consent.categories, request.category):
        return Reason.PART2_INFORMATION_NOT_NAMED
    if (
        request.purpose in TPO_PURPOSES
        and request.recipient_is_covered_entity
        and not consent.hipaa_redisclosure_statement
    ):
        return Reason.PART2_HIPAA_STATEMENT_MISSING
    return None


def _ferpa_defect(consent: Consent, request: AccessRequest) -> Reason | None:
    """FERPA consent counts only from whoever held the rights when signing and still holds them."""
    birth = request.client_birth_date
    if birth is None or consent.signed_at is None:
        return Reason.FERPA_SIGNER_UNVERIFIABLE
    if age_on(birth, consent.signed_at.date()) < ADULT_AGE:
        valid_signers = {GrantorKind.PARENT, GrantorKind.GUARDIAN}
    else:
        valid_signers = {GrantorKind.SELF}
    if age_on(birth, request.at.date()) >= ADULT_AGE:
        valid_signers &= {GrantorKind.SELF}
    if consent.grantor.kind not in valid_signers:
        return Reason.FERPA_SIGNER_INVALID
    return None


def _permit_defect(consent: Consent, request: AccessRequest) -> Reason | None:
    """Why an active covering permit still may not disclose this request, or None.

    A general designation is checked whatever the data: it never reaches a recipient the
    consent does not name except on its own terms."""
    if by_designation(consent, request) and (defect := designation_defect(consent, request)):
        return defect
    if request.is_part2 and (defect := _part2_defect(consent, request)):
        return defect
    if request.category == EDUCATION:
        return _ferpa_defect(consent, request)
    return None


def stood_behind(
    consent: Consent,
    request: AccessRequest,
    *,
    consents: Iterable[Consent],
    revocations: Iterable[Revocation],
    trust: Trust = NO_TRUST,
) -> bool:
    """Whether the request's source agency stood behind this permit (see ``consent.trust``).

    The source recorded this version, attested it, or accepts its recorder by a standing
    rule in force (never for Part 2 data); or this version narrows the one it supersedes,
    which was stood behind, was not revoked before being replaced, and would itself have
    permitted the request.
    """
    source = request.source_agency
    by_id = {c.id: c for c in consents}
    revocations = list(revocations)
    seen: set[str] = set()
    current: Consent | None = consent
    while current is not None and current.id not in seen:
        seen.add(current.id)
        if current.recorded_by_agency is not None and current.recorded_by_agency == source:
            return True
        if trust.attested(current.id, source, request.at):
            return True
        if not request.is_part2 and trust.accepted_by_rule(
            source, current.recorded_by_agency, request.category, request.at
        ):
            return True
        previous = by_id.get(current.supersedes) if current.supersedes else None
        if (
            previous is None
            or previous.provision is not Provision.PERMIT
            or not is_narrowing(previous, current)
            or not covers(previous, request)
            or _permit_defect(previous, request) is not None
            or any(
                r.consent_id == previous.id and r.revoked_at <= current.recorded_at
                for r in revocations
            )
        ):
            return False
        current = previous
    return False


def decide(
    consents: Iterable[Consent],
    revocations: Iterable[Revocation],
    request: AccessRequest,
    *,
    trust: Trust = NO_TRUST,
) -> ConsentDecision:
    """Decide the consent side of one request at `request.at`.

    `consents` should include every version of the client's consents (later versions
    supersede earlier ones even when their scope no longer covers the request). Consents of
    other clients are ignored. Ties are broken by consent id, so input order never matters.
    A permit counts only once the request's source stood behind it (``stood_behind``; the
    default ``trust`` holds no attestations or rules, so only the recording agency counts);
    deny provisions and revocations count whoever recorded them.
    """
    consents = list(consents)
    revocations = list(revocations)
    part2 = request.is_part2
    # A superseded version neither decides nor explains, even if it was also revoked
    # (status_at reports the revocation first, for the timeline's sake).
    replaced = {c.supersedes for c in consents if c.supersedes and c.recorded_at <= request.at}
    covering = [
        (consent, status_at(consent, request.at, revocations=revocations, successors=consents))
        for consent in sorted(consents, key=lambda c: c.id)
        if covers(consent, request) and consent.id not in replaced
    ]
    active = [consent for consent, status in covering if status is Status.ACTIVE]

    for consent in active:
        if consent.provision is Provision.DENY:
            return ConsentDecision(
                permitted=False, reason=Reason.CONSENT_DENIED, consent_id=consent.id, part2=part2
            )

    first_defect: tuple[Reason, str] | None = None
    for consent in active:
        defect = _permit_defect(consent, request)
        if defect is None and not stood_behind(
            consent, request, consents=consents, revocations=revocations, trust=trust
        ):
            defect = Reason.CONSENT_NOT_ATTESTED
        if defect is None:
            return ConsentDecision(
                permitted=True,
                reason=Reason.CONSENT_PERMIT,
                consent_id=consent.id,
                part2=part2,
                obligations=(PART2_REDISCLOSURE_NOTICE,) if part2 else (),
                designation=by_designation(consent, request),
            )
        first_defect = first_defect or (defect, consent.id)
    if first_defect:
        reason, consent_id = first_defect
        return ConsentDecision(permitted=False, reason=reason, consent_id=consent_id, part2=part2)

    for wanted, reason in _LIFECYCLE_REASONS:
        for consent, status in covering:
            if consent.provision is Provision.PERMIT and status is wanted:
                return ConsentDecision(
                    permitted=False, reason=reason, consent_id=consent.id, part2=part2
                )
    return ConsentDecision(permitted=False, reason=Reason.NO_CONSENT, consent_id=None, part2=part2)
