"""Operator commands over stored records: key rotation and the links export."""

from __future__ import annotations

import csv
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.consents.models import ConsentDocument
from caseops.crypto import keyring_from_config
from caseops.extensions import db
from caseops.records.models import SourceRecord
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

    Append-only history (record versions, consent documents) keeps the key it was written
    with: keep old keys configured, after the newest, for as long as that history is kept.
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
    db.session.commit()
    documents = db.session.scalar(select(db.func.count()).select_from(ConsentDocument))
    click.echo(
        f"re-encrypted {changed} values; {documents} consent documents and all record "
        "versions stay under the keys they were written with"
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


@click.group("link")
def link_group() -> None:
    """The master client index."""


def _pass_over_records(label: str, action: str, run) -> dict[str, int]:
    """Run a pass over the stored records as the operator, with a progress bar on
    stderr (``run(operator, advance)``, ``advance(n)`` per n records done), and log it
    as ``action`` with the counts it returns."""
    from caseops.audit.service import record as audit
    from caseops.authz.actor import Actor

    operator = Actor.operator()
    total = db.session.scalar(select(db.func.count()).select_from(SourceRecord)) or 0
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        counts = run(operator, bar.update)
    audit(action, actor=operator, detail=counts)
    return counts


@link_group.command("rebuild")
@with_appcontext
def link_rebuild() -> None:
    """Re-link every record with the current weights (stewards' decisions stand)."""
    from caseops.clients.linking import rebuild

    counts = _pass_over_records(
        "re-linking",
        "linkage.rebuild",
        lambda operator, advance: rebuild(operator.username, progress=lambda _r: advance(1)),
    )
    click.echo(
        f"{counts['records']} records: {counts['moved']} moved, "
        f"{counts['pinned']} kept where a data steward put them"
    )


@link_group.command("reindex")
@with_appcontext
def link_reindex() -> None:
    """Recompute every record's pseudonymous identifiers without moving any record."""
    from caseops.clients.linking import reindex

    counts = _pass_over_records(
        "re-indexing", "linkage.reindex", lambda _operator, advance: reindex(progress=advance)
    )
    click.echo(f"{counts['records']} records: {counts['changed']} with new identifiers")
