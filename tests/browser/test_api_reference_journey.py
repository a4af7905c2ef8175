"""The browsable API reference renders in a real browser under the site's CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import assert_accessible

pytestmark = pytest.mark.browser


def test_the_api_reference_renders_every_group_without_csp_violations(live_server, page):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(live_server.url_for("/api/v1/docs"))
    assert response is not None and response.status == 200
    assert "unsafe-inline" not in response.headers["content-security-policy"]

    expect(page).to_have_title("API reference · caseops")
    # Swagger UI has loaded the document and drawn its operations.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("caseops")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    expect(page.get_by_text("/fhir/Consent", exact=True).first).to_be_attached()
    # Its own stylesheet applies (CSP allows it): operation blocks are styled.
    expect(page.locator(".opblock-tag").first).to_have_css("cursor", "pointer")
    # Everything came from this server (no CDN, no validator badge).
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
    # The page fixture fails the test on any console error, CSP violations included.

    # WCAG 2.1 AA for what is ours: the document (title, language) and our header. The
    # vendored Swagger UI inside #swagger-ui is third-party markup that axe flags
    # (color-contrast of its method badges, nested-interactive in its operation toggles);
    # it is left out of the check rather than patched.
    assert_accessible(page, context={"exclude": [["#swagger-ui"]]})
