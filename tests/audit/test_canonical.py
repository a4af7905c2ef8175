"""Canonical entry bytes: RFC 8785 of every column, as stored (one function for all);
leaf version 2: one salted commitment per field (issue 19)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from caseops.audit.canonical import (
    COLUMNS,
    TABLE_COLUMNS,
    bulk_columns,
    canonical_bytes,
    canonical_json,
    canonical_values,
    commitments_of,
    entry_fields,
    entry_object,
    export_line,
    field_salt,
    leaf_from_disclosure,
    leaf_v2_bytes,
)
from caseops.audit.models import AccessEvent
from caseops.audit.service import record
from caseops.authz.actor import Actor
from caseops.context import Origin, origin_scope
from caseops.db_types import json_loads
from caseops.extensions import db

ACTOR = Actor(username="ana", user_id=7, agency="hha", roles=frozenset({"case_worker"}))

ROW = {
    "seq": 42,
    "occurred_at": datetime(2026, 11, 25, 9, 30, 0, 123456, tzinfo=UTC),
    "actor": "ana",
    "actor_user_id": 7,
    "actor_agency": "hha",
    "actor_roles": ["case_worker"],
    "token_id": None,
    "action": "client.view",
    "outcome": "denied",
    "target_type": "client",
    "target_id": "c1",
    "client_id": "c1",
    "purpose": "care_coordination",
    "request_id": "r1",
    "channel": "http",
    "ip": "10.0.0.1",
    "user_agent": "Mozilla/5.0 \u00e9\u2028",
    "detail": {"reasons": {"health": "no_consent"}, "n": 3},
}


def test_every_column_is_in_the_entry():
    assert set(COLUMNS) == {c.name for c in AccessEvent.__table__.columns} - {"leaf_salt"}
    assert tuple(c.name for c in AccessEvent.__table__.columns) == TABLE_COLUMNS
    assert set(entry_object(ROW)) == set(COLUMNS) - {"token_id"}


def test_known_bytes():
    assert canonical_bytes(ROW) == (
        '{"action":"client.view","actor":"ana","actor_agency":"hha",'
        '"actor_roles":["case_worker"],"actor_user_id":7,"channel":"http","client_id":"c1",'
        '"detail":{"n":3,"reasons":{"health":"no_consent"}},"ip":"10.0.0.1",'
        '"occurred_at":"2026-11-25T09:30:00.123456+00:00","outcome":"denied",'
        '"purpose":"care_coordination","request_id":"r1","seq":42,"target_id":"c1",'
        '"target_type":"client","user_agent":"Mozilla/5.0 \u00e9\u2028"}'
    ).encode("utf-8")
    assert canonical_bytes(ROW) == rfc8785.dumps(entry_object(ROW))


def test_time_is_utc_with_microseconds_whatever_the_zone():
    local = ROW["occurred_at"].astimezone(timezone(timedelta(hours=-5)))
    assert canonical_bytes(ROW | {"occurred_at": local}) == canonical_bytes(ROW)
    whole = ROW | {"occurred_at": datetime(2026, 1, 1, tzinfo=UTC)}
    assert b'"occurred_at":"2026-01-01T00:00:00.000000+00:00"' in canonical_bytes(whole)


def test_nulls_are_left_out_so_new_nullable_columns_keep_old_hashes():
    assert b"token_id" not in canonical_bytes(ROW)
    assert b'"token_id":5' in canonical_bytes(ROW | {"token_id": 5})


def test_values_rfc8785_cannot_hold_become_strings_instead_of_failing():
    odd = ROW | {"detail": {"big": 2**60, "pi": 3.5, "inf": float("inf"), "f": 1e21}}
    data = json.loads(canonical_bytes(odd))
    assert data["detail"] == {"big": str(2**60), "pi": 3.5, "inf": "inf", "f": 1e21}
    assert b'"f":1e+21' in canonical_bytes(odd)  # ECMAScript number form, as RFC 8785 says


def test_keys_sort_by_utf16_code_units():
    detail = {"\ufb01": 1, "\U0001f600": 2}  # U+FB01 sorts after the surrogate pair
    assert canonical_json({"d": detail}) == rfc8785.dumps({"d": detail})
    assert canonical_json({"d": detail}).index("\U0001f600".encode()) < canonical_json(
        {"d": detail}
    ).index("\ufb01".encode())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_fast_path_equals_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_stored_row_and_fresh_object_give_the_same_bytes(app):
    with origin_scope(Origin(request_id="req-1", ip="10.1.2.3", user_agent="ua \u00fc")):
        event = record(
            "client.view",
            actor=ACTOR,
            client_id="c1",
            detail={"categories": ["health"], "nested": {"z": 1, "a": [True, None]}},
        )
    db.session.expire_all()
    row = db.session.execute(
        select(AccessEvent.__table__).where(AccessEvent.seq == event.seq)
    ).one()
    assert canonical_bytes(row._mapping) == canonical_bytes(event)
    assert json.loads(canonical_bytes(row._mapping))["seq"] == event.seq


rows = st.fixed_dictionaries(
    {
        "seq": st.integers(min_value=1, max_value=2**62),
        "occurred_at": st.datetimes(timezones=st.just(UTC)),
        "actor": st.text(max_size=10),
        "actor_user_id": st.none() | st.integers(min_value=0, max_value=2**40),
        "actor_agency": st.none() | st.text(max_size=5),
        "actor_roles": st.lists(st.text(max_size=5), max_size=3) | json_values,
        "token_id": st.none() | st.integers(min_value=0, max_value=2**31),
        "action": st.text(max_size=10),
        "outcome": st.sampled_from(["success", "denied", "failure"]),
        "target_type": st.none() | st.text(max_size=5),
        "target_id": st.none() | st.text(max_size=5),
        "client_id": st.none() | st.text(max_size=5),
        "purpose": st.none() | st.text(max_size=5),
        "request_id": st.text(max_size=8),
        "channel": st.text(max_size=5),
        "ip": st.none() | st.text(max_size=5),
        "user_agent": st.none() | st.text(max_size=12),
        "detail": st.dictionaries(st.text(max_size=6), json_values | st.integers(), max_size=4),
    }
)


@settings(max_examples=400, deadline=None)
@given(rows)
def test_the_bulk_path_equals_the_one_function(row):
    """Sealer and verifier use canonical_values; it must equal canonical_bytes exactly."""
    assert canonical_values([row.get(name) for name in TABLE_COLUMNS]) == canonical_bytes(row)


@settings(max_examples=200, deadline=None)
@given(rows, st.binary(min_size=32, max_size=32))
def test_the_bulk_path_equals_the_one_function_for_version_2(row, secret):
    row = row | {"leaf_salt": secret}
    assert canonical_values([row[name] for name in TABLE_COLUMNS]) == canonical_bytes(row)


# --- leaf version 2 -----------------------------------------------------------------------

SECRET = bytes(range(32))
V2 = ROW | {"leaf_salt": SECRET}


def test_a_version_2_leaf_holds_only_seq_and_one_commitment_per_field():
    leaf = json.loads(canonical_bytes(V2))
    assert set(leaf) == {"v", "seq", "fields"} and leaf["v"] == 2 and leaf["seq"] == 42
    # detail is split by top-level key; seq, NULL columns and the secret are no fields
    assert set(leaf["fields"]) == (set(COLUMNS) - {"seq", "token_id", "detail"}) | {
        "detail.reasons",
        "detail.n",
    }
    raw = canonical_bytes(V2)
    for secret_value in (b"ana", b"10.0.0.1", b"Mozilla", b"no_consent", SECRET.hex().encode()):
        assert secret_value not in raw
    assert canonical_bytes(V2) == rfc8785.dumps(leaf)


def test_version_1_entries_keep_their_bytes():
    assert canonical_bytes(ROW | {"leaf_salt": None}) == canonical_bytes(ROW)
    assert export_line(ROW) == canonical_bytes(ROW)


def test_a_commitment_is_the_salted_hash_of_the_canonical_value():
    import hashlib

    salt = field_salt(SECRET, "actor")
    assert len(salt) == 16 and salt != field_salt(SECRET, "actor_agency")
    expected = hashlib.sha256(salt + b'"ana"').hexdigest()
    assert commitments_of(entry_object(V2), SECRET)["actor"] == expected
    assert json.loads(canonical_bytes(V2))["fields"]["actor"] == expected


def test_revealing_some_fields_rebuilds_the_same_leaf():
    entry = entry_object(V2)
    commitments = commitments_of(entry, SECRET)
    revealed = {
        "actor_agency": ("hha", field_salt(SECRET, "actor_agency")),
        "detail.reasons": ({"health": "no_consent"}, field_salt(SECRET, "detail.reasons")),
    }
    hidden = {k: v for k, v in commitments.items() if k not in revealed}
    assert leaf_from_disclosure(42, revealed, hidden) == canonical_bytes(V2)
    wrong = revealed | {"actor_agency": ("cchc", field_salt(SECRET, "actor_agency"))}
    assert leaf_from_disclosure(42, wrong, hidden) != canonical_bytes(V2)


def test_the_export_line_of_a_version_2_entry_is_the_entry_and_its_secret():
    line = json.loads(export_line(V2))
    assert line["leaf_salt"] == SECRET.hex()
    assert {k: v for k, v in line.items() if k != "leaf_salt"} == json.loads(canonical_bytes(ROW))


def test_the_writer_gives_every_new_entry_its_own_secret(app):
    first = record("client.view", actor=ACTOR, client_id="c1")
    second = record("client.view", actor=ACTOR, client_id="c1")
    assert len(first.leaf_salt) == 32 and first.leaf_salt != second.leaf_salt
    assert json.loads(canonical_bytes(first))["v"] == 2


@settings(max_examples=200, deadline=None)
@given(rows, st.binary(min_size=32, max_size=32), st.data())
def test_any_split_into_revealed_and_withheld_rebuilds_the_leaf(row, secret, data):
    """Whatever a statement reveals, the rest as commitments rebuilds the exact leaf; and
    a revealed value that differs (a forged one) never does."""
    row = row | {"leaf_salt": secret}
    entry = entry_object(row)
    fields = entry_fields(entry)
    commitments = commitments_of(entry, secret)
    assert set(commitments) == set(fields)
    shown = data.draw(st.sets(st.sampled_from(sorted(fields)))) if fields else set()
    revealed = {name: (fields[name], field_salt(secret, name)) for name in shown}
    hidden = {name: c for name, c in commitments.items() if name not in shown}
    assert leaf_from_disclosure(row["seq"], revealed, hidden) == canonical_bytes(row)
    if shown:
        name = sorted(shown)[0]
        forged = revealed | {name: (["forged", fields[name]], revealed[name][1])}
        assert leaf_from_disclosure(row["seq"], forged, hidden) != canonical_bytes(row)


# The verifier's and sealer's specialised version 2 path (``canonical_values``) must give
# exactly the bytes of the general one: pinned here by the bytes' hash as first computed
# with the general path, and compared on arbitrary rows below.
V2_PINNED = "fce279ee0a56c421894b119644dc08aa0de585714248581b1543631f7e8c6df0"
V2_ODD = V2 | {
    "detail": {"big": 2**60, "pi": 3.5, "inf": float("inf"), 1: "x", "1": "y"},
    "token_id": 5,
}
V2_ODD_PINNED = "685468c6316e682b287c75a1d7b2c90913333ab5e767397085a06555a3871d48"


def test_version_2_leaf_bytes_are_pinned():
    for row, pinned in ((V2, V2_PINNED), (V2_ODD, V2_ODD_PINNED)):
        assert hashlib.sha256(canonical_bytes(row)).hexdigest() == pinned
        values = [row.get(name) for name in TABLE_COLUMNS]
        assert hashlib.sha256(canonical_values(values)).hexdigest() == pinned


odd_details = (
    st.dictionaries(st.text(max_size=6) | st.integers(), json_values | st.integers(), max_size=5)
    | json_values
)


@settings(max_examples=300, deadline=None)
@given(
    rows,
    st.binary(min_size=32, max_size=32),
    odd_details,
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(minutes=330))]),
)
def test_the_specialised_version_2_path_equals_the_general_one(row, secret, detail, when, zone):
    row = row | {"leaf_salt": secret, "detail": detail, "occurred_at": when.astimezone(zone)}
    general = leaf_v2_bytes(entry_object(row), secret)
    assert canonical_values([row[name] for name in TABLE_COLUMNS]) == general
    assert canonical_bytes(row) == general


# --- the bulk readers' JSON columns, read as text ---------------------------------------

JSON_COLUMNS = ("actor_roles", "detail")


@settings(max_examples=300, deadline=None)
@given(rows, st.none() | st.binary(min_size=32, max_size=32))
def test_json_columns_parsed_from_their_text_give_the_same_bytes(row, secret):
    """The sealer and the verifier read the JSON columns as their stored text and parse it
    with the engines' reader (``bulk_columns``): the bytes are those of the values the
    engine itself would have loaded from the same text."""
    row = row | {"leaf_salt": secret}
    stored = {name: json.dumps(row[name]) for name in JSON_COLUMNS}
    loaded = [json_loads(stored[n]) if n in stored else row[n] for n in TABLE_COLUMNS]
    as_text = [stored.get(n, row[n]) for n in TABLE_COLUMNS]
    assert canonical_values(as_text, json_as_text=True) == canonical_values(loaded)


def test_the_bulk_columns_read_back_the_bytes_the_model_hashes(app):
    """On each database, an entry read with ``bulk_columns`` hashes to the bytes of the
    entry as the ORM loads it (odd values in ``detail`` included)."""
    detail = {"n": 2**60, "x": 1.5, "nested": {"b": [1, "two", None]}, "é": "ü"}
    seq = record("client.view", actor=ACTOR, client_id="c1", detail=detail).seq
    row = db.session.execute(
        select(*bulk_columns()).where(AccessEvent.__table__.c.seq == seq)
    ).one()
    assert isinstance(row.detail, str)
    entry = db.session.get(AccessEvent, seq)
    assert canonical_values(row, json_as_text=True) == canonical_bytes(entry)
