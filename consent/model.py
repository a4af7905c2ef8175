"""Consent records as immutable values, and the status derived from them at an instant.

Status is never stored: revocations and later versions are separate events, so whether a
consent may be relied on is always recomputed for the instant of the decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

ANY = "*"
"""In a scope set, matches every code (source agency, category, recipient or purpose)."""

DEFAULT_CATEGORIES = frozenset(
    {
        "housing",
        "health",
        "behavioral_health",
        "substance_use",
        "education",
        "child_welfare",
        "justice",
        "economic_security",
        "early_childhood",
    }
)
DEFAULT_PURPOSES = frozenset(
    {"care_coordination", "treatment", "payment", "operations", "eligibility", "emergency"}
)
SUBSTANCE_USE = "substance_use"
EDUCATION = "education"
TPO_PURPOSES = frozenset({"treatment", "payment", "operations"})
"""Treatment, payment and health care operations: the purposes of the single consent of
42 CFR 2.31(a)(4)(i) and 2.33(a)(2)."""


class Designation(StrEnum):
    """A general designation of recipients (42 CFR 2.31(a)(4)(ii)(B)): through an
    intermediary, it "must be limited to a participant(s) who has a treating provider
    relationship with the patient". It is the only general designation caseops accepts."""

    TREATING_PROVIDER_RELATIONSHIP = "treating_provider_relationship"


class Provision(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class GrantorKind(StrEnum):
    SELF = "self"
    PARENT = "parent"
    GUARDIAN = "guardian"
    AUTHORIZED_REPRESENTATIVE = "authorized_representative"


class EvidenceMethod(StrEnum):
    WRITTEN = "written"
    ELECTRONIC = "electronic"
    VERBAL_WITNESSED = "verbal_witnessed"


class RevocationMethod(StrEnum):
    """How the client withdrew consent; Part 2 accepts oral revocation, so `verbal` counts.

    `linkage` is not the client's act: the master client index ended this copy of the
    consent when its records moved to another client (it was re-recorded there). Only
    re-homing writes it; people revoke by the first three (``CLIENT_METHODS``)."""

    WRITTEN = "written"
    ELECTRONIC = "electronic"
    VERBAL = "verbal"
    LINKAGE = "linkage"


CLIENT_METHODS = (RevocationMethod.WRITTEN, RevocationMethod.ELECTRONIC, RevocationMethod.VERBAL)


class Status(StrEnum):
    DRAFT = "draft"
    NOT_YET_EFFECTIVE = "not_yet_effective"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"


def require_aware(value: datetime, name: str) -> datetime:
    """Return `value` in UTC; a naive datetime is ambiguous across agencies, so it is refused."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def scope_set(values: Iterable[str], name: str) -> frozenset[str]:
    """Freeze a scope; a bare string is refused because it would split into characters."""
    if isinstance(values, str):
        raise TypeError(f"{name} must be a collection of codes, not a string")
    return frozenset(values)


def age_on(birth_date: date, day: date) -> int:
    """Age in completed years; someone born on 29 February turns a year older on 1 March."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True, slots=True, kw_only=True)
class Grantor:
    kind: GrantorKind
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", GrantorKind(self.kind))


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    method: EvidenceMethod
    document_sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", EvidenceMethod(self.method))


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    """One recorded version of a client's consent; amendments are new versions.

    `signed_at` is None for a draft. Scope sets hold codes, or ANY to match every code.
    `recorded_by_agency` is the agency whose officer recorded this version (None when not
    known): the one agency that stands behind it without attesting (``consent.trust``).
    """

    id: str
    client_id: str
    grantor: Grantor
    provision: Provision
    source_agencies: frozenset[str]
    categories: frozenset[str]
    recipients: frozenset[str]
    purposes: frozenset[str]
    effective_from: datetime
    expires_at: datetime | None = None
    expiry_event: str | None = None
    signed_at: datetime | None
    evidence: Evidence
    revocation_right_acknowledged: bool = False
    recorded_by: str
    recorded_at: datetime
    recorded_by_agency: str | None = None
    version: int = 1
    supersedes: str | None = None
    # 42 CFR Part 2 as amended in 2024 (89 FR 12472). `general_designation` lets the consent
    # reach recipients it does not name: participants of `intermediary` (its name as written
    # on the consent) with a treating provider relationship with the patient, decided per
    # request. `recipient_description` is the class of recipients in the patient's words
    # (2.31(a)(4)(i)); `hipaa_redisclosure_statement` says the consent carries the
    # 2.31(a)(4)(iii) statement. The defaults are a consent without any of them.
    intermediary: str | None = None
    general_designation: Designation | None = None
    recipient_description: str | None = None
    hipaa_redisclosure_statement: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "provision", Provision(self.provision))
        if self.general_designation is not None:
            set_(self, "general_designation", Designation(self.general_designation))
        for name in ("source_agencies", "categories", "recipients", "purposes"):
            set_(self, name, scope_set(getattr(self, name), name))
        for name in ("effective_from", "expires_at", "signed_at", "recorded_at"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, require_aware(value, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    """The client's withdrawal of one consent version, effective from `revoked_at` on."""

    consent_id: str
    revoked_at: datetime
    revoked_by: str
    reason: str
    method: RevocationMethod

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", RevocationMethod(self.method))
        object.__setattr__(self, "revoked_at", require_aware(self.revoked_at, "revoked_at"))


def status_at(
    consent: Consent,
    at: datetime,
    *,
    revocations: Iterable[Revocation],
    successors: Iterable[Consent],
) -> Status:
    """The consent's status at `at`.

    `revocations` and `successors` may hold events of other consents; only those naming this
    consent count. A revocation is reported before supersession because it is the client's
    own act, and both before the validity period because they end reliance for good. A
    back-dated consent is not yet effective before it was signed: nobody had agreed then.
    """
    at = require_aware(at, "at")
    if consent.signed_at is None:
        return Status.DRAFT
    if any(r.consent_id == consent.id and r.revoked_at <= at for r in revocations):
        return Status.REVOKED
    if any(s.supersedes == consent.id and s.recorded_at <= at for s in successors):
        return Status.SUPERSEDED
    if at < consent.effective_from or at < consent.signed_at:
        return Status.NOT_YET_EFFECTIVE
    if consent.expires_at is not None and at >= consent.expires_at:
        return Status.EXPIRED
    return Status.ACTIVE
