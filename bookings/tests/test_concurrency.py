"""
Real concurrent requests against a live server on PostgreSQL: the last free chefs go to exactly
as many requests as there are chefs, and concurrent status changes have exactly one winner.
"""

import pytest

from bookings.models import Booking, BookingEvent
from bookings.tests.helpers import booking_payload
from config.services import api_token_issue
from config.tests.live import storm
from stations.models import Chef

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _unique_customer(body: dict, n: int) -> dict:
    return body | {
        "customer": {
            **body["customer"],
            "email": f"racer{n}@example.com",
            "phone": f"+1408555{1000 + n:04d}",
        }
    }


@pytest.mark.parametrize("racers", [24])
def test_last_free_chefs_go_to_exactly_that_many_requests(live_server, settings, san_jose, racers):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "10000/min"}
    free_chefs = Chef.objects.filter(station=san_jose, active=True).count()
    base = booking_payload(san_jose, days=14, start="18:00")
    url = f"{live_server.url}/api/v1/bookings/"

    results = storm([(url, _unique_customer(base, n), {}) for n in range(racers)])

    codes = sorted(code for code, _ in results)
    assert codes.count(201) == free_chefs
    assert codes.count(409) == racers - free_chefs
    assert all(body["error"] == "slot_unavailable" for code, body in results if code == 409)
    booked = Booking.objects.filter(station=san_jose, event_date=base["event_date"])
    assert booked.count() == free_chefs
    assert len(set(booked.values_list("chef_id", flat=True))) == free_chefs


def test_same_idempotency_key_at_once_makes_one_booking(live_server, settings, san_jose):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "10000/min"}
    body = booking_payload(san_jose, days=15)
    url = f"{live_server.url}/api/v1/bookings/"

    results = storm([(url, body, {"Idempotency-Key": "one-key"})] * 12)

    created = [b for code, b in results if code == 201]
    assert created, results
    assert {b["reference"] for b in created} == {created[0]["reference"]}
    assert all(
        code == 201 or (code == 409 and b["error"] == "idempotency_in_progress")
        for code, b in results
    )
    assert Booking.objects.count() == 1


def test_concurrent_transitions_have_exactly_one_winner(
    live_server, settings, san_jose, sj_manager, api_client
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "staff": "10000/min"}
    created = api_client.post("/api/v1/bookings/", booking_payload(san_jose), format="json").json()
    booking = Booking.objects.get(reference=created["reference"])
    token = api_token_issue(user=sj_manager)[1]
    auth = {"Authorization": f"Token {token}"}
    base = f"{live_server.url}/api/v1/staff/bookings/{booking.pk}"

    for action, final in (("confirm", "confirmed"), ("cancel", "cancelled")):
        results = storm([(f"{base}/{action}", {}, auth)] * 12)

        codes = [code for code, _ in results]
        assert codes.count(200) == 1, results
        assert codes.count(409) == 11
        booking.refresh_from_db()
        assert booking.status == final
    history = BookingEvent.objects.filter(booking=booking).values_list("to_status", flat=True)
    assert list(history) == ["pending_deposit", "confirmed", "cancelled"]
