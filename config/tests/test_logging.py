"""Log lines never carry customer contact data (DESIGN.md §3), and stay readable and parseable.

The handler is built from settings.LOGGING exactly as configured (its filters and the JSON
formatter used in production), writing to a buffer instead of stderr.
"""

import copy
import io
import json
import logging
from logging.config import DictConfigurator

import pytest
from django.test import RequestFactory

from config.logging import redact_pii


@pytest.fixture
def log(settings):
    """log(level, msg, *args, **kwargs) → the JSON object the production handler writes."""
    config = copy.deepcopy(settings.LOGGING)
    configurator = DictConfigurator(config)
    handler_config = config["handlers"]["console"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configurator.configure_formatter(config["formatters"]["json"]))
    for name in handler_config["filters"]:
        handler.addFilter(configurator.configure_filter(config["filters"][name]))
    logger = logging.getLogger("tests.pii")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)

    def emit(level, msg, *args, **kwargs) -> dict:
        stream.seek(0)
        stream.truncate()
        logger.log(level, msg, *args, **kwargs)
        (line,) = stream.getvalue().splitlines()
        return json.loads(line)  # one valid JSON object per line

    yield emit
    logger.removeHandler(handler)


EMAIL = "jane.doe+party@example.com"
PHONES = ["+14085550123", "(408) 555-0123", "408-555-0123", "408.555.0123", "4085550123"]


def test_production_handler_is_json_with_the_redaction_filter(settings):
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    assert "redact_pii" in settings.LOGGING["handlers"]["console"]["filters"]
    assert settings.LOGGING["root"]["handlers"] == ["console"]


@pytest.mark.parametrize("phone", PHONES)
def test_email_and_phone_are_redacted_from_the_message(log, phone):
    record = log(logging.INFO, f"new lead from {EMAIL}, call back on {phone} today")
    text = json.dumps(record)
    assert "jane.doe" not in text
    assert "example.com" not in text
    assert "0123" not in text
    assert record["message"] == "new lead from [email], call back on [phone] today"
    assert record["level"] == "INFO"
    assert record["logger"] == "tests.pii"


def test_pii_in_format_arguments_is_redacted(log):
    record = log(logging.WARNING, "sms to %s failed for %s", "+14085550123", EMAIL)
    assert record["message"] == "sms to [phone] failed for [email]"


def test_pii_in_extra_fields_is_redacted(log):
    record = log(
        logging.INFO, "customer updated", extra={"customer_email": EMAIL, "booking_id": 42}
    )
    assert record["customer_email"] == "[email]"
    assert record["booking_id"] == 42


def test_pii_in_a_logged_request_is_redacted(log):
    # What django.request logs for a 4xx: the request object, rendered with its query string.
    request = RequestFactory().get("/api/v1/leads/", {"email": EMAIL, "phone": "4085550123"})
    record = log(
        logging.WARNING,
        "Not Found: %s",
        request.path,
        extra={"status_code": 404, "request": request},
    )
    text = json.dumps(record)
    assert "jane.doe" not in text
    assert "4085550123" not in text
    assert "/api/v1/leads/" in record["request"]
    assert record["status_code"] == 404


def test_pii_in_exception_text_is_redacted(log):
    try:
        raise ValueError(f"cannot text {PHONES[0]}")
    except ValueError:
        record = log(logging.ERROR, "send failed", exc_info=True)
    assert "ValueError: cannot text [phone]" in record["exc_info"]
    assert PHONES[0] not in json.dumps(record)


@pytest.mark.parametrize(
    "text",
    [
        "booking 42 total 12000 cents",
        "booking 1234567 refunded 250000 cents of 1500000",
        "event on 2025-07-04 18:30 for 24 guests",
        "hold expires at 2025-07-04T18:30:00Z",
        "request 123e4567-e89b-12d3-a456-426614174000 took 350 ms",
        "reference MH-7K2P9Q, payment pi_3MtwBwLkdIwHu7ix28a3tqPa, chef 12, station 3",
        "slots 11:00-20:00 every 30 minutes",
    ],
)
def test_ids_amounts_dates_and_references_are_kept(log, text):
    assert log(logging.INFO, text)["message"] == text
    assert redact_pii(text) == text


def test_a_broken_format_string_still_logs(log):
    record = log(logging.INFO, "%d guests, call %s", "many")
    assert "guests" in record["message"]


@pytest.mark.parametrize(
    "task_id",
    [
        "93848473-1234-4361-a7a3-a4ab27f7c32f",  # the first groups all digits: not a phone
        "12345678-9012-3456-7890-123456789012",
        "4c1e8f2a-0b7d-4e6f-9a3b-2d1c0e9f8a7b",
    ],
)
def test_a_task_id_stays_whole_while_a_phone_beside_it_goes(task_id):
    line = f"Task bookings.tasks.send_reminders[{task_id}] succeeded; call (408) 555-0199"
    redacted = redact_pii(line)
    assert f"[{task_id}]" in redacted
    assert "555-0199" not in redacted
