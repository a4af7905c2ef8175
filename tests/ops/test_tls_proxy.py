"""deploy/nginx.conf, started for real in front of gunicorn: TLS with a certificate the
test issues, HSTS, Secure cookies, and the client's own address in the access log.

The client connects from 127.0.0.5 to nginx, nginx from 127.0.0.1 to gunicorn; caseops runs
with ``CASEOPS_TRUSTED_PROXIES=1``, so the access log must name 127.0.0.5 — and not an
``X-Forwarded-For`` the client made up.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import factories
from tests.live import PROJECT_ROOT
from tests.ops.tls import issue

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT_ADDRESS = "127.0.0.5"
HOST = "caseops.example.org"

pytestmark = pytest.mark.skipif(
    not os.path.exists(NGINX) and not os.environ.get("CI"),
    reason="nginx is not installed (apt-get install nginx-light; .ci/run installs it)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_site(upstream: str, https_port: int, http_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf with this test's addresses and certificate: every substitution
    must hit, so the file under test is the file that ships."""
    site = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()
    replacements = [
        ("server 127.0.0.1:8000;", f"server {upstream};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;\n", ""),
        ("/etc/ssl/caseops/fullchain.pem", str(cert)),
        ("/etc/ssl/caseops/privkey.pem", str(key)),
    ]
    for old, new in replacements:
        assert site.count(old) == 1, f"deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


@dataclass
class Proxy:
    https_port: int
    http_port: int
    ca: Path
    access_log: Path

    def request(self, method: str, path: str, headers: dict | None = None):
        context = ssl.create_default_context(cafile=str(self.ca))
        connection = http.client.HTTPSConnection(
            "127.0.0.1",
            self.https_port,
            context=context,
            source_address=(CLIENT_ADDRESS, 0),
            timeout=10,
        )
        try:
            connection.request(method, path, headers={"Host": HOST} | (headers or {}))
            response = connection.getresponse()
            response.body = response.read()
            return response
        finally:
            connection.close()


@pytest.fixture
def proxy(ops_server, tmp_path) -> Iterator[Proxy]:
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed; .ci/run installs nginx-light", pytrace=False)
    server = ops_server(CASEOPS_TRUSTED_PROXIES="1")
    upstream = server.url.removeprefix("http://")
    issued = issue(tmp_path / "tls", dns=HOST)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    https_port, http_port = _free_port(), _free_port()
    (prefix / "caseops.conf").write_text(
        render_site(upstream, https_port, http_port, issued.certificate, issued.key)
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\nevents {{}}\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temp_paths}"
        f"    include {prefix / 'caseops.conf'};\n}}\n"
    )
    process = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(prefix),
            "-e",
            str(prefix / "error.log"),
            "-c",
            str(prefix / "nginx.conf"),
            "-g",
            "daemon off;",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                error_log = (prefix / "error.log").read_text(errors="replace")
                pytest.fail(f"nginx exited: {process.stdout.read()!r}\n{error_log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", https_port), timeout=1),
            ):
                break
            assert time.monotonic() < deadline, "nginx did not listen in time"
            time.sleep(0.05)
        yield Proxy(https_port, http_port, issued.ca, prefix / "access.log")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_hsts_and_secure_cookies_over_tls(proxy):
    response = proxy.request("GET", "/login")
    assert response.status == 200
    assert response.headers.get_all("Strict-Transport-Security") == [
        "max-age=63072000; includeSubDomains"
    ]
    [cookie] = response.headers.get_all("Set-Cookie")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax"} <= flags


def test_plain_http_only_redirects_to_https(proxy):
    connection = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
    try:
        connection.request("GET", "/login?next=/clients", headers={"Host": HOST})
        response = connection.getresponse()
    finally:
        connection.close()
    assert response.status == 301
    assert response.headers["Location"] == f"https://{HOST}/login?next=/clients"
    assert response.headers.get("Set-Cookie") is None


def test_the_access_log_names_the_client_not_the_proxy_nor_a_forged_header(app, proxy):
    response = proxy.request(
        "GET",
        "/api/v1/agencies",
        {"Authorization": "Bearer not-a-real-token", "X-Forwarded-For": "203.0.113.66"},
    )
    assert response.status == 401
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id, passed through
    [entry] = [e for e in factories.events("auth.token_rejected") if e.request_id == request_id]
    assert entry.ip == CLIENT_ADDRESS
    # nginx's own log line carries the same address.
    assert _last_logged_line(proxy.access_log).startswith(CLIENT_ADDRESS + " ")


def _last_logged_line(log: Path, wait: float = 5.0) -> str:
    """The access log's last line, once nginx has written one: nginx logs a request after
    it has sent the answer, so a client that reads the file as soon as it has the answer
    can find it still empty."""
    deadline = time.monotonic() + wait
    while not (lines := log.read_text().splitlines()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lines, f"nginx wrote no access log line within {wait} s"
    return lines[-1]


def test_metrics_are_not_served_through_the_proxy(proxy):
    response = proxy.request("GET", "/metrics")
    assert response.status == 404
    # nginx's own answer still carries HSTS (caseops did not answer it).
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")
