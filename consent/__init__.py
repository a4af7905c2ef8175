"""Consent domain: records, derived status, the access decision and recording-time checks.

Pure Python on purpose (no Flask, no database), so the rules can be tested exhaustively and
reused by the web app and the CLI alike.
"""

from consent.decision import AccessRequest, ConsentDecision, Reason, covers, decide
from consent.model import (
    ANY,
    DEFAULT_CATEGORIES,
    DEFAULT_PURPOSES,
    Consent,
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
from consent.validation import ValidationContext, validate_consent

__all__ = [
    "ANY",
    "DEFAULT_CATEGORIES",
    "DEFAULT_PURPOSES",
    "PART2_REDISCLOSURE_NOTICE",
    "AccessRequest",
    "Consent",
    "ConsentDecision",
    "Evidence",
    "EvidenceMethod",
    "Grantor",
    "GrantorKind",
    "Provision",
    "Reason",
    "Revocation",
    "RevocationMethod",
    "Status",
    "ValidationContext",
    "covers",
    "decide",
    "status_at",
    "validate_consent",
]
