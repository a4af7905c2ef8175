"""Operator commands for the database as a whole: ``caseops db upgrade|downgrade`` (the
schema; ``db grant-app-role`` comes from caseops.audit.commands) and ``caseops backup
check`` (the restore drill)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from alembic import command as alembic_command
from flask import current_app
from flask.cli import with_appcontext

from caseops.migrations_state import alembic_config
from caseops.ops.backup import BackupError, check_backup


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    alembic_command.upgrade(alembic_config(current_app.config["SQLALCHEMY_DATABASE_URI"]), revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Step the schema back to REVISION."""
    alembic_command.downgrade(
        alembic_config(current_app.config["SQLALCHEMY_DATABASE_URI"]), revision
    )
    click.echo(f"database at {revision}")


@click.group("backup")
def backup_group() -> None:
    """Backups: prove that one restores to a whole access log."""


@backup_group.command("check")
@click.argument("dump", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--checkpoint",
    "checkpoint_files",
    type=click.File("r"),
    multiple=True,
    required=True,
    help="A checkpoint kept outside the database (JSON of `caseops audit checkpoint`).",
)
@click.option(
    "--server",
    default=None,
    help="Database URL of the server to restore on (default: CASEOPS_DATABASE_URL's).",
)
@click.option("--keep", is_flag=True, help="Leave the scratch database for inspection.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def backup_check(dump: Path, checkpoint_files, server: str | None, keep: bool, as_json: bool):
    """Restore DUMP into a scratch database and verify its access log against the
    checkpoint(s); exit 1 if the restored log does not reach them or does not match."""
    from caseops.audit.keys import key_ring

    trusted = []
    for handle in checkpoint_files:
        data = json.load(handle)
        trusted.append((data["checkpoint"], data["signature"], data.get("key_id")))
    try:
        result = check_backup(
            dump,
            current_app.config["SQLALCHEMY_DATABASE_URI"],
            key_ring(),
            trusted,
            server_url=server,
            keep=keep,
        )
    except (BackupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    report = result.report
    if as_json:
        click.echo(json.dumps(report.as_dict() | {"scratch": result.scratch, "kept": keep}))
    elif report.ok:
        click.echo(
            f"ok: the restore holds {report.tree_size} sealed entries, verified against "
            f"{report.checkpoints} checkpoints (the outside one included)"
        )
    else:
        click.echo(
            f"FAILED: the restore does not match the checkpoint: {report.reason}\n"
            f"verified up to tree size {report.verified_size} of {report.tree_size}",
            err=True,
        )
    if keep:
        click.echo(f"scratch copy kept: {result.scratch}", err=True)
    if not report.ok:
        sys.exit(1)
