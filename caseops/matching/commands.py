"""Operator commands for the master client index:
``caseops link train|model|rebuild|reindex|holds|resolve-hold``."""

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
@click.option(
    "--dry-run", is_flag=True, help="Report links, reviews and expected wrong links; keep nothing."
)
@with_appcontext
def link_rebuild(dry_run: bool) -> None:
    """Re-link every record with the current model (stewards' decisions stand)."""
    from caseops.matching.store import rebuild

    counts = _pass_over_records(
        "re-linking" + (" (dry run)" if dry_run else ""),
        "linkage.rebuild",
        lambda operator, advance: rebuild(
            operator.username, progress=lambda _r: advance(1), dry_run=dry_run
        ),
    )
    expected = counts["expected_false_links"]
    click.echo(
        f"{counts['records']} records: {counts['moved']} moved, "
        f"{counts['pinned']} kept where a data steward put them; "
        f"{counts['links']} automatic links "
        + (f"(expected wrong: {expected:.2f}), " if expected is not None else "")
        + f"{counts['reviews']} for review"
        + (" -- dry run, nothing changed" if dry_run else "")
    )
    for outcome, n in (counts.get("rehomed") or {}).get("counts", {}).items():
        click.echo(f"  re-homed {outcome}: {n}")


@link_group.command("train")
@click.option("--sample", type=int, default=None, help="Records to learn from (default 200000).")
@click.option("--link-probability", type=float, default=None, help="Link at or above (0.999).")
@click.option("--review-probability", type=float, default=None, help="Review from (0.9).")
@with_appcontext
def link_train(
    sample: int | None, link_probability: float | None, review_probability: float | None
) -> None:
    """Learn m, u and the prior from the records (no labels) as a new model version,
    used at once for new records; `caseops link rebuild` re-links the old ones."""
    from caseops.audit.service import record as audit
    from caseops.authz.actor import Actor
    from caseops.matching import training

    operator = Actor.operator()
    try:
        row = training.train(
            operator.username,
            sample=sample or training.DEFAULT_SAMPLE,
            link_probability=link_probability,
            review_probability=review_probability,
            progress=lambda message: click.echo(message, err=True),
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    detail = {"version": row.id, "records": row.records, "converged": row.converged}
    audit("linkage.train", actor=operator, detail=detail | {"stats": row.stats}, session=db.session)
    db.session.commit()
    prior = row.model["prior"]
    click.echo(
        f"model {row.id}: {row.records} records, prior {prior:.3g}, "
        f"{'converged' if row.converged else 'NOT converged'}"
    )


@link_group.command("model")
@with_appcontext
def link_model() -> None:
    """Print the model in use (JSON): provenance, probabilities, weights."""
    import json

    from caseops.matching import training

    click.echo(json.dumps(training.describe(), indent=2, default=str))


@link_group.command("holds")
@with_appcontext
def link_holds() -> None:
    """Rows suspended by re-homing, waiting for a steward's decision."""
    from caseops.matching import rehoming

    for hold in rehoming.open_holds():
        click.echo(
            f"{hold.id}\t{hold.table_name}/{hold.row_id}\tclient {hold.client_id}\t"
            f"candidates {','.join(hold.candidates)}\t{hold.reason}"
        )


@link_group.command("resolve-hold")
@click.argument("hold_id", type=int)
@click.option("--client", "client_id", default=None, help="Whose it is (omit: nobody's).")
@with_appcontext
def link_resolve_hold(hold_id: int, client_id: str | None) -> None:
    """Decide whose a suspended row is: reinstated on --client, or left ended."""
    from caseops.authz.actor import Actor
    from caseops.matching import rehoming

    try:
        move = rehoming.steward_resolves(Actor.operator(), hold_id, client_id)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{move['table']}/{move['row_id']}: {move['outcome']}")


@link_group.command("reindex")
@with_appcontext
def link_reindex() -> None:
    """Recompute every record's pseudonymous identifiers without moving any record."""
    from caseops.matching.store import reindex

    counts = _pass_over_records(
        "re-indexing", "linkage.reindex", lambda _operator, advance: reindex(progress=advance)
    )
    click.echo(f"{counts['records']} records: {counts['changed']} with new identifiers")
