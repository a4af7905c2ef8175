"""The app gunicorn serves for bench/events.py, and bench/view_layers.py measures in
process: caseops itself plus two bench-only endpoints. Never part of caseops: they skip
every check on purpose.

bench/view_load.py no longer uses it: a baseline inside caseops pays caseops' per-request
overhead and hid it (issue 20); that bench compares the view with bench/bare_app.py,
outside caseops. The endpoint stays for tests/test_bench_seeds.py until events.py serves
``wsgi:app`` instead."""

from __future__ import annotations

import json

from flask import current_app
from sqlalchemy import select

from caseops import create_app
from caseops.audit.service import record as audit
from caseops.auth.current import current_actor, reads_only
from caseops.crypto import keyring_from_config
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.records.prepare import data_context

app = create_app()


@app.get("/bench/noop")
@reads_only
def noop():
    """Signed in and nothing else: what every API request of a bearer token costs
    (caseops' hooks, the token read, the policy version) before its own work."""
    return {"actor": current_actor().username}


@app.get("/bench/baseline/<client_id>")
def baseline(client_id: str):
    """Reads the same rows as the view and inserts one log row: no policy, no consent,
    no relationship, no decision."""
    actor = current_actor()
    keyring = keyring_from_config(current_app.config)
    records = db.session.scalars(
        select(SourceRecord).where(
            SourceRecord.client_id == client_id, SourceRecord.withdrawn_at.is_(None)
        )
    )
    sections = [
        {
            "agency": r.agency.code,
            "category": r.category,
            "data": json.loads(
                keyring.decrypt(r.data_encrypted, data_context(r.agency.code, r.source_record_id))
            ),
        }
        for r in records
    ]
    # Logged under the view's own action (the writer accepts only catalogued names, and
    # the row then costs what the view's row costs), marked as the baseline's.
    audit("client.view", actor=actor, client_id=client_id, detail={"bench_baseline": True})
    return {"client_id": client_id, "sections": sections}
