"""Limits and validation at the edge, for every endpoint at once.

Why one hook instead of checks in each schema: the failures it prevents (a 300-character
id overflowing ``varchar(128)``, a NUL that PostgreSQL refuses, JSON nested 100,000
levels, an id beyond ``integer``) reach the database or the parser before any schema
could object, and every endpoint would need the same checks. Input is refused, never
repaired: Werkzeug decodes invalid UTF-8 in paths, query strings and forms by
substituting U+FFFD, and the records bulk route reads NDJSON the same way, so the raw
bytes are checked here before anything decodes them leniently.

Each refusal is a 400 (bytes that are not UTF-8 text) or a 422 (text caseops cannot
store), with ``details`` naming the field, the same error shape as any other.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, request

from caseops.errors import DomainError, ValidationFailed

# Deeper than any body caseops accepts (a FHIR Consent nests about 8 levels); far below
# the parser's recursion limit.
MAX_JSON_DEPTH = 32
# PostgreSQL ``integer`` and ``bigint``: ids are ``integer`` except the access log's seq.
INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT_PARAMETER_MAX = {"seq": INT64_MAX}
# Path parameters are stored (a record id) or written to the access log (target_id is
# varchar(200), client_id varchar(64)): the column each one lands in bounds it.
PATH_PARAMETER_LENGTH = {
    "source_record_id": 128,
    "code": 32,
    "agency": 32,
    "username": 64,
    "client_id": 64,
    "consent_id": 64,
}
DEFAULT_PATH_PARAMETER_LENGTH = 200
# A request line longer than this (path plus query) answers 414. gunicorn's own limit
# (gunicorn.conf.py) is higher, so the JSON answer comes from here.
MAX_URL_LENGTH = 4096
# Bodies read here to check them: the types decoded as text by caseops.
_TEXT_BODIES = ("application/x-ndjson", "application/jsonl", "text/plain", "text/csv")
_FORM = "application/x-www-form-urlencoded"
# NUL and lone surrogates: PostgreSQL cannot store the first, UTF-8 cannot encode the
# second (``json.loads`` turns "\ud800" into one).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# An NDJSON line that may decode to an unstorable string (an escaped NUL or surrogate);
# only such lines are parsed here, so a bulk load is not parsed twice.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


class BadEncoding(DomainError):
    status, code = 400, "bad_request"


class UriTooLong(DomainError):
    status, code = 414, "uri_too_long"


def register(app: Flask) -> None:
    """Check each request before authentication, CSRF or any route parses it."""
    app.before_request(check_request)


def check_request() -> None:
    # the request itself, not its proxy: every attribute read through the proxy first
    # fails on the proxy and formats an AttributeError, on every request (issue 20)
    req = request._get_current_object()
    environ = req.environ
    _check_url_length(environ)
    _check_path(environ, req.view_args)
    _check_pairs(environ.get("QUERY_STRING", ""), "query")
    chunked = "chunked" in req.headers.get("Transfer-Encoding", "").lower()
    if not (req.content_length or chunked):
        return  # no body: nothing more to check (most requests: parse no media type)
    mimetype = req.mimetype
    if mimetype == _FORM:
        _check_pairs(_text(req.get_data(cache=True), "body"), "form")
    elif req.is_json:
        _check_json_body(_text(req.get_data(cache=True), "body"))
    elif mimetype in _TEXT_BODIES:
        _check_text_body(_text(req.get_data(cache=True), "body"), mimetype)


def _check_url_length(environ: dict) -> None:
    length = len(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "") or (
        len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", ""))
    )
    if length > MAX_URL_LENGTH:
        raise UriTooLong(f"The URL is longer than {MAX_URL_LENGTH} characters.")


def _check_path(environ: dict, view_args: dict | None) -> None:
    """Path segments must be UTF-8; each path parameter must fit where it is kept."""
    raw = _raw_path(environ)
    view_args = view_args or {}
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        field = "path"
        for segment in raw.split(b"/"):
            try:
                segment.decode("utf-8")
            except UnicodeDecodeError:
                lenient = segment.decode("utf-8", "replace")
                field = next((k for k, v in view_args.items() if v == lenient), "path")
                break
        raise BadEncoding(
            "The URL is not valid UTF-8.", details={field: ["Not valid UTF-8 text."]}
        ) from None
    for name, value in view_args.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            highest = INT_PARAMETER_MAX.get(name, INT32_MAX)
            if value > highest:
                _refuse(name, f"Must be at most {highest}.")
        elif isinstance(value, str):
            _check_string(name, value)
            limit = PATH_PARAMETER_LENGTH.get(name, DEFAULT_PATH_PARAMETER_LENGTH)
            if len(value) > limit:
                _refuse(name, f"Longer than {limit} characters.")


def _raw_path(environ: dict) -> bytes:
    """The path as the client sent it, percent-decoded to bytes. The request URI is read
    first: Werkzeug's test client has already repaired PATH_INFO; under gunicorn
    (PEP 3333) PATH_INFO holds the decoded bytes as latin-1 characters."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri:
        path = uri.split("?", 1)[0]
        if "://" in path[:10]:  # absolute form: http://host/path
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return unquote_to_bytes(path)
    return environ.get("PATH_INFO", "").encode("latin-1", "replace")


def _check_pairs(text: str, where: str) -> None:
    """``a=b&c=d`` (a query string or a form body): every name and value strict UTF-8."""
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name_bytes = unquote_to_bytes(name.replace("+", " "))
        label = name_bytes.decode("utf-8", "replace") or where
        for part in (name_bytes, unquote_to_bytes(value.replace("+", " "))):
            try:
                decoded = part.decode("utf-8")
            except UnicodeDecodeError:
                raise BadEncoding(
                    f"The {where} is not valid UTF-8.", details={label: ["Not valid UTF-8 text."]}
                ) from None
            _check_string(label, decoded)


def _text(raw: bytes, field: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BadEncoding(
            "The body is not valid UTF-8.",
            details={field: [f"Not valid UTF-8 text (line {line}, byte {exc.start})."]},
        ) from None


def _check_json_body(text: str) -> None:
    value, error = _parse(text)
    if error is not None:
        raise error
    if value is not _UNPARSED:
        _check_value(value, "")


def _check_text_body(text: str, mimetype: str) -> None:
    """NUL anywhere is refused; NDJSON lines that may hide an escaped NUL or a lone
    surrogate are parsed and checked (a line that is not JSON is the route's to report)."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        _refuse(f"line {line}", "Contains a NUL character.")
    if mimetype == "text/csv":
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if _SUSPECT_ESCAPE.search(line) or line.count("[") + line.count("{") > MAX_JSON_DEPTH:
            value, error = _parse(line)
            if error is not None:
                error.details = {f"line {number}.{k}": v for k, v in error.details.items()}
                raise error
            if value is not _UNPARSED:
                _check_value(value, f"line {number}")


_UNPARSED = object()


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _parse(text: str) -> tuple[Any, DomainError | None]:
    """The JSON value, or an error naming where it is nested too deeply; malformed JSON
    comes back unparsed for the route to report as it always has."""
    try:
        return json.loads(text, parse_constant=_no_constants), None
    except RecursionError:
        field = _deep_field(text)
        return None, ValidationFailed(
            "The request is nested too deeply.",
            details={field: [f"Nested deeper than {MAX_JSON_DEPTH} levels."]},
        )
    except json.JSONDecodeError:
        return _UNPARSED, None
    except ValueError as exc:  # NaN, Infinity
        return None, BadEncoding(
            "The body is not valid JSON.", details={"body": [f"{exc} is not a JSON number."]}
        )


def _deep_field(text: str) -> str:
    """The top-level field under which ``text`` nests deeper than the limit (a scan of
    its brackets, since the parser itself gave up)."""
    keys: list[str | None] = []
    last_string = None
    for match in _JSON_TOKEN.finditer(text):
        piece = match.group()
        if piece in ("{", "["):
            keys.append(None)
            if len(keys) > MAX_JSON_DEPTH:
                break
        elif piece in ("}", "]"):
            if keys:
                keys.pop()
        elif piece == ":":
            if keys:
                keys[-1] = last_string
        elif piece != ",":
            last_string = piece[1:-1]
    top = keys[0] if keys else None
    return top if top else "body"


def _check_value(value: Any, where: str) -> None:
    """Walk the parsed body (iteratively: it may be deep): depth, strings, integers."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= MAX_JSON_DEPTH:
                _refuse(path or "body", f"Nested deeper than {MAX_JSON_DEPTH} levels.")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, inner in items:
                inner_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    _check_string(inner_path, key)
                stack.append((inner, inner_path, depth + 1))
        elif isinstance(node, str):
            _check_string(path or "body", node)
        elif (
            isinstance(node, int)
            and not isinstance(node, bool)
            and not (INT64_MIN <= node <= INT64_MAX)
        ):
            _refuse(path or "body", "Out of range for a whole number (64 bits).")


def _check_string(field: str, value: str) -> None:
    match = _UNSTORABLE.search(value)
    if match is None:
        return
    if match.group() == "\x00":
        _refuse(field, "Contains a NUL character.")
    _refuse(field, "Contains an unpaired surrogate (not valid Unicode text).")


def _refuse(field: str, reason: str) -> None:
    raise ValidationFailed("The request has invalid fields.", details={field: [reason]})
