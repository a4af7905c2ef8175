"""File importers for ``caseops import``: NDJSON, CSV and a HUD HMIS CSV export.

Every format is turned into the bulk endpoint's NDJSON line shape (the PUT body plus
``source_record_id``) and written through ``records.service.bulk`` as the agency's own
integration identity, so validation, linkage, encryption, history and the access log are
exactly the API's. Line numbers in the report are the file's own (a CSV header is line
1; for an HMIS export they are lines of ``Enrollment.csv``), so an operator can go
straight to the offending line.

A few lines are decided before ``bulk`` sees them (a CSV row with too many cells, an HMIS
enrollment of an unknown or deleted client); they are reported the same way. Conversion
notes that do not stop a line (an approximate birth date used, a placeholder SSN left
out) are attached to the line as ``warnings``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from marshmallow import fields

from caseops.agencies.service import get_agency
from caseops.audit.service import record as audit
from caseops.authz.actor import Actor
from caseops.errors import DomainError
from caseops.linkage.normalize import normalize_ssn
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


class ImportFileError(DomainError):
    """The file as a whole cannot be imported (unknown format, columns, missing files).

    Raised before anything is written."""

    status, code = 400, "import_file_unusable"


# -- what an importer produces ---------------------------------------------------------


@dataclass
class Item:
    """One line of the source: an NDJSON body for ``bulk``, or an entry decided here."""

    line: int
    text: str | None = None
    entry: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportSource:
    format: str
    path: Path
    total: int  # items to expect, for the progress bar
    items: Iterable[Item]
    line_label: str = "line"


@dataclass
class ImportReport:
    agency: str
    format: str
    source: str
    line_label: str
    lines: list[dict[str, Any]]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.lines:
            counts[line["status"]] = counts.get(line["status"], 0) + 1
        return counts

    @property
    def failed(self) -> bool:
        return any(line["status"] == "error" for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "format": self.format,
            "source": self.source,
            "line_numbers": self.line_label,
            "counts": self.counts,
            "lines": self.lines,
        }

    def summary(self) -> list[str]:
        """The operator-facing text: counts, then ``line N: field: reason`` per problem."""
        order = ("created", "updated", "unchanged", "skipped", "error")
        counts = self.counts
        shown = [f"{counts[s]} {s}" for s in order if s in counts]
        shown += [f"{n} {s}" for s, n in sorted(counts.items()) if s not in order]
        out = [
            f"imported {self.source} ({self.format}) as agency {self.agency}: "
            f"{len(self.lines)} lines: {', '.join(shown) or 'nothing'}"
        ]
        if self.line_label != "line" and self.lines:
            out.append(f"(line numbers are {self.line_label}s)")
        for line in self.lines:
            for name, reasons in (line.get("errors") or {}).items():
                out.append(f"line {line['line']}: {name}: {' '.join(reasons)}")
            if line["status"] == "skipped":
                out.append(f"line {line['line']}: skipped: {line.get('reason', '')}")
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
    warnings: dict[int, list[str]] = {}

    def feed() -> Iterator[tuple[int, str]]:
        for item in source.items:
            if item.warnings:
                warnings[item.line] = item.warnings
            if item.entry is not None:
                decided.append(item.entry)
                if progress is not None:
                    progress(item.entry)
            elif item.text is not None:
                yield item.line, item.text

    report = service.bulk(integration_actor(agency_code), agency_code, feed(), progress)
    lines = sorted(decided + report.lines, key=lambda entry: entry["line"])
    for entry in lines:
        if entry["line"] in warnings:
            entry["warnings"] = warnings[entry["line"]]
    result = ImportReport(agency_code, source.format, str(source.path), source.line_label, lines)
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
        return _hmis_source(path)
    raise ImportFileError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")


def _error(line: int, errors: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    return {"line": line, "status": "error", **extra, "errors": errors}


# -- NDJSON ----------------------------------------------------------------------------


def _ndjson_source(path: Path) -> ImportSource:
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file.")
    raw = path.read_bytes().splitlines()
    if raw and raw[0].startswith(b"\xef\xbb\xbf"):
        raw[0] = raw[0][3:]
    items: list[Item] = []
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        try:
            items.append(Item(number, text=line.decode("utf-8")))
        except UnicodeDecodeError:
            items.append(Item(number, entry=_error(number, {"_line": ["Not UTF-8 text."]})))
    return ImportSource("ndjson", path, len(items), items)


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


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name} is not UTF-8 text (byte {exc.start}).") from exc


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line of the record, cells); blank lines skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for row in reader:
        if any(cell.strip() for cell in row):
            yield start, row
        start = reader.line_num + 1


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
    try:
        rows = list(_csv_rows(_read_text(path)))
    except csv.Error as exc:
        raise ImportFileError(f"{path.name} is not readable CSV: {exc}.") from exc
    if not rows:
        raise ImportFileError(f"{path.name} is empty: it needs a header line.")
    _, first = rows[0]
    header = _check_csv_header(first)

    def items() -> Iterator[Item]:
        for number, cells in rows[1:]:
            if len(cells) > len(header):
                reason = f"{len(cells)} cells; the header has {len(header)}."
                srid = cells[header.index("source_record_id")].strip()
                extra = {"source_record_id": srid} if srid else {}
                yield Item(number, entry=_error(number, {"_line": [reason]}, **extra))
                continue
            row = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
            yield Item(number, text=json.dumps(csv_row_to_body(row)))

    return ImportSource("csv", path, len(rows) - 1, items())


# -- HUD HMIS CSV export (FY2024, with the FY2026 Sex column understood) -----------------

# HMIS data quality responses that mean "no value": client doesn't know (8), prefers not
# to answer (9), data not collected (99).
HMIS_MISSING = frozenset({"8", "9", "99"})
FULL, PARTIAL = "1", "2"

# Living situation / destination (HMIS Data Dictionary FY2024, list 3.12 and 3.917).
LIVING_SITUATIONS = {
    "101": "Emergency shelter",
    "116": "Place not meant for habitation",
    "118": "Safe Haven",
    "204": "Psychiatric hospital or other psychiatric facility",
    "205": "Substance use treatment facility or detox center",
    "206": "Hospital or other residential non-psychiatric medical facility",
    "207": "Jail, prison or juvenile detention facility",
    "215": "Foster care home or foster care group home",
    "225": "Long-term care facility or nursing home",
    "302": "Transitional housing for homeless persons",
    "312": "Staying or living with family, temporary tenure",
    "313": "Staying or living with friends, temporary tenure",
    "314": "Hotel or motel paid for without emergency shelter voucher",
    "327": "Moved from one HOPWA funded project to HOPWA TH",
    "329": "Residential project or halfway house with no homeless criteria",
    "332": "Host Home (non-crisis)",
    "410": "Rental by client, no ongoing housing subsidy",
    "411": "Owned by client, no ongoing housing subsidy",
    "421": "Owned by client, with ongoing housing subsidy",
    "422": "Staying or living with family, permanent tenure",
    "423": "Staying or living with friends, permanent tenure",
    "426": "Moved from one HOPWA funded project to HOPWA PH",
    "435": "Rental by client, with ongoing housing subsidy",
    "17": "Other",
    "24": "Deceased",
    "30": "No exit interview completed",
}
# Project type (HMIS Data Dictionary FY2024, 2.02.6).
PROJECT_TYPES = {
    "0": "emergency_shelter_entry_exit",
    "1": "emergency_shelter_night_by_night",
    "2": "transitional_housing",
    "3": "permanent_supportive_housing",
    "4": "street_outreach",
    "6": "services_only",
    "7": "other",
    "8": "safe_haven",
    "9": "ph_housing_only",
    "10": "ph_housing_with_services",
    "11": "day_shelter",
    "12": "homelessness_prevention",
    "13": "rapid_rehousing",
    "14": "coordinated_entry",
}
_GENDER_COLUMNS = (
    "Woman",
    "Man",
    "NonBinary",
    "CulturallySpecific",
    "Transgender",
    "Questioning",
    "DifferentIdentity",
)


@dataclass
class _Table:
    name: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line, column → trimmed cell)


def _hmis_files(path: Path) -> dict[str, str]:
    """Lower-cased file name → text, for the CSV files of a directory or zip."""
    found: dict[str, str] = {}
    if path.is_dir():
        for file in path.iterdir():
            if file.is_file() and file.suffix.lower() == ".csv":
                found[file.name.lower()] = _read_text(file)
        return found
    if not zipfile.is_zipfile(path):
        raise ImportFileError(f"{path} is neither a directory nor a zip of an HMIS CSV export.")
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = Path(info.filename).name.lower()
            if info.is_dir() or not name.endswith(".csv") or name in found:
                continue
            try:
                found[name] = archive.read(info).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ImportFileError(f"{info.filename} is not UTF-8 text.") from exc
    return found


def _table(files: Mapping[str, str], name: str, required: tuple[str, ...]) -> _Table | None:
    text = files.get(name.lower())
    if text is None:
        return None
    try:
        rows = list(_csv_rows(text))
    except csv.Error as exc:
        raise ImportFileError(f"{name} is not readable CSV: {exc}.") from exc
    if not rows:
        raise ImportFileError(f"{name} is empty: it needs a header line.")
    header = [cell.strip() for cell in rows[0][1]]
    missing = [column for column in required if column not in header]
    if missing:
        raise ImportFileError(f"{name} lacks the column(s) {', '.join(missing)}.")
    body = [
        (line, {k: v.strip() for k, v in zip(header, cells, strict=False)})
        for line, cells in rows[1:]
    ]
    return _Table(name, header, body)


def _deleted(row: Mapping[str, str]) -> bool:
    return bool(row.get("DateDeleted"))


def hmis_timestamp(value: str | None) -> int | None:
    """HMIS ``DateUpdated`` (``YYYY-MM-DD HH:MM:SS``, local time taken as UTC) → epoch s."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _hmis_date(value: str | None) -> str | None:
    """An HMIS date (``YYYY-MM-DD``, sometimes with a time part) as ISO, else None."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None


def _hmis_sex(client: Mapping[str, str]) -> str | None:
    """FY2026 ``Sex`` (0 female, 1 male) if present; else only an unambiguous FY2024
    gender (Woman alone → F, Man alone → M, NonBinary alone → X). Gender identity is not
    sex at birth: anything else stays missing rather than mislead the linkage."""
    sex = client.get("Sex")
    if sex is not None and sex != "":
        return {"0": "F", "1": "M"}.get(sex)
    chosen = [column for column in _GENDER_COLUMNS if client.get(column) == "1"]
    return {("Woman",): "F", ("Man",): "M", ("NonBinary",): "X"}.get(tuple(chosen))


def hmis_person(client: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Client.csv row → the API's ``person``, honouring the data quality codes."""
    person: dict[str, Any] = {}
    notes: list[str] = []
    name_quality = client.get("NameDataQuality", "")
    if name_quality not in HMIS_MISSING:
        for column, name in (
            ("FirstName", "given_name"),
            ("MiddleName", "middle_name"),
            ("LastName", "family_name"),
        ):
            if client.get(column):
                person[name] = client[column]
        if name_quality == PARTIAL and person:
            notes.append("name is partial or a street/code name (NameDataQuality=2)")
    ssn_quality = client.get("SSNDataQuality", "")
    raw_ssn = client.get("SSN", "")
    if raw_ssn and ssn_quality not in HMIS_MISSING:
        if ssn_quality == PARTIAL or "x" in raw_ssn.lower():
            notes.append("partial SSN left out (SSNDataQuality=2)")
        else:
            ssn = normalize_ssn(raw_ssn)
            if ssn is None:
                notes.append("SSN left out: not a number the SSA issues (placeholder?)")
            else:
                person["ssn"] = f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"
    dob_quality = client.get("DOBDataQuality", "")
    dob = _hmis_date(client.get("DOB"))
    if client.get("DOB") and dob is None:
        notes.append(f"DOB {client['DOB']!r} is not a YYYY-MM-DD date; left out")
    elif dob and dob_quality not in HMIS_MISSING:
        if int(dob[:4]) <= 1900 or dob > date.today().isoformat():
            notes.append(f"DOB {dob} is a placeholder or in the future; left out")
        elif dob_quality != PARTIAL:
            person["birth_date"] = dob
        elif "ssn" not in person:
            # Approximate dates are often a placeholder day in the right year: kept only
            # when nothing better identifies the person, so the record can be linked.
            person["birth_date"] = dob
            notes.append("approximate DOB used (DOBDataQuality=2): no usable SSN")
        else:
            notes.append("approximate DOB left out (DOBDataQuality=2): SSN used instead")
    sex = _hmis_sex(client)
    if sex:
        person["sex"] = sex
    return person, notes


def _latest(rows: Iterable[tuple[int, dict[str, str]]], key: str) -> dict[str, dict[str, str]]:
    """The newest non-deleted row per ``key`` value (by DateUpdated, then file order)."""
    chosen: dict[str, dict[str, str]] = {}
    for _, row in rows:
        if _deleted(row) or not row.get(key):
            continue
        current = chosen.get(row[key])
        if current is None or (hmis_timestamp(row.get("DateUpdated")) or 0) >= (
            hmis_timestamp(current.get("DateUpdated")) or 0
        ):
            chosen[row[key]] = row
    return chosen


def hmis_body(
    enrollment: Mapping[str, str],
    client: Mapping[str, str],
    exit_row: Mapping[str, str] | None,
    project: Mapping[str, str] | None,
) -> tuple[dict[str, Any] | None, dict[str, list[str]], list[str]]:
    """One enrollment → (bulk body, errors, warnings)."""
    person, notes = hmis_person(client)
    data: dict[str, Any] = {}
    if project is not None and project.get("ProjectType") in PROJECT_TYPES:
        data["program_type"] = PROJECT_TYPES[project["ProjectType"]]
    elif enrollment.get("ProjectID"):
        data["program_type"] = f"hmis project {enrollment['ProjectID']}"
    entry_date = _hmis_date(enrollment.get("EntryDate"))
    if entry_date:
        data["enrollment_date"] = entry_date
    situation = enrollment.get("LivingSituation", "")
    if situation and situation not in HMIS_MISSING:
        data["living_situation"] = LIVING_SITUATIONS.get(situation, f"HMIS code {situation}")
    remarks = []
    if project is not None and project.get("ProjectName"):
        remarks.append(f"Project: {project['ProjectName']}.")
    if exit_row is not None and _hmis_date(exit_row.get("ExitDate")):
        data["exit_date"] = _hmis_date(exit_row.get("ExitDate"))
        data["housing_status"] = "exited"
        destination = exit_row.get("Destination", "")
        if destination and destination not in HMIS_MISSING:
            label = LIVING_SITUATIONS.get(destination, f"HMIS code {destination}")
            remarks.append(f"Exit destination: {label}.")
    elif _hmis_date(enrollment.get("MoveInDate")):
        data["housing_status"] = "moved_in"
    else:
        data["housing_status"] = "enrolled"
    if remarks:
        data["notes"] = " ".join(remarks)
    stamps = [
        hmis_timestamp(row.get("DateUpdated"))
        for row in (enrollment, client, exit_row, project)
        if row is not None
    ]
    known = [stamp for stamp in stamps if stamp is not None]
    if not known:
        return None, {"DateUpdated": ["No usable DateUpdated; it gives source_version."]}, notes
    body = {
        "source_record_id": f"hmis-{enrollment['EnrollmentID']}",
        "category": "housing",
        "person": person,
        "data": data,
        "source_version": max(known),
    }
    return body, {}, notes


def _hmis_source(path: Path) -> ImportSource:
    if not path.exists():
        raise ImportFileError(f"{path} does not exist.")
    files = _hmis_files(path)
    clients = _table(files, "Client.csv", ("PersonalID",))
    enrollments = _table(files, "Enrollment.csv", ("EnrollmentID", "PersonalID", "EntryDate"))
    missing = [
        name
        for name, table in (("Client.csv", clients), ("Enrollment.csv", enrollments))
        if table is None
    ]
    if missing or clients is None or enrollments is None:
        raise ImportFileError(f"The HMIS export at {path} lacks {' and '.join(missing)}.")
    exits = _table(files, "Exit.csv", ("EnrollmentID", "ExitDate"))
    projects = _table(files, "Project.csv", ("ProjectID",))
    client_by_id = {row["PersonalID"]: row for _, row in clients.rows if row.get("PersonalID")}
    exit_by_enrollment = _latest(exits.rows, "EnrollmentID") if exits else {}
    project_by_id = _latest(projects.rows, "ProjectID") if projects else {}

    def items() -> Iterator[Item]:
        for line, enrollment in enrollments.rows:
            enrollment_id = enrollment.get("EnrollmentID", "")
            srid = f"hmis-{enrollment_id}"
            if not enrollment_id:
                yield Item(line, entry=_error(line, {"EnrollmentID": ["Missing."]}))
                continue
            if _deleted(enrollment):
                yield Item(
                    line,
                    entry={
                        "line": line,
                        "status": "skipped",
                        "source_record_id": srid,
                        "reason": "deleted in HMIS (DateDeleted)",
                    },
                )
                continue
            client = client_by_id.get(enrollment.get("PersonalID", ""))
            if client is None or _deleted(client):
                state = "deleted" if client is not None else "not"
                yield Item(
                    line,
                    entry=_error(
                        line,
                        {
                            "PersonalID": [
                                f"Client {enrollment.get('PersonalID')!r} is {state} in Client.csv."
                            ]
                        },
                        source_record_id=srid,
                    ),
                )
                continue
            body, errors, notes = hmis_body(
                enrollment,
                client,
                exit_by_enrollment.get(enrollment_id),
                project_by_id.get(enrollment.get("ProjectID", "")),
            )
            if body is None:
                yield Item(line, entry=_error(line, errors, source_record_id=srid), warnings=notes)
            else:
                yield Item(line, text=json.dumps(body), warnings=notes)

    return ImportSource("hmis", path, len(enrollments.rows), items(), "Enrollment.csv line")
