"""File importers for ``caseops import``: NDJSON, CSV and a HUD HMIS CSV export.

Every format is turned into the bulk endpoint's NDJSON line shape (the PUT body plus
``source_record_id``) and written through ``records.service.bulk`` as the agency's own
integration identity, so validation, linkage, encryption, history and the access log are
exactly the API's. Line numbers in the report are the file's own (a CSV header is line
1; for an HMIS export they are lines of ``Enrollment.csv``), so an operator can go
straight to the offending line.

The report is exact: every physical line of the file is accounted for, as the header, a
blank line, or (part of) one record, and every record has one outcome - ``created``,
``updated``, ``unchanged``, ``refused`` (with a reason naming the field or column) or
``skipped`` (with a reason). A few records are decided before ``bulk`` sees them (a CSV
row whose cells do not match the header, a row a broken quote would have merged with the
rows after it, an HMIS enrollment with a bad date or of an unknown client); they are
reported the same way. Conversion notes that do not stop a record (an approximate birth
date used, a placeholder SSN left out) are attached to it as ``warnings``.

Why the CSV reader checks quoting itself: a cell whose opening quote is never closed makes
any CSV parser read on into the following rows as the same cell, so good rows vanish
inside a bad one and errors are blamed on the wrong line. ``read_csv`` therefore checks
every record that spans several physical lines or contains a quote; one that a strict
reading refuses, or that has a later line which reads as a complete row on its own, is
refused on its first line and reading resumes on the line after it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import fields

from caseops.agencies.service import get_agency
from caseops.audit.service import record as audit
from caseops.authz.actor import Actor
from caseops.errors import DomainError
from caseops.records import service
from caseops.records.schemas import DATA_SCHEMAS

FORMATS = ("ndjson", "csv", "hmis")
_EXTENSIONS = {
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".csv": "csv",
    ".zip": "hmis",
}
# The outcomes a record can have, in the order the summary lists them.
STATUSES = ("created", "updated", "unchanged", "withdrawn", "skipped", "refused")
REFUSED = "refused"


class ImportFileError(DomainError):
    """The file as a whole cannot be imported (unknown format, columns, missing files).

    Raised before anything is written."""

    status, code = 400, "import_file_unusable"


# -- what an importer produces ---------------------------------------------------------


@dataclass
class Item:
    """One record of the source: an NDJSON body for ``bulk``, or an entry decided here.

    ``end_line`` is the last physical line of a record that spans several (a quoted cell
    with line breaks in a CSV file)."""

    line: int
    text: str | None = None
    entry: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    end_line: int | None = None


@dataclass
class Accounting:
    """Where each physical line of the file went: the header, a blank line, the first
    line of a record, or a later line of a record (``continued``). The four add up to
    ``total``; the report says so, so nothing can be silently lost."""

    total: int = 0
    header: int = 0
    blank: list[int] = field(default_factory=list)
    records: int = 0
    continued: int = 0

    @property
    def balanced(self) -> bool:
        return self.header + len(self.blank) + self.records + self.continued == self.total

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "header": self.header,
            "blank": self.blank,
            "records": self.records,
            "continued": self.continued,
        }


@dataclass
class ImportSource:
    format: str
    path: Path
    total: int  # records to expect, for the progress bar
    items: Iterable[Item]
    line_label: str = "line"
    accounting: Accounting | None = None


@dataclass
class ImportReport:
    agency: str
    format: str
    source: str
    line_label: str
    lines: list[dict[str, Any]]
    accounting: Accounting | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.lines:
            counts[line["status"]] = counts.get(line["status"], 0) + 1
        return counts

    @property
    def accounted(self) -> bool:
        """One outcome per record, and every physical line placed."""
        if self.accounting is None:
            return True
        return self.accounting.balanced and self.accounting.records == len(self.lines)

    @property
    def failed(self) -> bool:
        """Any record refused (or anything unaccounted for): the command exits 1."""
        return not self.accounted or any(line["status"] == REFUSED for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "agency": self.agency,
            "format": self.format,
            "source": self.source,
            "line_numbers": self.line_label,
            "records": len(self.lines),
            "counts": self.counts,
            "lines": self.lines,
        }
        if self.accounting is not None:
            out["file_lines"] = self.accounting.as_dict()
        return out

    def summary(self) -> list[str]:
        """The operator-facing text: counts, then ``line N: field: reason`` per problem."""
        counts = self.counts
        shown = [f"{counts[s]} {s}" for s in STATUSES if s in counts]
        shown += [f"{n} {s}" for s, n in sorted(counts.items()) if s not in STATUSES]
        out = [
            f"imported {self.source} ({self.format}) as agency {self.agency}: "
            f"{len(self.lines)} records: {', '.join(shown) or 'nothing'}"
        ]
        if self.accounting is not None:
            a = self.accounting
            parts = [f"{a.header} header"] if a.header else []
            parts.append(f"{a.records} records")
            if a.continued:
                parts.append(f"{a.continued} continuing a record (quoted line breaks)")
            if a.blank:
                parts.append(f"{len(a.blank)} blank")
            verdict = "" if self.accounted else " - NOT ALL ACCOUNTED FOR"
            out.append(f"{a.total} lines: {', '.join(parts)}{verdict}")
        if self.line_label != "line" and self.lines:
            out.append(f"(line numbers are {self.line_label}s)")
        for line in self.lines:
            where = f"line {line['line']}"
            for name, reasons in (line.get("errors") or {}).items():
                out.append(f"{where}: {name}: {' '.join(reasons)}")
            if line["status"] == "skipped":
                out.append(f"{where}: skipped: {line.get('reason', '')}")
        for line in self.lines:
            for warning in line.get("warnings", ()):
                out.append(f"line {line['line']}: warning: {warning}")
        return out


def write_report(report: ImportReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")


def integration_actor(agency_code: str) -> Actor:
    """The agency's integration identity, as the operator imports on the agency's behalf.

    ``records.service.bulk`` authorizes it exactly like an integration token of the
    agency: ``policy.allowed`` asks Casbin about the role ``integration`` in the agency's
    domain, which the default policy allows for ``records``/``write``."""
    return Actor(
        username=f"<import:{agency_code}>", agency=agency_code, roles=frozenset({"integration"})
    )


def run_import(
    agency_code: str,
    source: ImportSource,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> ImportReport:
    """Write ``source`` as ``agency_code``'s records through ``records.service.bulk``."""
    get_agency(agency_code)  # an unknown agency fails before anything is read or written
    decided: list[dict[str, Any]] = []
    items: dict[int, Item] = {}

    def feed() -> Iterator[tuple[int, str]]:
        for item in source.items:
            items[item.line] = item
            if item.entry is not None:
                decided.append(item.entry)
                if progress is not None:
                    progress(item.entry)
            elif item.text is not None:
                yield item.line, item.text

    report = service.bulk(integration_actor(agency_code), agency_code, feed(), progress)
    lines = sorted(decided + report.lines, key=lambda entry: entry["line"])
    for entry in lines:
        if entry["status"] == "error":  # bulk's word for it; the report says what happened
            entry["status"] = REFUSED
        item = items.get(entry["line"])
        if item is not None and item.end_line is not None and item.end_line != item.line:
            entry["end_line"] = item.end_line
        if item is not None and item.warnings:
            entry["warnings"] = item.warnings
    result = ImportReport(
        agency_code, source.format, str(source.path), source.line_label, lines, source.accounting
    )
    # Each record's write is logged as the agency's; this entry says who ran the import.
    audit(
        "record.import",
        actor=Actor.operator(),
        target_type="agency",
        target_id=agency_code,
        outcome="failure" if result.failed else "success",
        detail={"file": source.path.name, "format": source.format, "counts": result.counts},
    )
    return result


def guess_format(path: Path) -> str:
    if path.is_dir():
        return "hmis"
    guessed = _EXTENSIONS.get(path.suffix.lower())
    if guessed is None:
        raise ImportFileError(
            f"Cannot tell the format of {path.name}; pass --format ndjson, csv or hmis."
        )
    return guessed


def open_source(path: str | Path, fmt: str | None = None) -> ImportSource:
    """Read and check ``path`` (before anything is written) and return its items."""
    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt == "ndjson":
        return _ndjson_source(path)
    if fmt == "csv":
        return _csv_source(path)
    if fmt == "hmis":
        from caseops.records.hmis import hmis_source

        return hmis_source(path)
    raise ImportFileError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")


def refused(line: int, errors: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    """A report entry for a record decided here: refused, each reason under its field."""
    return {"line": line, "status": REFUSED, **extra, "errors": errors}


# -- NDJSON ----------------------------------------------------------------------------


def _ndjson_source(path: Path) -> ImportSource:
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file.")
    raw = path.read_bytes().splitlines()
    if raw and raw[0].startswith(b"\xef\xbb\xbf"):
        raw[0] = raw[0][3:]
    items: list[Item] = []
    accounting = Accounting(total=len(raw))
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            accounting.blank.append(number)
            continue
        try:
            items.append(Item(number, text=line.decode("utf-8")))
        except UnicodeDecodeError:
            items.append(Item(number, entry=refused(number, {"_line": ["Not UTF-8 text."]})))
    accounting.records = len(items)
    return ImportSource("ndjson", path, len(items), items, accounting=accounting)


# -- reading CSV, every line accounted for ----------------------------------------------


@dataclass
class CsvRecord:
    """One logical CSV record: its first and last physical line and its cells, or the
    ``problem`` (field -> reasons) that made it unreadable (``cells`` are then those of
    its first line alone)."""

    line: int
    end_line: int
    cells: list[str]
    problem: dict[str, list[str]] | None = None


@dataclass
class CsvFile:
    name: str
    header: list[str]
    records: list[CsvRecord]
    accounting: Accounting


class _Cursor:
    """The file's physical lines for ``csv.reader``, with the position it has reached, so
    each record's span is known and reading can resume on any line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0

    def __iter__(self) -> _Cursor:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _alone(line: str) -> list[str]:
    """The cells of one physical line read on its own (an open quote ends with it)."""
    return next(csv.reader([line]), [])


def _strict_rows(text: str) -> list[list[str]] | None:
    try:
        return list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return None


def _quoting_problem(
    lines: list[str], first: int, header: list[str] | None
) -> dict[str, list[str]] | None:
    """Why the record made of ``lines`` (starting at line ``first``) is not what its
    author wrote, or None. Only a quote can join lines, so a record without one is fine."""
    chunk = "".join(lines)
    if '"' not in chunk:
        return None
    cells = _alone(lines[0])
    column = (
        header[len(cells) - 1]
        if header is not None and cells and len(cells) <= len(header)
        else "_line"
    )
    last = first + len(lines) - 1
    if len(lines) == 1:
        if _strict_rows(chunk) is None:
            if _strict_rows(chunk.rstrip("\r\n") + '"') is not None:  # only the close is missing
                return {column: [f"The quote that opens this cell is never closed (line {first})."]}
            return {
                "_line": [
                    "Malformed quoting: a quoted cell must end with a quote followed by a comma "
                    "or the end of the line (write a quote inside one as two quotes)."
                ]
            }
        return None
    merged = _strict_rows(chunk) is None
    if not merged and header is not None:
        # A later line that is a complete row by itself was swallowed by an open quote.
        for line in lines[1:]:
            alone = _alone(line)
            merged = len(alone) == len(header) and _strict_rows(line) is not None
            if merged:
                break
    if not merged:
        return None
    return {
        column: [
            f"The quote that opens this cell is not closed on line {first}: it would run on "
            f"to line {last} and swallow the rows in between. The line is refused; the lines "
            "after it are read on their own."
        ]
    }


def read_csv(text: str, name: str) -> CsvFile:
    """The header and records of a CSV file, each record with its physical lines.

    A record whose quoting is broken (see the module docstring) is returned with its
    ``problem`` and reading resumes on the next physical line, so a broken quote costs
    exactly one line. Raises ImportFileError for an empty file or an unreadable header."""
    physical = io.StringIO(text, newline="").readlines()
    cursor = _Cursor(physical)
    accounting = Accounting(total=len(physical))
    header: list[str] | None = None
    records: list[CsvRecord] = []
    reader = csv.reader(cursor)
    while cursor.pos < len(physical):
        start = cursor.pos
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. an open quote running past the field size limit
            problem: dict[str, list[str]] | None = {"_line": [f"Unreadable CSV: {exc}."]}
            cursor.pos = start + 1
            cells = _alone(physical[start])
        else:
            if cursor.pos - start == 1 and not any(cell.strip() for cell in cells):
                accounting.blank.append(start + 1)
                continue
            problem = _quoting_problem(physical[start : cursor.pos], start + 1, header)
        if problem is not None:
            if header is None:
                reasons = "; ".join(" ".join(r) for r in problem.values())
                raise ImportFileError(f"{name} line {start + 1} (the header): {reasons}")
            cursor.pos = start + 1
            reader = csv.reader(cursor)
            records.append(CsvRecord(start + 1, start + 1, _alone(physical[start]), problem))
            accounting.records += 1
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            accounting.header = cursor.pos - start
            continue
        records.append(CsvRecord(start + 1, cursor.pos, cells))
        accounting.records += 1
        accounting.continued += cursor.pos - start - 1
    if header is None:
        raise ImportFileError(f"{name} is empty: it needs a header line.")
    return CsvFile(name, header, records, accounting)


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name} is not UTF-8 text (byte {exc.start}).") from exc


def width_problem(record: CsvRecord, header: list[str]) -> dict[str, list[str]] | None:
    """A row with more or fewer cells than the header: its cells cannot be trusted to be
    under the right columns (a short row is usually a truncated one), so it is refused,
    naming the first column it lacks."""
    have, want = len(record.cells), len(header)
    if have > want:
        return {"_line": [f"{have} cells; the header has {want}."]}
    if have < want:
        absent = header[have:]
        return {
            absent[0]: [
                f"Missing: the row has {have} of the header's {want} cells "
                f"({', '.join(absent)} absent)."
            ]
        }
    return None


def source_record_id_of(record: CsvRecord, header: list[str], column: str) -> dict[str, str]:
    """``{"source_record_id": ...}`` for a refused row, when its cell can be read."""
    if column not in header:
        return {}
    index = header.index(column)
    usable = record.cells[:-1] if record.problem else record.cells  # the last may be broken
    value = usable[index].strip() if index < len(usable) else ""
    return {"source_record_id": value} if value else {}


# -- CSV -------------------------------------------------------------------------------

TOP_COLUMNS = ("source_record_id", "category", "source_version")
PERSON_COLUMNS = (
    "given_name",
    "middle_name",
    "family_name",
    "birth_date",
    "ssn",
    "sex",
    "phone",
    "email",
)
ADDRESS_COLUMNS = ("street_number", "street", "line2", "city", "postcode", "state")
DATA_PREFIX = "data_"
_COMPACT_DATE = re.compile(r"\d{8}")
_INTEGER = re.compile(r"[+-]?\d+")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def iso_date(value: str) -> str:
    """``YYYYMMDD`` → ``YYYY-MM-DD``; anything else unchanged (the schema judges it)."""
    if _COMPACT_DATE.fullmatch(value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def _data_value(schema_field: fields.Field | None, value: str) -> Any:
    """A CSV cell as the JSON value an NDJSON sender would send for that data field."""
    if isinstance(schema_field, fields.List):
        parts = [part.strip() for part in value.split(";")]
        return [_data_value(schema_field.inner, part) for part in parts if part]
    if isinstance(schema_field, fields.Date):
        return iso_date(value)
    if isinstance(schema_field, fields.Boolean):
        lowered = value.casefold()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    if isinstance(schema_field, fields.Float):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(schema_field, fields.Integer) and _INTEGER.fullmatch(value):
        return int(value)
    return value


def csv_row_to_body(row: Mapping[str, str | None]) -> dict[str, Any]:
    """One CSV row (column → cell) as the bulk NDJSON body; empty cells are missing."""
    cells = {key: (value or "").strip() for key, value in row.items() if key}
    cells = {key: value for key, value in cells.items() if value}
    person: dict[str, Any] = {name: cells[name] for name in PERSON_COLUMNS if name in cells}
    if "birth_date" in person:
        person["birth_date"] = iso_date(person["birth_date"])
    address = {name: cells[name] for name in ADDRESS_COLUMNS if name in cells}
    if address:
        person["address"] = address
    category = cells.get("category")
    schema = DATA_SCHEMAS.get(category or "")
    declared = schema().fields if schema is not None else {}
    data = {
        key[len(DATA_PREFIX) :]: _data_value(declared.get(key[len(DATA_PREFIX) :]), value)
        for key, value in cells.items()
        if key.startswith(DATA_PREFIX)
    }
    version: Any = cells.get("source_version", "1")
    if isinstance(version, str) and _INTEGER.fullmatch(version):
        version = int(version)
    body: dict[str, Any] = {
        "category": category,
        "person": person,
        "data": data,
        "source_version": version,
    }
    if "source_record_id" in cells:
        body["source_record_id"] = cells["source_record_id"]
    return {key: value for key, value in body.items() if value is not None}


def _check_csv_header(header: list[str]) -> list[str]:
    header = [name.strip() for name in header]
    known = set(TOP_COLUMNS) | set(PERSON_COLUMNS) | set(ADDRESS_COLUMNS)
    unknown = [
        n
        for n in header
        if n not in known and not (n.startswith(DATA_PREFIX) and len(n) > len(DATA_PREFIX))
    ]
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(n) for n in unknown)}")
    duplicated = sorted({n for n in header if header.count(n) > 1})
    if duplicated:
        problems.append(f"repeated column(s) {', '.join(duplicated)}")
    missing = [n for n in ("source_record_id", "category") if n not in header]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if problems:
        raise ImportFileError(
            "The CSV header cannot be used: "
            + "; ".join(problems)
            + ". Columns are "
            + ", ".join(
                (*TOP_COLUMNS[:2], *PERSON_COLUMNS[:6], *ADDRESS_COLUMNS, *PERSON_COLUMNS[6:])
            )
            + ", data_<field> and optionally source_version."
        )
    return header


def _csv_source(path: Path) -> ImportSource:
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file.")
    table = read_csv(read_text(path), path.name)
    header = _check_csv_header(table.header)

    def items() -> Iterator[Item]:
        for record in table.records:
            number = record.line
            problem = record.problem or width_problem(record, header)
            if problem is not None:
                srid = source_record_id_of(record, header, "source_record_id")
                yield Item(number, entry=refused(number, problem, **srid))
                continue
            row = dict(zip(header, record.cells, strict=True))
            yield Item(number, text=json.dumps(csv_row_to_body(row)), end_line=record.end_line)

    return ImportSource("csv", path, len(table.records), items(), accounting=table.accounting)


def __getattr__(name: str) -> Any:
    """The HMIS helpers lived here before ``caseops.records.hmis``; still reachable."""
    if name in {"hmis_person", "hmis_timestamp", "hmis_body", "HMIS_MISSING"}:
        from caseops.records import hmis

        return getattr(hmis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
