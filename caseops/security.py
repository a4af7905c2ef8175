"""Response headers that every page and API answer carries, and the cookie session."""

from __future__ import annotations

from flask import Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


# Set on every answer, replacing what a view set (same-origin: cross-site requests learn
# nothing, while our own HTTPS form posts keep the Referer that CSRF protection checks).
ALWAYS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
NO_STORE = ("Cache-Control", "no-store")  # client data must never linger in any cache


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        """The headers above (a view's Content-Security-Policy kept, its others replaced).
        The response's header names are read once: Werkzeug's ``headers[name] = value``
        scans the whole list for each name, which made this hook 4 % of a record view's
        instructions (issue 20); a name not there yet is appended, as it would be."""
        headers = response.headers
        present = {name.lower() for name, _ in headers}  # (name, value) pairs

        def put(name: str, value: str) -> None:
            if name.lower() in present:
                headers.set(name, value)
            else:
                headers.add(name, value)

        if "content-security-policy" not in present:
            headers.add("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for name, value in ALWAYS:
            put(name, value)
        # the request, not its proxy: see caseops.http_limits.check_request
        req = request._get_current_object()
        if req.is_secure:
            put(*HSTS)
        if not req.path.startswith("/static/"):
            put(*NO_STORE)
        return response


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, opened without building its signer for a request
    that carries no session cookie (every bearer API request): Flask's builds one per
    request before it looks for the cookie, about 1 % of a record view's CPU (issue 20).
    Nothing else differs: a request without the cookie gets the same empty session, one
    with it is verified by Flask's own code, and an app without a secret key still gets no
    session at all."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def register_cookie_sessions(app: Flask) -> None:
    app.session_interface = CookieSessions()
