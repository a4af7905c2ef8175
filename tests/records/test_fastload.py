"""The bulk fast path loads exactly what marshmallow loads, or hands the line back.

A line the fast path accepted but marshmallow would refuse is an invalid record stored;
one it loaded differently is a record stored other than sent. So the property checked
on generated lines, valid and invalid alike: the fast path's answer is either ``None``
or equal to ``schema.load``'s, and it answers ``None`` whenever marshmallow refuses.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, post_load

from bench.ingest import line
from caseops.demo.synthetic import generate
from caseops.records import prepare
from caseops.records.fastload import compile_loader
from caseops.records.schemas import DATA_SCHEMAS, BulkLineSchema, load_bulk_line
from caseops.vocabulary import CATEGORIES

SCHEMA = BulkLineSchema()
FAST = compile_loader(SCHEMA)

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
short_text = st.one_of(st.text(max_size=12), st.text(min_size=199, max_size=202))
dates = st.one_of(
    st.dates().map(date.isoformat),
    st.sampled_from(["2020-13-01", "2020-02-30", "2020-1-5", "20200105", "", "0001-01-01"]),
)
field_values = {
    fields.String: short_text,
    fields.Email: st.sampled_from(["maria@example.org", "not-an-email", "a@b", ""]),
    fields.Date: dates,
    fields.Integer: st.integers(min_value=-5, max_value=2**64),
    fields.Float: st.one_of(st.floats(min_value=-0.5, max_value=1.5), st.integers(-1, 2)),
    fields.Boolean: st.booleans(),
    fields.Decimal: st.one_of(st.integers(0, 10**6), st.sampled_from(["12.50", "x"])),
}


def values_for(field: fields.Field) -> st.SearchStrategy:
    """Mostly values of the field's own type (valid or nearly), sometimes anything."""
    if isinstance(field, fields.Nested):
        own = record_of(field.schema)
    elif isinstance(field, fields.List):
        own = st.lists(values_for(field.inner), max_size=3)
    elif isinstance(field, fields.Dict):
        own = st.dictionaries(st.text(max_size=6), anything, max_size=3)
    else:
        own = field_values[type(field)]
    if field.validators and type(field) is fields.String:
        choices = [c for v in field.validators for c in getattr(v, "choices", [])]
        if choices:
            own = st.one_of(own, st.sampled_from(choices))
    return st.one_of(own, own, own, anything)


def record_of(schema: Schema, extra: dict | None = None) -> st.SearchStrategy:
    """Dicts holding any subset of the schema's fields, and now and then a stranger."""
    fields_ = {name: values_for(field) for name, field in schema.load_fields.items()}
    fields_.update(extra or {})
    subset = st.fixed_dictionaries({}, optional=fields_)
    unknown = st.dictionaries(st.sampled_from(["nickname", "zip"]), anything, max_size=1)
    return st.one_of(subset, subset, subset, st.tuples(subset, unknown).map(lambda t: t[0] | t[1]))


@st.composite
def bulk_lines(draw) -> dict:
    category = draw(st.one_of(st.sampled_from(CATEGORIES), st.just("astrology")))
    data_schema = DATA_SCHEMAS.get(category, DATA_SCHEMAS["housing"])()
    extra = {
        "category": st.just(category),
        "data": record_of(data_schema),
        "source_record_id": st.one_of(st.sampled_from(["H-1", "h.2:x", "bad id", ""]), anything),
    }
    return draw(record_of(SCHEMA, extra))


def agrees_with_marshmallow(raw) -> bool | None:
    """True: both loaded it alike; False: fast path answered, and differently; None:
    handed back."""
    fast = FAST(raw)
    try:
        expected = SCHEMA.load(raw)
    except ValidationError:
        assert fast is None, f"fast path accepted what marshmallow refuses: {raw!r}"
        return None
    if fast is None:
        return None
    assert fast == expected
    assert json.dumps(fast, default=str, sort_keys=True) == json.dumps(
        expected, default=str, sort_keys=True
    )
    return True


@settings(max_examples=1500, deadline=None)
@given(bulk_lines())
def test_fast_path_never_accepts_or_loads_differently(raw):
    agrees_with_marshmallow(raw)


@pytest.mark.parametrize("category", CATEGORIES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fast_path_agrees_on_every_category(category, data):
    schema = DATA_SCHEMAS[category]()
    raw = data.draw(record_of(schema))
    fast = compile_loader(schema)(raw)
    try:
        expected = schema.load(raw)
    except ValidationError:
        assert fast is None
        return
    assert fast is None or fast == expected


def test_valid_lines_of_a_real_feed_never_need_marshmallow():
    """The point of the fast path: the lines of a feed (synthetic agency files with
    their gaps and typos) are loaded without marshmallow, and loaded alike."""
    people = generate(300, agencies=2, seed=3)
    lines = [
        line(r, category, n)
        for n, r in enumerate(people.files["A1"])
        for category in ("housing", "health")
    ]
    assert all(agrees_with_marshmallow(raw) is True for raw in lines)


def test_load_bulk_line_gives_marshmallows_errors():
    with pytest.raises(ValidationError) as refused:
        load_bulk_line({"category": "housing", "person": {"given_name": "Ana"}, "data": {}})
    assert refused.value.messages == {
        "source_record_id": ["Missing data for required field."],
        "source_version": ["Missing data for required field."],
        "person": {"birth_date": ["A record needs a birth date or an SSN."]},
    }


def test_a_schema_with_hooks_it_does_not_reproduce_is_never_fast_loaded():
    class Shouting(Schema):
        name = fields.String()

        @post_load
        def shout(self, data, **_kwargs):
            return {"name": data["name"].upper()}

    assert Shouting().load({"name": "ana"}) == {"name": "ANA"}
    assert compile_loader(Shouting())({"name": "ana"}) is None


def _digest_as_first_stored(body) -> str:
    """The canonical form records were stored with before: through a JSON round trip."""
    plain = json.loads(json.dumps(body, default=str, sort_keys=True))
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@settings(max_examples=300, deadline=None)
@given(bulk_lines())
def test_body_digest_is_the_one_records_were_stored_with(raw):
    """A stored record is recognised by its digest when the same body comes again; a
    changed canonical form would turn every replay into a 409."""
    try:
        body = SCHEMA.load(raw)
    except ValidationError:
        return
    assert prepare.body_digest(body) == _digest_as_first_stored(body)
