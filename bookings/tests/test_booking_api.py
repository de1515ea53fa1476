"""Booking create, idempotency and the customer's self-service link, through HTTP."""

from datetime import timedelta

import pytest
from django.contrib.postgres.fields.ranges import DateTimeTZRange
from django.db import IntegrityError, transaction

from bookings.models import Booking, BookingEvent, BookingStatus, Customer
from bookings.tests.helpers import booking_payload, future_date, next_weekday

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

URL = "/api/v1/bookings/"


def create(client, body, **headers):
    return client.post(URL, body, format="json", **headers)


def manage(client, body, path="", method="get", data=None):
    url = f"/api/v1/bookings/{body['reference']}/{path}"
    call = getattr(client, method)
    return call(url, data or {}, format="json", HTTP_X_BOOKING_TOKEN=body["manage_token"])


def test_create_returns_the_contract_and_holds_a_chef(api_client, san_jose):
    saturday = next_weekday(san_jose, 5)  # the weekend minimum applies, whatever day it is
    response = create(api_client, booking_payload(san_jose, days=saturday))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["reference"].startswith("MH-")
    assert len(body["reference"]) == 9
    assert body["status"] == "pending_deposit"
    assert body["total_cents"] == 87_400  # 10x60 + 2x30 + gyoza 18 + top-up to 800, +9.25% tax
    assert body["deposit_cents"] == 10_000
    payment = body["payment"]
    assert payment["client_secret"].startswith(payment["payment_intent"] + "_secret_")
    assert payment["payment_intent"].startswith("pi_")
    assert (payment["kind"], payment["amount_cents"], payment["mode"]) == (
        "deposit",
        10_000,
        "offline",
    )
    assert len(body["manage_token"]) >= 32
    booking = Booking.objects.get(reference=body["reference"])
    assert booking.manage_token_hash != body["manage_token"]  # only the hash is stored
    assert booking.chef.station == san_jose
    assert booking.customer.phone == "+14085550142"
    assert booking.hold_expires_at is not None
    assert list(booking.events.values_list("to_status", flat=True)) == ["pending_deposit"]


def test_the_same_person_booking_twice_is_one_customer(api_client, san_jose):
    first = booking_payload(san_jose, days=10)
    second = booking_payload(san_jose, days=11)
    second["customer"] = {**second["customer"], "email": "PAT@example.com", "phone": "+14085550199"}
    assert create(api_client, first).status_code == 201
    assert create(api_client, second).status_code == 201

    assert Customer.objects.filter(station=san_jose).count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_date": "2020-01-01"}, "event_date"),
        ({"adults": 0}, "adults"),
        ({"adults": 70}, "adults"),
        ({"start_time": "03:00"}, "start_time"),
        ({"start_time": "17:10"}, "start_time"),
        ({"start_time": "5pm"}, "start_time"),
        ({"addons": ["caviar"]}, "addons"),
        ({"station": "nowhere"}, "station"),
        ({"station": 12}, "station"),
        ({"station": ["san-jose"]}, "station"),
        ({"customer": {"name": "X", "email": "not-an-email", "phone": "+14085550142"}}, "customer"),
        ({"customer": {"name": "X", "email": "x@example.com", "phone": "12"}}, "customer"),
        (
            {"address": {"line1": "1 A St", "city": "Reno", "state": "NV", "zip_code": "89501"}},
            "zip_code",
        ),
    ],
)
def test_invalid_requests_are_400_with_field_errors_and_change_nothing(
    api_client, san_jose, change, field
):
    response = create(api_client, booking_payload(san_jose) | change)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert field in body["fields"]
    assert not Booking.objects.exists()
    assert not Customer.objects.exists()


def test_outside_service_area_has_its_own_code(api_client, san_jose):
    body = booking_payload(san_jose)
    body["address"] = {**body["address"], "zip_code": "10001"}
    response = create(api_client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "outside_service_area"


def test_minimum_notice_is_enforced(api_client, san_jose):
    response = create(api_client, booking_payload(san_jose, days=1))
    assert response.status_code == 400
    assert "event_date" in response.json()["fields"]


def test_when_every_chef_is_taken_the_answer_is_409(api_client, san_jose):
    for n in range(3):
        body = booking_payload(san_jose)
        body["customer"] = {
            **body["customer"],
            "email": f"p{n}@example.com",
            "phone": f"+1408555015{n}",
        }
        assert create(api_client, body).status_code == 201
    response = create(api_client, booking_payload(san_jose))

    assert response.status_code == 409
    assert response.json()["error"] == "slot_unavailable"
    assert Booking.objects.count() == 3


def test_the_database_refuses_overlapping_bookings_of_one_chef(api_client, san_jose):
    """The guarantee does not depend on the service: a raw insert that overlaps is refused."""
    first = Booking.objects.get(
        reference=create(api_client, booking_payload(san_jose)).json()["reference"]
    )
    clone = Booking.objects.get(pk=first.pk)
    clone.pk, clone.reference = None, "MH-CLONE1"
    clone.blocked = DateTimeTZRange(
        first.blocked.upper - timedelta(minutes=1), first.blocked.upper + timedelta(hours=3)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()
    clone.status = BookingStatus.CANCELLED  # inactive bookings don't hold the chef
    clone.save()


def test_idempotency_key_replays_the_first_answer(api_client, san_jose):
    body = booking_payload(san_jose)
    first = create(api_client, body, HTTP_IDEMPOTENCY_KEY="key-1")
    again = create(api_client, body, HTTP_IDEMPOTENCY_KEY="key-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1


def test_idempotency_key_with_another_body_is_422(api_client, san_jose):
    assert (
        create(api_client, booking_payload(san_jose), HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    )
    other = create(api_client, booking_payload(san_jose, start="18:00"), HTTP_IDEMPOTENCY_KEY="k")

    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert Booking.objects.count() == 1


def test_idempotency_key_replays_an_error_too(api_client, san_jose):
    body = booking_payload(san_jose, adults=0)
    first = create(api_client, body, HTTP_IDEMPOTENCY_KEY="bad")
    again = create(api_client, body, HTTP_IDEMPOTENCY_KEY="bad")
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()


@pytest.mark.parametrize("key", ["k\x00y", "clé", "tab\there", "k" * 256])
def test_an_idempotency_key_the_ledger_cannot_hold_is_400(api_client, san_jose, key):
    response = create(api_client, booking_payload(san_jose), HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert not Booking.objects.exists()


def test_self_service_read_needs_the_token(api_client, san_jose, sacramento):
    body = create(api_client, booking_payload(san_jose)).json()

    assert manage(api_client, body).status_code == 200
    assert manage(api_client, body).json()["reference"] == body["reference"]
    real = body["manage_token"]
    one_off = real[:-1] + ("y" if real[-1] == "x" else "x")  # one character changed
    for token in ("", "wrong", one_off):
        response = api_client.get(f"{URL}{body['reference']}/", HTTP_X_BOOKING_TOKEN=token)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    assert api_client.get(f"{URL}{body['reference']}/").status_code == 404
    assert (
        api_client.get(f"{URL}MH-ZZZZZZ/", HTTP_X_BOOKING_TOKEN=body["manage_token"]).status_code
        == 404
    )


def test_wrong_token_cannot_cancel_or_reschedule(api_client, san_jose):
    body = create(api_client, booking_payload(san_jose)).json()
    forged = {**body, "manage_token": "guess"}

    assert manage(api_client, forged, "cancel", "post").status_code == 404
    assert (
        manage(
            api_client,
            forged,
            "reschedule",
            "post",
            {"event_date": body["event_date"], "start_time": "12:00"},
        ).status_code
        == 404
    )
    assert Booking.objects.get().status == "pending_deposit"


def test_customer_cancels_and_the_chef_is_free_again(api_client, san_jose):
    body = create(api_client, booking_payload(san_jose)).json()

    response = manage(api_client, body, "cancel", "post", {"reason": "rain"})

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    event = BookingEvent.objects.filter(to_status="cancelled").get()
    assert event.actor_label == "customer"
    assert event.data["policy"]["rule"] == "full_refund"
    again = manage(api_client, body, "cancel", "post")
    assert again.status_code == 409
    assert again.json()["error"] == "invalid_transition"
    for n in range(3):  # all three chefs can be booked at that time again
        payload = booking_payload(san_jose)
        payload["customer"] = {
            **payload["customer"],
            "email": f"n{n}@example.com",
            "phone": f"+1408555016{n}",
        }
        assert create(api_client, payload).status_code == 201


def test_first_reschedule_with_notice_is_free_then_the_change_fee_applies(api_client, san_jose):
    body = create(api_client, booking_payload(san_jose, days=10)).json()
    later = future_date(san_jose, 12).isoformat()

    first = manage(
        api_client, body, "reschedule", "post", {"event_date": later, "start_time": "12:00"}
    )
    assert first.status_code == 200, first.json()
    assert (first.json()["event_date"], first.json()["start_time"]) == (later, "12:00")
    assert first.json()["fees_cents"] == 0

    second = manage(
        api_client, body, "reschedule", "post", {"event_date": later, "start_time": "13:00"}
    )
    assert second.status_code == 200
    fee = san_jose.price_list.change_fee_cents
    assert second.json()["fees_cents"] == fee
    assert second.json()["total_cents"] == first.json()["total_cents"] + fee
    booking = Booking.objects.get()
    assert booking.reschedule_count == 2
    assert [e.reason for e in booking.events.all()] == ["created", "rescheduled", "rescheduled"]


def test_reschedule_into_a_full_slot_is_409_and_keeps_the_booking(api_client, san_jose):
    target = booking_payload(san_jose, days=12, start="12:00")
    for n in range(3):
        target["customer"] = {
            **target["customer"],
            "email": f"f{n}@example.com",
            "phone": f"+1408555017{n}",
        }
        assert create(api_client, target).status_code == 201
    body = create(api_client, booking_payload(san_jose, days=10)).json()

    response = manage(
        api_client,
        body,
        "reschedule",
        "post",
        {"event_date": target["event_date"], "start_time": "12:00"},
    )

    assert response.status_code == 409
    assert response.json()["error"] == "slot_unavailable"
    booking = Booking.objects.get(reference=body["reference"])
    assert booking.event_date.isoformat() == body["event_date"]
    assert booking.reschedule_count == 0


def test_reschedule_validates_like_create(api_client, san_jose):
    body = create(api_client, booking_payload(san_jose)).json()
    response = manage(
        api_client, body, "reschedule", "post", {"event_date": "2020-01-01", "start_time": "12:00"}
    )
    assert response.status_code == 400
    assert "event_date" in response.json()["fields"]
    response = manage(api_client, body, "reschedule", "post", {"event_date": "tomorrow"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"event_date", "start_time"}
