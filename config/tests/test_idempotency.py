"""Idempotent replays keep nothing that grants access readable from the database: the row holds
an HMAC of the Idempotency-Key and the answer sealed under a key only the client's key opens.
Behaviour through POST /api/v1/bookings/ (the booking's manage token and Stripe's client_secret
are in its answer)."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from bookings.models import Booking
from bookings.tests.helpers import booking_payload
from config.models import IdempotencyKey
from payments.tests.conftest import fake_stripe  # noqa: F401 (a fixture)

URL = "/api/v1/bookings/"
KEY = "3f1c9a52-7d4e-4b8a-9c61-0e2d5f7a8b90"


def create(client, body, key=KEY):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def stored_bytes() -> bytes:
    """Every column of every idempotency row, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM config_idempotencykey")
        rows = cursor.fetchall()
    assert rows
    parts = []
    for row in rows:
        for value in row:
            parts.append(bytes(value) if isinstance(value, memoryview | bytes) else str(value))
    return b"\x00".join(p if isinstance(p, bytes) else p.encode() for p in parts)


@pytest.fixture(params=["offline", "stripe"])
def payments_mode(request):
    """Offline payments, and a (local, fake) Stripe answering with its real format."""
    if request.param == "stripe":
        request.getfixturevalue("fake_stripe")
    return request.param


def test_the_row_holds_no_secret_of_the_answer_nor_the_key(api_client, san_jose, payments_mode):
    answer = create(api_client, booking_payload(san_jose)).json()
    secrets = [answer["manage_token"], answer["payment"]["client_secret"], KEY]
    assert all(secrets)

    stored = stored_bytes()

    for secret in secrets:
        assert secret.encode() not in stored
    assert answer["reference"].encode() not in stored  # the answer is not there in any part
    assert b"customer" not in stored


def test_a_replay_is_the_same_working_answer(api_client, san_jose, payments_mode):
    body = booking_payload(san_jose)
    first = create(api_client, body)
    again = create(api_client, body)

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Booking.objects.count() == 1
    replayed = again.json()
    opened = api_client.get(
        f"{URL}{replayed['reference']}/", HTTP_X_BOOKING_TOKEN=replayed["manage_token"]
    )
    assert opened.status_code == 200
    assert opened.json()["reference"] == replayed["reference"]


def test_the_same_key_with_another_body_is_still_422(api_client, san_jose):
    assert create(api_client, booking_payload(san_jose)).status_code == 201
    other = create(api_client, booking_payload(san_jose, start="18:00"))
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert Booking.objects.count() == 1


def test_a_repeat_while_the_first_runs_is_still_409(api_client, san_jose, monkeypatch):
    from bookings import api as bookings_api

    body, seen = booking_payload(san_jose), []
    real = bookings_api._create_booking

    def first_request_meanwhile(request, **kwargs):
        seen.append(create(api_client, body))  # the client retries while the first still runs
        return real(request, **kwargs)

    monkeypatch.setattr(bookings_api, "_create_booking", first_request_meanwhile)
    assert create(api_client, body).status_code == 201

    (repeat,) = seen
    assert repeat.status_code == 409
    assert repeat.json()["error"] == "idempotency_in_progress"


def test_another_key_opens_nothing(api_client, san_jose):
    body = booking_payload(san_jose)
    assert create(api_client, body).status_code == 201
    other = create(api_client, body, key=KEY[:-1] + "1")
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other  # a request of its own
    assert Booking.objects.count() == IdempotencyKey.objects.count() == 2


def test_a_rotated_secret_key_still_replays_with_the_old_one_as_fallback(
    api_client, san_jose, settings
):
    body = booking_payload(san_jose)
    first = create(api_client, body).json()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" * 3

    again = create(api_client, body)

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first
    assert Booking.objects.count() == 1


def test_answers_are_forgotten_after_a_day(api_client, san_jose):
    from config.tasks import purge_idempotency_keys

    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert create(api_client, booking_payload(san_jose)).status_code == 201
        clock.shift(timedelta(hours=23))
        assert purge_idempotency_keys() == 0
        clock.shift(timedelta(hours=2))
        assert purge_idempotency_keys() == 1
