"""Every CSV export writes through caseops.spreadsheet: a typed value never runs as a
formula in the spreadsheet that opens it."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from caseops.spreadsheet import FORMULA_STARTS, cell, to_csv


@given(st.text())
def test_no_cell_starts_a_formula(text):
    assert cell(text)[:1] not in FORMULA_STARTS
    assert cell(text).removeprefix("'") == text or cell(text) == text


def test_values_read_as_people_expect():
    assert cell(None) == "" and cell(True) == "yes" and cell(False) == "no"
    assert cell(["hha/housing", "cchc/health"]) == "hha/housing; cchc/health"
    assert cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'


def test_rows_come_back_as_written():
    text = to_csv(("a", "b"), [{"a": "x,y", "b": "line\nbreak"}, {"a": "@sum", "b": 3}])
    assert list(csv.reader(io.StringIO(text))) == [
        ["a", "b"],
        ["x,y", "line\nbreak"],
        ["'@sum", "3"],
    ]
