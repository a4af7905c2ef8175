"""HUD HMIS CSV export (FY2024, with the FY2026 ``Sex`` column understood) -> housing records.

One record per ``Enrollment.csv`` row (``source_record_id`` ``hmis-<EnrollmentID>``): the
person from ``Client.csv``, the program from ``Project.csv``, the exit from ``Exit.csv``.
The report's line numbers are ``Enrollment.csv`` lines, each with one outcome.

An enrollment row is checked like API input before anything is converted, each reason
under the HMIS column it concerns: a row with more or fewer cells than the header, a
missing ``EnrollmentID``/``PersonalID``/``EntryDate``, a date or timestamp that is not one
(``EntryDate``, ``MoveInDate``, ``DateCreated``, ``DateUpdated``, ``DateDeleted``, and the
``ExitDate`` of its exit) is refused rather than imported without the value. The other
files are look-up tables: a row of theirs that cannot be read makes the whole export
unusable (nothing is written), since the enrollments it would describe cannot be judged.
Conversion notes about a client (a placeholder SSN or birth date left out) are warnings.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from caseops.matching.engine.normalize import normalize_ssn
from caseops.records.importers import (
    CsvFile,
    ImportFileError,
    ImportSource,
    Item,
    read_csv,
    read_text,
    refused,
    source_record_id_of,
    width_problem,
)

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
    rows: list[tuple[int, dict[str, str]]]  # (line, column -> trimmed cell)


def _hmis_files(path: Path) -> dict[str, str]:
    """Lower-cased file name -> text, for the CSV files of a directory or zip."""
    found: dict[str, str] = {}
    if path.is_dir():
        for file in path.iterdir():
            if file.is_file() and file.suffix.lower() == ".csv":
                found[file.name.lower()] = read_text(file)
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


def _read(files: Mapping[str, str], name: str, required: tuple[str, ...]) -> CsvFile | None:
    text = files.get(name.lower())
    if text is None:
        return None
    table = read_csv(text, name)
    missing = [column for column in required if column not in table.header]
    if missing:
        raise ImportFileError(f"{name} lacks the column(s) {', '.join(missing)}.")
    return table


def _row(header: list[str], cells: list[str]) -> dict[str, str]:
    return {k: v.strip() for k, v in zip(header, cells, strict=False)}


def _lookup_table(files: Mapping[str, str], name: str, required: tuple[str, ...]) -> _Table | None:
    """A look-up file (Client, Exit, Project): every row readable, or nothing is imported."""
    table = _read(files, name, required)
    if table is None:
        return None
    rows = []
    for record in table.records:
        problem = record.problem or width_problem(record, table.header)
        if problem is not None:
            reasons = "; ".join(f"{k}: {' '.join(v)}" for k, v in problem.items())
            raise ImportFileError(
                f"{name} line {record.line}: {reasons} Nothing was imported: the enrollments "
                "it describes cannot be judged; correct the line or export again."
            )
        rows.append((record.line, _row(table.header, record.cells)))
    return _Table(name, table.header, rows)


def _deleted(row: Mapping[str, str]) -> bool:
    return bool(row.get("DateDeleted"))


def hmis_timestamp(value: str | None) -> int | None:
    """HMIS ``DateUpdated`` (``YYYY-MM-DD HH:MM:SS``, local time taken as UTC) -> epoch s."""
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
    text = value.strip()
    try:
        if len(text) <= 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return None


DATE_COLUMNS = ("EntryDate", "MoveInDate")
TIMESTAMP_COLUMNS = ("DateCreated", "DateUpdated", "DateDeleted")
REQUIRED_COLUMNS = ("EnrollmentID", "PersonalID", "EntryDate")


def enrollment_problems(
    enrollment: Mapping[str, str], exit_row: tuple[int, Mapping[str, str]] | None = None
) -> dict[str, list[str]]:
    """What makes an enrollment row unusable, by column: the checks the API would make of
    the values, made on the HMIS cells so the reason names the column the operator sees."""
    problems: dict[str, list[str]] = {}
    for column in REQUIRED_COLUMNS:
        if not enrollment.get(column):
            problems[column] = ["Missing."]
    for column in DATE_COLUMNS:
        value = enrollment.get(column)
        if value and _hmis_date(value) is None:
            problems[column] = [f"{value!r} is not a date (YYYY-MM-DD)."]
    for column in TIMESTAMP_COLUMNS:
        value = enrollment.get(column)
        if value and hmis_timestamp(value) is None:
            problems[column] = [f"{value!r} is not a date and time (YYYY-MM-DD HH:MM:SS)."]
    if exit_row is not None:
        line, row = exit_row
        value = row.get("ExitDate")
        if not value or _hmis_date(value) is None:
            said = "Missing" if not value else f"{value!r} is not a date (YYYY-MM-DD)"
            problems["ExitDate"] = [f"Exit.csv line {line}: {said}."]
    return problems


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


def _latest(
    rows: Iterable[tuple[int, dict[str, str]]], key: str
) -> dict[str, tuple[int, dict[str, str]]]:
    """The newest non-deleted (line, row) per ``key`` value (by DateUpdated, then file
    order)."""
    chosen: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in rows:
        if _deleted(row) or not row.get(key):
            continue
        current = chosen.get(row[key])
        if current is None or (hmis_timestamp(row.get("DateUpdated")) or 0) >= (
            hmis_timestamp(current[1].get("DateUpdated")) or 0
        ):
            chosen[row[key]] = (line, row)
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


def hmis_source(path: Path) -> ImportSource:
    if not path.exists():
        raise ImportFileError(f"{path} does not exist.")
    files = _hmis_files(path)
    clients = _lookup_table(files, "Client.csv", ("PersonalID",))
    enrollments = _read(files, "Enrollment.csv", ("EnrollmentID", "PersonalID", "EntryDate"))
    missing = [
        name
        for name, table in (("Client.csv", clients), ("Enrollment.csv", enrollments))
        if table is None
    ]
    if missing or clients is None or enrollments is None:
        raise ImportFileError(f"The HMIS export at {path} lacks {' and '.join(missing)}.")
    exits = _lookup_table(files, "Exit.csv", ("EnrollmentID", "ExitDate"))
    projects = _lookup_table(files, "Project.csv", ("ProjectID",))
    client_by_id = {row["PersonalID"]: row for _, row in clients.rows if row.get("PersonalID")}
    exit_by_enrollment = _latest(exits.rows, "EnrollmentID") if exits else {}
    project_by_id = (
        {k: row for k, (_, row) in _latest(projects.rows, "ProjectID").items()} if projects else {}
    )
    header = enrollments.header

    def items() -> Iterator[Item]:
        for record in enrollments.records:
            line = record.line
            problem = record.problem or width_problem(record, header)
            if problem is not None:
                srid = source_record_id_of(record, header, "EnrollmentID")
                named = {"source_record_id": f"hmis-{srid['source_record_id']}"} if srid else {}
                yield Item(line, entry=refused(line, problem, **named))
                continue
            enrollment = _row(header, record.cells)
            enrollment_id = enrollment.get("EnrollmentID", "")
            named = {"source_record_id": f"hmis-{enrollment_id}"} if enrollment_id else {}
            if enrollment_id and _deleted(enrollment) and hmis_timestamp(enrollment["DateDeleted"]):
                yield Item(
                    line,
                    entry={
                        "line": line,
                        "status": "skipped",
                        **named,
                        "reason": "deleted in HMIS (DateDeleted)",
                    },
                )
                continue
            exit_row = exit_by_enrollment.get(enrollment_id)
            problems = enrollment_problems(enrollment, exit_row)
            if problems:
                yield Item(line, entry=refused(line, problems, **named))
                continue
            client = client_by_id.get(enrollment["PersonalID"])
            if client is None or _deleted(client):
                state = "deleted" if client is not None else "not"
                reason = f"Client {enrollment['PersonalID']!r} is {state} in Client.csv."
                yield Item(line, entry=refused(line, {"PersonalID": [reason]}, **named))
                continue
            body, errors, notes = hmis_body(
                enrollment,
                client,
                exit_row[1] if exit_row else None,
                project_by_id.get(enrollment.get("ProjectID", "")),
            )
            if body is None:
                yield Item(line, entry=refused(line, errors, **named), warnings=notes)
            else:
                yield Item(line, text=json.dumps(body), warnings=notes)

    return ImportSource(
        "hmis",
        path,
        len(enrollments.records),
        items(),
        "Enrollment.csv line",
        enrollments.accounting,
    )
