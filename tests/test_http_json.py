"""Every JSON answer is the document Flask's own provider would write (caseops.http_json)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from hypothesis import given
from hypothesis import strategies as st

from caseops.http_json import OrjsonProvider

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)


def _documents(scalars: st.SearchStrategy) -> st.SearchStrategy:
    """JSON documents (lists and string-keyed objects) with ``scalars`` at the leaves."""
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=30,
    )


_DOCUMENTS = _documents(_SCALARS)
_NO_FLOATS = _documents(_SCALARS.filter(lambda value: not isinstance(value, float)))


@pytest.fixture(scope="module")
def providers():
    app = Flask(__name__)
    flask_utf8 = DefaultJSONProvider(app)
    flask_utf8.ensure_ascii = False  # orjson writes UTF-8; Flask's default escapes to ASCII
    return OrjsonProvider(app), flask_utf8


@given(_DOCUMENTS)
def test_any_document_parses_to_what_flask_writes(providers, document):
    ours, flask_own = providers
    assert json.loads(ours.dumps(document)) == json.loads(flask_own.dumps(document))


@given(_NO_FLOATS)
def test_without_floats_the_bytes_are_flasks_compact_sorted_bytes(providers, document):
    """Floats aside (``1e+16`` against ``1e16``: the same number), byte for byte."""
    ours, flask_own = providers
    compact = {"separators": (",", ":")}
    assert ours.dumps(document, **compact) == flask_own.dumps(document, **compact)


@dataclasses.dataclass
class _Point:
    x: int
    when: date


def test_flasks_own_rules_for_what_json_lacks(providers):
    ours, flask_own = providers
    document = {
        "at": datetime(2026, 12, 7, 15, 30, tzinfo=UTC),
        "on": date(2026, 12, 7),
        "amount": Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "point": _Point(1, date(2026, 1, 2)),
    }
    compact = {"separators": (",", ":")}
    written = ours.dumps(document, **compact)
    assert written == flask_own.dumps(document, **compact)
    assert json.loads(written)["at"] == "Mon, 07 Dec 2026 15:30:00 GMT"
    with pytest.raises(TypeError):
        ours.dumps({"unknown": object()})


def test_what_orjson_refuses_flask_writes_as_before(providers):
    """An integer beyond 64 bits; a lone surrogate (from a JSON body's ``\\ud800`` echoed
    in an error): Flask's encoder, escaped to ASCII, so the answer still encodes."""
    ours, _ = providers
    assert json.loads(ours.dumps({"big": 2**70})) == {"big": 2**70}
    written = ours.dumps({"echo": "\ud800"}, separators=(",", ":"))
    assert written == '{"echo":"\\ud800"}'
    written.encode()


def test_answers_are_utf8_sorted_and_compact(app, client):
    assert isinstance(app.json, OrjsonProvider)
    with app.test_request_context():
        answer = app.json.response({"name": "José", "a": [1, 2]})
    assert answer.mimetype == "application/json"
    assert answer.get_data() == '{"a":[1,2],"name":"José"}\n'.encode()


def test_debug_answers_are_indented_as_flasks(providers):
    ours, flask_own = providers
    document = {"b": {"c": [1, "é"]}, "a": None}
    assert ours.dumps(document, indent=2) == flask_own.dumps(document, indent=2)


def test_a_layout_orjson_cannot_write_is_flasks(providers):
    ours, flask_own = providers
    spaced = {"separators": (", ", ": ")}
    assert ours.dumps({"b": 1, "a": [1, 2]}, **spaced) == '{"a": [1, 2], "b": 1}'
    assert ours.dumps({"a": 1}, indent=4) == flask_own.dumps({"a": 1}, indent=4)
