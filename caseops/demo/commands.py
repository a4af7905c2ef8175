"""Operator commands for demo data: ``caseops demo seed|totp``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from caseops.cli import cli_origin, domain_errors


@click.group("demo")
def demo_group() -> None:
    """Demo data (CASEOPS_ENV=demo or test only)."""


def _require_demo() -> None:
    if current_app.config["CASEOPS_ENV"] == "production":
        raise click.ClickException("demo commands are refused when CASEOPS_ENV=production")


@demo_group.command("seed")
@domain_errors
@with_appcontext
def demo_seed() -> None:
    """Create (or complete) the demo agencies and accounts. Safe to run again."""
    from caseops.demo import seed
    from caseops.demo.clients import seed_clients
    from caseops.demo.part2 import seed_part2
    from caseops.demo.referrals import seed_referrals

    _require_demo()
    cli_origin()
    accounts = seed.seed()
    click.echo(seed_clients())
    click.echo(seed_referrals())
    click.echo(seed_part2())
    from caseops.demo.caseloads import seed_caseloads  # the desk's synthetic clients

    click.echo(seed_caseloads())
    from caseops.demo.portal import seed_portal  # a demo access code for /my

    click.echo(seed.describe(accounts))
    click.echo(seed_portal())


@demo_group.command("totp")
@click.argument("username")
@domain_errors
@with_appcontext
def demo_totp(username: str) -> None:
    """Print the current second-factor code of a demo account."""
    from caseops.demo import seed

    _require_demo()
    click.echo(seed.current_code(username))
