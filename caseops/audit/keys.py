"""The log's signing key and name, from the configuration (environment).

``CASEOPS_AUDIT_SIGNING_KEY`` holds an Ed25519 private key, as a base64 32-byte seed or
an unencrypted PKCS#8 PEM; ``CASEOPS_AUDIT_LOG_ORIGIN`` names the log (the first line of
every checkpoint, and the signed-note key name from which the key id is derived).

Rotation: the signing key can be replaced because every checkpoint row names the key
that signed it (``key_id``). ``CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS`` keeps the retired
public keys published, each with the end of its validity period, so ``verify``, the
proofs and outside auditors can still check the checkpoints signed before the rotation
(configuration rather than a table: the keys an auditor trusts must not be something a
database writer can add to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from sqlalchemy import Connection, func, select

from caseops.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    KeyRing,
    PublishedKey,
    key_id,
    load_private_key,
    parse_previous_keys,
    public_key_pem,
    sign_checkpoint,
    verifier_key,
)
from caseops.audit.models import AuditCheckpoint

DEFAULT_ORIGIN = "caseops.local/access-log"
CHECKPOINTS = AuditCheckpoint.__table__


@dataclass(frozen=True)
class LogKey:
    origin: str
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    key_id: str

    def sign(self, checkpoint: Checkpoint) -> str:
        return sign_checkpoint(checkpoint, self.private_key)

    def public_pem(self) -> str:
        return public_key_pem(self.public_key)

    def verifier_key(self) -> str:
        return verifier_key(self.origin, self.public_key)


@lru_cache(maxsize=8)
def _load(material: str, origin: str) -> LogKey:
    try:
        private_key = load_private_key(material)
    except ValueError as exc:
        raise ValueError(f"CASEOPS_AUDIT_SIGNING_KEY: {exc}") from exc
    public_key = private_key.public_key()
    try:
        kid = key_id(origin, public_key)
    except CheckpointError as exc:
        raise ValueError(f"CASEOPS_AUDIT_LOG_ORIGIN: {exc}") from exc
    return LogKey(origin, private_key, public_key, kid)


def log_key(config: Mapping[str, Any] | None = None) -> LogKey:
    """The signing key of this deployment's log (``ValueError`` if misconfigured)."""
    config = current_app.config if config is None else config
    material = config.get("CASEOPS_AUDIT_SIGNING_KEY")
    if not material:
        raise ValueError("CASEOPS_AUDIT_SIGNING_KEY is not configured")
    return _load(material, config.get("CASEOPS_AUDIT_LOG_ORIGIN") or DEFAULT_ORIGIN)


@lru_cache(maxsize=8)
def _ring(material: str, origin: str, previous: str) -> KeyRing:
    current = _load(material, origin)
    try:
        retired = parse_previous_keys(previous, origin)
    except ValueError as exc:
        raise ValueError(f"CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS: {exc}") from exc
    kids = [current.key_id] + [k.key_id for k in retired]
    if current.key_id in kids[1:]:
        raise ValueError(
            "CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS lists the current signing key as retired; "
            "a retired key must never sign again"
        )
    if len(set(kids)) != len(kids):
        raise ValueError("CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS lists a key twice")
    return KeyRing(origin, (PublishedKey(current.key_id, current.public_key), *retired))


def key_ring(config: Mapping[str, Any] | None = None) -> KeyRing:
    """The current key and every retired one still published (``ValueError`` if
    misconfigured)."""
    config = current_app.config if config is None else config
    key = log_key(config)
    return _ring(
        config["CASEOPS_AUDIT_SIGNING_KEY"],
        key.origin,
        config.get("CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS") or "",
    )


def _iso(when) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def published_keys(conn: Connection, ring: KeyRing) -> dict[str, Any]:
    """Every published key with its id and validity period, current first.

    A period starts at the configured ``not_before`` or else at the first checkpoint
    the key signed (None before it signed any); the current key's has no end.
    """
    usage = {
        kid: (first, last, count)
        for kid, first, last, count in conn.execute(
            select(
                CHECKPOINTS.c.key_id,
                func.min(CHECKPOINTS.c.signed_at),
                func.max(CHECKPOINTS.c.signed_at),
                func.count(),
            ).group_by(CHECKPOINTS.c.key_id)
        )
    }
    keys = []
    for key in ring.keys:
        first, last, count = usage.get(key.key_id, (None, None, 0))
        keys.append(
            {
                "key_id": key.key_id,
                "algorithm": "Ed25519",
                "status": "current" if key.current else "retired",
                "public_key_pem": public_key_pem(key.public_key),
                "verifier_key": verifier_key(ring.origin, key.public_key),
                "valid_from": _iso(key.not_before or first),
                "valid_until": _iso(key.not_after),
                "checkpoints": count,
                "last_signed_at": _iso(last),
            }
        )
    return {"origin": ring.origin, "current_key_id": ring.current.key_id, "keys": keys}


def retirement_entry(ring: KeyRing, conn: Connection, retire_at: datetime) -> dict[str, str]:
    """The ``CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS`` entry that retires the current key."""
    current = ring.current
    first = conn.scalar(
        select(func.min(CHECKPOINTS.c.signed_at)).where(CHECKPOINTS.c.key_id == current.key_id)
    )
    entry = {
        "key_id": current.key_id,
        "public_key": verifier_key(ring.origin, current.public_key),
        "not_after": _iso(retire_at),
    }
    if first is not None:
        entry["not_before"] = _iso(first)
    return entry
