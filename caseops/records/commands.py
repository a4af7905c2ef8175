"""Operator commands over stored records: ``caseops import``, key rotation and the
links export."""

from __future__ import annotations

import csv
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.cli import cli_origin, domain_errors
from caseops.crypto import keyring_from_config
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.registry.models import ConsentDocument
from caseops.users.models import User


@click.group("keys")
def keys_group() -> None:
    """Encryption keys (CASEOPS_ENCRYPTION_KEYS)."""


def _rotate(rows, attributes: tuple[str, ...], context_of) -> int:
    keyring = keyring_from_config(current_app.config)
    changed = 0
    for row in rows:
        for attribute, context in zip(attributes, context_of(row), strict=True):
            token = getattr(row, attribute)
            if token is not None and keyring.needs_rotation(token):
                setattr(row, attribute, keyring.encrypt(keyring.decrypt(token, context), context))
                changed += 1
    return changed


@keys_group.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Re-encrypt every current ciphertext under the first (newest) key.

    Append-only history (record versions, consent documents, referrals and their moves)
    keeps the key it was written with: keep old keys configured, after the newest, for as
    long as that history is kept. Webhook signing secrets are re-encrypted.
    """
    from caseops.records.prepare import data_context, linkage_context, person_context

    records = db.session.scalars(select(SourceRecord).join(Agency))
    changed = _rotate(
        records,
        ("person_encrypted", "data_encrypted", "linkage_encrypted"),
        lambda r: (
            person_context(r.agency.code, r.source_record_id),
            data_context(r.agency.code, r.source_record_id),
            linkage_context(r.agency.code, r.source_record_id),
        ),
    )
    changed += _rotate(
        db.session.scalars(select(User).where(User.totp_secret_encrypted.is_not(None))),
        ("totp_secret_encrypted",),
        lambda u: (f"totp:{u.id}",),
    )
    from caseops.webhooks.delivery import secret_context
    from caseops.webhooks.models import Webhook

    changed += _rotate(
        db.session.scalars(select(Webhook)),
        ("secret_encrypted",),
        lambda w: (secret_context(w.id),),
    )
    db.session.commit()
    documents = db.session.scalar(select(db.func.count()).select_from(ConsentDocument))
    click.echo(
        f"re-encrypted {changed} values; {documents} consent documents, all record "
        "versions and referral notes, reasons and outcomes (append-only) stay under the "
        "keys they were written with"
    )


@click.group("export")
def export_group() -> None:
    """Exports for operators."""


@export_group.command("links")
@with_appcontext
def export_links() -> None:
    """agency,source_record_id,client_id for every current record (CSV on stdout)."""
    writer = csv.writer(sys.stdout)
    writer.writerow(["agency", "source_record_id", "client_id"])
    rows = db.session.execute(
        select(Agency.code, SourceRecord.source_record_id, SourceRecord.client_id)
        .join(Agency, SourceRecord.agency_id == Agency.id)
        .where(SourceRecord.withdrawn_at.is_(None))
        .order_by(Agency.code, SourceRecord.source_record_id)
    )
    for row in rows:
        writer.writerow(row)


@click.command("import")
@click.option("--agency", "agency_code", required=True, help="The agency whose records these are.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["ndjson", "csv", "hmis"]),
    default=None,
    help="Default: from FILE (.ndjson/.jsonl/.json, .csv; a directory or .zip is HMIS).",
)
@click.option(
    "--report", "report_file", type=click.Path(dir_okay=False), help="Write the report as JSON."
)
@click.argument("file", type=click.Path(exists=True))
@domain_errors
@with_appcontext
def import_records(agency_code: str, file_format: str | None, report_file: str | None, file: str):
    """Import FILE as the agency's records, through the same path as the bulk API."""
    from caseops.records import importers

    cli_origin()
    source = importers.open_source(file, file_format)
    with click.progressbar(length=source.total, label="importing", file=sys.stderr) as bar:
        report = importers.run_import(agency_code, source, lambda _entry: bar.update(1))
    for line in report.summary():
        click.echo(line)
    if report_file:
        importers.write_report(report, report_file)
    if report.failed:
        click.get_current_context().exit(1)
