"""``among`` (IN on SQLite, = ANY of an array on PostgreSQL) finds exactly the
rows whose value is among the given ones, whatever characters the values hold."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, select

from caseops.extensions import db
from caseops.storage.dialect import among

texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
PROBE = Table("probe_among", MetaData(), Column("t", Text()), Column("n", BigInteger()))
REUSES_THE_APP = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def stored(rows: list[dict]) -> None:
    PROBE.create(db.session.connection(), checkfirst=True)
    db.session.execute(PROBE.delete())
    db.session.execute(PROBE.insert(), rows)


@REUSES_THE_APP
@given(
    st.lists(
        st.tuples(texts, int64), min_size=1, max_size=20, unique_by=(lambda r: r[0], lambda r: r[1])
    ),
    st.data(),
)
def test_exactly_the_rows_among_the_values_are_found(app, rows, data):
    stored([{"t": t, "n": n} for t, n in rows])
    chosen = data.draw(st.lists(st.sampled_from(rows), unique=True))
    strangers = data.draw(st.lists(st.tuples(texts, int64), max_size=3))
    known = set(rows)
    for index, name in ((0, "t"), (1, "n")):
        values = [row[index] for row in chosen + strangers]
        found = set(db.session.scalars(select(PROBE.c[name]).where(among(PROBE.c[name], values))))
        assert found == {row[index] for row in known if row[index] in values}
    db.session.rollback()
