"""Shared serializer bases: every serializer of the project derives from one of these two.

DRF builds each serializer instance's fields from scratch: a ModelSerializer introspects its
model (field mapping, uniqueness, extra kwargs), and every serializer deep-copies its declared
fields, which re-runs each field's __init__ with deep copies of its arguments. For one booking
(its request and its answer, about fifty fields) that was a third of the time of the request.

Here the fields are built once per class, the first time one is needed, and each instance gets
its own copies of them: a leaf field (one that holds no other field) as a shallow copy of its
attributes, which `Serializer.fields` then binds to the new instance as DRF always does; a field
holding others (a nested serializer, a ListField's child, a many-related field) as DRF's own deep
copy, which builds its inner fields the same way. A leaf field's only per-instance state is what
`bind` sets (name, parent, source); what the copies share (validators, error messages, choices,
a related field's queryset, which DRF re-evaluates with `.all()`) is only read while validating
or representing.

Two rules follow:
- get_fields must not depend on the instance (its context or request); configure a field in
  its declaration, not in the serializer's __init__;
- never mutate a field's shared attributes in place (`field.validators.append(...)`); assign a
  new value instead (`field.validators = [*field.validators, v]`), which stays on the copy.

They are enforced, not only written down: the class's leaf fields keep their validators in a
tuple, so `validators.append` raises at the first instance; and config/tests/test_serializers.py
builds every serializer of the project with anonymous and staff requests, compares its fields
with the ones DRF builds per instance, and fails if building or using an instance changed any
attribute of the class's fields.

Kept because it is measured: without it booking create does about 3 % fewer requests a second
(bench/README.md), and it is this one module; deleting it (and the two bases) gives DRF's
behaviour back.

Both bases also refuse what the OpenAPI schema (config.schema) says a request may not hold: a
key that names no writable field or a value of another JSON type (StrictJsonInput), and dates
and times in any form but the one the schema gives (DateField, TimeOfDayField).
"""

import copy
import re
from collections.abc import Mapping

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import ManyRelatedField
from rest_framework.utils import humanize_datetime


def _holds_fields(field: serializers.Field) -> bool:
    return isinstance(field, serializers.BaseSerializer | ManyRelatedField) or hasattr(
        field, "child"
    )


def _freeze(field: serializers.Field) -> serializers.Field:
    """The class's copy of a leaf field: its validators in a tuple, so that appending to the
    shared list (instead of assigning a new one) fails loudly."""
    if not _holds_fields(field):
        field.validators = tuple(field.validators)
    return field


def _own_copy(field: serializers.Field) -> serializers.Field:
    if _holds_fields(field):
        return copy.deepcopy(field)
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


class FieldsBuiltOnce:
    """get_fields: build the class's fields once, hand each instance its own copies."""

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = {name: _freeze(field) for name, field in super().get_fields().items()}
            cls._fields_built_once = built
        return {name: _own_copy(field) for name, field in built.items()}


class StrictJsonInput:
    """to_internal_value of a JSON body: what the schema forbids is a validation error, not
    silently dropped or converted. A key that names no writable field (a typo such as
    "sms_optin" would otherwise lose the customer's consent without a word; the schema says
    `additionalProperties: false`), and a value of another JSON type than its field's (DRF
    takes 0 and "yes" for a boolean, "12" for an integer, 12 for a string). A serializer that
    reads a query string, where every value is text and other parameters are ignored, sets
    `strict_input = False`."""

    strict_input = True

    def to_internal_value(self, data):
        refused = self._refused(data)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if refused and isinstance(exc.detail, dict):
                exc.detail.update(refused)
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value

    def _refused(self, data) -> dict[str, list[str]]:
        if not self.strict_input or not isinstance(data, Mapping):
            return {}
        refused, fields = {}, self.fields
        for key, value in data.items():
            field = fields.get(key)
            if field is None:
                refused[key] = ["Unknown field."]
            elif field.read_only:
                refused[key] = ["This field is read-only."]
            elif (wrong := _wrong_json_type(field, value)) is not None:
                refused[key] = [wrong]
        return refused


# The JSON type each kind of field takes (the first that the field is an instance of).
_JSON_TYPES = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int, float), "a whole number"),  # DRF refuses 1.5 itself
    (serializers.CharField, (str,), "a string"),
    (serializers.DateField, (str,), "a string"),
    (serializers.TimeField, (str,), "a string"),
    (serializers.ChoiceField, (str,), "a string"),
)


def _wrong_json_type(field: serializers.Field, value) -> str | None:
    """Why `value` cannot be what `field` takes, or None. Null is left to the field."""
    if value is None:
        return None
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for index, item in enumerate(value):
            if (wrong := _wrong_json_type(field.child, item)) is not None:
                return f"Item {index}: {wrong}"
        return None
    for kind, types, name in _JSON_TYPES:
        if isinstance(field, kind):
            if isinstance(value, types) and (bool in types or not isinstance(value, bool)):
                return None
            return f"Must be {name}."
    return None


# Dates and times exactly as the schema writes them. DRF's own fields take more (Python's
# fromisoformat reads "20270102" as a date; strptime reads "9:5" as 09:05), which a client
# generated from the schema could never send and the schema could not describe.
ISO_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
HH_MM = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
HH_MM_OPTIONAL_SS = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


class DateField(serializers.DateField):
    """A calendar date, "YYYY-MM-DD" and nothing else (OpenAPI's `format: date`)."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.fullmatch(ISO_DATE, value):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


@extend_schema_field({"type": "string", "pattern": HH_MM, "example": "17:30"})
class TimeOfDayField(serializers.TimeField):
    """A station's local wall-clock time, "HH:MM" (24-hour), in and out. Not OpenAPI's
    `format: time`: that is RFC 3339's full-time, with seconds and a UTC offset."""

    pattern = HH_MM
    output_format = "%H:%M"
    accepted_formats = ("%H:%M",)

    def __init__(self, **kwargs):
        kwargs.setdefault("format", self.output_format)
        kwargs.setdefault("input_formats", list(self.accepted_formats))
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            self.fail("invalid", format=humanize_datetime.time_formats(self.input_formats))
        return super().to_internal_value(value)


@extend_schema_field({"type": "string", "pattern": HH_MM_OPTIONAL_SS, "example": "09:00:00"})
class TimeOfDaySecondsField(TimeOfDayField):
    """A model's time of day (a station's start window, its quiet hours): "HH:MM:SS" out,
    "HH:MM" or "HH:MM:SS" in."""

    pattern = HH_MM_OPTIONAL_SS
    output_format = "%H:%M:%S"
    accepted_formats = ("%H:%M", "%H:%M:%S")


# RFC 3339's date-time, which is what the schema's `format: date-time` promises: with seconds
# and an offset. A time with no offset would be read in the server's zone, which no client means.
RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


@extend_schema_field({"type": "string", "format": "date-time"})
class AwareDateTimeField(serializers.DateTimeField):
    """An instant as RFC 3339 (`2026-03-04T18:00:00Z`, `2026-03-04T10:00:00-08:00`); a time
    without its offset is refused rather than guessed, and so is a moment within a day of the
    calendar's ends, which cannot be shown in every station's zone (a lead's follow-up at
    0001-01-01T00:00Z made the admin's pipeline a 500 for everyone)."""

    default_error_messages = {
        "rfc3339": "Give a date and time with its offset, e.g. 2026-03-04T18:00:00Z.",
        "edge": "Give a date and time between the years 2 and 9998.",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str) or not RFC3339.fullmatch(value):
            self.fail("rfc3339")
        moment = super().to_internal_value(value.replace("t", "T").replace("z", "Z"))
        if not 1 < moment.year < 9999:
            self.fail("edge")
        return moment


class Serializer(FieldsBuiltOnce, StrictJsonInput, serializers.Serializer):
    pass


class ModelSerializer(FieldsBuiltOnce, StrictJsonInput, serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateField: DateField,
        models.TimeField: TimeOfDaySecondsField,
    }
