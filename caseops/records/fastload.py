"""A fast path for loading bulk lines with their marshmallow schema.

marshmallow stays the one definition of what a valid record is and the one source of
error messages. Loading through it costs about 0.3 ms per record, as much as linking
the record, because every field goes through several layers of generic machinery.
``compile_loader`` reads a schema's declared fields once and builds straight-line
checks for the field types and validators the record schemas use. The result loads an
input exactly as ``schema.load`` would, or returns ``None`` whenever it cannot vouch
for the input (a wrong type, a failing validator, an unknown field, a value that only
marshmallow's coercions would accept). The caller then asks marshmallow, which gives
the answer and the errors. Valid input, nearly every line of a real feed, never
reaches marshmallow.

A value of a type whose coercions are not reproduced (decimals) always goes to
marshmallow. A schema using anything else this module does not know (other field
types, hooks other than ``validates_schema``, ``data_key``, ``dump_only``) is not
compiled: its loader always returns ``None``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.utils import missing

Loader = Callable[[Any], Any]


class _Refused(Exception):
    """The fast path cannot vouch for a value: marshmallow decides."""


_REFUSED = _Refused()
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class NotCompilable(TypeError):
    """The schema uses something the fast path does not reproduce."""


def _string(value: Any) -> str:
    if type(value) is not str:
        raise _REFUSED
    return value


def _integer(field: fields.Integer) -> Loader:
    if not field.strict:
        raise NotCompilable("only strict integers are compiled")

    def load(value: Any) -> int:
        if type(value) is not int:
            raise _REFUSED
        return value

    return load


def _float(value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise _REFUSED
    return float(value)


def _marshmallow_only(_value: Any) -> Any:
    """A type whose coercions are not reproduced here (decimals): absent or null values
    pass, anything else goes to marshmallow."""
    raise _REFUSED


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise _REFUSED
    return value


def _date(field: fields.Date) -> Loader:
    if field.format != "%Y-%m-%d":
        raise NotCompilable(f"date format {field.format!r}")

    def load(value: Any) -> date:
        if type(value) is not str or not _ISO_DATE.fullmatch(value):
            raise _REFUSED
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _REFUSED from None

    return load


def _dict(field: fields.Dict) -> Loader:
    if field.key_field is not None or field.value_field is not None:
        raise NotCompilable("typed dict keys or values")

    def load(value: Any) -> dict:
        if type(value) is not dict:
            raise _REFUSED
        return dict(value)

    return load


def _list(field: fields.List) -> Loader:
    inner = _field_loader(field.inner)

    def load(value: Any) -> list:
        if type(value) is not list:
            raise _REFUSED
        return [inner(item) for item in value]

    return load


def _nested(field: fields.Nested) -> Loader:
    if field.many or field.only or field.exclude or not isinstance(field.schema, Schema):
        raise NotCompilable("nested options")
    return _schema_loader(field.schema)


_BY_TYPE: dict[type, Callable[[Any], Loader]] = {
    fields.String: lambda _field: _string,
    fields.Email: lambda _field: _string,  # its Email validator is among its validators
    fields.Integer: _integer,
    fields.Float: lambda _field: _float,
    fields.Boolean: lambda _field: _boolean,
    fields.Decimal: lambda _field: _marshmallow_only,
    fields.Date: _date,
    fields.Dict: _dict,
    fields.List: _list,
    fields.Nested: _nested,
}


def _field_loader(field: fields.Field) -> Loader:
    """The value's loader: type check and conversion, then the field's validators;
    ``None`` where the field allows it."""
    factory = _BY_TYPE.get(type(field))
    if factory is None:
        raise NotCompilable(f"field type {type(field).__name__}")
    if field.data_key is not None or field.attribute is not None or field.dump_only:
        raise NotCompilable("data_key, attribute or dump_only")
    convert = factory(field)
    validators = tuple(field.validators)
    allow_none = field.allow_none

    def load(value: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise _REFUSED
        result = convert(value)
        for validator in validators:
            try:
                validator(result)
            except ValidationError:
                raise _REFUSED from None
        return result

    return load


def _schema_loader(schema: Schema) -> Loader:
    if schema.opts.unknown != RAISE or schema.many or schema.partial:
        raise NotCompilable("unknown, many or partial")
    hooks = schema._hooks  # marshmallow's resolved decorator hooks
    if any(hooks[tag] for tag in (PRE_LOAD, POST_LOAD, VALIDATES)):
        raise NotCompilable("pre_load, post_load or field validates hooks")
    schema_validators = []
    for attr_name, hook_many, options in hooks[VALIDATES_SCHEMA]:
        if hook_many or options.get("pass_original"):
            raise NotCompilable("collection or pass_original schema validators")
        schema_validators.append(getattr(schema, attr_name))
    loaders = []
    for name, field in schema.load_fields.items():
        default = field.load_default
        loaders.append((name, _field_loader(field), field.required, default))
    known = frozenset(name for name, *_ in loaders)

    def load(value: Any) -> dict:
        if type(value) is not dict or not known.issuperset(value):
            raise _REFUSED
        out: dict[str, Any] = {}
        for name, loader, required, default in loaders:
            if name in value:
                out[name] = loader(value[name])
            elif required:
                raise _REFUSED
            elif default is not missing:
                out[name] = default() if callable(default) else default
        for validator in schema_validators:
            try:
                validator(out, partial=None, many=False, unknown=None)
            except ValidationError:
                raise _REFUSED from None
        return out

    return load


def compile_loader(schema: Schema) -> Callable[[Any], dict | None]:
    """``schema.load`` for the inputs it accepts without help, ``None`` for the rest."""
    try:
        load = _schema_loader(schema)
    except NotCompilable:
        return lambda _value: None

    def fast(value: Any) -> dict | None:
        try:
            return load(value)
        except _Refused:
            return None

    return fast
