"""``caseops import``: NDJSON, CSV and HUD HMIS exports, run as an operator runs it."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import current_app
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from caseops.clients.models import Client, LinkEvent, RecordIdentifier
from caseops.crypto import keyring_from_config
from caseops.extensions import db
from caseops.matching import store
from caseops.records import hmis, importers
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.records.prepare import data_context
from tests import factories
from tests.fixtures.records import MARIA

ROOT = Path(__file__).resolve().parents[2]
CASEOPS = str(Path(sys.executable).with_name("caseops"))
HMIS = Path(__file__).with_name("fixtures") / "hmis"
# Every run must make the same identifier pseudonyms, or one import could not link to
# the records of the one before (test mode generates a fresh key per process otherwise).
PSEUDONYM_KEY = "test-import-pseudonym-key"


def caseops(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = os.environ | {
        "CASEOPS_DATABASE_URL": database_url,
        "CASEOPS_PSEUDONYM_KEY": PSEUDONYM_KEY,
    }
    return subprocess.run(
        [CASEOPS, *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.fixture
def agencies(app):
    app.config["CASEOPS_PSEUDONYM_KEY"] = PSEUDONYM_KEY
    factories.make_agency("hha", name="Harbor Housing Authority", kind="housing")
    factories.make_agency("cchc", name="Community Health Center", kind="health")


def records(agency: str = "hha") -> dict[str, SourceRecord]:
    db.session.expire_all()
    query = select(SourceRecord).where(SourceRecord.agency.has(code=agency))
    return {r.source_record_id: r for r in db.session.scalars(query)}


def _present(value):
    """The stored payload without the schema's defaults for fields that were not sent."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v not in (None, [])}
    return value


def person_of(record: SourceRecord) -> dict:
    return _present(store.decrypt_person(record))


def data_of(record: SourceRecord) -> dict:
    keyring = keyring_from_config(current_app.config)
    context = data_context(record.agency.code, record.source_record_id)
    return _present(json.loads(keyring.decrypt(record.data_encrypted, context)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def import_events() -> list:
    return [e for e in factories.events("record.write") if e.actor.startswith("<import:")]


# -- NDJSON ----------------------------------------------------------------------------


def test_ndjson_import_writes_as_the_agency_and_is_idempotent(database_url, agencies, tmp_path):
    other = copy.deepcopy(MARIA)
    other["person"] = {"given_name": "Ana", "family_name": "Silva", "birth_date": "1990-02-02"}
    lines = [MARIA | {"source_record_id": "N-1"}, other | {"source_record_id": "N-2"}]
    path = tmp_path / "feed.ndjson"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    report_path = tmp_path / "report.json"

    first = caseops(
        database_url, "import", "--agency", "hha", str(path), "--report", str(report_path)
    )
    assert first.returncode == 0, first.stderr
    assert "2 created" in first.stdout
    report = json.loads(report_path.read_text())
    assert report["counts"] == {"created": 2}
    assert [(line["line"], line["source_record_id"]) for line in report["lines"]] == [
        (1, "N-1"),
        (2, "N-2"),
    ]

    stored = records()
    assert set(stored) == {"N-1", "N-2"}
    assert person_of(stored["N-1"])["ssn"] == "123-45-6780"
    assert data_of(stored["N-1"])["program_type"] == "rapid_rehousing"
    events = import_events()
    assert len(events) == 2
    assert {(e.actor, e.actor_agency, tuple(e.actor_roles), e.channel) for e in events} == {
        ("<import:hha>", "hha", ("integration",), "cli")
    }
    assert {e.target_id for e in events} == {"hha/N-1", "hha/N-2"}
    assert {e.client_id for e in events} == {r.client_id for r in stored.values()}

    before = (count(SourceRecord), count(SourceRecordVersion), count(Client), count(LinkEvent))
    again = caseops(database_url, "import", "--agency", "hha", str(path))
    assert again.returncode == 0, again.stderr
    assert "2 unchanged" in again.stdout
    after = (count(SourceRecord), count(SourceRecordVersion), count(Client), count(LinkEvent))
    assert after == before
    assert len(import_events()) == 2  # unchanged records are not written again
    # Who ran each import (the operator, on the agency's behalf) is logged too.
    runs = factories.events("record.import")
    assert [(e.actor, e.target_id, e.channel, e.detail["counts"]) for e in runs] == [
        ("<operator>", "hha", "cli", {"created": 2}),
        ("<operator>", "hha", "cli", {"unchanged": 2}),
    ]


def test_the_import_identity_is_the_agencys_integration_role(agencies):
    from caseops.authz import policy

    actor = importers.integration_actor("hha")
    assert actor.agency == "hha" and actor.roles == {"integration"}
    assert policy.allowed(actor, "records", "write")
    assert not policy.allowed(actor, "records", "read")
    assert not policy.allowed(actor, "clients", "search")


def test_unknown_agency_and_unusable_files_fail_before_writing(database_url, agencies, tmp_path):
    feed = tmp_path / "feed.ndjson"
    feed.write_text(json.dumps(MARIA | {"source_record_id": "N-1"}) + "\n")
    result = caseops(database_url, "import", "--agency", "nope", str(feed))
    assert result.returncode != 0
    assert "No agency with code 'nope'." in result.stderr
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("source_record_id,category,given_name,favourite_colour\nX,housing,A,b\n")
    result = caseops(database_url, "import", "--agency", "hha", str(bad_header))
    assert result.returncode != 0
    assert "unknown column(s) 'favourite_colour'" in result.stderr
    assert all("Traceback" not in text for text in (result.stderr, result.stdout))
    with pytest.raises(importers.ImportFileError, match="--format"):
        importers.open_source(tmp_path / "feed.xlsx")
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(HMIS / "Client.csv", partial)
    with pytest.raises(importers.ImportFileError, match=r"lacks Enrollment\.csv"):
        importers.open_source(partial)
    assert count(SourceRecord) == 0 and import_events() == []


# -- CSV -------------------------------------------------------------------------------

CSV = (
    "source_record_id,category,given_name,middle_name,family_name,birth_date,ssn,sex,"
    "street_number,street,line2,city,postcode,state,phone,email,data_program_type,"
    "data_enrollment_date,data_notes,data_conditions,data_last_visit,source_version\n"
    # line 2: ISO dates, data_* columns
    "C-1,housing,Maria,,Lopez,1984-03-12,123-45-6780,F,12,Seacliff Ave,,Bayview,94110,CA,"
    "415-555-0101,,rapid_rehousing,2026-01-05,,,,\n"
    # line 3: YYYYMMDD dates, a quoted note spanning lines 3-4, an explicit version
    "C-2,housing,Ana,,Silva,19900202,,F,,,,,,,,ana@example.org,emergency_shelter,20260110,"
    '"Two lines,\nof notes",,,3\n'
    # line 5: a bad birth date and an unknown data field
    "C-3,housing,Bad,,Line,1984-13-40,,,,,,,,,,,,,,,,\n"
    "\n"
    # line 7: a list-valued data field split on ';'
    "C-4,health,James,,Carter,19750704,,M,,,,,,,,,,,,asthma; diabetes,20260301,\n"
    # line 8: one cell too many
    "C-5,housing,Too,,Many,1984-03-12,,,,,,,,,,,,,,,,,extra\n"
)


def test_csv_import_maps_columns_and_reports_bad_lines(database_url, agencies, tmp_path):
    path = tmp_path / "records.csv"
    path.write_text(CSV)
    report_path = tmp_path / "report.json"
    result = caseops(
        database_url, "import", "--agency", "hha", str(path), "--report", str(report_path)
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "5 records: 3 created, 2 refused" in result.stdout
    # Every physical line is placed: the quoted note of C-2 continues onto line 4.
    assert "8 lines: 1 header, 5 records, 1 continuing a record (quoted line breaks), 1 blank" in (
        result.stdout
    )
    assert "line 5: person.birth_date: Not a valid date." in result.stdout
    assert "line 8: _line: 23 cells; the header has 22." in result.stdout
    report = json.loads(report_path.read_text())
    by_line = {line["line"]: line for line in report["lines"]}
    assert sorted(by_line) == [2, 3, 5, 7, 8]
    assert by_line[3]["end_line"] == 4 and "end_line" not in by_line[2]
    assert by_line[5]["status"] == "refused"
    assert by_line[5]["errors"] == {"person.birth_date": ["Not a valid date."]}
    assert by_line[5]["source_record_id"] == "C-3"
    assert report["file_lines"] == {
        "total": 8,
        "header": 1,
        "blank": [6],
        "records": 5,
        "continued": 1,
    }

    stored = records()
    assert set(stored) == {"C-1", "C-2", "C-4"}
    maria = person_of(stored["C-1"])
    assert maria["birth_date"] == "1984-03-12" and maria["ssn"] == "123-45-6780"
    assert maria["address"] == {
        "street_number": "12",
        "street": "Seacliff Ave",
        "city": "Bayview",
        "postcode": "94110",
        "state": "CA",
    }
    assert "middle_name" not in maria and "email" not in maria  # empty cells are missing
    assert data_of(stored["C-1"]) == {
        "program_type": "rapid_rehousing",
        "enrollment_date": "2026-01-05",
    }
    assert stored["C-1"].source_version == 1
    ana = person_of(stored["C-2"])
    assert ana["birth_date"] == "1990-02-02" and ana["email"] == "ana@example.org"
    assert data_of(stored["C-2"]) == {
        "program_type": "emergency_shelter",
        "enrollment_date": "2026-01-10",
        "notes": "Two lines,\nof notes",
    }
    assert stored["C-2"].source_version == 3
    assert person_of(stored["C-4"])["birth_date"] == "1975-07-04"
    assert data_of(stored["C-4"]) == {
        "conditions": ["asthma", "diabetes"],
        "last_visit": "2026-03-01",
    }

    # Nothing of the bad lines was written: no record, version, client, identifier,
    # link event or access-log entry beyond those of the three good lines.
    assert count(SourceRecordVersion) == 3
    assert count(LinkEvent) == 3
    assert count(Client) == len({r.client_id for r in stored.values()})
    ids = {r.id for r in stored.values()}
    assert set(db.session.scalars(select(RecordIdentifier.record_id).distinct())) == ids
    assert sorted(e.target_id for e in import_events()) == ["hha/C-1", "hha/C-2", "hha/C-4"]


def test_csv_row_conversion():
    body = importers.csv_row_to_body(
        {
            "source_record_id": " R-1 ",
            "category": "education",
            "given_name": "Ana",
            "birth_date": "20100304",
            "data_iep": "yes",
            "data_attendance_rate": "0.93",
            "data_school": "",
            "street": "1 Main St",
            "source_version": "7",
        }
    )
    assert body == {
        "source_record_id": "R-1",
        "category": "education",
        "source_version": 7,
        "person": {
            "given_name": "Ana",
            "birth_date": "2010-03-04",
            "address": {"street": "1 Main St"},
        },
        "data": {"iep": True, "attendance_rate": 0.93},
    }
    justice = importers.csv_row_to_body(
        {"category": "justice", "data_court_dates": "20260101;2026-02-01"}
    )
    assert justice["data"] == {"court_dates": ["2026-01-01", "2026-02-01"]}
    assert (
        importers.csv_row_to_body({"category": "housing", "source_version": "v2"})["source_version"]
        == "v2"
    )  # left for the schema to refuse by name


# -- HUD HMIS --------------------------------------------------------------------------


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def zipped(tmp_path: Path) -> Path:
    """The fixture export as HMIS software ships it: a zip with a folder inside."""
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in HMIS.iterdir():
            archive.write(file, f"hmis-export/{file.name}")
    return path


def test_hmis_export_becomes_housing_records(database_url, agencies, tmp_path):
    report_path = tmp_path / "report.json"
    result = caseops(
        database_url, "import", "--agency", "hha", str(HMIS), "--report", str(report_path)
    )
    assert result.returncode == 0, result.stderr
    assert "4 created" in result.stdout
    assert "line 5: warning: approximate DOB used (DOBDataQuality=2): no usable SSN" in (
        result.stdout
    )

    stored = records()
    assert set(stored) == {"hmis-E1", "hmis-E2", "hmis-E3", "hmis-E4"}
    assert {r.category for r in stored.values()} == {"housing"}
    # Maria's two enrollments are one client; the three people are three clients.
    assert stored["hmis-E1"].client_id == stored["hmis-E2"].client_id
    assert len({r.client_id for r in stored.values()}) == 3

    maria = person_of(stored["hmis-E1"])
    assert maria == {
        "given_name": "Maria",
        "middle_name": "Elena",
        "family_name": "Lopez",
        "ssn": "123-45-6780",
        "birth_date": "1984-03-12",
        "sex": "F",
    }
    assert data_of(stored["hmis-E1"]) == {
        "program_type": "rapid_rehousing",
        "enrollment_date": "2025-06-01",
        "exit_date": "2025-12-15",
        "housing_status": "exited",
        "living_situation": "Place not meant for habitation",
        "notes": "Project: Harbor Rapid Rehousing. Exit destination: Rental by client, "
        "with ongoing housing subsidy.",
    }
    # source_version: the newest DateUpdated of the rows the record is made of.
    assert stored["hmis-E1"].source_version == epoch("2025-12-15 11:00:00")
    assert stored["hmis-E2"].source_version == epoch("2026-01-10 20:05:00")
    assert data_of(stored["hmis-E2"])["living_situation"] == "Emergency shelter"
    assert data_of(stored["hmis-E2"])["program_type"] == "emergency_shelter_entry_exit"

    # SSNDataQuality=99: no SSN, the full birth date identifies James.
    james = person_of(stored["hmis-E3"])
    assert "ssn" not in james and james["birth_date"] == "1975-07-04" and james["sex"] == "M"
    assert "living_situation" not in data_of(stored["hmis-E3"])  # 99: not collected
    assert data_of(stored["hmis-E3"])["housing_status"] == "enrolled"
    # Partial SSN (quality 2) left out; the approximate birth date is all there is.
    ana = person_of(stored["hmis-E4"])
    assert "ssn" not in ana and ana["birth_date"] == "1990-01-01"
    lines = {line["line"]: line for line in json.loads(report_path.read_text())["lines"]}
    assert lines[5]["warnings"] == [
        "partial SSN left out (SSNDataQuality=2)",
        "approximate DOB used (DOBDataQuality=2): no usable SSN",
    ]

    assert sorted(e.target_id for e in import_events()) == [f"hha/hmis-E{n}" for n in range(1, 5)]

    # The same export again, zipped this time: nothing new.
    again = caseops(database_url, "import", "--agency", "hha", str(zipped(tmp_path)))
    assert again.returncode == 0, again.stderr
    assert "4 unchanged" in again.stdout and count(SourceRecordVersion) == 4


def test_hmis_changes_deletions_and_unknown_clients(database_url, agencies, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(HMIS, export)
    first = importers.run_import("hha", importers.open_source(export))  # in process: faster
    assert first.counts == {"created": 4}
    enrollment = (export / "Enrollment.csv").read_text().splitlines()
    # E3 moves in (newer DateUpdated), E4 is deleted, E5 names a client nobody exported.
    enrollment[3] = enrollment[3].replace(
        ",,,2025-08-02 14:00:00,2025-08-03 09:00:00",
        ",,2025-10-01,2025-08-02 14:00:00,2025-10-01 09:00:00",
    )
    enrollment[4] = enrollment[4].replace(",U9,,X1", ",U9,2026-02-01 00:00:00,X1")
    enrollment.append(enrollment[2].replace("E2,C100", "E5,C999"))
    (export / "Enrollment.csv").write_text("\n".join(enrollment) + "\n")
    result = caseops(database_url, "import", "--agency", "hha", str(export))
    assert result.returncode == 1
    assert "line 4:" not in result.stdout  # E3 was simply updated
    assert "1 updated" in result.stdout and "2 unchanged" in result.stdout
    assert "line 5: skipped: deleted in HMIS (DateDeleted)" in result.stdout
    assert "line 6: PersonalID: Client 'C999' is not in Client.csv." in result.stdout
    stored = records()
    assert data_of(stored["hmis-E3"])["housing_status"] == "moved_in"
    assert stored["hmis-E3"].source_version == epoch("2025-10-01 09:00:00")
    assert "hmis-E5" not in stored


def test_hmis_person_respects_data_quality():
    client = {
        "PersonalID": "1",
        "FirstName": "Kim",
        "LastName": "Park",
        "NameDataQuality": "1",
        "SSN": "000000000",
        "SSNDataQuality": "1",
        "DOB": "1900-01-01",
        "DOBDataQuality": "1",
        "Woman": "1",
        "Transgender": "1",
    }
    person, notes = hmis.hmis_person(client)
    assert person == {"given_name": "Kim", "family_name": "Park"}  # nothing to link by
    assert any("SSN left out" in note for note in notes)
    assert any("placeholder" in note for note in notes)
    person, _ = hmis.hmis_person(
        client
        | {
            "NameDataQuality": "99",
            "Sex": "0",
            "SSN": "123456780",
            "DOB": "1980-01-01",
            "DOBDataQuality": "2",
        }
    )
    assert person == {"ssn": "123-45-6780", "sex": "F"}  # approximate DOB not needed
    assert hmis.hmis_timestamp("2025-06-01 10:00:00") == epoch("2025-06-01 10:00:00")


def test_a_zipped_export_reads_like_the_directory(tmp_path):
    def lines(path):
        return [(i.line, i.text, i.entry, i.warnings) for i in importers.open_source(path).items]

    assert lines(zipped(tmp_path)) == lines(HMIS)
    assert len(lines(HMIS)) == 4


# -- the whole truth: every line accounted for, exit code and summary agree -------------


def assert_exact(report: dict, returncode: int | None = None) -> None:
    """The promises of the report: one outcome per record, the counts add up to the
    records, the file's lines add up to its length, and the exit code says whether any
    record was refused."""
    counts, lines, file_lines = report["counts"], report["lines"], report["file_lines"]
    assert sum(counts.values()) == report["records"] == len(lines) == file_lines["records"]
    assert len({line["line"] for line in lines}) == len(lines)
    assert file_lines["total"] == (
        file_lines["header"]
        + len(file_lines["blank"])
        + file_lines["records"]
        + file_lines["continued"]
    )
    for line in lines:
        assert line["status"] in {"created", "updated", "unchanged", "refused", "skipped"}
        if line["status"] == "refused":
            assert line["errors"] and all(line["errors"].values())
        if line["status"] == "skipped":
            assert line["reason"]
    if returncode is not None:
        assert returncode == (1 if "refused" in counts else 0)


BROKEN_QUOTE = (
    "source_record_id,category,given_name,family_name,birth_date\n"
    "Q-1,housing,Ann,Lee,1980-01-01\n"
    # line 3: the quote before Bob is never closed; a CSV parser reads lines 4 and 5 into it
    'Q-2,housing,"Bob,Ray,1981-02-02\n'
    "Q-3,housing,Cy,Doe,1982-03-03\n"
    'Q-4,housing,Dee,"Fox",1983-04-04\n'
    "Q-5,housing,Eve,Hale,1984-05-05\n"
)


def test_a_broken_quote_costs_its_own_line_only(database_url, agencies, tmp_path):
    """Issue 16: the unterminated quote on line 3 swallowed the good row after it; the
    report blamed the wrong line and the good row was neither stored nor named."""
    path = tmp_path / "records.csv"
    path.write_text(BROKEN_QUOTE)
    report_path = tmp_path / "report.json"
    result = caseops(
        database_url, "import", "--agency", "hha", str(path), "--report", str(report_path)
    )
    assert result.returncode == 1, result.stderr
    assert "5 records: 4 created, 1 refused" in result.stdout
    assert "6 lines: 1 header, 5 records" in result.stdout
    assert "line 3: given_name: The quote that opens this cell is not closed on line 3" in (
        result.stdout
    )
    report = json.loads(report_path.read_text())
    assert_exact(report, result.returncode)
    outcomes = [
        (line["line"], line.get("source_record_id"), line["status"]) for line in report["lines"]
    ]
    assert outcomes == [
        (2, "Q-1", "created"),
        (3, "Q-2", "refused"),
        (4, "Q-3", "created"),
        (5, "Q-4", "created"),
        (6, "Q-5", "created"),
    ]
    assert set(records()) == {"Q-1", "Q-3", "Q-4", "Q-5"}
    assert person_of(records()["Q-3"])["given_name"] == "Cy"
    assert person_of(records()["Q-4"])["family_name"] == "Fox"  # its own quotes still read


def test_quoting_faults_are_refused_by_line_and_column(agencies, tmp_path):
    path = tmp_path / "records.csv"
    path.write_text(
        "source_record_id,category,given_name,family_name,birth_date\n"
        'R-1,housing,"Bad"x,Hale,1984-05-05\n'  # text after a closing quote
        "R-2,housing,Gus,Ito,1970-01-01\n"
        'R-3,housing,Hal,"Unclosed'  # the last line, never closed
    )
    report = importers.run_import("hha", importers.open_source(path))
    by_line = {line["line"]: line for line in report.as_dict()["lines"]}
    assert by_line[2]["status"] == "refused" and "_line" in by_line[2]["errors"]
    assert by_line[2]["source_record_id"] == "R-1"
    assert by_line[3]["status"] == "created"
    assert by_line[4]["errors"] == {
        "family_name": ["The quote that opens this cell is never closed (line 4)."]
    }
    assert report.failed and report.counts == {"created": 1, "refused": 2}
    assert_exact(report.as_dict())


def test_a_short_csv_row_is_refused_naming_the_first_absent_column(agencies, tmp_path):
    path = tmp_path / "records.csv"
    path.write_text(
        "source_record_id,category,given_name,family_name,birth_date\n"
        "S-1,housing,Ann\n"
        "S-2,housing,Bo,Li,1990-02-02\n"
    )
    report = importers.run_import("hha", importers.open_source(path))
    first = report.lines[0]
    assert first["status"] == "refused" and first["source_record_id"] == "S-1"
    assert first["errors"] == {
        "family_name": [
            "Missing: the row has 3 of the header's 5 cells (family_name, birth_date absent)."
        ]
    }
    assert report.counts == {"created": 1, "refused": 1} and set(records()) == {"S-2"}


def test_a_clean_import_exits_0_and_says_every_line(database_url, agencies, tmp_path):
    path = tmp_path / "feed.ndjson"
    path.write_text("\n" + json.dumps(MARIA | {"source_record_id": "N-1"}) + "\n\n")
    report_path = tmp_path / "report.json"
    result = caseops(
        database_url, "import", "--agency", "hha", str(path), "--report", str(report_path)
    )
    assert result.returncode == 0, result.stderr
    assert "1 records: 1 created" in result.stdout and "3 lines: 1 records, 2 blank" in (
        result.stdout
    )
    report = json.loads(report_path.read_text())
    assert report["file_lines"]["blank"] == [1, 3]
    assert_exact(report, result.returncode)


def hmis_export(tmp_path: Path, enrollment: str, **others: str) -> Path:
    export = tmp_path / "export"
    shutil.copytree(HMIS, export)
    (export / "Enrollment.csv").write_text(enrollment)
    for name, text in others.items():
        (export / f"{name}.csv").write_text(text)
    return export


SEVEN = "EnrollmentID,PersonalID,ProjectID,EntryDate,LivingSituation,DateUpdated,DateDeleted\n"


def test_hmis_bad_dates_and_short_rows_are_refused_naming_the_column(
    database_url, agencies, tmp_path
):
    """Issue 16: EntryDate "not-a-date" and a row with 3 of 7 cells were created silently."""
    export = hmis_export(
        tmp_path,
        SEVEN
        + "E1,C100,P13,2025-06-01,116,2025-06-01 10:00:00,\n"
        + "E2,C100,P01,not-a-date,101,2026-01-10 20:05:00,\n"
        + "E3,C200,P13\n"
        + "E4,C300,P01,2025-11-20,312,yesterday,\n"
        + "E5,C200,P13,2025-08-02,99,2025-08-03 09:00:00,\n",
    )
    report_path = tmp_path / "report.json"
    result = caseops(
        database_url, "import", "--agency", "hha", str(export), "--report", str(report_path)
    )
    assert result.returncode == 1, result.stderr
    assert "5 records: 2 created, 3 refused" in result.stdout
    assert "line 3: EntryDate: 'not-a-date' is not a date (YYYY-MM-DD)." in result.stdout
    assert (
        "line 4: EntryDate: Missing: the row has 3 of the header's 7 cells "
        "(EntryDate, LivingSituation, DateUpdated, DateDeleted absent)." in result.stdout
    )
    assert (
        "line 5: DateUpdated: 'yesterday' is not a date and time (YYYY-MM-DD HH:MM:SS)."
        in result.stdout
    )
    report = json.loads(report_path.read_text())
    assert_exact(report, result.returncode)
    assert [line.get("source_record_id") for line in report["lines"]] == [
        f"hmis-E{n}" for n in range(1, 6)
    ]
    assert set(records()) == {"hmis-E1", "hmis-E5"}


def test_hmis_exit_dates_and_unreadable_lookup_rows(agencies, tmp_path):
    exit_csv = (HMIS / "Exit.csv").read_text().replace(",2025-12-15,435,", ",15/12/2025,435,")
    export = hmis_export(tmp_path, (HMIS / "Enrollment.csv").read_text(), Exit=exit_csv)
    report = importers.run_import("hha", importers.open_source(export))
    e1 = report.lines[0]
    assert e1["status"] == "refused" and e1["source_record_id"] == "hmis-E1"
    assert e1["errors"] == {
        "ExitDate": ["Exit.csv line 2: '15/12/2025' is not a date (YYYY-MM-DD)."]
    }
    assert report.counts == {"created": 3, "refused": 1}

    # A look-up row that cannot be read: the whole export is refused before any write.
    client_csv = (HMIS / "Client.csv").read_text().replace("C200,James", 'C200,"James')
    broken = hmis_export(tmp_path / "2", (HMIS / "Enrollment.csv").read_text(), Client=client_csv)
    with pytest.raises(importers.ImportFileError, match=r"Client\.csv line 3: FirstName: "):
        importers.open_source(broken)


CELLS = st.sampled_from(["a", "", "b c", '"q"', '"open', 'x"y', '""', '"two\nlines"', "\n"])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(CELLS, min_size=1, max_size=5), max_size=8), end=st.booleans())
def test_read_csv_places_every_physical_line_once(rows, end):
    """Whatever the quoting, each line is the header, blank, or within exactly one record,
    and records come in file order without overlapping."""
    text = "a,b,c\n" + "\n".join(",".join(row) for row in rows) + ("\n" if end else "")
    table = importers.read_csv(text, "t.csv")
    accounting = table.accounting
    assert accounting.balanced
    assert accounting.total == len(io.StringIO(text, newline="").readlines())
    covered = [n for r in table.records for n in range(r.line, r.end_line + 1)]
    covered += accounting.blank + list(range(1, accounting.header + 1))
    assert sorted(covered) == list(range(1, accounting.total + 1))
