"""Terminating an agreement ends access on the next request in every gunicorn worker, as a
revocation does (real gunicorn, 2 workers, one request per connection, new installation)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from tests import factories
from tests.fixtures.access import join_care_team
from tests.fixtures.agreements import active_agreement, terminate
from tests.fixtures.consents import consent_for

REQUESTS = 24
MAX_REQUESTS = 400


def fetch(server, path, token):
    request = urllib.request.Request(
        server.url_for(path), headers={"Authorization": f"Bearer {token}", "Connection": "close"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def housing(body):
    return next(s for s in body["sections"] if (s["agency"], s["category"]) == ("hha", "housing"))


def workers_seen(server, since_line: int) -> set[str]:
    lines = server.log.read_text().splitlines()[since_line:]
    return {
        m.group(1)
        for line in lines
        if "/record" in line
        for m in [re.search(r"pid=<?(\d+)", line)]
        if m
    }


def answers_from_both_workers(server, path, token):
    mark = len(server.log.read_text().splitlines())
    results = [fetch(server, path, token) for _ in range(REQUESTS)]
    while len(workers_seen(server, mark)) < 2 and len(results) < MAX_REQUESTS:
        results.append(fetch(server, path, token))
    assert len(workers_seen(server, mark)) == 2, "both workers must have answered"
    return results


def test_termination_reaches_every_worker(client, new_install, live_server):
    maria = new_install
    assert join_care_team(client, "cchc.case_worker", maria).status_code == 201
    consent_for(client, maria, by="hha", recipients=["cchc"])
    agreement_id = active_agreement(client, ["hha", "cchc"])
    token = factories.token_for("cchc.case_worker")
    path = f"/api/v1/clients/{maria}/record"
    # every worker has loaded the agreements and shows the section
    for status, body in answers_from_both_workers(live_server, path, token):
        assert status == 200 and housing(body)["status"] == "shown", body
    assert terminate(client, agreement_id, "hha.agency_admin").status_code == 200
    for status, body in answers_from_both_workers(live_server, path, token):
        assert status == 200, body
        assert housing(body)["status"] == "withheld"
        assert housing(body)["reason"] == "no_agreement"
