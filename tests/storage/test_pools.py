"""The log writer and the policy load use a side pool (``caseops.storage.pools``), so a
request that holds its session's connection never waits for a connection held by the
requests waiting on it. ``bench/view_load.py`` found the deadlock: a worker with more
request threads than pooled connections answered every view 503 after the pool timeout."""

from __future__ import annotations

import threading

import pytest

from caseops import create_app
from caseops.extensions import db
from tests import factories
from tests.conftest import BACKEND, HttpsClient
from tests.fixtures.access import join_care_team
from tests.fixtures.records import bearer

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite keeps one engine (a second would be another database)"
)


@pytest.fixture
def one_connection_app(database_url, tmp_path):
    """The application with a request pool of a single connection and a short wait."""
    application = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 2},
        }
    )
    application.instance_path = str(tmp_path)
    application.test_client_class = HttpsClient
    yield application
    with application.app_context():
        db.engine.dispose()


def test_a_view_is_logged_when_its_session_holds_the_only_pooled_connection(
    client, maria_at_three_agencies, one_connection_app
):
    join_care_team(client, "cchc.case_worker", maria_at_three_agencies)
    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria_at_three_agencies}/record"
    answer = one_connection_app.test_client().get(url, headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    assert factories.events("client.view")[-1].target_id == maria_at_three_agencies


def test_many_concurrent_views_on_a_tiny_pool_all_answer(
    client, maria_at_three_agencies, one_connection_app
):
    """Eight threads, one request connection: they queue for it, none deadlocks."""
    join_care_team(client, "cchc.case_worker", maria_at_three_agencies)
    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria_at_three_agencies}/record"
    statuses: list[int] = []

    def view() -> None:
        answer = one_connection_app.test_client().get(url, headers=bearer(token))
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=view) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses.count(200) + statuses.count(503) == 8
    assert statuses.count(200) >= 1
