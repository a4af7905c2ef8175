"""caseops' own code on the hot path reads the request, the user, ``g`` and the app's
config from the objects themselves, not through Flask's proxies (issue 20).

A read such as ``request.headers`` first looks the attribute up on the proxy, fails,
formats an AttributeError, and only then falls back to the proxied object: about 4,000
instructions each. caseops' hooks, the policy cache and the view's services made about
forty of them per record view; taking the objects instead cut 5.4 % of the view's
instructions (``python -m bench.view_instructions``, docs/fast-path.md). Counted
here so they cannot creep back: every fallback read is caught at the proxy and charged
to the caseops module that made it. Flask and its extensions make their own (about
twenty-eight a view); those are not ours to change and are not counted."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from werkzeug import local

import caseops
from tests import factories
from tests.fixtures.access import join_care_team, sections
from tests.fixtures.consents import consent_for
from tests.fixtures.records import bearer

CASEOPS = str(Path(caseops.__file__).parent)


@pytest.fixture
def fallback_reads(monkeypatch) -> Counter:
    """Every attribute read that fell back through a werkzeug proxy, by the caseops
    (file, function) that made it; reads made by other packages are not counted."""
    made: Counter = Counter()
    fallback = local.LocalProxy.__getattr__

    class Counting:
        def __get__(self, instance, owner=None):
            caller = sys._getframe(1).f_code
            if caller.co_filename.startswith(CASEOPS):
                made[(Path(caller.co_filename).name, caller.co_name)] += 1
            return fallback.__get__(instance, owner)

    monkeypatch.setattr(local.LocalProxy, "__getattr__", Counting())
    return made


def test_the_counter_sees_a_fallback_read_in_caseops_code(app, fallback_reads):
    """Without this the test below could pass by counting nothing: a caseops function
    that still reads through the proxy (off the hot path) is seen, one read per line."""
    from caseops.errors import wants_json

    with app.test_request_context("/login", headers={"Accept": "text/html"}):
        assert fallback_reads == Counter()
        assert wants_json() is False  # reads request.path, then request.accept_mimetypes
    assert fallback_reads == Counter({("errors.py", "wants_json"): 2})


def test_a_record_view_reads_no_proxy_attribute_in_caseops_code(
    app, client, maria_at_three_agencies, fallback_reads
):
    join_care_team(client, "cchc.case_worker", maria_at_three_agencies)
    consent_for(client, maria_at_three_agencies)
    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria_at_three_agencies}/record"
    client.get(url, headers=bearer(token))  # the first view of a process learns its plans
    fallback_reads.clear()
    response = client.get(url, headers=bearer(token))
    assert sections(response)[("hha", "housing")]["status"] == "shown"  # a real view
    assert fallback_reads == Counter()
