"""/metrics: who may read it, what it counts, and that gunicorn's workers add up; JSON logs."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from caseops import create_app, observability
from caseops.audit.keys import log_key
from caseops.audit.models import AccessEvent, AuditLeaf
from caseops.audit.seal import seal_once
from caseops.audit.service import record
from caseops.authz.actor import Actor
from caseops.clients.models import ReviewItem
from caseops.config import ConfigError
from caseops.extensions import db
from tests import factories
from tests.fixtures.worlds import QUEUED, record_body, twin

WORKER = Actor(username="hha.case_worker", agency="hha", roles=frozenset({"case_worker"}))


def scrape(client, **kwargs) -> dict[str, float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def from_address(address: str, **headers) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}, "headers": headers}


# --- who may read it ------------------------------------------------------------------------


def test_only_allowed_addresses_or_the_token_may_read_the_metrics(database_url, world):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CASEOPS_METRICS_TOKEN": "scrape-secret-0123456789",
        }
    )
    client = app.test_client()
    unknown = client.get("/no-such-page", **from_address("203.0.113.9"))
    assert client.get("/metrics").status_code == 200  # 127.0.0.1: the default allow list
    refused = client.get("/metrics", **from_address("203.0.113.9"))
    assert refused.status_code == 404 and refused.get_data() == unknown.get_data()
    wrong = from_address("203.0.113.9", Authorization="Bearer scrape-secret-wrong")
    assert client.get("/metrics", **wrong).status_code == 404
    rejected = len(factories.events("auth.token_rejected"))  # the wrong one, as any bad token
    right = from_address("203.0.113.9", Authorization="Bearer scrape-secret-0123456789")
    assert client.get("/metrics", **right).status_code == 200
    # The metrics token is not an API token: it is never looked up, so never logged.
    assert len(factories.events("auth.token_rejected")) == rejected


def test_a_request_forwarded_by_an_untrusted_proxy_is_not_local(client):
    """nginx on 127.0.0.1 without CASEOPS_TRUSTED_PROXIES: the caller is whoever nginx
    forwarded, not the allowed loopback address."""
    forwarded = client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert forwarded.status_code == 404


def test_allowed_networks_come_from_the_configuration(database_url):
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "CASEOPS_METRICS_ALLOW": "10.0.0.0/8"}
    )
    with app.app_context():
        client = app.test_client()
        assert client.get("/metrics", **from_address("10.20.30.40")).status_code == 200
        assert client.get("/metrics").status_code == 404  # loopback no longer listed
    with pytest.raises(ConfigError, match="CASEOPS_METRICS_ALLOW"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "CASEOPS_METRICS_ALLOW": "bogus"})


# --- what it counts --------------------------------------------------------------------------


def test_requests_are_counted_by_endpoint_method_and_status(client):
    key = 'caseops_http_requests_total{endpoint="/readyz",method="GET",status="200"}'
    count = (
        'caseops_http_request_duration_seconds_count{endpoint="/readyz",method="GET",status="200"}'
    )
    before = scrape(client)
    for _ in range(3):
        client.get("/readyz")
    client.get("/no-such-page")
    after = scrape(client)
    assert after[key] - before.get(key, 0) == 3
    assert after[count] - before.get(count, 0) == 3
    assert after['caseops_http_requests_total{endpoint="unmatched",method="GET",status="404"}']


def test_the_log_state_an_operator_alerts_on(app, client, world):
    def unsealed_in_db() -> int:
        sealed = select(AuditLeaf.event_seq)
        return db.session.scalar(
            select(func.count()).select_from(AccessEvent).where(AccessEvent.seq.not_in(sealed))
        )

    appends = scrape(client).get("caseops_audit_append_seconds_count", 0)
    for i in range(3):
        record("client.view", actor=WORKER, client_id=f"c{i}")
    state = scrape(client)
    assert state["caseops_audit_append_seconds_count"] >= appends + 3
    assert state["caseops_audit_unsealed_entries"] == unsealed_in_db() >= 3
    assert state["caseops_audit_tree_size"] == 0
    assert "caseops_audit_verify_ok" not in state  # never verified yet

    size = seal_once(db.engine, log_key()).tree_size
    state = scrape(client)
    assert state["caseops_audit_unsealed_entries"] == 0
    assert state["caseops_audit_tree_size"] == size
    assert 0 <= state["caseops_audit_last_checkpoint_age_seconds"] < 60

    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    officer = {"Authorization": f"Bearer {factories.token_for('hha.privacy_officer')}"}
    assert client.get("/api/v1/audit/verify", headers=officer).get_json()["ok"]
    state = scrape(client)
    assert state["caseops_audit_verify_ok"] == 1
    assert 0 <= state["caseops_audit_verify_age_seconds"] < 60


def test_the_linkage_review_queue_size(client, world):
    integration = {"Authorization": f"Bearer {factories.token_for('hha.integration')}"}
    assert scrape(client)["caseops_linkage_review_queue"] == 0
    first = QUEUED["hha"]
    for srid, who in (("Q-1", first), ("Q-2", twin(first, "Zelda"))):
        response = client.put(
            f"/api/v1/agencies/hha/records/{srid}",
            json=record_body("housing", who, "m"),
            headers=integration,
        )
        assert response.status_code in (200, 201), response.get_json()
    queued = db.session.scalar(
        select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")
    )
    assert queued == 1
    assert scrape(client)["caseops_linkage_review_queue"] == 1


# --- gunicorn: the workers add up -------------------------------------------------------------


def _workers_of(master: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                found.add(int(stat.parent.name))
    return found


@pytest.mark.parametrize("given_directory", [False, True], ids=["default", "given"])
def test_counts_survive_the_workers_that_made_them(ops_server, tmp_path, given_directory):
    """Every worker that served the requests is replaced; a scrape answered by a new
    worker, which served none of them, still reports all of them: the counts are added
    up across processes, dead ones included — whether gunicorn.conf.py made the metrics
    directory or the unit file named one."""
    env = {}
    if given_directory:
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")  # emptied at start
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    server = ops_server(**env)
    key = 'caseops_http_requests_total{endpoint="/healthz",method="GET",status="200"}'

    def get(path: str) -> bytes:
        with urllib.request.urlopen(server.url_for(path), timeout=5) as response:
            return response.read()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, ["/healthz"] * 40))
    old = _workers_of(server.process.pid)
    assert len(old) == 2
    for pid in old:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = _workers_of(server.process.pid)
        if len(new) == 2 and not new & old:
            break
        time.sleep(0.1)
    assert not _workers_of(server.process.pid) & old
    totals = {parse(get("/metrics").decode()).get(key) for _ in range(6)}
    assert totals == {40.0}


# --- JSON log lines -----------------------------------------------------------------------


def test_json_log_lines_carry_the_request_id(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "CASEOPS_LOG_FORMAT": "json"})
    root = logging.getLogger()
    [handler] = [
        h
        for h in root.handlers
        if any(isinstance(f, observability.RequestIdFilter) for f in h.filters)
    ]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        assert isinstance(handler.formatter, observability.JsonFormatter)
        with app.test_request_context("/", headers={"X-Request-Id": "req-0123456789"}):
            app.preprocess_request()
            logging.getLogger("caseops.test").warning("two\nlines")
    finally:
        handler.setStream(previous)
        observability.configure_logging("WARNING", "text")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["request_id"] == "req-0123456789"
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "WARNING",
        "caseops.test",
        "two\nlines",
    )
    with pytest.raises(ConfigError, match="CASEOPS_LOG_FORMAT"):
        from caseops.config import load_settings

        load_settings({"CASEOPS_ENV": "test", "CASEOPS_LOG_FORMAT": "xml"})


def test_the_alert_rules_name_only_exported_series(client, world):
    """deploy/prometheus-alerts.yml: a rule on a series nobody exports never fires, so a
    renamed metric must fail here rather than silence an alert."""
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    officer = {"Authorization": f"Bearer {factories.token_for('hha.privacy_officer')}"}
    record("client.view", actor=WORKER)
    assert client.get("/api/v1/audit/verify", headers=officer).status_code == 200
    client.get("/api/v1/no-such-thing")
    exported = {re.split(r"[{ ]", name)[0] for name in scrape(client)}
    rules = (Path(__file__).resolve().parents[2] / "deploy" / "prometheus-alerts.yml").read_text()
    expressions = re.findall(r"expr: (.+)", rules)
    named = {n for e in expressions for n in re.findall(r"\bcaseops_[a-z_]+", e)}
    assert len(expressions) >= 6 and named
    assert named <= exported, named - exported
