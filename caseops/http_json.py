"""The JSON of every answer: Flask's own rules, written by orjson.

Flask encodes a JSON answer with the standard library's encoder, in Python: for a record
view's few kilobytes about 8 µs of its CPU, for a page of 500 log entries milliseconds
(issue 20). orjson writes the same document in a tenth of that, and caseops already uses
it to read JSON (``caseops.db_types.json_loads``).

The document is the one Flask's ``DefaultJSONProvider`` writes: keys sorted, compact
(indented by two in debug mode), dates as HTTP dates, ``Decimal`` and ``UUID`` as
strings, dataclasses as objects, anything else refused with ``TypeError`` (Flask's own
``default`` decides each of these). What differs is only how the bytes look, never what
they parse to: orjson writes text outside ASCII as UTF-8 rather than as ``\\u`` escapes
(answers are ``application/json``, UTF-8 by definition), and what orjson refuses (an
integer beyond 64 bits, a lone surrogate in a string) is written by Flask's own encoder,
exactly as before (escaped to ASCII, so a surrogate echoed from input cannot fail the
answer's encoding).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Flask's default() decides dates, dataclasses, Decimal, UUID and __html__, as in Flask.
_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
_HANDLED = frozenset({"indent", "separators"})  # what Flask's response() passes
_COMPACT = (",", ":")


class OrjsonProvider(DefaultJSONProvider):
    """``app.json``: Flask's JSON provider, its ``dumps`` by orjson when it can."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        indent = kwargs.get("indent")
        if (
            not kwargs.keys() <= _HANDLED
            or indent not in (None, 2)
            or kwargs.get("separators", _COMPACT) != _COMPACT
        ):
            return super().dumps(obj, **kwargs)  # a layout orjson does not write
        option = _OPTIONS
        if self.sort_keys:
            option |= orjson.OPT_SORT_KEYS
        if indent:
            option |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=self.default, option=option).decode()
        except orjson.JSONEncodeError:  # beyond orjson (or refused by default()): as Flask
            return super().dumps(obj, **kwargs)
