"""The log's signing key and name, from the configuration (environment).

``CASEOPS_AUDIT_SIGNING_KEY`` holds an Ed25519 private key, as a base64 32-byte seed or
an unencrypted PKCS#8 PEM; ``CASEOPS_AUDIT_LOG_ORIGIN`` names the log (the first line of
every checkpoint, and the signed-note key name from which the key id is derived).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

from caseops.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_id,
    load_private_key,
    public_key_pem,
    sign_checkpoint,
    verifier_key,
)

DEFAULT_ORIGIN = "caseops.local/access-log"


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
