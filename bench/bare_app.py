"""The baseline *outside* caseops for bench/view_load.py: a bare Flask app that, per
request, reads one client's records and commits one log row.

Why it exists: a baseline endpoint inside caseops pays caseops' per-request overhead
(request context, token lookup, extensions, error handlers), so comparing the record view
with it hides that overhead (issue 20). This app imports nothing from caseops (a test
checks it, tests/test_bench_seeds.py) and is served by gunicorn with the same workers,
worker class and threads as caseops, so the ratio view / bare is what caseops costs over
the least an app must do to show a record and log the look.

What it does per ``GET /bare/<client_id>``, in one transaction on one pooled connection:

- reads the client's ``source_records`` rows (the same rows the view decides on, from the
  same bench database, with each row's agency code) and **decrypts** every row's data
  (AES-256-GCM, the ``CASEOPS_ENCRYPTION_KEYS`` keyring format, each ciphertext bound to
  ``record:<agency>:<source record id>:data``). Decrypting is fairest: the view decrypts
  what it shows, and this app decrypts every row, shown or not, so the baseline does at
  least the view's data work (a few microseconds per row, against milliseconds per
  database round trip);
- inserts one row into ``bare_log``, a table with ``access_events``' columns and indexes
  (``create_log_table``, which the bench calls), and commits it before answering, as the
  view commits its log entry before it discloses anything.

No bearer token check, no policy, consent or relationship: each of those is a lookup the
view does and this baseline does not, which is the cost being measured. The engine has
caseops' PostgreSQL pool (same driver, psycopg 3; as many connections, all kept, and a
bounded wait; ``POSTGRES_OPTIONS``, held equal to caseops' by tests/test_bench_seeds.py),
so a difference in driver or pool is not counted as caseops' cost. No ping before a
checkout: caseops pings only a connection idle for a second, which a loaded pool never
has (this app pinged every checkout before: a round trip per request the view did
not pay).

Serve it with ``gunicorn 'bench.bare_app:create_app()'`` from a directory without
caseops' gunicorn.conf.py (that config imports caseops), with ``CASEOPS_DATABASE_URL``
and ``CASEOPS_ENCRYPTION_KEYS`` set.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, request
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()
# access_events' columns and indexes (caseops/audit/models.py): a row here costs the disk
# and the index maintenance a view's log entry costs.
bare_log = Table(
    "bare_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("occurred_at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(150), nullable=False),
    Column("actor_user_id", Integer()),
    Column("actor_agency", String(64), index=True),
    Column("actor_roles", JSON(), nullable=False),
    Column("token_id", Integer()),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("target_type", String(64)),
    Column("target_id", String(200)),
    Column("client_id", String(64)),
    Column("purpose", String(32)),
    Column("request_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    Column("detail", JSON(), nullable=False),
    Column("leaf_salt", LargeBinary()),
    Index("ix_bare_log_client_id_seq", "client_id", "seq"),
    Index("ix_bare_log_actor_seq", "actor", "seq"),
    Index("ix_bare_log_action_seq", "action", "seq"),
)

READ = text(
    "SELECT a.code, r.source_record_id, r.category, r.data_encrypted "
    "FROM source_records r JOIN agencies a ON a.id = r.agency_id "
    "WHERE r.client_id = :client_id AND r.withdrawn_at IS NULL ORDER BY r.id"
)


def create_log_table(engine: Engine) -> None:
    """Create ``bare_log`` if it is missing (the bench calls this before serving)."""
    metadata.create_all(engine, tables=[bare_log])


def ciphers(spec: str) -> dict[str, AESGCM]:
    """``kid:<urlsafe base64 32 bytes>,...`` -> one AES-GCM cipher per key id."""
    keys = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, _, encoded = item.partition(":")
        keys[kid] = AESGCM(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return keys


def decrypt(keys: dict[str, AESGCM], token: str, context: str) -> bytes:
    """Open a ``v1:<kid>:<base64 nonce+ciphertext>`` value bound to ``context``."""
    _version, kid, body = token.split(":", 2)
    raw = base64.urlsafe_b64decode(body)
    return keys[kid].decrypt(raw[:12], raw[12:], context.encode())


POSTGRES_OPTIONS = {
    "pool_size": 15,
    "max_overflow": 0,
    "pool_timeout": 10,
    "connect_args": {"connect_timeout": 5},
}


def create_app(database_url: str | None = None, encryption_keys: str | None = None) -> Flask:
    """The app (gunicorn calls this in each worker, so each has its own pool)."""
    url = database_url or os.environ["CASEOPS_DATABASE_URL"]
    keys = ciphers(encryption_keys or os.environ["CASEOPS_ENCRYPTION_KEYS"])
    options = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else POSTGRES_OPTIONS
    engine = create_engine(url, **options)
    app = Flask(__name__)

    @app.get("/readyz")
    def ready():
        return {"status": "ok"}

    @app.get("/bare/<client_id>")
    def view(client_id: str):
        with engine.begin() as connection:  # commits before the answer is built
            rows = connection.execute(READ, {"client_id": client_id}).all()
            if not rows:
                return {"error": {"code": "not_found", "message": "no such client"}}, 404
            sections = [
                {
                    "agency": code,
                    "category": category,
                    "data": json.loads(
                        decrypt(keys, data, f"record:{code}:{source_record_id}:data")
                    ),
                }
                for code, source_record_id, category, data in rows
            ]
            keys_read = [f"{s['agency']}/{s['category']}" for s in sections]
            connection.execute(
                bare_log.insert(),
                {
                    "occurred_at": datetime.now(UTC),
                    "actor": "bench.bare",
                    "actor_user_id": None,
                    "actor_agency": "cchc",
                    "actor_roles": ["case_worker"],
                    "token_id": None,
                    "action": "client.view",
                    "outcome": "success",
                    "target_type": "client",
                    "target_id": client_id,
                    "client_id": client_id,
                    "purpose": "care_coordination",
                    "request_id": request.headers.get("X-Request-Id") or uuid.uuid4().hex,
                    "channel": "api",
                    "ip": request.remote_addr,
                    "user_agent": (request.user_agent.string or "")[:512] or None,
                    "detail": {"requested": keys_read, "disclosed": keys_read},
                    "leaf_salt": os.urandom(32),
                },
            )
        return {"client_id": client_id, "sections": sections}

    app.extensions["bare_engine"] = engine
    return app
