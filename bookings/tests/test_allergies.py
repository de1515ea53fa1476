"""`allergies`: its own field on a booking, optional in the public booking contract, shown to
staff, to the customer's self-service link, and in the chef's calendar feed."""

import pytest

from bookings.models import Booking
from bookings.services import SYSTEM, booking_update_details
from bookings.tests.helpers import booking_payload
from stations.models import Chef
from testing.factories import make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

URL = "/api/v1/bookings/"
SHELLFISH = "Shellfish allergy (2 guests); one guest gluten-free"


def create(client, body, **headers):
    return client.post(URL, body, format="json", **headers)


def test_a_booking_request_may_give_allergies_and_they_are_stored(api_client, san_jose):
    response = create(api_client, booking_payload(san_jose, allergies=SHELLFISH))

    assert response.status_code == 201, response.json()
    assert response.json()["allergies"] == SHELLFISH
    assert Booking.objects.get(reference=response.json()["reference"]).allergies == SHELLFISH


def test_allergies_are_optional(api_client, san_jose):
    response = create(api_client, booking_payload(san_jose))

    assert response.status_code == 201, response.json()
    assert response.json()["allergies"] == ""
    assert Booking.objects.get().allergies == ""


@pytest.mark.parametrize(
    "allergies", [12, ["shellfish"], {"shellfish": True}, True, None, "x" * 501]
)
def test_bad_allergies_are_a_400_in_the_error_shape_and_nothing_is_booked(
    api_client, san_jose, allergies
):
    response = create(api_client, booking_payload(san_jose, allergies=allergies))

    assert response.status_code == 400, response.json()
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert "allergies" in body["fields"]
    assert not Booking.objects.exists()


def test_500_characters_are_accepted(api_client, san_jose):
    response = create(api_client, booking_payload(san_jose, allergies="x" * 500))
    assert response.status_code == 201, response.json()


def test_a_replayed_request_keeps_the_allergies(api_client, san_jose):
    body = booking_payload(san_jose, allergies=SHELLFISH)
    first = create(api_client, body, HTTP_IDEMPOTENCY_KEY="allergy-key")
    again = create(api_client, body, HTTP_IDEMPOTENCY_KEY="allergy-key")

    assert first.status_code == again.status_code == 201
    assert again.json()["allergies"] == SHELLFISH
    assert Booking.objects.get().allergies == SHELLFISH


def test_the_customer_self_service_view_shows_the_allergies(api_client, san_jose):
    created = create(api_client, booking_payload(san_jose, allergies=SHELLFISH)).json()

    response = api_client.get(
        f"{URL}{created['reference']}/", HTTP_X_BOOKING_TOKEN=created["manage_token"]
    )

    assert response.status_code == 200
    assert response.json()["allergies"] == SHELLFISH


def test_staff_see_the_allergies_and_can_book_with_them(staff_client, san_jose, sj_agent):
    client = staff_client(sj_agent)
    created = client.post(
        "/api/v1/staff/bookings/", booking_payload(san_jose, allergies=SHELLFISH), format="json"
    )
    assert created.status_code == 201, created.json()
    booking = Booking.objects.get(reference=created.json()["reference"])
    assert booking.allergies == SHELLFISH

    detail = client.get(f"/api/v1/staff/bookings/{booking.pk}/")
    listed = client.get("/api/v1/staff/bookings/")

    assert detail.status_code == 200
    assert detail.json()["allergies"] == SHELLFISH
    rows = listed.json()["results"] if "results" in listed.json() else listed.json()
    assert [row["allergies"] for row in rows] == [SHELLFISH]


def test_the_chef_feed_describes_the_allergies(client, san_jose):
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    booking = make_booking(san_jose, chef=kenji)
    booking_update_details(booking=booking, actor=SYSTEM, allergies=SHELLFISH)
    plain = make_booking(san_jose, chef=kenji, days=11)

    feed = client.get(f"/feeds/chefs/{kenji.calendar_token}.ics")

    assert feed.status_code == 200
    # Unfold iCalendar's 75-octet lines and unescape its text.
    text = feed.content.decode().replace("\r\n ", "").replace("\\;", ";").replace("\\,", ",")
    assert f"ALLERGIES: {SHELLFISH}" in text
    assert text.count("ALLERGIES:") == 1  # not for the booking that has none
    assert plain.reference in text


def test_recording_allergies_changes_nothing_else(san_jose):
    booking = make_booking(san_jose)
    before = Booking.objects.values().get(pk=booking.pk)

    booking_update_details(booking=booking, actor=SYSTEM, allergies="Peanuts")

    after = Booking.objects.values().get(pk=booking.pk)
    assert after["allergies"] == "Peanuts"
    assert after["updated_at"] > before["updated_at"]
    assert {k: v for k, v in after.items() if k not in ("allergies", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("allergies", "updated_at")
    }


def test_the_schema_documents_allergies_as_optional_text(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    request = schema["components"]["schemas"]["BookingRequestRequest"]

    assert request["properties"]["allergies"]["type"] == "string"
    assert request["properties"]["allergies"]["maxLength"] == 500
    assert "allergies" not in request.get("required", [])
    assert "allergies" in schema["components"]["schemas"]["Booking"]["properties"]


def _booking_page(user, booking):
    from django.test import Client
    from django.urls import reverse

    from conftest import PASSWORD

    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client, reverse("admin:bookings_booking_change", args=[booking.pk])


def test_staff_edit_the_allergies_on_the_booking_page_and_the_history_says_so(san_jose, sj_agent):
    from testing.admin import form_data

    booking = make_booking(san_jose, days=12)
    client, url = _booking_page(sj_agent, booking)
    data = form_data(client.get(url))
    data["allergies"] = "Peanuts (1 guest)"
    response = client.post(url, data)

    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.allergies == "Peanuts (1 guest)"
    line = booking.events.get(reason="allergies changed")
    assert line.data == {"allergies": ["", "Peanuts (1 guest)"]}
    assert line.actor_label == sj_agent.username


def test_a_chef_reads_the_allergies_but_cannot_change_them(san_jose, sj_chef):
    kenji = Chef.objects.get(user=sj_chef)
    booking = make_booking(san_jose, days=12, chef=kenji)
    booking_update_details(booking=booking, actor=SYSTEM, allergies=SHELLFISH)
    client, url = _booking_page(sj_chef, booking)

    page = client.get(url)
    assert page.status_code == 200
    assert SHELLFISH in page.content.decode()
    assert client.post(url, {"allergies": "", "notes": ""}).status_code == 403
    booking.refresh_from_db()
    assert booking.allergies == SHELLFISH
