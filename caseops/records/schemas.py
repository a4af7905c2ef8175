"""What agencies send: a person (identifiers) and a category-specific payload.

Administrative data are incomplete: any identifier may be missing, but a record needs a
name part and a birth date or SSN to be linkable at all. Unknown fields are refused and
named, so a sender learns at once that a field it thinks it shares is being dropped.
"""

from __future__ import annotations

import json

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from caseops.records.fastload import compile_loader
from caseops.vocabulary import CATEGORIES

MAX_DATA_BYTES = 32 * 1024
SHORT = validate.Length(max=200)
NOTES = fields.String(load_default=None, validate=validate.Length(max=4000))


def _date_field() -> fields.Date:
    return fields.Date(load_default=None, format="%Y-%m-%d")


class AddressSchema(Schema):
    street_number = fields.String(load_default=None, validate=validate.Length(max=20))
    street = fields.String(load_default=None, validate=SHORT)
    line2 = fields.String(load_default=None, validate=SHORT)
    city = fields.String(load_default=None, validate=SHORT)
    postcode = fields.String(load_default=None, validate=validate.Length(max=10))
    state = fields.String(load_default=None, validate=validate.Length(max=2))


class PersonSchema(Schema):
    given_name = fields.String(load_default=None, validate=SHORT)
    middle_name = fields.String(load_default=None, validate=SHORT)
    family_name = fields.String(load_default=None, validate=SHORT)
    birth_date = _date_field()
    ssn = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{3}-?\d{2}-?\d{4}$", error="Use 9 digits, e.g. 123-45-6789."),
    )
    sex = fields.String(load_default=None, validate=validate.OneOf(["F", "M", "X", "U"]))
    address = fields.Nested(AddressSchema, load_default=None)
    phone = fields.String(load_default=None, validate=validate.Length(max=32))
    email = fields.Email(load_default=None)

    @validates_schema
    def linkable(self, data, **_kwargs):
        errors = {}
        if not (data.get("given_name") or data.get("family_name")):
            errors["given_name"] = ["A record needs a given or a family name."]
        if not (data.get("birth_date") or data.get("ssn")):
            errors["birth_date"] = ["A record needs a birth date or an SSN."]
        if errors:
            raise ValidationError(errors)


class HousingData(Schema):
    program_type = fields.String(load_default=None, validate=SHORT)
    enrollment_date = _date_field()
    exit_date = _date_field()
    living_situation = fields.String(load_default=None, validate=SHORT)
    housing_status = fields.String(load_default=None, validate=SHORT)
    case_manager = fields.String(load_default=None, validate=SHORT)
    notes = NOTES


class HealthData(Schema):
    conditions = fields.List(fields.String(validate=SHORT), load_default=list)
    medications = fields.List(fields.String(validate=SHORT), load_default=list)
    allergies = fields.List(fields.String(validate=SHORT), load_default=list)
    primary_care_provider = fields.String(load_default=None, validate=SHORT)
    last_visit = _date_field()
    notes = NOTES


class BehavioralHealthData(Schema):
    diagnoses = fields.List(fields.String(validate=SHORT), load_default=list)
    provider = fields.String(load_default=None, validate=SHORT)
    last_contact = _date_field()
    risk_level = fields.String(
        load_default=None, validate=validate.OneOf(["low", "medium", "high"])
    )
    notes = NOTES


class SubstanceUseData(Schema):
    program = fields.String(load_default=None, validate=SHORT)
    admission_date = _date_field()
    discharge_date = _date_field()
    substances = fields.List(fields.String(validate=SHORT), load_default=list)
    treatment_status = fields.String(load_default=None, validate=SHORT)
    notes = NOTES


class EducationData(Schema):
    school = fields.String(load_default=None, validate=SHORT)
    grade_level = fields.String(load_default=None, validate=validate.Length(max=10))
    enrollment_status = fields.String(load_default=None, validate=SHORT)
    iep = fields.Boolean(load_default=None)
    attendance_rate = fields.Float(load_default=None, validate=validate.Range(min=0, max=1))
    notes = NOTES


class ChildWelfareData(Schema):
    case_status = fields.String(load_default=None, validate=SHORT)
    case_opened = _date_field()
    placement_type = fields.String(load_default=None, validate=SHORT)
    caseworker = fields.String(load_default=None, validate=SHORT)
    notes = NOTES


class JusticeData(Schema):
    supervision_status = fields.String(load_default=None, validate=SHORT)
    supervision_officer = fields.String(load_default=None, validate=SHORT)
    court_dates = fields.List(_date_field(), load_default=list)
    notes = NOTES


class EconomicSecurityData(Schema):
    benefits = fields.List(fields.String(validate=SHORT), load_default=list)
    income_monthly = fields.Decimal(load_default=None, as_string=True, places=2)
    employment_status = fields.String(load_default=None, validate=SHORT)
    notes = NOTES


class EarlyChildhoodData(Schema):
    program = fields.String(load_default=None, validate=SHORT)
    enrollment_date = _date_field()
    developmental_screening = fields.String(load_default=None, validate=SHORT)
    notes = NOTES


DATA_SCHEMAS: dict[str, type[Schema]] = {
    "housing": HousingData,
    "health": HealthData,
    "behavioral_health": BehavioralHealthData,
    "substance_use": SubstanceUseData,
    "education": EducationData,
    "child_welfare": ChildWelfareData,
    "justice": JusticeData,
    "economic_security": EconomicSecurityData,
    "early_childhood": EarlyChildhoodData,
}
assert set(DATA_SCHEMAS) == set(CATEGORIES)
# Made once: a schema instance is reusable, and making one per bulk line costs more
# than the validation itself.
_DATA_VALIDATORS: dict[str, Schema] = {name: schema() for name, schema in DATA_SCHEMAS.items()}
_DATA_FAST = {name: compile_loader(schema) for name, schema in _DATA_VALIDATORS.items()}


def data_errors(category: str, data: dict) -> dict:
    """marshmallow's errors for ``data`` of ``category`` (none when the fast path
    vouches for it)."""
    if _DATA_FAST[category](data) is not None:
        return {}
    return _DATA_VALIDATORS[category].validate(data)


class RecordPutSchema(Schema):
    """The PUT body; ``data`` is checked against its category's schema."""

    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    person = fields.Nested(PersonSchema, required=True)
    data = fields.Dict(required=True)
    source_version = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=2**63 - 1)
    )

    @validates_schema
    def category_data(self, body, **_kwargs):
        category, data = body.get("category"), body.get("data")
        if category not in DATA_SCHEMAS or not isinstance(data, dict):
            return
        if len(json.dumps(data, default=str).encode()) > MAX_DATA_BYTES:
            raise ValidationError({"data": [f"Larger than {MAX_DATA_BYTES} bytes."]})
        errors = data_errors(category, data)
        if errors:
            raise ValidationError({"data": errors})


class BulkLineSchema(RecordPutSchema):
    source_record_id = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Za-z0-9._:-]{1,128}$")
    )


_BULK_LINE = BulkLineSchema()
_BULK_LINE_FAST = compile_loader(_BULK_LINE)


def load_bulk_line(raw: object) -> dict:
    """A bulk line's body as ``BulkLineSchema().load`` gives it; raises its
    ValidationError."""
    body = _BULK_LINE_FAST(raw)
    return body if body is not None else _BULK_LINE.load(raw)


class RecordResultSchema(Schema):
    """What an agency system hears back: its record, its client id and the write's status.

    The linkage decision, weight and reason are not part of it: whether the person was
    already known (and to whom) is for data stewards, in the log and the link events. A
    write for a person known only to another agency answers exactly as one for a person
    nobody knew (apart from the ids)."""

    client_id = fields.String(metadata={"description": "the master client id of the record"})
    agency = fields.String()
    source_record_id = fields.String()
    category = fields.String()
    source_version = fields.Integer()
    status = fields.String(metadata={"description": "created | updated | unchanged | withdrawn"})
