"""TOTP second factor (RFC 6238 via pyotp) with replay protection, and recovery codes."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno

from caseops.auth.passwords import hash_password, verify_password

ISSUER = "caseops"
STEP_SECONDS = 30
# Accept the previous and next step too: phones drift.
WINDOW = 1
RECOVERY_CODE_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code as an inline SVG data URI: rendered server-side, allowed by our CSP."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, if valid and newer than ``last_step``; else None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at.timestamp()) // STEP_SECONDS
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


@dataclass(frozen=True)
class RecoveryCodeMaterial:
    code: str
    selector: str
    verifier_hash: str


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_recovery_codes() -> list[RecoveryCodeMaterial]:
    materials = []
    for _ in range(RECOVERY_CODE_COUNT):
        selector, verifier = _random(6), _random(12)
        materials.append(
            RecoveryCodeMaterial(
                code=f"{selector}-{verifier}",
                selector=selector,
                verifier_hash=hash_password(verifier),
            )
        )
    return materials


def split_recovery_code(code: str) -> tuple[str, str] | None:
    selector, sep, verifier = code.strip().lower().partition("-")
    if not sep or len(selector) != 6 or len(verifier) != 12:
        return None
    return selector, verifier


def recovery_verifier_matches(stored_hash: str, verifier: str) -> bool:
    return verify_password(stored_hash, verifier)
