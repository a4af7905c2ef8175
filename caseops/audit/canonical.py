"""Canonical bytes of one access-log entry: the exact bytes hashed as its Merkle leaf.

One function, ``canonical_bytes``, used by the sealer, the verifier and the export, so
what an outside auditor downloads is byte for byte what was hashed.

The form is RFC 8785 (JSON Canonicalization Scheme) of an object holding every column
of the ``access_events`` row, keyed by column name:

* ``occurred_at`` is ISO 8601 in UTC with microseconds: ``2026-11-25T09:30:00.123456+00:00``;
* a column whose value is NULL is left out, so a nullable column added to the table
  later does not change the bytes of entries sealed before it existed (a new column
  must therefore be nullable, or the canonical form versioned);
* inside ``detail``, numbers RFC 8785 cannot represent exactly (integers beyond
  +/-(2**53 - 1), NaN, infinities) are written as strings instead of failing, so one
  odd entry can never stop the log from being sealed.

Most entries hold only strings, small integers, lists and objects: those are encoded
with orjson (keys sorted, compact), whose output equals RFC 8785 for such values (the
tests check this against the ``rfc8785`` package); anything else goes through
``rfc8785`` itself.

**Leaf version 2** (issue 19; entries with a ``leaf_salt``, i.e. written since migration
0021). A version 1 leaf is the whole entry, so proving one entry to a client would hand
over every column (staff name, address, user agent, token). A version 2 leaf commits to
each *field* separately:

* the fields are the non-NULL columns other than ``seq`` and ``leaf_salt``, except that
  ``detail`` is split into one field per top-level key, ``detail.<key>`` (so the sections
  disclosed can be revealed without the justification or the fingerprint);
* field ``name``'s salt is 16 bytes of SHAKE-256 output keyed by the entry's 32-byte
  random ``leaf_salt``: ``SHAKE256(leaf_salt || 0x00 || name)[:16]`` (one random draw
  per entry in the append path; revealing one field's salt tells nothing of another's);
* its commitment is ``hex(SHA-256(salt || canonical(value)))``, ``canonical`` being the
  RFC 8785 JSON of the value (``occurred_at`` as above; what RFC 8785 cannot represent
  as a string, as in ``detail``);
* the leaf bytes are the RFC 8785 JSON of ``{"v": 2, "seq": seq, "fields": {name:
  commitment}}``.

A statement reveals some fields with their values and salts and gives the others as
their commitments; anyone can rebuild the leaf bytes from that (``leaf_from_disclosure``).
The organisation-wide export of a version 2 entry is its whole object plus ``leaf_salt``
in hex (``export_line``), from which an auditor derives every salt, commitment and the
leaf (docs/access-statement.md gives the steps).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import rfc8785
from sqlalchemy import JSON, ColumnElement, Text, cast

from caseops.audit.models import AccessEvent
from caseops.db_types import json_loads

SALT_COLUMN = "leaf_salt"
TABLE_COLUMNS: tuple[str, ...] = tuple(column.name for column in AccessEvent.__table__.columns)
"""Every column of ``access_events`` in table order: what ``select(EVENTS)`` returns."""
COLUMNS: tuple[str, ...] = tuple(name for name in TABLE_COLUMNS if name != SALT_COLUMN)
"""The columns of an entry, in table order (the canonical object sorts them anyway);
``leaf_salt`` is not one: it is the salts' secret, never part of a field."""
LEAF_V2 = 2
SALT_SIZE = 16
DETAIL_PREFIX = "detail."

_MAX_SAFE = 2**53 - 1
_SORTED = orjson.OPT_SORT_KEYS


def iso_utc(value: datetime) -> str:
    """``occurred_at`` as it appears in the canonical bytes."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in the access log")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def entry_object(row: Mapping[str, Any] | AccessEvent) -> dict[str, Any]:
    """The JSON object of an entry (NULL columns left out), from a row mapping or model."""
    if isinstance(row, AccessEvent):
        values = [getattr(row, name) for name in COLUMNS]
    else:
        values = [row[name] for name in COLUMNS]
    return entry_from_values(values)


def salt_of(row: Mapping[str, Any] | AccessEvent) -> bytes | None:
    """The entry's leaf-version-2 secret; None for a version 1 entry."""
    value = getattr(row, SALT_COLUMN) if isinstance(row, AccessEvent) else row.get(SALT_COLUMN)
    return None if value is None else bytes(value)


def entry_from_values(values: Sequence[Any]) -> dict[str, Any]:
    """As ``entry_object``, from the column values in ``COLUMNS`` order (the fast path)."""
    entry = {name: value for name, value in zip(COLUMNS, values, strict=True) if value is not None}
    entry["occurred_at"] = iso_utc(entry["occurred_at"])
    return entry


def _plain(value: Any) -> bool:
    """True if orjson's output for ``value`` is exactly its RFC 8785 form."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            # RFC 8785 sorts keys by UTF-16 code units; that equals Python's code-point
            # order unless a key holds characters beyond U+D7FF.
            if type(key) is not str or not (key.isascii() or max(key) < "\ud800"):
                return False
            kind = type(item)
            if not (kind is str or item is None or kind is bool or _plain(item)):
                return False
        return True
    if kind is list:
        for item in value:
            kind = type(item)
            if not (kind is str or item is None or kind is bool or _plain(item)):
                return False
        return True
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_MAX_SAFE <= value <= _MAX_SAFE
    return False


def _representable(value: Any) -> Any:
    """Replace what RFC 8785 cannot encode exactly with its string form (see above)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -_MAX_SAFE <= value <= _MAX_SAFE else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_representable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _representable(item) for key, item in value.items()}
    return str(value)


def canonical_json(entry: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a JSON object (fast path for the common plain case)."""
    if _plain(entry):
        return orjson.dumps(entry, option=_SORTED)
    return rfc8785.dumps(_representable(entry))


def canonical_value(value: Any) -> bytes:
    """RFC 8785 bytes of one field's value (what its commitment hashes)."""
    if _plain(value):
        return orjson.dumps(value, option=_SORTED)
    return rfc8785.dumps(_representable(value))


def entry_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an entry object (``entry_object``): every key but ``seq``, with
    ``detail`` split into ``detail.<key>`` fields."""
    fields: dict[str, Any] = {}
    for name, value in entry.items():
        if name == "seq" or name == SALT_COLUMN:
            continue
        if name == "detail" and isinstance(value, Mapping):
            for key, item in value.items():
                fields[DETAIL_PREFIX + str(key)] = item
        else:
            fields[name] = value
    return fields


def field_salt(secret: bytes, name: str) -> bytes:
    """The salt of field ``name``: SHAKE-256 keyed by the entry's secret."""
    return hashlib.shake_256(secret + b"\x00" + name.encode("utf-8")).digest(SALT_SIZE)


def commitment(salt: bytes, value: Any) -> str:
    """hex(SHA-256(salt || canonical(value))): one field's commitment."""
    return hashlib.sha256(salt + canonical_value(value)).hexdigest()


def leaf_v2(seq: int, commitments: Mapping[str, str]) -> bytes:
    """The version 2 leaf bytes from an entry's seq and its fields' commitments."""
    return orjson.dumps({"v": LEAF_V2, "seq": seq, "fields": dict(commitments)}, option=_SORTED)


def commitments_of(entry: Mapping[str, Any], secret: bytes) -> dict[str, str]:
    """Every field's commitment (``entry`` as ``entry_object`` makes it). Inlined for the
    sealer and the verifier: most values are strings, whose orjson form is RFC 8785."""
    sha256, shake, dumps = hashlib.sha256, hashlib.shake_256, orjson.dumps
    prefix = secret + b"\x00"
    out: dict[str, str] = {}
    for name, value in entry_fields(entry).items():
        salt = shake(prefix + name.encode("utf-8")).digest(SALT_SIZE)
        data = dumps(value) if type(value) is str else canonical_value(value)
        out[name] = sha256(salt + data).hexdigest()
    return out


def leaf_v2_bytes(entry: Mapping[str, Any], secret: bytes) -> bytes:
    """The version 2 leaf bytes of a whole entry object and its secret."""
    return leaf_v2(entry["seq"], commitments_of(entry, secret))


def leaf_from_disclosure(
    seq: int, revealed: Mapping[str, tuple[Any, bytes]], hidden: Mapping[str, str]
) -> bytes:
    """The version 2 leaf bytes from revealed fields (value, salt) and the others'
    commitments: what a statement's reader recomputes. ValueError if a field is both."""
    if set(revealed) & set(hidden):
        raise ValueError("a field is both revealed and withheld")
    fields = dict(hidden)
    for name, (value, salt) in revealed.items():
        fields[name] = commitment(salt, value)
    return leaf_v2(seq, fields)


def canonical_bytes(row: Mapping[str, Any] | AccessEvent) -> bytes:
    """The bytes hashed as the entry's Merkle leaf: version 1 (the whole entry) or
    version 2 (per-field commitments) by whether the entry has a ``leaf_salt``."""
    secret = salt_of(row)
    entry = entry_object(row)
    if secret is None:
        return canonical_json(entry)
    return leaf_v2_bytes(entry, secret)


def export_line(row: Mapping[str, Any] | AccessEvent) -> bytes:
    """One line of the organisation-wide export: a version 1 entry's leaf bytes; a
    version 2 entry's whole object plus ``leaf_salt`` (hex), from which its leaf bytes
    are derived (module doc)."""
    secret = salt_of(row)
    entry = entry_object(row)
    if secret is None:
        return canonical_json(entry)
    return canonical_json(entry | {SALT_COLUMN: secret.hex()})


_OCCURRED_AT = TABLE_COLUMNS.index("occurred_at")
_SALT = TABLE_COLUMNS.index(SALT_COLUMN)
_SEQ = TABLE_COLUMNS.index("seq")
_CHECKED = tuple(
    position
    for position, column in enumerate(AccessEvent.__table__.columns)
    if column.name not in ("occurred_at", SALT_COLUMN)
    and column.type.python_type not in (str,)  # strings are always plain
)
_ENTRY_POSITIONS = tuple(TABLE_COLUMNS.index(name) for name in COLUMNS)


try:  # CPython's own SHA-256: the same digest, half the per-call cost of OpenSSL's on
    # the short inputs of a commitment (no EVP context to set up)
    from _sha256 import sha256 as _short_sha256  # Python 3.11
except ImportError:  # pragma: no cover - other Python versions
    try:
        from _sha2 import sha256 as _short_sha256  # Python 3.12+
    except ImportError:
        _short_sha256 = hashlib.sha256
_SHAKE = hashlib.shake_256
_DETAIL = TABLE_COLUMNS.index("detail")
_FIELD_POSITIONS = tuple(
    (position, name, b"\x00" + name.encode("utf-8"))
    for position, name in enumerate(TABLE_COLUMNS)
    if name not in ("seq", SALT_COLUMN, "occurred_at", "detail")
)
_OCCURRED_AT_SUFFIX = b"\x00occurred_at"


_DETAIL_FIELDS: dict[str, tuple[str, bytes]] = {}
"""``detail`` key -> (field name, its salt suffix), for string keys (a log has a few)."""
_DETAIL_FIELDS_KEPT = 1024


def _detail_field(key: Any) -> tuple[str, bytes]:
    name = DETAIL_PREFIX + str(key)
    field = (name, b"\x00" + name.encode("utf-8"))
    if type(key) is str and len(_DETAIL_FIELDS) < _DETAIL_FIELDS_KEPT:
        _DETAIL_FIELDS[key] = field
    return field


def _field_bytes(value: Any) -> bytes:
    """``canonical_value``, with strings and safe integers (orjson's form is RFC 8785's
    for them) written directly: most fields of an entry are one or the other."""
    kind = type(value)
    if kind is str or (kind is int and -_MAX_SAFE <= value <= _MAX_SAFE):
        return orjson.dumps(value)
    return canonical_value(value)


def _leaf_v2_values(values: Sequence[Any], secret: bytes) -> bytes:
    """``leaf_v2_bytes`` of a row in ``TABLE_COLUMNS`` order, specialised for the
    verifier and the sealer (a million leaves a run): the same fields in the same order,
    the same salts and commitments, without building the entry object; each field's
    name bytes computed once per process; strings and safe integers, whose orjson form
    is RFC 8785's, written directly. Equal to the general path by test (hypothesis) and
    pinned by known bytes."""
    shake, sha256, dumps, size, field_bytes = (
        _SHAKE,
        _short_sha256,
        orjson.dumps,
        SALT_SIZE,
        _field_bytes,
    )
    when = values[_OCCURRED_AT]
    stamp = when.isoformat(timespec="microseconds") if when.tzinfo is UTC else iso_utc(when)
    out = {
        "occurred_at": sha256(
            shake(secret + _OCCURRED_AT_SUFFIX).digest(size) + dumps(stamp)
        ).hexdigest()
    }
    for position, name, suffix in _FIELD_POSITIONS:
        value = values[position]
        if value is None:
            continue
        data = field_bytes(value)
        out[name] = sha256(shake(secret + suffix).digest(size) + data).hexdigest()
    detail = values[_DETAIL]
    if detail is not None:
        if type(detail) is dict or isinstance(detail, Mapping):
            fields = _DETAIL_FIELDS
            for key, item in detail.items():
                name, suffix = (type(key) is str and fields.get(key)) or _detail_field(key)
                data = field_bytes(item)
                out[name] = sha256(shake(secret + suffix).digest(size) + data).hexdigest()
        else:
            data = field_bytes(detail)
            out["detail"] = sha256(shake(secret + b"\x00detail").digest(size) + data).hexdigest()
    return dumps({"v": LEAF_V2, "seq": values[_SEQ], "fields": out}, option=_SORTED)


_JSON_POSITIONS = tuple(
    position
    for position, column in enumerate(AccessEvent.__table__.columns)
    if isinstance(column.type, JSON)
)


def bulk_columns() -> list[ColumnElement[Any]]:
    """The columns of ``access_events`` in ``TABLE_COLUMNS`` order for a bulk reader (the
    sealer, the verifier): the JSON columns as their stored text, which
    ``canonical_values(..., json_as_text=True)`` parses. psycopg's JSON loader costs
    about 6 us a row more than parsing the same text here with the same function
    (``json_loads``), measured on the verifier's reads (docs/access-log.md)."""
    return [
        cast(column, Text).label(column.name) if isinstance(column.type, JSON) else column
        for column in AccessEvent.__table__.columns
    ]


def bulk_entry(values: Sequence[Any]) -> dict[str, Any]:
    """A ``select(*bulk_columns())`` row as the entry mapping ``export_line`` and
    ``canonical_bytes`` take: every column by name, the JSON columns parsed."""
    return dict(zip(TABLE_COLUMNS, _json_parsed(values), strict=True))


def _json_parsed(values: Sequence[Any]) -> list[Any]:
    """The values of a ``bulk_columns`` row with its JSON columns parsed, by the engines'
    own reader."""
    parsed = list(values)
    for position in _JSON_POSITIONS:
        if parsed[position] is not None:
            parsed[position] = json_loads(parsed[position])
    return parsed


def canonical_values(values: Sequence[Any], *, json_as_text: bool = False) -> bytes:
    """``canonical_bytes`` from the column values in ``TABLE_COLUMNS`` order (bulk
    callers: the sealer and the verifier read ``select(access_events)`` rows, or
    ``select(*bulk_columns())`` rows with ``json_as_text``).

    Checks only the columns that can hold something orjson would not write as RFC 8785
    does (numbers and JSON), so the verifier and the sealer spend a few microseconds
    per entry; equal to ``canonical_bytes`` by construction and by test.
    """
    if len(values) != len(TABLE_COLUMNS):
        raise ValueError("one value per column expected")
    if json_as_text:
        values = _json_parsed(values)
    secret = values[_SALT]
    if secret is not None:
        if values[_OCCURRED_AT] is None or values[_SEQ] is None:  # the general path's error
            return leaf_v2_bytes(
                entry_from_values([values[i] for i in _ENTRY_POSITIONS]), bytes(secret)
            )
        return _leaf_v2_values(values, bytes(secret))
    for position in _CHECKED:
        value = values[position]
        if value is not None and not _plain(value):
            return canonical_json(entry_from_values([values[i] for i in _ENTRY_POSITIONS]))
    entry = {
        name: value for name, value in zip(TABLE_COLUMNS, values, strict=True) if value is not None
    }
    entry["occurred_at"] = iso_utc(values[_OCCURRED_AT])
    return orjson.dumps(entry, option=_SORTED)
