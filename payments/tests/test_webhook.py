"""
POST /api/v1/webhooks/stripe: nothing is stored unless Stripe's signature verifies for the raw
body (300 s tolerance); a verified event is stored once under its id and acknowledged.
"""

import json
import time

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings.models import BookingStatus
from payments.models import EventOutcome, StripeEvent
from payments.tests.conftest import WEBHOOK, deposit_of, encode, stripe_signature

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["fields"], dict)
    if code:
        assert body["error"] == code
    return body


@pytest.fixture
def event(deposit_booking, stripe_event):
    return stripe_event("payment_intent.succeeded", deposit_of(deposit_booking))


def test_a_valid_event_is_stored_once_processed_and_acknowledged(
    webhook, event, deposit_booking, san_jose
):
    response = webhook.post(encode(event))

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    row = StripeEvent.objects.get()
    assert (row.event_id, row.type, row.livemode) == (event["id"], event["type"], False)
    assert row.payload == event
    assert (row.outcome, row.attempts, row.error) == (EventOutcome.PROCESSED, 1, "")
    assert row.processed_at is not None
    assert row.station == san_jose
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED


def _one_byte_changed(body: bytes) -> bytes:
    at = body.index(b'"amount":') + len(b'"amount":')
    changed = bytearray(body)
    changed[at] = ord("9") if changed[at] != ord("9") else ord("8")
    return bytes(changed)


def _reserialised(body: bytes) -> bytes:
    # Same JSON value, other spacing: what a framework that parses and re-dumps would pass on.
    return json.dumps(json.loads(body), indent=2).encode()


def _bad_requests(body: bytes, secret: str):
    now = int(time.time())
    valid = stripe_signature(body, secret)
    digest = valid.split("v1=")[1]
    return {
        "one_changed_byte": (_one_byte_changed(body), valid),
        "missing_header": (body, None),
        "empty_header": (body, ""),
        "older_than_tolerance": (body, stripe_signature(body, secret, now - 301)),
        "reserialised_json": (_reserialised(body), valid),
        "wrong_secret": (body, stripe_signature(body, "whsec_not_ours")),
        "other_body_signature": (body, stripe_signature(body + b" ", secret)),
        "only_v0_scheme": (body, f"t={now},v0={digest}"),
        "no_timestamp": (body, f"v1={digest}"),
        "garbage_header": (body, "garbage"),
        "timestamp_not_a_number": (body, f"t=soon,v1={digest}"),
    }


BAD_CASES = [
    "one_changed_byte",
    "missing_header",
    "empty_header",
    "older_than_tolerance",
    "reserialised_json",
    "wrong_secret",
    "other_body_signature",
    "only_v0_scheme",
    "no_timestamp",
    "garbage_header",
    "timestamp_not_a_number",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_a_bad_signature_is_400_in_the_error_shape_and_stores_nothing(
    webhook, event, deposit_booking, settings, case
):
    cases = _bad_requests(encode(event), settings.STRIPE_WEBHOOK_SECRET)
    assert set(cases) == set(BAD_CASES)
    body, header = cases[case]

    response = webhook.post(body, signature=header)

    assert_error_shape(response, 400, "invalid_signature")
    assert not StripeEvent.objects.exists()
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.PENDING_DEPOSIT


def test_a_timestamp_inside_the_tolerance_is_accepted(webhook, event, sign):
    body = encode(event)

    response = webhook.post(body, signature=sign(body, timestamp=int(time.time()) - 280))

    assert response.status_code == 200
    assert StripeEvent.objects.count() == 1


@pytest.mark.parametrize("valid_first", [True, False])
def test_two_v1_values_are_accepted_when_one_matches(webhook, event, sign, valid_first):
    body = encode(event)
    header = sign(body)
    timestamp, good = header.split(",")
    bad = "v1=" + "0" * 64
    values = [good, bad] if valid_first else [bad, good]

    response = webhook.post(body, signature=",".join([timestamp, *values]))

    assert response.status_code == 200
    assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1


def test_two_v1_values_neither_matching_are_refused(webhook, event, sign):
    body = encode(event)
    timestamp = sign(body).split(",")[0]

    response = webhook.post(body, signature=f"{timestamp},v1={'0' * 64},v1={'f' * 64}")

    assert_error_shape(response, 400, "invalid_signature")
    assert not StripeEvent.objects.exists()


def test_a_signed_body_that_is_not_an_event_is_400_and_stores_nothing(webhook):
    body = encode({"object": "event", "type": "payment_intent.succeeded"})  # no id

    response = webhook.post(body)

    assert_error_shape(response, 400, "invalid_event")
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "evt_" + "x" * 300, "type": "payment_intent.succeeded"},
        {"id": "evt_1", "type": "payment_intent." + "x" * 100},
        {"id": "", "type": "payment_intent.succeeded"},
        {"id": 42, "type": "payment_intent.succeeded"},
    ],
)
def test_a_signed_event_the_ledger_cannot_hold_is_400_and_stores_nothing(webhook, fields):
    response = webhook.post(encode({"object": "event", **fields}))

    assert_error_shape(response, 400, "invalid_event")
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_405_in_the_error_shape(db, method):
    response = getattr(Client(), method)(WEBHOOK)

    body = assert_error_shape(response, 405, "method_not_allowed")
    assert method.upper() in body["detail"]
    assert response["Allow"] == "POST"
    assert not StripeEvent.objects.exists()


def test_a_redelivery_is_acknowledged_as_duplicate_and_changes_nothing(
    webhook, event, deposit_booking, mailoutbox
):
    first = webhook.deliver(event)
    # Stripe redelivers the same event, signed afresh (new timestamp).
    again = webhook.post(
        encode(event), signature=stripe_signature(encode(event), "whsec_test_secret")
    )

    assert first == {"received": True, "duplicate": False}
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    row = StripeEvent.objects.get()
    assert (row.outcome, row.attempts) == (EventOutcome.PROCESSED, 1)
    statuses = list(deposit_booking.events.values_list("to_status", flat=True))
    assert statuses == ["pending_deposit", "confirmed"]
    assert len(mailoutbox) == 1


def test_an_unhandled_type_is_acknowledged_and_not_stored(
    webhook, stripe_event, deposit_booking, django_capture_on_commit_callbacks
):
    """DESIGN.md §8: a signed event of a type we do not handle is answered 200 (Stripe stops
    sending it again) and leaves nothing behind: no ledger row, no task."""
    event = stripe_event("customer.created")
    body = encode(event)

    with django_capture_on_commit_callbacks() as queued:
        response = webhook.client.post(
            WEBHOOK,
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=webhook.sign(body),
        )

    assert response.status_code == 200
    assert response.json() == {"received": True, "ignored": True}
    assert not StripeEvent.objects.exists()
    assert queued == []
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.PENDING_DEPOSIT


def test_a_non_ascii_signature_is_400_not_500(event, settings):
    client = Client(raise_request_exception=False)
    body = encode(event)
    header = f"t={int(time.time())},v1={'é' * 64}"

    response = client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )

    assert_error_shape(response, 400, "invalid_signature")
    assert not StripeEvent.objects.exists()


def test_a_signed_json_body_that_is_not_an_object_is_400(sign):
    client = Client(raise_request_exception=False)
    body = b"[1, 2, 3]"

    response = client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body)
    )

    assert_error_shape(response, 400)
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_nul_escape_is_stored_as_text_not_refused(webhook, event, deposit_booking):
    # JSON allows \u0000, PostgreSQL's jsonb doesn't; the request runs in autocommit here, as
    # under a real server.
    assert not connection.in_atomic_block
    event["data"]["object"]["description"] = "party\x00pack"
    body = encode(event)
    assert b"\\u0000" in body

    response = webhook.post(body)

    assert response.status_code == 200
    row = StripeEvent.objects.get()
    assert row.payload["data"]["object"]["description"] == "party\\u0000pack"
    assert row.outcome == EventOutcome.PROCESSED
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_a_signed_body_nested_too_deeply_is_a_400_and_stores_nothing(depth, webhook):
    body = b'{"id":"evt_deep","type":"payment_intent.succeeded","data":' + b"[" * depth
    body += b"]" * depth + b"}"

    response = webhook.post(body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert not StripeEvent.objects.exists()


HANDLED = ["payment_intent.succeeded", "charge.refunded"]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "id": st.one_of(st.text(max_size=300), st.integers(), st.none()),
            "type": st.one_of(
                st.sampled_from([*HANDLED, "customer.created"]),
                st.text(max_size=150),
            ),
        },
        optional={"livemode": _json_values, "data": _json_values},
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_bodies, signed=st.booleans(), header_noise=st.text(max_size=40))
def test_whatever_is_posted_the_answer_is_200_or_400_and_only_a_signed_event_is_stored(
    sign, body, signed, header_noise
):
    """Any body, signed correctly or carrying any header: never a 500; a row only for a signed
    JSON object with a string id and a handled type."""
    client = Client(raise_request_exception=False)
    before = StripeEvent.objects.count()
    header = sign(body) if signed else header_noise
    response = client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code in (200, 400), response.content
    stored = StripeEvent.objects.count() - before
    if response.status_code == 400:
        assert_error_shape(response, 400)
        assert stored == 0
        return
    assert signed
    event = json.loads(body)
    handled = event["type"] in HANDLED
    assert stored == (1 if handled and not response.json()["duplicate"] else 0)
