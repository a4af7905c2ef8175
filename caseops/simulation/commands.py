"""Operator command: ``caseops policy test FILE.yaml [--draft DRAFT.yaml]`` (golden
decision suites, docs/simulation.md). Exit status 0 when every case matches, 1 on any
mismatch (the diff is printed), 2 when the suite or draft file is not well formed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from caseops.cli import cli_origin


@click.group("policy")
def policy_group() -> None:
    """The role policy: golden decision suites."""


def run_file(suite: str | Path, draft: str | Path | None = None) -> tuple[int, str]:
    """(exit status, report) for one suite file against the current policy (the ``p``
    rules in the database) or the current policy with the draft applied. Logged as
    ``policy.test``; needs an application context."""
    from caseops.audit.service import record as audit
    from caseops.authz import policy
    from caseops.authz.actor import Actor
    from caseops.simulation.suites import SuiteError, load_draft, load_yaml, run_suite

    changes: dict[str, Any] | None = None
    try:
        changes = load_draft(draft) if draft else None
        result = run_suite(load_yaml(suite), policy.enforcer().get_policy(), changes)
    except SuiteError as error:
        return 2, "the suite cannot be run:\n" + "\n".join(f"  {p}" for p in error.problems)
    audit(
        "policy.test",
        actor=Actor.operator(),
        outcome="success" if result.passed else "failure",
        target_type="policy",
        target_id=str(policy.current_version()),
        detail={
            "suite": result.suite,
            "file": Path(suite).name,
            "draft": changes,
            "cases": len(result.cases),
            "failed": [c.name for c in result.failed],
        },
    )
    return (0 if result.passed else 1), result.report()


@policy_group.command("test")
@click.argument("suite", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--draft",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML {add: [rules], remove: [rules]} applied to an in-memory copy of the policy.",
)
@with_appcontext
def test_suite(suite: str, draft: str | None) -> None:
    """Run a golden decision suite; non-zero exit on any mismatch."""
    cli_origin()
    status, report = run_file(suite, draft)
    click.echo(report, err=status == 2)
    raise SystemExit(status)
