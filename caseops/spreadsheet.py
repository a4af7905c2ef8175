"""CSV for people who open it in a spreadsheet: one writer for every export.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as
a formula by spreadsheet programs (CSV injection, OWASP): such a value is written with a
leading apostrophe, so a name or a reason typed by anyone can never run as a formula in
the privacy officer's or the agency's spreadsheet. Lists join with ``"; "``, booleans read
``yes`` / ``no``, None is empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A header of ``columns``, then one line per row (CRLF, as RFC 4180 has it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row[name]) for name in columns])
    return out.getvalue()
