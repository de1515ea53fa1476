"""Query-string filters (django-filter) that take exactly what the schema says they take.

django-filter's NumberFilter reads any decimal ("1.5", "1e300") and its DateFilter any of
Django's date input formats ("12/31/2027"); the schema can only say "integer" and "date". These
take a whole number within PostgreSQL's bigint and an ISO date, and refuse the rest (400).
"""

import re

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from config.serializers import ISO_DATE

BIGINT_MAX = 2**63 - 1  # an id past this would reach PostgreSQL and fail there


class IsoDateFormField(forms.DateField):
    input_formats = ("%Y-%m-%d",)

    def to_python(self, value):
        if value not in self.empty_values and not re.fullmatch(ISO_DATE, str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IdFormField(forms.IntegerField):
    def to_python(self, value):
        if value not in self.empty_values and not re.fullmatch("[0-9]{1,19}", str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class DateFilter(django_filters.DateFilter):
    """A date as "YYYY-MM-DD"."""

    field_class = IsoDateFormField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGINT_MAX})
class IdFilter(django_filters.NumberFilter):
    """A row's id: a whole number from 1."""

    field_class = IdFormField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


def by_assignee(queryset, value: str, user):
    """The staff lists' `?assignee=`: "me", "none" (nobody) or a user's id."""
    if value == "me":
        return queryset.filter(assignee=user)
    if value == "none":
        return queryset.filter(assignee__isnull=True)
    if int(value) > BIGINT_MAX:
        return queryset.none()
    return queryset.filter(assignee_id=int(value))
