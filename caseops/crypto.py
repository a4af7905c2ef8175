"""Encryption at rest for sensitive fields (TOTP secrets, record payloads, identifiers).

AES-256-GCM with keys from ``CASEOPS_ENCRYPTION_KEYS`` (``kid:base64key,...``; the first
is used to encrypt, all are tried by id to decrypt, so keys can be rotated). Each
ciphertext is bound to what it protects (associated data), so a value copied into
another row or column does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"


class KeyringError(ValueError):
    """The configured keys are unusable, or a ciphertext names an unknown key."""


class DecryptionFailed(ValueError):
    """A ciphertext was altered, moved to another context, or needs a missing key."""


@dataclass(frozen=True)
class Keyring:
    primary_id: str
    keys: dict[str, bytes]
    # One cipher object per key, made once: bulk linkage decrypts thousands of values.
    _ciphers: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ciphers", {kid: AESGCM(key) for kid, key in self.keys.items()})

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kid, sep, encoded = item.partition(":")
            if not sep or not kid.isalnum():
                raise KeyringError(
                    "CASEOPS_ENCRYPTION_KEYS must look like 'k2:<base64 32 bytes>,k1:<...>'"
                )
            try:
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError) as exc:
                raise KeyringError(f"encryption key {kid!r} is not valid base64") from exc
            if len(key) != 32:
                raise KeyringError(f"encryption key {kid!r} must be 32 bytes, got {len(key)}")
            if kid in keys:
                raise KeyringError(f"encryption key id {kid!r} appears twice")
            keys[kid] = key
            order.append(kid)
        if not order:
            raise KeyringError("CASEOPS_ENCRYPTION_KEYS holds no key")
        return cls(primary_id=order[0], keys=keys)

    def encrypt(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._ciphers[self.primary_id].encrypt(nonce, plaintext, context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{FORMAT_VERSION}:{self.primary_id}:{body}"

    def decrypt(self, token: str, context: str) -> bytes:
        version, _, rest = token.partition(":")
        kid, _, body = rest.partition(":")
        if version != FORMAT_VERSION or not body:
            raise DecryptionFailed("not a caseops ciphertext")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionFailed(f"ciphertext needs key {kid!r}, which is not configured")
        raw = base64.urlsafe_b64decode(body)
        try:
            return cipher.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag as exc:
            raise DecryptionFailed("ciphertext does not match its context or was altered") from exc

    def needs_rotation(self, token: str) -> bool:
        return token.split(":", 2)[1:2] != [self.primary_id]


def keyring_from_config(config) -> Keyring:
    cached = config.get("_CASEOPS_KEYRING")
    spec = config["CASEOPS_ENCRYPTION_KEYS"]
    if cached is None or cached[0] != spec:
        cached = (spec, Keyring.parse(spec))
        config["_CASEOPS_KEYRING"] = cached
    return cached[1]
