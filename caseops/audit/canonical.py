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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import rfc8785

from caseops.audit.models import AccessEvent

COLUMNS: tuple[str, ...] = tuple(column.name for column in AccessEvent.__table__.columns)
"""The columns of an entry, in table order (the canonical object sorts them anyway)."""

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


def canonical_bytes(row: Mapping[str, Any] | AccessEvent) -> bytes:
    """The bytes hashed as the entry's Merkle leaf (and exported as one JSONL line)."""
    return canonical_json(entry_object(row))


_OCCURRED_AT = COLUMNS.index("occurred_at")
_CHECKED = tuple(
    position
    for position, column in enumerate(AccessEvent.__table__.columns)
    if column.name != "occurred_at"
    and column.type.python_type not in (str,)  # strings are always plain
)


def canonical_values(values: Sequence[Any]) -> bytes:
    """``canonical_bytes`` from the column values in ``COLUMNS`` order (bulk callers).

    Checks only the columns that can hold something orjson would not write as RFC 8785
    does (numbers and JSON), so the verifier and the sealer spend a few microseconds
    per entry; equal to ``canonical_bytes`` by construction and by test.
    """
    if len(values) != len(COLUMNS):
        raise ValueError("one value per column expected")
    for position in _CHECKED:
        value = values[position]
        if value is not None and not _plain(value):
            return canonical_json(entry_from_values(values))
    entry = {name: value for name, value in zip(COLUMNS, values, strict=True) if value is not None}
    entry["occurred_at"] = iso_utc(values[_OCCURRED_AT])
    return orjson.dumps(entry, option=_SORTED)
