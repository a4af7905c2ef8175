"""The operator CLI: ``caseops ...`` (also ``flask --app wsgi ...``).

Each area's commands live in its ``commands.py`` (``caseops/<area>/commands.py``); this
module only assembles them, and holds what every command shares: the operation's origin
and domain errors shown as messages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import click
from flask import Flask
from flask.cli import FlaskGroup

from caseops.config import ConfigError
from caseops.context import Origin, new_request_id, set_origin
from caseops.errors import DomainError

F = TypeVar("F", bound=Callable[..., object])


def cli_origin() -> None:
    set_origin(Origin(request_id=new_request_id(), channel="cli"))


def domain_errors(command: F) -> F:
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


def register(app: Flask) -> None:
    from caseops.audit.commands import audit_group, grant_app_role
    from caseops.demo.commands import demo_group
    from caseops.matching.commands import link_group
    from caseops.ops.commands import backup_group, db_group
    from caseops.records.commands import export_group, import_records, keys_group
    from caseops.simulation.commands import policy_group
    from caseops.users.commands import create_admin, token_group
    from caseops.webhooks.commands import webhooks_group

    db_group.add_command(grant_app_role)
    for command in (db_group, create_admin, token_group, demo_group, audit_group):
        app.cli.add_command(command)
    app.cli.add_command(import_records)
    for group in (keys_group, export_group, link_group):
        app.cli.add_command(group)
    app.cli.add_command(backup_group)  # caseops backup check (docs/operations.md)
    app.cli.add_command(webhooks_group)  # caseops webhooks deliver (docs/webhooks.md)
    app.cli.add_command(policy_group)  # caseops policy test (docs/simulation.md)


def _create_app() -> Flask:
    from caseops.app import create_app

    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from error


main = FlaskGroup(create_app=_create_app, add_version_option=False, help="caseops operator CLI")
