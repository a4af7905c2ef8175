"""Operator commands: ``caseops audit seal|verify|checkpoint|partitions`` and
``caseops db grant-app-role``."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from caseops.audit.seal import DEFAULT_BATCH, DEFAULT_GRACE_SECONDS


@click.group("audit")
def audit_group() -> None:
    """The verifiable access log: sealing and verification."""


@audit_group.command("actions")
def audit_actions() -> None:
    """Print the catalogue of action names as Markdown (docs/audit-actions.md is this)."""
    from caseops.audit.actions import markdown

    click.echo(markdown(), nl=False)


@audit_group.command("seal")
@click.option("--batch", type=click.IntRange(1), default=DEFAULT_BATCH, show_default=True)
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Seconds before a missing seq is taken as never committed.",
)
@click.option("--rescan", is_flag=True, help="Look for unsealed entries from the first seq.")
@with_appcontext
def audit_seal(batch: int, grace: float, rescan: bool) -> None:
    """Seal every committed, unsealed entry and sign a checkpoint per batch."""
    from caseops.audit.keys import log_key
    from caseops.audit.seal import seal_pending
    from caseops.extensions import db

    _ensure_partitions_before_sealing(db.engine)
    summary = seal_pending(db.engine, log_key(), batch=batch, grace_seconds=grace, rescan=rescan)
    if summary.locked_out:
        click.echo("another sealer is running; nothing done")
        return
    click.echo(f"sealed {summary.sealed} entries; tree size {summary.tree_size}")


def _ensure_partitions_before_sealing(engine) -> None:
    """A deployment that seals from cron has no periodic sealer to create the month
    partitions ahead (docs/access-log.md): the seal command does it. A failure here is a
    note, never a reason not to seal."""
    from caseops.audit.partitions import blocked_message, ensure_partitions

    try:
        statuses = ensure_partitions(engine)
    except Exception as exc:
        click.echo(f"note: access log partitions not checked ({exc})", err=True)
        return
    blocked = [status for status in statuses if status.status == "blocked"]
    if blocked:
        click.echo(f"note: access log partitions {blocked_message(blocked)}", err=True)


@audit_group.group("partitions")
def audit_partitions() -> None:
    """PostgreSQL: the month partitions of the access log (docs/access-log.md)."""


@audit_partitions.command("ensure")
@click.option(
    "--ahead",
    type=click.IntRange(0, 24),
    default=3,
    show_default=True,
    help="Months after the current one to have a partition for.",
)
@with_appcontext
def audit_partitions_ensure(ahead: int) -> None:
    """Create the month partitions from this month through --ahead months later; exit 1
    naming any month whose entries already sit in the DEFAULT partition."""
    from caseops.audit.partitions import blocked_message, ensure_partitions
    from caseops.extensions import db

    if db.engine.dialect.name != "postgresql":
        click.echo("SQLite keeps the access log in one table: nothing to do")
        return
    statuses = ensure_partitions(db.engine, ahead)
    for status in statuses:
        click.echo(f"{status.label} {status.status}")
    blocked = [status for status in statuses if status.status == "blocked"]
    if blocked:
        raise click.ClickException(blocked_message(blocked))


@audit_partitions.command("repair")
@with_appcontext
def audit_partitions_repair() -> None:
    """As the owner, in a maintenance window: give the months of the entries in the
    DEFAULT partition their own partitions and move the entries there (nothing updated
    or deleted; every leaf verifies as before)."""
    from caseops.audit.partitions import repair_default
    from caseops.extensions import db

    if db.engine.dialect.name != "postgresql":
        click.echo("SQLite keeps the access log in one table: nothing to do")
        return
    result = repair_default(db.engine)
    for status in result.months:
        click.echo(f"{status.label} {status.status}")
    click.echo(f"moved {result.moved} entries out of the DEFAULT partition")


@audit_partitions.command("list")
@with_appcontext
def audit_partitions_list() -> None:
    """Print each partition of the access log and the range of occurred_at it holds."""
    from caseops.audit.partitions import list_partitions
    from caseops.extensions import db

    with db.engine.connect() as conn:
        partitions = list_partitions(conn)
    if not partitions:
        click.echo("the access log is one table (not partitioned)")
    for partition in partitions:
        click.echo(f"{partition.name} {partition.bounds}")


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_files",
    type=click.File("r"),
    multiple=True,
    help="A checkpoint kept outside the database (JSON of /api/v1/audit/checkpoints/latest).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def audit_verify(checkpoint_files, as_json: bool) -> None:
    """Recompute the whole log; exit 1 and name the first bad entry if anything differs."""
    from caseops.audit.keys import key_ring
    from caseops.audit.verify import verify
    from caseops.extensions import db

    trusted = []
    for handle in checkpoint_files:
        data = json.load(handle)
        trusted.append((data["checkpoint"], data["signature"], data.get("key_id")))
    ring = key_ring()
    try:
        report = verify(db.engine, ring, ring.origin, trusted=trusted)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    _record_verification(report)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    elif report.ok:
        click.echo(
            f"ok: {report.tree_size} entries verified against {report.checkpoints} checkpoints"
        )
    else:
        click.echo(
            f"FAILED: first bad seq {report.first_bad_seq}: {report.reason}\n"
            f"verified up to tree size {report.verified_size} of {report.tree_size}",
            err=True,
        )
        for problem in report.problems:
            where = f"seq {problem.seq}" if problem.seq is not None else "log"
            click.echo(f"  {where}: {problem.reason}", err=True)
    if not report.ok:
        sys.exit(1)


def _record_verification(report) -> None:
    """Log the run like one through the API, so a cron job's result reaches the
    ``caseops_audit_verify_ok`` metric and the privacy officers (docs/operations.md)."""
    from caseops.audit.service import record
    from caseops.authz.actor import Actor
    from caseops.context import Origin, new_request_id, set_origin

    set_origin(Origin(request_id=new_request_id(), channel="cli"))
    try:
        record(
            "audit.verify",
            actor=Actor.operator(),
            outcome="success",
            target_type="access_log",
            detail=report.as_dict(),
        )
    except Exception as exc:  # a read-only copy (a standby, a recovered backup) still verifies
        click.echo(f"note: this verification could not be logged ({exc})", err=True)


@audit_group.command("checkpoint")
@with_appcontext
def audit_checkpoint() -> None:
    """Print the latest signed checkpoint as JSON (keep a copy outside the database)."""
    from caseops.audit import tree_store
    from caseops.extensions import db

    with db.engine.connect() as conn:
        latest = tree_store.latest_checkpoint(conn)
    if latest is None:
        raise click.ClickException("the log has not been sealed yet")
    body = latest.as_dict() | {"signed_at": latest.signed_at.isoformat()}
    click.echo(json.dumps(body))


@audit_group.command("verify-statement")
@click.argument("statement_file", type=click.File("r"))
@click.option(
    "--public-key",
    "public_key_file",
    type=click.File("r"),
    help="The log's published public key (PEM or verifier key) to check the checkpoint with. "
    "Without it the key inside the statement is used, which shows only that the statement "
    "is self-consistent.",
)
def audit_verify_statement(statement_file, public_key_file) -> None:
    """Check a client's access statement offline (no database): every proven entry's
    field commitments, leaf, inclusion proof and the checkpoint's signature. Exits 1
    naming the first bad entry."""
    from caseops.audit.statement import StatementError, verify_statement

    try:
        statement = json.load(statement_file)
    except ValueError as exc:
        raise click.ClickException(f"not a JSON statement: {exc}") from exc
    if not isinstance(statement, dict):
        raise click.ClickException("not a JSON statement: expected an object")
    key = public_key_file.read() if public_key_file else None
    try:
        proven = verify_statement(statement, key)
    except StatementError as exc:
        click.echo(f"FAILED: {exc}", err=True)
        sys.exit(1)
    entries = statement.get("entries") or []
    others = len(entries) - proven
    click.echo(
        f"ok: {proven} entries proven against tree size "
        f"{(statement.get('checkpoint') or {}).get('tree_size')}; "
        f"{others} listed without proof (see each entry's proof_status)"
    )
    if key is None:
        click.echo(
            "note: checked with the key inside the statement; pass --public-key with the "
            "log's published key to know the checkpoint is the log's",
            err=True,
        )


@audit_group.command("keys")
@with_appcontext
def audit_keys() -> None:
    """Print every published signing key (current and retired) with its validity, as JSON."""
    from caseops.audit.keys import key_ring, published_keys
    from caseops.extensions import db

    with db.engine.connect() as conn:
        click.echo(json.dumps(published_keys(conn, key_ring()), indent=2))


@audit_group.command("new-key")
@click.option(
    "--retire-at",
    default=None,
    help="When the current key stops being valid (ISO 8601; default: now + --grace).",
)
@click.option(
    "--grace",
    type=click.IntRange(0),
    default=300,
    show_default=True,
    help="Seconds the restart may take during which the old key may still sign.",
)
@with_appcontext
def audit_new_key(retire_at: str | None, grace: int) -> None:
    """Print a new signing key and the retired-keys list that keeps the current one
    published, as environment lines to deploy together (docs/operations.md)."""
    import base64
    import secrets
    from datetime import UTC, datetime, timedelta

    from caseops.audit.checkpoint import parse_instant
    from caseops.audit.keys import key_ring, retirement_entry
    from caseops.extensions import db

    ring = key_ring()
    try:
        when = (
            parse_instant(retire_at, "--retire-at")
            if retire_at
            else datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=grace)
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--retire-at") from exc
    previous = json.loads(current_app.config.get("CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS") or "[]")
    with db.engine.connect() as conn:
        previous.insert(0, retirement_entry(ring, conn, when))
    seed = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    click.echo(f"CASEOPS_AUDIT_SIGNING_KEY={seed}")
    click.echo(f"CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS='{json.dumps(previous)}'")


# --- database roles --------------------------------------------------------------------

LOG_TABLES = ("access_events", "audit_leaves", "audit_nodes", "audit_checkpoints")


def grant_statements(role: str, quote) -> list[str]:
    """GRANTs that let ``role`` run the application: DML everywhere except the log tables,
    where it may only INSERT and SELECT."""
    r = quote(role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}",
        # Tables of later migrations too (append-only ones are narrowed by their migration).
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {r}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON alembic_version FROM {r}",
        f"REVOKE INSERT ON alembic_version FROM {r}",
    ]
    for table in LOG_TABLES:
        statements.append(f"REVOKE ALL ON {table} FROM {r}")
        statements.append(f"GRANT SELECT, INSERT ON {table} TO {r}")
    # The sealer creates the log's month partitions ahead of time (migration 0025).
    statements.append(
        f"GRANT EXECUTE ON FUNCTION caseops_access_log_ensure_partitions(integer) TO {r}"
    )
    return statements


@click.command("grant-app-role")
@click.argument("role")
@click.option("--create", is_flag=True, help="Create the role (LOGIN) if it does not exist.")
@click.option("--password-stdin", is_flag=True, help="With --create: read its password.")
@with_appcontext
def grant_app_role(role: str, create: bool, password_stdin: bool) -> None:
    """PostgreSQL: let ROLE run caseops with INSERT/SELECT only on the access log.

    Run as the database owner (the account that runs migrations), after
    `caseops db upgrade`, and again after any upgrade that adds tables.
    """
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        raise click.ClickException("database roles exist only on PostgreSQL")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            quote = conn.dialect.identifier_preparer.quote
            exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            if not exists:
                if not create:
                    raise click.ClickException(f"role {role!r} does not exist (use --create)")
                statement = f"CREATE ROLE {quote(role)} LOGIN"
                if password_stdin:
                    password = sys.stdin.readline().rstrip("\n")
                    literal = "'" + password.replace("'", "''") + "'"
                    statement += f" PASSWORD {literal}"
                conn.execute(text(statement))
            for statement in grant_statements(role, quote):
                conn.execute(text(statement))
    finally:
        engine.dispose()
    click.echo(f"role {role}: DML on caseops tables; INSERT and SELECT only on the access log")
