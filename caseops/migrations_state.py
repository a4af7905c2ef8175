"""Where the database stands against the Alembic scripts in ``migrations/``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from caseops.extensions import db

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@cache
def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


@dataclass(frozen=True)
class MigrationStatus:
    reachable: bool
    current: tuple[str, ...]
    head: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return self.reachable and set(self.current) == set(self.head)


def migration_status() -> MigrationStatus:
    heads = head_revisions()
    try:
        with db.engine.connect() as connection:
            current = tuple(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError:
        return MigrationStatus(reachable=False, current=(), head=heads)
    return MigrationStatus(reachable=True, current=current, head=heads)
