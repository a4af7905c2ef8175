"""Tests of signed checkpoints: interoperability with published signed-note vectors,
round trips, tampering and strict parsing."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from caseops.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    format_signed_note,
    key_id,
    load_private_key,
    load_public_key,
    parse_checkpoint,
    public_key_pem,
    sign_checkpoint,
    verifier_key,
    verify_checkpoint,
)

# ---------------------------------------------------------------------------
# golang.org/x/mod sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign):
# the reference signed-note implementation's example key and note.
# ---------------------------------------------------------------------------

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# transparency-dev/formats log/note_test.go (TestSumDBNoteParsing): a real checkpoint
# of the Go checksum database and its published verifier key.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_TEXT = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
SUMDB_NOTE = (
    SUMDB_TEXT + "\n"
    "\u2014 sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nP"
    "RYfvimWEPWL+o3GeoWwOoAw=\n"
)


def _public_key_from_vkey(vkey: str) -> Ed25519PublicKey:
    encoded = vkey.split("+", 2)[2]
    raw = base64.b64decode(encoded)
    assert raw[0] == 1  # Ed25519 signature type
    return Ed25519PublicKey.from_public_bytes(raw[1:])


def test_go_reference_note_reproduced_byte_for_byte() -> None:
    skey_material = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert skey_material[0] == 1
    seed = base64.b64encode(skey_material[1:]).decode()
    key = load_private_key(seed)
    public = key.public_key()

    assert key_id("PeterNeumann", public) == "c74f20a3"
    assert verifier_key("PeterNeumann", public) == GO_VKEY
    signature = base64.b64encode(key.sign(GO_TEXT.encode())).decode()
    assert format_signed_note(GO_TEXT, signature, public, "PeterNeumann") == GO_NOTE


def test_real_sumdb_checkpoint_matches_our_conventions() -> None:
    """Key id, signature layout and signed bytes agree with a production log."""
    public = _public_key_from_vkey(SUMDB_VKEY)
    assert key_id("sum.golang.org", public) == "033de0ae"
    assert verifier_key("sum.golang.org", public) == SUMDB_VKEY
    blob = base64.b64decode(SUMDB_NOTE.rsplit(" ", 1)[1])
    assert blob[:4].hex() == "033de0ae"
    public.verify(blob[4:], SUMDB_TEXT.encode())
    signature = base64.b64encode(blob[4:]).decode()
    assert format_signed_note(SUMDB_TEXT, signature, public, "sum.golang.org") == SUMDB_NOTE
    # Its origin holds spaces and it has no time line, so our strict parser refuses it.
    with pytest.raises(CheckpointError):
        parse_checkpoint(SUMDB_TEXT)


# ---------------------------------------------------------------------------
# Our format, pinned: a fixed seed makes Ed25519 signatures deterministic.
# ---------------------------------------------------------------------------

SEED_B64 = base64.b64encode(bytes(range(32))).decode()
ORIGIN = "caseops.example/access-log"
GOLDEN = Checkpoint(
    ORIGIN, 1234567, bytes(range(32)), datetime(2025, 11, 25, 11, 51, 7, tzinfo=UTC)
)
GOLDEN_TEXT = (
    "caseops.example/access-log\n"
    "1234567\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "time 2025-11-25T11:51:07Z\n"
)
GOLDEN_SIGNATURE = (
    "aeji12KggJL8TjJxLAcmYnb415tMBMmSntCrECPeTWWmwvSKQfuuhyBZwuzYF1xpPNrXok8gXoxL70otugEiCQ=="
)
GOLDEN_KEY_ID = "020dae29"
GOLDEN_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n"
    "-----END PUBLIC KEY-----\n"
)

KEY = load_private_key(SEED_B64)
PUBLIC = KEY.public_key()


def test_golden_checkpoint() -> None:
    assert GOLDEN.text() == GOLDEN_TEXT
    assert sign_checkpoint(GOLDEN, KEY) == GOLDEN_SIGNATURE
    assert key_id(ORIGIN, PUBLIC) == GOLDEN_KEY_ID
    assert public_key_pem(PUBLIC) == GOLDEN_PEM
    assert verify_checkpoint(GOLDEN_TEXT, GOLDEN_SIGNATURE, PUBLIC, origin=ORIGIN) == GOLDEN
    note = format_signed_note(GOLDEN_TEXT, GOLDEN_SIGNATURE, PUBLIC, ORIGIN)
    body, signature_line = note.split("\n\n")
    assert body + "\n" == GOLDEN_TEXT
    assert signature_line.startswith(f"\u2014 {ORIGIN} ")
    blob = base64.b64decode(signature_line.rsplit(" ", 1)[1])
    assert blob == bytes.fromhex(GOLDEN_KEY_ID) + base64.b64decode(GOLDEN_SIGNATURE)


def test_key_id_is_the_signed_note_hash() -> None:
    raw = PUBLIC.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4].hex()
    assert key_id(ORIGIN, PUBLIC) == expected
    assert key_id(ORIGIN + "2", PUBLIC) != expected
    other = Ed25519PrivateKey.generate().public_key()
    assert key_id(ORIGIN, other) != expected


def test_round_trip_with_fresh_key() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest(), datetime.now(UTC))
    signature = sign_checkpoint(checkpoint, key)
    assert verify_checkpoint(checkpoint.text(), signature, key.public_key(), origin=ORIGIN) == (
        checkpoint
    )


def test_signed_at_is_normalised_to_utc_seconds() -> None:
    local = datetime(2025, 1, 1, 2, 30, 5, 999_999, tzinfo=timezone(timedelta(hours=2)))
    checkpoint = Checkpoint(ORIGIN, 1, b"\x00" * 32, local)
    assert checkpoint.signed_at == datetime(2025, 1, 1, 0, 30, 5, tzinfo=UTC)
    assert checkpoint.text().endswith("time 2025-01-01T00:30:05Z\n")
    assert parse_checkpoint(checkpoint.text()) == checkpoint


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.datetimes(timezones=st.just(UTC)),
)
def test_text_round_trips(size: int, root: bytes, when: datetime) -> None:
    checkpoint = Checkpoint(ORIGIN, size, root, when)
    assert parse_checkpoint(checkpoint.text()) == checkpoint


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(st.characters(exclude_categories=[]), max_size=120),
        st.builds(
            "{}\n{}\n{}\n{}\n".format,
            st.text(st.characters(exclude_categories=[]), min_size=1, max_size=30),
            st.from_regex(r"[0-9]{1,21}", fullmatch=True),
            st.binary(min_size=31, max_size=33).map(lambda b: base64.b64encode(b).decode()),
            st.one_of(
                st.from_regex(r"time [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z", fullmatch=True),
                st.datetimes().map(lambda d: f"time {d:%Y-%m-%dT%H:%M:%S}Z"),
            ),
        ),
    )
)
def test_parse_accepts_only_canonical_text(text: str) -> None:
    """Anything parse accepts is exactly the canonical text of what it returns, and
    verification never fails with anything but CheckpointError."""
    with pytest.raises(CheckpointError):
        verify_checkpoint(text, GOLDEN_SIGNATURE, PUBLIC, origin=ORIGIN)
    try:
        checkpoint = parse_checkpoint(text)
    except CheckpointError:
        return
    assert checkpoint.text() == text


# ---------------------------------------------------------------------------
# Tampering
# ---------------------------------------------------------------------------


def _tampered_texts() -> list[str]:
    root_b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    flipped_root = base64.b64encode(bytes([1, *range(1, 32)])).decode()
    return [
        GOLDEN_TEXT.replace("1234567", "1234568"),
        GOLDEN_TEXT.replace("1234567", "123456"),
        GOLDEN_TEXT.replace(root_b64, flipped_root),
        GOLDEN_TEXT.replace("caseops.example/access-log", "caseops.example/access-lag"),
        GOLDEN_TEXT.replace("11:51:07", "11:51:08"),
        GOLDEN_TEXT + "time 2025-11-25T11:51:07Z\n",
        GOLDEN_TEXT.replace("\n", "\r\n"),
        GOLDEN_TEXT[:-1],
    ]


@pytest.mark.parametrize("text", _tampered_texts())
def test_tampered_text_rejected(text: str) -> None:
    with pytest.raises(CheckpointError):
        verify_checkpoint(text, GOLDEN_SIGNATURE, PUBLIC, origin=ORIGIN)


def test_tampered_signature_rejected() -> None:
    raw = base64.b64decode(GOLDEN_SIGNATURE)
    for bit in range(0, 512, 7):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        signature = base64.b64encode(bytes(flipped)).decode()
        with pytest.raises(CheckpointError, match="does not verify"):
            verify_checkpoint(GOLDEN_TEXT, signature, PUBLIC, origin=ORIGIN)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not base64!",
        GOLDEN_SIGNATURE[:-4],
        GOLDEN_SIGNATURE.rstrip("="),
        GOLDEN_SIGNATURE + "AAAA",
        " " + GOLDEN_SIGNATURE,
        base64.b64encode(
            bytes.fromhex(GOLDEN_KEY_ID) + base64.b64decode(GOLDEN_SIGNATURE)
        ).decode(),
        b"bytes",
    ],
)
def test_malformed_signature_rejected(signature: str) -> None:
    with pytest.raises(CheckpointError):
        verify_checkpoint(GOLDEN_TEXT, signature, PUBLIC, origin=ORIGIN)


def test_wrong_key_or_origin_rejected() -> None:
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(GOLDEN_TEXT, GOLDEN_SIGNATURE, other, origin=ORIGIN)
    with pytest.raises(CheckpointError, match=r"not 'caseops\.example/staging'"):
        verify_checkpoint(GOLDEN_TEXT, GOLDEN_SIGNATURE, PUBLIC, origin="caseops.example/staging")


# ---------------------------------------------------------------------------
# Strict parsing
# ---------------------------------------------------------------------------

ROOT_LINE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
TIME_LINE = "time 2025-11-25T11:51:07Z"


def _body(origin: str = ORIGIN, size: str = "5", root: str = ROOT_LINE, time: str = TIME_LINE):
    return f"{origin}\n{size}\n{root}\n{time}\n"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        _body()[:-1],
        _body() + "\n",
        _body() + "extra line\n",
        f"{ORIGIN}\n5\n{ROOT_LINE}\n",
        f"\n{ORIGIN}\n5\n{ROOT_LINE}\n{TIME_LINE}\n",
        _body().replace("\n", "\r\n"),
        _body(origin=""),
        _body(origin="caseops example"),
        _body(origin="caseops+example"),
        _body(origin="caseops\texample"),
        _body(origin="caseops\u00a0example"),
        _body(origin="caseops\x01example"),
        _body(origin="caseops\ud800example"),
        _body(size=""),
        _body(size="05"),
        _body(size="00"),
        _body(size="+5"),
        _body(size="-5"),
        _body(size=" 5"),
        _body(size="5 "),
        _body(size="5.0"),
        _body(size="0x5"),
        _body(size="\uff15"),
        _body(size="\u0665"),
        _body(size=str(2**64)),
        _body(size="9" * 400),
        _body(root=""),
        _body(root=ROOT_LINE.rstrip("=")),
        _body(root=ROOT_LINE[:-2] + "9="),  # non-zero padding bits
        _body(root=base64.urlsafe_b64encode(bytes([0xFF] * 32)).decode()),
        _body(root=base64.b64encode(bytes(31)).decode()),
        _body(root=base64.b64encode(bytes(33)).decode()),
        _body(root=ROOT_LINE.encode().hex()),
        _body(root=" " + ROOT_LINE),
        _body(time=""),
        _body(time="time"),
        _body(time="time 2025-11-25T11:51:07+00:00"),
        _body(time="time 2025-11-25T11:51:07.5Z"),
        _body(time="time 2025-11-25T11:51:07z"),
        _body(time="time 2025-11-25 11:51:07Z"),
        _body(time="time  2025-11-25T11:51:07Z"),
        _body(time="Time 2025-11-25T11:51:07Z"),
        _body(time="time 2025-13-25T11:51:07Z"),
        _body(time="time 2025-02-30T11:51:07Z"),
        _body(time="time 2025-11-25T24:00:00Z"),
        _body(time="time 2025-11-25T23:59:60Z"),
        _body(time="time 0000-01-01T00:00:00Z"),
        _body(time="time 1764071467"),
        _body(time="time \uff12025-11-25T11:51:07Z"),
        b"bytes are not text",
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(text)


def test_parse_accepts_well_formed() -> None:
    checkpoint = parse_checkpoint(_body(size="0"))
    assert checkpoint.tree_size == 0
    assert parse_checkpoint(_body(size=str(2**64 - 1))).tree_size == 2**64 - 1
    assert checkpoint.root_hash == bytes(range(32))
    assert checkpoint.signed_at == datetime(2025, 11, 25, 11, 51, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("origin", "size", "root", "when"),
    [
        ("", 1, bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        ("a b", 1, bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        ("a+b", 1, bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        ("a\nb", 1, bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        (ORIGIN, -1, bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        (ORIGIN, 2**64, bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        (ORIGIN, True, bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        (ORIGIN, "1", bytes(32), datetime(2025, 1, 1, tzinfo=UTC)),
        (ORIGIN, 1, bytes(31), datetime(2025, 1, 1, tzinfo=UTC)),
        (ORIGIN, 1, "0" * 32, datetime(2025, 1, 1, tzinfo=UTC)),
        (ORIGIN, 1, bytes(32), datetime(2025, 1, 1)),
        (ORIGIN, 1, bytes(32), "2025-01-01T00:00:00Z"),
    ],
)
def test_checkpoint_rejects_invalid_fields(
    origin: str, size: int, root: bytes, when: datetime
) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(origin, size, root, when)


# ---------------------------------------------------------------------------
# Keys and signed notes
# ---------------------------------------------------------------------------


def test_load_private_key_from_pem_and_seed() -> None:
    pem = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for material in (pem, pem.decode(), SEED_B64, f"  {SEED_B64}\n", SEED_B64.encode()):
        assert sign_checkpoint(GOLDEN, load_private_key(material)) == GOLDEN_SIGNATURE


@pytest.mark.parametrize(
    "material",
    [
        "",
        "not base64 at all",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(64)).decode(),
        "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n",
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode(),
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        ).decode(),
    ],
)
def test_load_private_key_rejects_bad_material(material: str) -> None:
    with pytest.raises(ValueError):
        load_private_key(material)


def test_public_key_pem_round_trip() -> None:
    loaded = load_public_key(GOLDEN_PEM)
    assert key_id(ORIGIN, loaded) == GOLDEN_KEY_ID
    assert public_key_pem(load_public_key(GOLDEN_PEM.encode())) == GOLDEN_PEM


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n",
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    ],
)
def test_load_public_key_rejects_bad_material(pem: str) -> None:
    with pytest.raises(ValueError):
        load_public_key(pem)


@pytest.mark.parametrize(
    ("text", "signature", "name"),
    [
        (GOLDEN_TEXT[:-1], GOLDEN_SIGNATURE, ORIGIN),
        (GOLDEN_TEXT + "\x01\n", GOLDEN_SIGNATURE, ORIGIN),
        (GOLDEN_TEXT, GOLDEN_SIGNATURE[:-4], ORIGIN),
        (GOLDEN_TEXT, GOLDEN_SIGNATURE, ""),
        (GOLDEN_TEXT, GOLDEN_SIGNATURE, "two words"),
        (GOLDEN_TEXT, GOLDEN_SIGNATURE, "a+b"),
        (GOLDEN_TEXT, GOLDEN_SIGNATURE, "a\udc00"),
    ],
)
def test_format_signed_note_rejects_bad_input(text: str, signature: str, name: str) -> None:
    with pytest.raises(CheckpointError):
        format_signed_note(text, signature, PUBLIC, name)
