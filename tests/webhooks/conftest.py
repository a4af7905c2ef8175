"""A webhook receiver on 127.0.0.1 that checks the signature as docs/webhooks.md tells
agency systems to (hashlib/hmac only), and can be down, failing or redirecting."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def verify(secret: str, header: str, body: bytes) -> bool:
    """The receiver's check: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts:
        return False
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``url(path)`` to register; ``answers`` (a list of status codes, consumed in turn,
    then 200) scripts failures; ``stop()`` / ``start()`` take it down and up again on the
    same port."""

    port: int
    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                secret = receiver.secrets.get(self.path, "")
                signed = self.headers.get("X-Caseops-Signature", "")
                receiver.received.append(
                    Received(self.path, dict(self.headers), body, verify(secret, signed, body))
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.url("/redirected"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def receiver():
    """A running receiver (``receiver.stop()`` to take it down)."""
    found = Receiver(port=_free_port())
    found.start()
    yield found
    found.stop()


class Hooks:
    """Registers webhooks through the API, as an agency administrator would."""

    def __init__(self, client):
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        from tests import factories

        if username not in self._tokens:
            self._tokens[username] = factories.token_for(username)
        return self._tokens[username]

    def call(self, method: str, url: str, username: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.token(username)}"}
        return self.client.open(url, method=method, headers=headers, **kwargs)

    def register(self, agency: str, url: str, events=("consent.revoked",), *, receiver=None):
        response = self.call(
            "POST",
            f"/api/v1/agencies/{agency}/webhooks",
            f"{agency}.agency_admin",
            json={"url": url, "events": list(events)},
        )
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        if receiver is not None:
            receiver.secrets[url.split(str(receiver.port), 1)[1]] = created["secret"]
        return created

    def deliveries(self, agency: str, webhook_id: str, **query):
        response = self.call(
            "GET",
            f"/api/v1/agencies/{agency}/webhooks/{webhook_id}/deliveries",
            f"{agency}.agency_admin",
            query_string=query,
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def hooks(client, world):
    """``world`` (hha, cchc with every persona) plus a third agency ``sch`` with an
    administrator, and the ``Hooks`` helper."""
    from tests import factories

    factories.make_agency("sch", name="Bayview Schools", kind="education")
    factories.make_user("sch.agency_admin", "sch", ["agency_admin"])
    return Hooks(client)


@pytest.fixture
def delivering_server(app, monkeypatch, request):
    """gunicorn (tests/live.py, two workers) with background delivery every 0.3 s. The
    in-process ``app`` is built first, so it runs no delivery thread of its own."""
    import tests.live

    monkeypatch.setenv("CASEOPS_WEBHOOK_INTERVAL", "0.3")
    monkeypatch.setattr(
        tests.live,
        "SERVER_ENV_PASSTHROUGH",
        (*tests.live.SERVER_ENV_PASSTHROUGH, "CASEOPS_WEBHOOK_INTERVAL"),
    )
    return request.getfixturevalue("live_server")
