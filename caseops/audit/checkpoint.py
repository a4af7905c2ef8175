"""Signed checkpoints of the access log, in the C2SP tlog-checkpoint layout.

A checkpoint commits the log to a tree size and root hash; because it is signed with
an Ed25519 key, an auditor holding the public key can detect a log that was rewritten.
The layout follows c2sp.org/tlog-checkpoint so that standard tooling can check it.

Checkpoint text (the exact bytes signed; UTF-8, every line ends in ``\\n``)::

    <origin>
    <tree size, ASCII decimal, no leading zeros>
    <root hash, standard base64 of 32 bytes>
    time <UTC instant as YYYY-MM-DDTHH:MM:SSZ>

The fourth line is our one extension line; it is always present and to the second.
The origin doubles as the signed-note key name, so it must be a valid key name:
non-empty, no whitespace, no ``+``, no control characters. The signature is the raw
64-byte Ed25519 signature over the text, base64; ``format_signed_note`` wraps both
into a C2SP signed note (key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from caseops.audit.merkle import HASH_SIZE

_ED25519_SIGNATURE_TYPE = b"\x01"
_SIGNATURE_SIZE = 64
_SEED_SIZE = 32
_MAX_TREE_SIZE = 2**64 - 1
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_VERIFIER_KEY_RE = re.compile(r"[^+\s]+\+[0-9a-f]{8}\+")
_TIME_RE = re.compile(r"time ([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


class CheckpointError(ValueError):
    """A checkpoint or signed note is malformed, or its signature does not verify."""


def _check_key_name(name: str) -> None:
    """Enforce the signed-note key-name rules (we also apply them to origins).

    Surrogates are refused too: they cannot be encoded, so could never be signed.
    """
    if not name or any(
        c.isspace() or c == "+" or c < " " or "\ud800" <= c <= "\udfff" for c in name
    ):
        raise CheckpointError(f"invalid origin or key name {name!r}")


def _b64decode_strict(text: str, size: int, what: str) -> bytes:
    """Decode canonical standard base64 of exactly ``size`` bytes, nothing else."""
    if not isinstance(text, str):
        raise CheckpointError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise CheckpointError(f"{what} is not base64") from exc
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointError(f"{what} must be the canonical base64 of {size} bytes")
    return raw


@dataclass(frozen=True)
class Checkpoint:
    """The signed statement "log ``origin`` had ``tree_size`` entries with this root".

    ``signed_at`` is normalised to UTC and truncated to the second, so that
    ``parse_checkpoint(cp.text()) == cp``.
    """

    origin: str
    tree_size: int
    root_hash: bytes
    signed_at: datetime

    def __post_init__(self) -> None:
        _check_key_name(self.origin)
        size = self.tree_size
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_TREE_SIZE:
            raise CheckpointError("tree size must be an integer in [0, 2**64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointError("root hash must be 32 bytes")
        if not isinstance(self.signed_at, datetime) or self.signed_at.utcoffset() is None:
            raise CheckpointError("signed_at must be timezone-aware")
        utc = self.signed_at.astimezone(UTC).replace(microsecond=0)
        object.__setattr__(self, "signed_at", utc)

    def text(self) -> str:
        """The exact note text that is signed."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        t = self.signed_at
        when = f"{t.year:04}-{t.month:02}-{t.day:02}T{t.hour:02}:{t.minute:02}:{t.second:02}Z"
        return f"{self.origin}\n{self.tree_size}\n{root}\ntime {when}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint text strictly: exactly the four lines above, canonical forms only."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 4:
        raise CheckpointError("checkpoint must have exactly four lines")
    origin, size_line, root_line, time_line = lines
    if not _SIZE_RE.fullmatch(size_line):
        raise CheckpointError("tree size must be a decimal number without leading zeros")
    root_hash = _b64decode_strict(root_line, HASH_SIZE, "root hash")
    when = _TIME_RE.fullmatch(time_line)
    if when is None:
        raise CheckpointError("last line must be 'time YYYY-MM-DDTHH:MM:SSZ'")
    try:
        signed_at = datetime(*(int(part) for part in when.groups()), tzinfo=UTC)
    except ValueError as exc:
        raise CheckpointError("time is not a valid instant") from exc
    return Checkpoint(origin, int(size_line), root_hash, signed_at)


def load_private_key(material: str | bytes) -> Ed25519PrivateKey:
    """Load the signing key from an unencrypted PKCS#8 PEM or a base64 32-byte seed.

    The seed form fits in one environment variable.
    """
    data = material.encode("ascii") if isinstance(material, str) else material
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError("unreadable private key PEM") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("private key PEM is not an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ValueError("private key is neither PEM nor base64") from exc
    if len(seed) != _SEED_SIZE:
        raise ValueError("an Ed25519 seed must be 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """Load a SubjectPublicKeyInfo PEM, as published by ``public_key_pem``."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ValueError("unreadable public key PEM") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("public key PEM is not an Ed25519 key")
    return key


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM of the verification key, for auditors."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_id_bytes(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    _check_key_name(key_name)
    material = key_name.encode("utf-8") + b"\n" + _ED25519_SIGNATURE_TYPE
    return hashlib.sha256(material + _raw_public_key(public_key)).digest()[:4]


def key_id(key_name: str, public_key: Ed25519PublicKey) -> str:
    """C2SP signed-note key id, as 8 hex digits; it names the key in signature lines."""
    return _key_id_bytes(key_name, public_key).hex()


def verifier_key(key_name: str, public_key: Ed25519PublicKey) -> str:
    """Signed-note verifier key ``<name>+<key id>+<base64(0x01 || key)>`` for note tools."""
    encoded = base64.b64encode(_ED25519_SIGNATURE_TYPE + _raw_public_key(public_key))
    return f"{key_name}+{key_id(key_name, public_key)}+{encoded.decode('ascii')}"


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> str:
    """Base64 Ed25519 signature over ``checkpoint.text()``."""
    signature = private_key.sign(checkpoint.text().encode("utf-8"))
    return base64.b64encode(signature).decode("ascii")


def verify_checkpoint(
    text: str, signature: str, public_key: Ed25519PublicKey, *, origin: str
) -> Checkpoint:
    """Return the checkpoint if ``signature`` is valid over ``text`` and it names ``origin``.

    ``origin`` is required so that a checkpoint of another log signed with the same key
    (staging, a copy) is not mistaken for this log's. Raises ``CheckpointError``.
    """
    checkpoint = parse_checkpoint(text)
    raw_signature = _b64decode_strict(signature, _SIGNATURE_SIZE, "signature")
    try:
        public_key.verify(raw_signature, text.encode("utf-8"))
    except InvalidSignature as exc:
        raise CheckpointError("checkpoint signature does not verify") from exc
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def format_signed_note(
    text: str, signature: str, public_key: Ed25519PublicKey, key_name: str
) -> str:
    """Wrap note text and its base64 signature as a C2SP signed note.

    Result: ``text``, a blank line, then ``— <key name> <base64(key id || signature)>``.
    """
    if not text.endswith("\n") or any(c < " " and c != "\n" for c in text):
        raise CheckpointError("note text must end with a newline and hold no control characters")
    raw_signature = _b64decode_strict(signature, _SIGNATURE_SIZE, "signature")
    blob = base64.b64encode(_key_id_bytes(key_name, public_key) + raw_signature)
    return f"{text}\n\u2014 {key_name} {blob.decode('ascii')}\n"


# --- Published keys: the current signing key and the retired ones (key rotation). ---


def parse_instant(value: object, what: str) -> datetime:
    """An ISO 8601 instant with a time zone (``Z`` accepted), as UTC."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 instant")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{what} is not an ISO 8601 instant: {value!r}") from exc
    if when.utcoffset() is None:
        raise ValueError(f"{what} needs a time zone (e.g. 2026-01-31T12:00:00Z)")
    return when.astimezone(UTC)


def load_any_public_key(material: str) -> Ed25519PublicKey:
    """A public key as published: SubjectPublicKeyInfo PEM, a signed-note verifier key
    (``name+keyid+base64(0x01 || key)``) or the base64 of the raw 32 bytes."""
    material = material.strip()
    if material.startswith("-----BEGIN"):
        return load_public_key(material)
    if _VERIFIER_KEY_RE.match(material):
        name, kid, encoded = material.split("+", 2)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise ValueError("verifier key is not base64 after its key id") from exc
        if raw[:1] != _ED25519_SIGNATURE_TYPE or len(raw) != 33:
            raise ValueError("verifier key is not an Ed25519 signed-note key")
        public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
        if key_id(name, public_key) != kid:
            raise ValueError("verifier key: its key id does not match its key")
        return public_key
    try:
        raw = base64.b64decode(material, validate=True)
    except binascii.Error as exc:
        raise ValueError("public key is neither PEM, a verifier key nor base64") from exc
    if len(raw) != 32:
        raise ValueError("a raw Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class PublishedKey:
    """A checkpoint-verification key with the period in which it may have signed.

    ``not_after`` is None for the current key. A retired key's signature on a checkpoint
    dated after it was retired is refused: whoever obtains an old private key cannot
    sign new history with it.
    """

    key_id: str
    public_key: Ed25519PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None

    @property
    def current(self) -> bool:
        return self.not_after is None

    def covers(self, when: datetime) -> bool:
        if self.not_before is not None and when < self.not_before:
            return False
        return self.not_after is None or when <= self.not_after


@dataclass(frozen=True)
class KeyRing:
    """Every key this log has signed with, current first; chosen by key id."""

    origin: str
    keys: tuple[PublishedKey, ...]

    @classmethod
    def single(cls, origin: str, public_key: Ed25519PublicKey) -> KeyRing:
        return cls(origin, (PublishedKey(key_id(origin, public_key), public_key),))

    @property
    def current(self) -> PublishedKey:
        return self.keys[0]

    def get(self, kid: str | None) -> PublishedKey | None:
        return next((k for k in self.keys if k.key_id == kid), None)

    def verify(self, text: str, signature: str, kid: str | None = None) -> Checkpoint:
        """Verify with the key named by ``kid`` (or, without one, whichever key signed it)
        and check the checkpoint's time falls in that key's validity period."""
        candidates = self.keys if kid is None else tuple(k for k in self.keys if k.key_id == kid)
        if not candidates:
            raise CheckpointError(f"signed by key id {kid}, which is not a published key")
        error: CheckpointError | None = None
        for candidate in candidates:
            try:
                checkpoint = verify_checkpoint(
                    text, signature, candidate.public_key, origin=self.origin
                )
            except CheckpointError as exc:
                error = error or exc
                continue
            if not candidate.covers(checkpoint.signed_at):
                raise CheckpointError(
                    f"signed by key {candidate.key_id} outside its validity period"
                )
            return checkpoint
        assert error is not None
        raise error


def parse_previous_keys(raw: str, origin: str) -> tuple[PublishedKey, ...]:
    """``CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS``: a JSON list of retired keys, each
    ``{"public_key": PEM | verifier key | base64, "not_after": instant,
    "not_before": instant (optional), "key_id": hex (optional, checked)}``."""
    if not raw or not raw.strip():
        return ()
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ValueError("must be a JSON list of keys") from exc
    if not isinstance(items, list):
        raise ValueError("must be a JSON list of keys")
    keys: list[PublishedKey] = []
    for number, item in enumerate(items, 1):
        where = f"key {number}"
        if not isinstance(item, dict) or not isinstance(item.get("public_key"), str):
            raise ValueError(f"{where}: needs a public_key string")
        try:
            public_key = load_any_public_key(item["public_key"])
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        kid = key_id(origin, public_key)
        if item.get("key_id") not in (None, kid):
            raise ValueError(f"{where}: key_id {item['key_id']!r} is not this key's ({kid})")
        if "not_after" not in item:
            raise ValueError(f"{where}: needs not_after (when it was retired)")
        not_after = parse_instant(item["not_after"], f"{where}: not_after")
        not_before = (
            parse_instant(item["not_before"], f"{where}: not_before")
            if item.get("not_before") is not None
            else None
        )
        if not_before is not None and not_before > not_after:
            raise ValueError(f"{where}: not_before is after not_after")
        keys.append(PublishedKey(kid, public_key, not_before, not_after))
    return tuple(keys)
