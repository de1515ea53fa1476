"""Logging helpers. Customer contact data must never reach a log line (DESIGN.md §3)."""

import logging
import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# Phone-like runs: an optional +, then 7 or more digits possibly split by spaces, dots, dashes or
# brackets. Long enough not to eat ids, times or amounts in ordinary messages.
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{5,}\d(?![\w])")


def redact_pii(text: str) -> str:
    """Replace e-mail addresses and phone numbers in text with placeholders."""
    text = _EMAIL.sub("[email]", text)

    def _phone(match: re.Match[str]) -> str:
        digits = sum(ch.isdigit() for ch in match.group(0))
        return "[phone]" if digits >= 7 else match.group(0)

    return _PHONE.sub(_phone, text)


class RedactPIIFilter(logging.Filter):
    """Redacts the rendered message (and the exception text) of every record it passes."""

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
        return True
