"""The operator CLI: ``caseops ...`` (also ``flask --app wsgi ...``)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

import click
from alembic import command as alembic_command
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from caseops.authz.actor import Actor
from caseops.config import ConfigError
from caseops.context import Origin, new_request_id, set_origin
from caseops.errors import DomainError
from caseops.migrations_state import alembic_config

F = TypeVar("F", bound=Callable[..., object])


def _cli_origin() -> None:
    set_origin(Origin(request_id=new_request_id(), channel="cli"))


def _domain_errors(command: F) -> F:
    """Show a domain error as the operator-facing message it is, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            reasons = "".join(
                f"\n  {field}: {' '.join(messages)}" for field, messages in error.details.items()
            )
            raise click.ClickException(f"{error.message}{reasons}") from error

    return wrapper  # type: ignore[return-value]


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


@click.command("create-admin")
@click.argument("username")
@click.option("--agency", default="ops", show_default=True, help="Agency code (created if new).")
@click.option("--agency-name", default="caseops operations", show_default=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
@_domain_errors
@with_appcontext
def create_admin(username: str, agency: str, agency_name: str, password_stdin: bool) -> None:
    """Bootstrap a system administrator (the first account of a new installation)."""
    from caseops.users import service as users

    _cli_origin()
    password = sys.stdin.readline().rstrip("\n")
    created = users.bootstrap_admin(Actor.operator(), username, password, agency, agency_name)
    click.echo(f"created system_admin {created.username} in agency {agency}")


@click.group("token")
def token_group() -> None:
    """API tokens."""


@token_group.command("create")
@click.argument("username")
@click.option("--scope", "scopes", multiple=True, help="A role the token may use (repeatable).")
@click.option("--days", type=click.IntRange(1, 365), default=None, help="Lifetime in days.")
@click.option("--name", default=None, help="A label for the token.")
@_domain_errors
@with_appcontext
def token_create(username: str, scopes: tuple[str, ...], days: int | None, name: str | None):
    """Issue a token for USERNAME; the token is printed as the last line."""
    from caseops.users import service as users

    _cli_origin()
    issued = users.create_token(
        Actor.operator(),
        username,
        {"scopes": list(scopes) or None, "expires_in_days": days, "name": name},
    )
    click.echo(
        f"token {issued.token.id} for {username}, scopes {','.join(issued.token.scopes)}, "
        f"expires {issued.token.expires_at.isoformat()}"
    )
    click.echo(issued.plaintext)


@click.group("demo")
def demo_group() -> None:
    """Demo data (CASEOPS_ENV=demo or test only)."""


def _require_demo() -> None:
    if current_app.config["CASEOPS_ENV"] == "production":
        raise click.ClickException("demo commands are refused when CASEOPS_ENV=production")


@demo_group.command("seed")
@_domain_errors
@with_appcontext
def demo_seed() -> None:
    """Create (or complete) the demo agencies and accounts. Safe to run again."""
    from caseops.demo import seed
    from caseops.demo.clients import seed_clients

    _require_demo()
    _cli_origin()
    accounts = seed.seed()
    click.echo(seed_clients())
    click.echo(seed.describe(accounts))


@demo_group.command("totp")
@click.argument("username")
@_domain_errors
@with_appcontext
def demo_totp(username: str) -> None:
    """Print the current second-factor code of a demo account."""
    from caseops.demo import seed

    _require_demo()
    click.echo(seed.current_code(username))


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
@_domain_errors
@with_appcontext
def import_records(agency_code: str, file_format: str | None, report_file: str | None, file: str):
    """Import FILE as the agency's records, through the same path as the bulk API."""
    from caseops.records import importers

    _cli_origin()
    source = importers.open_source(file, file_format)
    with click.progressbar(length=source.total, label="importing", file=sys.stderr) as bar:
        report = importers.run_import(agency_code, source, lambda _entry: bar.update(1))
    for line in report.summary():
        click.echo(line)
    if report_file:
        importers.write_report(report, report_file)
    if report.failed:
        click.get_current_context().exit(1)


def register(app: Flask) -> None:
    from caseops.audit.cli import audit_group, grant_app_role

    db_group.add_command(grant_app_role)
    for command in (db_group, create_admin, token_group, demo_group, audit_group):
        app.cli.add_command(command)
    app.cli.add_command(import_records)
    from caseops.records.commands import export_group, keys_group, link_group

    for group in (keys_group, export_group, link_group):
        app.cli.add_command(group)
    from caseops.backup import backup_group  # caseops backup check (docs/operations.md)

    app.cli.add_command(backup_group)


def _create_app() -> Flask:
    from caseops.app import create_app

    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from error


main = FlaskGroup(create_app=_create_app, add_version_option=False, help="caseops operator CLI")
