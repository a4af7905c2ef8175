"""Operator command: ``caseops webhooks deliver`` (one pass for cron, or ``--loop``)."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from caseops.cli import cli_origin
from caseops.webhooks.delivery import DEFAULT_LIMIT, DEFAULT_TIMEOUT


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhooks to agency systems: delivering the outbox."""


@webhooks_group.command("deliver")
@click.option("--limit", type=click.IntRange(1), default=DEFAULT_LIMIT, show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 30),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for each receiver.",
)
@click.option("--loop", is_flag=True, help="Keep delivering every --interval seconds.")
@click.option("--interval", type=click.FloatRange(0.5), default=5.0, show_default=True)
@with_appcontext
def deliver(limit: int, timeout: float, loop: bool, interval: float) -> None:
    """Send every due delivery (retries included); print what was done."""
    from caseops.webhooks.delivery import deliver_all

    cli_origin()
    while True:
        summary = deliver_all(limit=limit, timeout=timeout)
        if summary.locked_out:
            click.echo("another sender is running; nothing done")
        else:
            click.echo(
                f"attempted {summary.attempted}: delivered {summary.delivered}, "
                f"failed {summary.failed} (given up {summary.given_up})"
            )
        if not loop:
            return
        time.sleep(interval)
