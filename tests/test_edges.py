"""Bad input at the edge: a clear 4xx naming the field, nothing stored, never a 500.

Each case is one the outside tester of issue 16 reached a 500 with, or saw stored after
a silent repair (U+FFFD for invalid UTF-8, a lone surrogate kept as it came).
"""

from __future__ import annotations

import copy
import json
import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from caseops.agencies.models import Agency
from caseops.extensions import db
from caseops.http_limits import MAX_JSON_DEPTH
from caseops.records.models import SourceRecord
from tests import factories
from tests.fixtures.records import MARIA


def bearer(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {factories.token_for(username)}"}


@pytest.fixture
def feed(world):
    return bearer("hha.integration")


def stored_records() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(SourceRecord))


def refused(response, status: int, field: str) -> dict:
    """The response is ``status`` with the JSON error naming ``field``."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert field in error["details"], error
    return error


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# --- JSON bodies -----------------------------------------------------------------------


def test_data_nested_100000_levels_is_refused_naming_data(client, feed):
    body = json.dumps(MARIA).replace('"data": {', f'"data": {{"deep": {deep(100_000)}, ', 1)
    response = client.put(
        "/api/v1/agencies/hha/records/H-1",
        data=body,
        headers=feed | {"Content-Type": "application/json"},
    )
    refused(response, 422, "data")
    assert stored_records() == 0


def test_nesting_just_over_the_limit_is_refused_and_at_it_passes_the_edge(client, feed):
    too_deep = copy.deepcopy(MARIA)
    too_deep["data"] = json.loads(deep(MAX_JSON_DEPTH))
    response = client.put("/api/v1/agencies/hha/records/H-1", json=too_deep, headers=feed)
    assert response.status_code == 422
    [(field, reasons)] = response.get_json()["error"]["details"].items()
    assert field.startswith("data.a.a") and reasons == [
        f"Nested deeper than {MAX_JSON_DEPTH} levels."
    ]
    # One level less is the schema's to judge ("a" is not a housing field), not the edge's.
    shallower = copy.deepcopy(MARIA)
    shallower["data"] = json.loads(deep(MAX_JSON_DEPTH - 2))
    response = client.put("/api/v1/agencies/hha/records/H-1", json=shallower, headers=feed)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"data.a": ["Unknown field."]}
    assert stored_records() == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"Ma\\u0000ria"', "person.given_name"),
        ('"\\ud800"', "person.given_name"),
        ('"Maria\\udfff"', "person.given_name"),
    ],
)
def test_nul_and_lone_surrogates_in_a_json_body_are_refused(client, feed, raw, field):
    body = json.dumps(MARIA).replace('"Maria"', raw, 1)
    response = client.put(
        "/api/v1/agencies/hha/records/H-1",
        data=body,
        headers=feed | {"Content-Type": "application/json"},
    )
    refused(response, 422, field)
    assert stored_records() == 0


def test_a_surrogate_pair_is_ordinary_text(client, feed):
    body = json.dumps(MARIA).replace('"Prefers morning calls."', '"ok \\ud83d\\ude00"', 1)
    response = client.put(
        "/api/v1/agencies/hha/records/H-1",
        data=body,
        headers=feed | {"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.get_json()


def test_nul_in_an_agency_name_is_refused_and_no_agency_is_made(client, world):
    before = db.session.scalar(select(func.count()).select_from(Agency))
    response = client.post(
        "/api/v1/agencies",
        json={"code": "nul", "name": "Bad\x00Name", "kind": "housing"},
        headers=bearer("hha.system_admin"),
    )
    refused(response, 422, "name")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Agency)) == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [("NaN", "body"), ("123456789012345678901234567890", "source_version")],
)
def test_numbers_json_cannot_carry_or_no_column_can_hold(client, feed, raw, field):
    body = json.dumps(MARIA).replace('"source_version": 1', f'"source_version": {raw}', 1)
    response = client.put(
        "/api/v1/agencies/hha/records/H-1",
        data=body,
        headers=feed | {"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert field in response.get_json()["error"]["details"]
    assert stored_records() == 0


# --- path parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("srid", "status", "reason"),
    [
        ("R" * 300, 422, "Longer than 128 characters."),
        ("AB%00CD", 422, "Contains a NUL character."),
        ("AB%FF%FE", 400, "Not valid UTF-8 text."),
    ],
)
def test_a_record_id_that_cannot_be_stored_as_sent_is_refused(client, feed, srid, status, reason):
    response = client.put(f"/api/v1/agencies/hha/records/{srid}", json=MARIA, headers=feed)
    error = refused(response, status, "source_record_id")
    assert error["details"]["source_record_id"] == [reason]
    assert stored_records() == 0


def test_token_id_beyond_integer_is_refused_naming_it(client, world):
    response = client.delete(
        "/api/v1/users/hha.case_worker/tokens/1408806697535458",
        headers=bearer("hha.system_admin"),
    )
    refused(response, 422, "token_id")


def test_inclusion_proof_for_a_seq_beyond_bigint_is_refused_naming_it(client, world):
    officer = bearer("hha.privacy_officer")
    response = client.get("/api/v1/audit/events/99999999999999999999/proof", headers=officer)
    refused(response, 422, "seq")
    response = client.get(
        "/api/v1/audit/events/1/proof?tree_size=99999999999999999999", headers=officer
    )
    refused(response, 422, "tree_size")


def test_a_long_client_id_is_refused_before_it_reaches_the_access_log(client, world):
    response = client.get(
        f"/api/v1/clients/{'c' * 300}/record?purpose=treatment",
        headers=bearer("hha.case_worker"),
    )
    refused(response, 422, "client_id")


# --- query strings, forms, NDJSON ------------------------------------------------------


def test_invalid_utf8_in_a_query_string_is_refused_naming_the_parameter(client, world):
    response = client.get("/api/v1/clients?q=AB%FF%FE", headers=bearer("hha.case_worker"))
    refused(response, 400, "q")
    response = client.get("/api/v1/clients?q=A%00B", headers=bearer("hha.case_worker"))
    refused(response, 422, "q")


def test_a_nul_in_a_form_field_answers_an_html_page_not_a_500(client, world):
    response = client.post(
        "/login", data={"username": "a\x00b", "password": "x"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 422
    assert response.mimetype == "text/html"


def _bulk(client, feed, body: bytes):
    return client.post(
        "/api/v1/agencies/hha/records:bulk",
        data=body,
        headers=feed | {"Content-Type": "application/x-ndjson"},
    )


def test_an_ndjson_line_with_invalid_utf8_is_refused_not_repaired(client, feed):
    good = json.dumps(MARIA | {"source_record_id": "H-1"}).encode()
    bad = json.dumps(MARIA | {"source_record_id": "H-2"}).encode().replace(b"Maria", b"Ma\xffia")
    response = _bulk(client, feed, good + b"\n" + bad + b"\n")
    error = refused(response, 400, "body")
    assert "line 2" in error["details"]["body"][0]
    assert stored_records() == 0


def test_an_ndjson_line_with_a_lone_surrogate_is_refused_naming_line_and_field(client, feed):
    good = json.dumps(MARIA | {"source_record_id": "H-1"})
    bad = json.dumps(MARIA | {"source_record_id": "H-2"}).replace('"Maria"', '"\\ud800"', 1)
    response = _bulk(client, feed, f"{good}\n{bad}\n".encode())
    refused(response, 422, "line 2.person.given_name")
    deep_line = json.dumps(MARIA | {"source_record_id": "H-3"}).replace(
        '"data": {', f'"data": {{"deep": {deep(100_000)}, ', 1
    )
    response = _bulk(client, feed, f"{good}\n{deep_line}\n".encode())
    refused(response, 422, "line 2.data")
    assert stored_records() == 0


# --- every status answers in the error shape -------------------------------------------


def test_werkzeug_statuses_answer_json_for_the_api(client, feed):
    assert client.get("/api/v1/nothing-here").get_json()["error"]["code"] == "not_found"
    response = client.patch("/api/v1/agencies/hha/records/H-1", json=MARIA, headers=feed)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    response = client.put(
        "/api/v1/agencies/hha/records/H-1",
        data=b"{" + b" " * (9 * 1024 * 1024) + b"}",
        headers=feed | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    response = client.get("/api/v1/clients?q=" + "x" * 5000, headers=feed)
    assert response.status_code == 414
    assert response.get_json()["error"]["code"] == "uri_too_long"


def _raw_http(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        # Over 4 KiB but within gunicorn's line limit: the app answers.
        (b"GET /api/v1/clients?q=" + b"x" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, None),
        # Over gunicorn's own limit: gunicorn answers, in the same JSON shape.
        (b"GET /?q=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"y" * 9000 + b"\r\n\r\n",
            431,
            "request_header_fields_too_large",
        ),
        (b"GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad_request"),
    ],
)
def test_gunicorn_and_the_app_answer_oversized_requests_in_json(
    live_server, request_bytes, status, code
):
    got, headers, body = _raw_http(live_server.url, request_bytes)
    assert got == status, body[:300]
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert error["code"] == (code or "uri_too_long")
