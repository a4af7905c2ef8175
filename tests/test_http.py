"""HTTP basics every caller relies on: health, errors, request ids, headers, OpenAPI."""

from __future__ import annotations

import pytest

from caseops import create_app
from tests import factories


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_at_the_migration_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["migrations"]["current"] == body["migrations"]["head"]


def test_readyz_is_not_ready_on_an_unmigrated_database(databases):
    url = databases.empty()
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["status"] == "not_ready"
        with app.app_context():
            from caseops.extensions import db

            db.engine.dispose()
    finally:
        databases.drop(url)


def test_api_errors_have_the_documented_shape(client):
    response = client.get("/api/v1/agencies")
    assert response.status_code == 401
    assert response.get_json() == {
        "error": {
            "code": "unauthenticated",
            "message": "Log in or send a valid bearer token.",
            "details": {},
        }
    }
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_validation_errors_name_each_field_and_reason(client, world):
    token = factories.token_for("hha.system_admin")
    response = client.post(
        "/api/v1/agencies",
        json={"code": "X!", "kind": "housing", "colour": "red"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["details"]) == {"code", "name", "colour"}
    assert error["details"]["name"] == ["Missing data for required field."]
    assert error["details"]["colour"] == ["Unknown field."]


def test_malformed_json_is_a_400(client, world):
    token = factories.token_for("hha.system_admin")
    response = client.post(
        "/api/v1/agencies",
        data="{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert "error" in response.get_json()


def test_ui_errors_are_html_pages(client, world):
    factories.login(client, world["hha.case_worker"])
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "404" in response.get_data(as_text=True)


def test_ui_pages_require_login_and_redirect_to_it(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_every_response_carries_a_request_id(client):
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert first and second and first != second


def test_a_callers_request_id_is_kept_and_reaches_the_log(client, world):
    token = factories.token_for("hha.system_admin")
    client.post(
        "/api/v1/agencies",
        json={"code": "newagency", "name": "New Agency"},
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "trace-abcdef123"},
    )
    [event] = [e for e in factories.events("admin.agency_created") if e.target_id == "newagency"]
    assert event.request_id == "trace-abcdef123"


def test_an_unusable_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces!"})
    assert response.headers["X-Request-Id"] != "bad id with spaces!"
    assert len(response.headers["X-Request-Id"]) == 32


def test_unexpected_errors_are_logged_with_the_request_id_and_hide_details(database_url, caplog):
    from caseops.auth.current import public
    from caseops.observability import RequestIdFilter

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": False})

    @app.get("/explode")
    @public
    def explode():
        raise RuntimeError("secret internal detail")

    # pytest keeps one capture handler for the whole session: a filter left on it would
    # make it look like caseops' own handler to later tests (tests/ops/test_metrics.py)
    request_ids = RequestIdFilter()
    caplog.handler.addFilter(request_ids)
    try:
        response = app.test_client().get(
            "/explode", headers={"Accept": "application/json", "X-Request-Id": "explode-1234"}
        )
    finally:
        caplog.handler.removeFilter(request_ids)
    assert response.status_code == 500
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "internal_error"
    logged = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged and logged[0].request_id == "explode-1234"


@pytest.mark.parametrize("path", ["/healthz", "/login", "/api/v1/openapi.json"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_views_own_headers_are_replaced_once_and_its_csp_kept():
    """Every security header once, whatever the view set: a view's Cache-Control (sent
    twice, even) is replaced by no-store, its X-Frame-Options by DENY, its own
    Content-Security-Policy kept, and the names it did not set appended."""
    from flask import Flask, Response

    from caseops.security import ALWAYS, register_security_headers

    app = Flask(__name__)
    register_security_headers(app)

    @app.get("/own")
    def own():
        response = Response("ok")
        response.headers.add("Cache-Control", "public, max-age=60")
        response.headers.add("cache-control", "max-age=5")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        return response

    headers = app.test_client().get("/own", base_url="https://localhost").headers
    assert headers.getlist("Cache-Control") == ["no-store"]
    assert headers.getlist("X-Frame-Options") == ["DENY"]
    assert headers.getlist("Content-Security-Policy") == ["default-src 'self'"]
    for name, value in ALWAYS:
        assert headers.getlist(name) == [value], name
    assert headers.getlist("Strict-Transport-Security") == ["max-age=63072000; includeSubDomains"]


def test_no_hsts_over_plain_http(app):
    from flask.testing import FlaskClient

    response = FlaskClient(app).get("/healthz")
    assert "Strict-Transport-Security" not in response.headers


def test_openapi_document_describes_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/agencies" in document["paths"]
    assert "/api/v1/users/{username}/tokens" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_static_assets_are_served_locally(client):
    page = client.get("/login").get_data(as_text=True)
    assert "/static/ui/caseops.css" in page and "http" not in page.split("<body")[0].replace(
        'name="viewport"', ""
    )
    assert client.get("/static/ui/caseops.css").status_code == 200
    assert client.get("/static/ui/caseops.js").status_code == 200


def _bearer(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {factories.token_for(username)}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/agencies"),
        ("put", "/api/v1/users/hha.case_worker/roles"),
        ("delete", "/api/v1/policies"),
        ("post", "/fhir/Consent"),
    ],
)
def test_unauthenticated_writes_are_401_not_a_csrf_complaint(client, world, method, path):
    response = getattr(client, method)(path, json={"name": "x"})
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "CSRF" not in text
    if path.startswith("/api/"):
        assert response.get_json()["error"]["code"] == "unauthenticated"
    else:
        assert response.get_json()["resourceType"] == "OperationOutcome"


def test_cookie_state_changes_still_need_the_csrf_token(client, world):
    factories.login(client, world["hha.system_admin"])
    response = client.post("/api/v1/agencies", json={"code": "csrfcheck", "name": "C"})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]["message"]
    assert not [e for e in factories.events("admin.agency_created") if e.target_id == "csrfcheck"]


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/xml"])
def test_a_json_body_of_another_media_type_is_415_naming_the_expected_one(
    client, world, content_type
):
    headers = _bearer("hha.system_admin")
    if content_type:
        headers["Content-Type"] = content_type
    response = client.put(
        "/api/v1/users/hha.case_worker/roles", data='{"roles": ["supervisor"]}', headers=headers
    )
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert error["details"] == {"Content-Type": ["Must be application/json."]}
    roles = client.get("/api/v1/users/hha.case_worker", headers=_bearer("hha.system_admin"))
    assert roles.get_json()["roles"] == ["case_worker"]


def test_json_suffix_media_types_and_bodiless_requests_are_not_415(client, world):
    headers = _bearer("hha.system_admin") | {"Content-Type": "application/merge-patch+json"}
    response = client.put(
        "/api/v1/users/hha.case_worker/roles", data='{"roles": ["supervisor"]}', headers=headers
    )
    assert response.status_code == 200
    # No body and no Content-Type: the fields' own rule answers (a 422 naming them).
    response = client.post("/api/v1/agencies", headers=_bearer("hha.system_admin"))
    assert response.status_code == 422
    assert "code" in response.get_json()["error"]["details"]


def test_a_415_is_documented_only_where_a_body_is_read(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "415" in paths["/api/v1/agencies"]["post"]["responses"]
    assert "415" not in paths["/api/v1/agencies"]["get"]["responses"]
    bulk = paths["/api/v1/agencies/{code}/records:bulk"]["post"]
    assert "application/x-ndjson" in bulk["requestBody"]["content"]


def test_the_document_describes_errors_as_they_are_sent(client):
    document = client.get("/api/v1/openapi.json").get_json()
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["required"]) == {"code", "message", "details"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "default" not in responses, (method, path)
            assert "401" in responses and "503" in responses, (method, path)
            if path.startswith("/api/"):
                schema = responses["401"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}


def test_the_document_has_the_fhir_endpoints_and_both_security_schemes(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "post" in document["paths"]["/fhir/Consent"]
    assert "get" in document["paths"]["/fhir/Consent/{consent_id}"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == schemes["bearer"] | {"type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"
    assert schemes["session"]["name"] == "caseops_session"
    assert document["security"] == [{"bearer": []}, {"session": []}]


def test_the_api_reference_is_served_from_local_assets_under_the_csp(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/static/ui/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "<script>" not in page and "style=" not in page
    assert "http://" not in page and "https://" not in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    for asset in (
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui.css",
        "api-reference.js",
        "api-reference.css",
    ):
        assert client.get(f"/static/ui/{asset}").status_code == 200


def test_the_home_page_links_the_api_reference(client, world):
    factories.login(client, world["hha.case_worker"])
    assert 'href="/api/v1/docs"' in client.get("/").get_data(as_text=True)


def test_every_api_blueprint_parses_arguments_with_the_shared_parser(app):
    """A route module built on flask-smorest's own Blueprint would parse with webargs'
    default parser, building its argument schema on every request again (issue 20)."""
    from flask_smorest import Blueprint as SmorestBlueprint

    from caseops.extensions import ApiBlueprint

    smorest = [bp for bp in app.blueprints.values() if isinstance(bp, SmorestBlueprint)]
    assert len(smorest) >= 20
    assert [bp.name for bp in smorest if not isinstance(bp, ApiBlueprint)] == []


def test_one_argument_schema_parses_concurrent_requests_each_on_its_own(app):
    """Argument schemas are built once and shared (caseops.extensions.ArgumentsParser):
    parses running at once in many threads each get their own values and their own
    errors, never another request's."""
    from concurrent.futures import ThreadPoolExecutor

    from werkzeug.exceptions import UnprocessableEntity

    from caseops.access.schemas import ViewQuery
    from caseops.extensions import ApiBlueprint
    from caseops.vocabulary import PURPOSES

    parser = ApiBlueprint.ARGUMENTS_PARSER
    asked = [PURPOSES[i % len(PURPOSES)] if i % 3 else f"nonsense-{i}" for i in range(600)]

    def parse(purpose: str):
        with app.test_request_context(f"/?purpose={purpose}"):
            from flask import request

            try:
                return parser.parse(ViewQuery, request, location="query")
            except UnprocessableEntity as refused:  # webargs' refusal, before caseops' mapper
                return refused.data["messages"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(parse, asked))
    for purpose, answer in zip(asked, answers, strict=True):
        if purpose in PURPOSES:
            assert answer == {"purpose": purpose}
        else:
            assert answer == {"query": {"purpose": [f"Must be one of: {', '.join(PURPOSES)}."]}}
    with app.test_request_context("/"):
        from flask import request

        assert parser._get_schema(ViewQuery, request) is parser._get_schema(ViewQuery, request)
