"""A bulk load of several chunks through real gunicorn: on PostgreSQL the server process
plans, writes in a thread and prepares in a spawned worker process; every line is
written once, with its log entry, as in a load through the test client."""

from __future__ import annotations

import json
import urllib.request

from sqlalchemy import func, select

from caseops.audit.models import AccessEvent
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.records.service import BULK_CHUNK
from tests import factories
from tests.fixtures.bulk import people

LINES = 2 * BULK_CHUNK + 50  # three chunks: the second and third prepared by the worker


def test_a_load_of_several_chunks_is_written_once_each(world, live_server):
    bodies = people(LINES)
    bodies[BULK_CHUNK + 7] = {"source_record_id": "bad id", "category": "housing"}
    request = urllib.request.Request(
        live_server.url_for("/api/v1/agencies/hha/records:bulk"),
        data="\n".join(json.dumps(body) for body in bodies).encode(),
        headers={
            "Authorization": f"Bearer {factories.token_for('hha.integration')}",
            "Content-Type": "application/x-ndjson",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        report = json.loads(response.read())
    assert report["counts"] == {"created": LINES - 1, "error": 1}
    assert [line["line"] for line in report["lines"]] == list(range(1, LINES + 1))
    bad = report["lines"][BULK_CHUNK + 7]
    assert bad["status"] == "error" and "source_record_id" in bad["errors"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SourceRecord)) == LINES - 1
    written = db.session.scalar(
        select(func.count()).select_from(AccessEvent).where(AccessEvent.action == "record.write")
    )
    assert written == LINES - 1
    # The worker process started under gunicorn and did its part (no fallback).
    assert "preparing in-process" not in live_server.log.read_text()
