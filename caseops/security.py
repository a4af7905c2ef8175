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


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        # same-origin: cross-site requests learn nothing, while our own HTTPS form posts keep
        # the Referer that CSRF protection checks.
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if request.is_secure:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if not request.path.startswith("/static/"):
            # Client data must never linger in shared or browser caches.
            headers["Cache-Control"] = "no-store"
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
