"""Validators for station data: IANA time zones, ISO currencies, E.164 phones, US ZIP codes."""

import re
import zoneinfo
from functools import cache

import phonenumbers
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
