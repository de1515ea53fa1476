"""Validators for station data: IANA time zones, ISO currencies, E.164 phones, US ZIP codes."""

import re
import zoneinfo
from functools import cache

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in _timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. America/Los_Angeles).")


def validate_currency(value: str) -> None:
    if not re.fullmatch(r"[A-Z]{3}", value or ""):
        raise ValidationError("Use a three-letter ISO 4217 code in capitals, e.g. USD.")


def validate_zip_code(value: str) -> None:
    if not re.fullmatch(r"\d{5}", value or ""):
        raise ValidationError(f"{value!r} is not a five-digit ZIP code.")


def normalize_phone(value: str, region: str = "US") -> str:
    """Return the E.164 form of a phone number, or raise ValidationError."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("Enter a valid phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError("Enter a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if not value:
        return
    if normalize_phone(value) != value:
        raise ValidationError("Store phone numbers in E.164 form, e.g. +14085550100.")


class PhoneFormField(forms.CharField):
    """A phone typed the way people write one ("408 555 0190", "(408) 555-0190",
    "+1 408-555-0190"), cleaned to E.164 (+14085550190) by `normalize_phone`, the same rule as
    the API's; anything else gets the API's error. Blank stays blank (the model decides whether
    blank is allowed)."""

    default_help_text = "Any usual format, e.g. 408 555 0190; saved as +14085550190."
    typed_max_length = 32  # what people type is longer than the E.164 stored (20 at most)

    def __init__(self, *, region: str = "US", **kwargs):
        self.region = region
        kwargs.setdefault("help_text", self.default_help_text)
        kwargs.setdefault("max_length", self.typed_max_length)
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("autocomplete", "tel")
        self.widget.attrs.setdefault("inputmode", "tel")

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        return normalize_phone(value, self.region)


def is_phone_field(db_field) -> bool:
    """A model field that stores an E.164 phone (validated by `validate_e164`)."""
    return validate_e164 in getattr(db_field, "validators", ())
