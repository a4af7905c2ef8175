"""Operator commands for accounts: ``caseops create-admin`` and ``caseops token create``."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from caseops.authz.actor import Actor
from caseops.cli import cli_origin, domain_errors


@click.command("create-admin")
@click.argument("username")
@click.option("--agency", default="ops", show_default=True, help="Agency code (created if new).")
@click.option("--agency-name", default="caseops operations", show_default=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
@domain_errors
@with_appcontext
def create_admin(username: str, agency: str, agency_name: str, password_stdin: bool) -> None:
    """Bootstrap a system administrator (the first account of a new installation)."""
    from caseops.users import service as users

    cli_origin()
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
@domain_errors
@with_appcontext
def token_create(username: str, scopes: tuple[str, ...], days: int | None, name: str | None):
    """Issue a token for USERNAME; the token is printed as the last line."""
    from caseops.users import service as users

    cli_origin()
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
