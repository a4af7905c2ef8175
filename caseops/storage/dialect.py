"""Differences between PostgreSQL and SQLite that the domain meets, as small functions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from caseops.extensions import db

# Values per IN list: well below the bind-parameter limits of PostgreSQL and SQLite.
IN_LIST_SIZE = 5000


class _Bound(Protocol):
    @property
    def dialect(self) -> Any: ...


def is_postgresql(bind: _Bound | None = None) -> bool:
    """Whether ``bind`` (a Connection or Engine; by default the session's) is PostgreSQL."""
    if bind is None:
        bind = db.session.get_bind()
    return bind.dialect.name == "postgresql"


def slices(values: Iterable[Any]) -> Iterator[list[Any]]:
    """The values in order, in slices below the bind-parameter limit."""
    ordered = sorted(values)
    for start in range(0, len(ordered), IN_LIST_SIZE):
        yield ordered[start : start + IN_LIST_SIZE]


def batches(values: Iterable[Any]) -> Iterator[list[Any]]:
    """Values for ``among``: all at once on PostgreSQL (one array parameter, one
    statement), in slices below the bind-parameter limit elsewhere."""
    if is_postgresql():
        ordered = sorted(values)
        if ordered:
            yield ordered
        return
    yield from slices(values)


def among(column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(array)``, one parameter that
    the driver and the server handle once rather than once per value (thousands of
    values per chunk). The array goes as a typed parameter, so the planner sees a
    constant: it hashes the values, and estimates from them, even on statistics from
    before a load (an array cast from text is neither, and a stale estimate then turns
    into a scan testing every row against the whole list)."""
    if is_postgresql():
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)
