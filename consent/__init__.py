"""Consent domain: records, derived status, the access decision and recording-time checks.

Pure Python on purpose (no Flask, no database), so the rules can be tested exhaustively and
reused by the web app and the CLI alike.
"""

from consent.agreements import (
    NO_AGREEMENTS,
    WAIVED,
    Agreement,
    Agreements,
    AgreementStatus,
    ShareClause,
    TrustClause,
)
from consent.decision import (
    AccessRequest,
    ConsentDecision,
    Reason,
    by_designation,
    covers,
    decide,
    designation_defect,
    same_intermediary,
    stood_behind,
)
from consent.model import (
    ANY,
    CLIENT_METHODS,
    DEFAULT_CATEGORIES,
    DEFAULT_PURPOSES,
    TPO_PURPOSES,
    Consent,
    Designation,
    Evidence,
    EvidenceMethod,
    Grantor,
    GrantorKind,
    Provision,
    Revocation,
    RevocationMethod,
    Status,
    status_at,
)
from consent.notices import PART2_REDISCLOSURE_NOTICE
from consent.trust import NO_TRUST, Attestation, Trust, TrustRule, is_narrowing
from consent.validation import ValidationContext, validate_consent

__all__ = [
    "ANY",
    "CLIENT_METHODS",
    "DEFAULT_CATEGORIES",
    "DEFAULT_PURPOSES",
    "NO_AGREEMENTS",
    "NO_TRUST",
    "PART2_REDISCLOSURE_NOTICE",
    "TPO_PURPOSES",
    "WAIVED",
    "AccessRequest",
    "Agreement",
    "AgreementStatus",
    "Agreements",
    "Attestation",
    "Consent",
    "ConsentDecision",
    "Designation",
    "Evidence",
    "EvidenceMethod",
    "Grantor",
    "GrantorKind",
    "Provision",
    "Reason",
    "Revocation",
    "RevocationMethod",
    "ShareClause",
    "Status",
    "Trust",
    "TrustClause",
    "TrustRule",
    "ValidationContext",
    "by_designation",
    "covers",
    "decide",
    "designation_defect",
    "is_narrowing",
    "same_intermediary",
    "status_at",
    "stood_behind",
    "validate_consent",
]
