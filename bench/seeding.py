"""What the view benches seed, in one place: their environment and scratch database, and
consents of the kind a deployment holds.

The recipient agency's consent officer records the client's consent and the source agency's
officer attests it, as the trust model asks (docs/trust-model.md). Without the attestation
the consented sections would be withheld as ``consent_not_attested`` and a bench would time
refusals instead of views.
"""

from __future__ import annotations

import argparse
import base64
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

# The secrets every bench's caseops (and the bare app's keyring) runs with: fixed, so a
# server the bench starts decrypts what the bench's seed encrypted.
BENCH_SECRETS = {
    "CASEOPS_SECRET_KEY": "bench-secret-key-" + "x" * 32,
    "CASEOPS_ENCRYPTION_KEYS": "b1:" + base64.urlsafe_b64encode(b"b" * 32).decode(),
    "CASEOPS_PSEUDONYM_KEY": "bench-pseudonym-key",
    "CASEOPS_AUDIT_SIGNING_KEY": base64.b64encode(b"a" * 32).decode(),
}


# The server a view bench makes its scratch database on when neither --database-url nor
# CASEOPS_BENCH_POSTGRES_URL says: the test suite's role on the local PostgreSQL.
DEFAULT_URL = "postgresql+psycopg://caseops_test:caseops_test@127.0.0.1:5432/postgres"


def view_bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A view bench's command line, started: its docstring as help, and
    ``--database-url`` (``CASEOPS_BENCH_POSTGRES_URL``, else ``DEFAULT_URL``)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("CASEOPS_BENCH_POSTGRES_URL", DEFAULT_URL)
    )
    return parser


def bench_environment() -> None:
    """This process's environment for a bench: the test environment (no background
    sealer), quiet logs, ``BENCH_SECRETS``; set before caseops is imported."""
    os.environ.setdefault("CASEOPS_ENV", "test")
    os.environ.setdefault("CASEOPS_LOG_LEVEL", "WARNING")
    os.environ.update(BENCH_SECRETS)


@contextmanager
def migrated_database(server_url: str) -> Iterator[str]:
    """A database of the bench's own on ``server_url``'s server, migrated to the head;
    its URL. Dropped afterwards, whatever happened (connections still open included)."""
    from alembic import command
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from caseops.migrations_state import alembic_config

    server = make_url(server_url)
    name = f"caseops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def housing_permit(now: datetime) -> dict[str, Any]:
    """hha's housing section for cchc's care coordination, for 90 days."""
    return {
        "provision": "permit",
        "source_agencies": ["hha"],
        "categories": ["housing"],
        "recipients": ["cchc"],
        "purposes": ["care_coordination"],
        "effective_from": now - timedelta(days=1),
        "expires_at": now + timedelta(days=90),
        "grantor": {"kind": "self", "name": "Client"},
        "signed_at": now - timedelta(days=1),
        "evidence": {"method": "written"},
        "revocation_right_acknowledged": True,
    }


def consent_housing_to_cchc(recorder, attester, client_id: str, now: datetime) -> None:
    """Record the permit at cchc and have hha stand behind it."""
    from caseops.registry import service as consents

    row = consents.record_consent(recorder, client_id, housing_permit(now))
    consents.attest(attester, row.id)


# The access log of a bench: entries spread evenly over two years, each month in its own
# partition, as in a log that has served two years. A read that cannot name the month (a
# join from the leaves by seq) then pays for every partition, as it would in production;
# a log filled into one month, or into the DEFAULT partition, hides that.
LOG_FIRST_MONTH = "2025-01-01"
LOG_MONTHS = 24


def log_span_seconds() -> float:
    """The seconds the bench log spans: ``LOG_MONTHS`` months from ``LOG_FIRST_MONTH``."""
    first = datetime.fromisoformat(LOG_FIRST_MONTH)
    return (first.replace(year=first.year + LOG_MONTHS // 12) - first).total_seconds()


def create_log_months(connection: Any) -> None:
    """Create the bench log's month partitions (PostgreSQL; the migrations' function,
    which leaves a month that exists as it is)."""
    from sqlalchemy import text

    connection.execute(
        text(
            "SELECT caseops_access_log_partition(CAST(m AS date)) FROM generate_series("
            "CAST(:first AS date), CAST(:first AS date) + :months * interval '1 month' "
            "- interval '1 day', interval '1 month') AS m"
        ),
        {"first": LOG_FIRST_MONTH, "months": LOG_MONTHS},
    )
