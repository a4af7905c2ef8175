"""Inserting many rows at once, the fastest way each database offers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

_INSERT_CHUNK = 5_000  # rows per executemany: below SQLite's bind-parameter limit


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in ``columns`` order) in the connection's transaction: by
    COPY on PostgreSQL (several times faster than even a pipelined executemany),
    executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        with (
            conn.connection.driver_connection.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in chunk])
