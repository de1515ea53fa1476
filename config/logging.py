"""Logging helpers. Customer contact data must never reach a log line (DESIGN.md §3)."""

import logging
import re

# Also URL-encoded ("jane%2Bx%40example.com"), as in a logged request's query string.
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+\.[\w.-]+")
# ISO dates and times ("2025-07-04", "2025-07-04 18:30:00") are digit runs too, but not contact
# data, and event dates are in many log lines: they are matched first and kept.
_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?"
# Phone-like runs: an optional + or bracket, then digits possibly split by spaces, dots, dashes
# or brackets, not glued to a word or a hyphenated token (UUIDs, references).
# UUIDs (Celery task ids) are kept whole: one whose first groups are all digits would
# otherwise read as a phone number ("[12345678-1234-..." -> "[[phone]-...").
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PHONE = re.compile(
    rf"(?P<date>(?<![\w-]){_DATE}(?!\w))|(?P<uuid>(?<![\w-]){_UUID}(?![\w-]))"
    rf"|(?<![\w-])[+(]?\d[\d\s().-]{{5,}}\d(?!\w)"
)
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("date") or match.group("uuid"):
        return text
    digits = sum(ch.isdigit() for ch in text)
    # Written as one bare run, a phone number is a full number (10+ digits); shorter bare runs
    # are ids and amounts. With separators or a +, 7 digits (a local number) are enough.
    return "[phone]" if digits >= (10 if text.isdigit() else 7) else text


def redact_pii(text: str) -> str:
    """Replace e-mail addresses and phone numbers in text with placeholders."""
    return _PHONE.sub(_phone, _EMAIL.sub("[email]", text))


def _redact_value(value):
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return redact_pii(str(value))  # e.g. Django's `request`, rendered with its query string


class RedactPIIFilter(logging.Filter):
    """Redacts the rendered message, the exception text and every `extra` value of each record
    it passes (formatters such as the JSON one print extras too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not kill logging
            message = str(record.msg)
        record.msg = redact_pii(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_pii(record.exc_text)
            # Formatters then print the redacted exc_text; the JSON one would otherwise format
            # exc_info afresh, unredacted.
            record.exc_info = None
        for key, value in vars(record).copy().items():
            if key not in _RECORD_ATTRS:
                setattr(record, key, _redact_value(value))
        return True
