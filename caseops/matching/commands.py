"""Operator commands for the master client index: ``caseops link rebuild|reindex``."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from caseops.extensions import db
from caseops.records.models import SourceRecord


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
    from caseops.matching.store import rebuild

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
    from caseops.matching.store import reindex

    counts = _pass_over_records(
        "re-indexing", "linkage.reindex", lambda _operator, advance: reindex(progress=advance)
    )
    click.echo(f"{counts['records']} records: {counts['changed']} with new identifiers")
