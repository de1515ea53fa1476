"""The phone booking page under bad input and double sending: its JSON reads refuse control
characters and impossible parties, and the same form sent twice makes one booking."""

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse

from bookings.models import Booking, BookingSource
from bookings.scheduling import local_today
from testing.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

PHONE = reverse("admin:bookings_booking_phone")
PREVIEW = reverse("admin:bookings_booking_phone_preview")
CUSTOMERS = reverse("admin:bookings_booking_phone_customers")


def _day(station, days=10):
    return (local_today(station) + timedelta(days=days)).isoformat()


def _preview(where, **overrides):
    return {
        "station": where.pk,
        "date": _day(where),
        "adults": "12",
        "children": "0",
        "zip": "95112",
        **overrides,
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"addons": ["gyoza", "\x00"]},
        {"zip": "951\x0012"},
        {"date": "2030-01-01\x00"},
        {"adults": "1\x002"},
        {"station": "1\x00"},
    ],
)
def test_preview_refuses_control_characters_with_400(client, san_jose, sj_agent, overrides):
    client.force_login(sj_agent)
    answer = client.get(PREVIEW, _preview(san_jose, **overrides))
    assert answer.status_code == 400
    assert "control character" in answer.json()["error"]


@pytest.mark.parametrize(
    "query",
    [
        {"email": "a\x00@b.com"},
        {"phone": "408 555 0190\x00"},
        {"email": "a@b.com", "phone": "\x1b"},
    ],
)
def test_customer_lookup_refuses_control_characters_with_400(client, san_jose, sj_agent, query):
    client.force_login(sj_agent)
    answer = client.get(CUSTOMERS, {"station": san_jose.pk, **query})
    assert answer.status_code == 400
    assert "control character" in answer.json()["error"]


def test_a_nul_is_refused_in_the_raw_query_too(client, san_jose, sj_agent):
    client.force_login(sj_agent)
    assert client.get(f"{PREVIEW}?station={san_jose.pk}&addons=%00").status_code == 400
    assert client.get(f"{CUSTOMERS}?station={san_jose.pk}&email=a%00%40b").status_code == 400


@pytest.mark.parametrize(
    "overrides", [{"adults": str(10**30)}, {"adults": "12", "children": str(10**30)}]
)
def test_an_absurd_party_gets_the_station_s_limit_and_no_quote(
    client, san_jose, sj_agent, overrides
):
    client.force_login(sj_agent)
    data = client.get(PREVIEW, _preview(san_jose, **overrides)).json()
    limit = f"Parties of 1 to {san_jose.max_guests} guests."
    assert data["slots_error"] == limit
    assert data["quote_error"] == limit
    assert data["quote"] is None
    assert data["slots"] == []


# --- Sending the same form twice ------------------------------------------------------------


def _form(station, key, **overrides):
    return {
        "key": key,
        "station": station.pk,
        "event_date": _day(station),
        "adults": "12",
        "children": "2",
        "zip_code": "95112",
        "start_time": "17:00",
        "phone": "408 555 0190",
        "email": "mia@example.com",
        "name": "Mia Known",
        "line1": "12 Oak St",
        "city": "San Jose",
        "state": "CA",
        **overrides,
    }


def _shown_key(page) -> str:
    return re.search(r'name="key" value="([0-9a-f]+)"', page.content.decode()).group(1)


def test_the_same_form_for_an_existing_customer_sent_twice_makes_one_booking(
    client, san_jose, sj_agent
):
    known = CustomerFactory(station=san_jose, name="Mia Known", phone="+14085550190")
    client.force_login(sj_agent)
    form = _form(san_jose, _shown_key(client.get(PHONE)), customer_choice=f"use:{known.pk}")

    first = client.post(PHONE, form)
    again = client.post(PHONE, form, follow=True)

    booking = Booking.objects.get(source=BookingSource.STAFF)
    assert booking.customer == known
    assert first.status_code == 302
    assert first.url == reverse("admin:bookings_booking_change", args=[booking.pk])
    assert again.redirect_chain[0][0] == first.url
    assert f"Booking {booking.reference} was already created" in again.content.decode()


def test_the_same_form_for_a_new_customer_sent_twice_makes_one_booking(client, san_jose, sj_agent):
    client.force_login(sj_agent)
    form = _form(san_jose, _shown_key(client.get(PHONE)), customer_choice="new")

    first = client.post(PHONE, form)
    again = client.post(PHONE, form, follow=True)

    booking = Booking.objects.get()
    assert first.url == reverse("admin:bookings_booking_change", args=[booking.pk])
    assert "was already created" in again.content.decode()


def test_another_showing_of_the_form_makes_another_booking(client, san_jose, sj_agent):
    known = CustomerFactory(station=san_jose, name="Mia Known", phone="+14085550190")
    client.force_login(sj_agent)

    for start in ("12:00", "17:00"):
        key = _shown_key(client.get(PHONE))
        form = _form(san_jose, key, customer_choice=f"use:{known.pk}", start_time=start)
        assert client.post(PHONE, form).status_code == 302

    assert Booking.objects.filter(customer=known).count() == 2


def test_one_user_s_key_is_not_another_s(client, san_jose, sj_agent, sj_manager):
    known = CustomerFactory(station=san_jose, name="Mia Known", phone="+14085550190")
    key = uuid.uuid4().hex
    for user, start in ((sj_agent, "12:00"), (sj_manager, "17:00")):
        client.force_login(user)
        form = _form(san_jose, key, customer_choice=f"use:{known.pk}", start_time=start)
        assert client.post(PHONE, form).status_code == 302
    assert Booking.objects.filter(customer=known).count() == 2


def test_a_form_without_its_key_books_nothing_and_keeps_what_was_typed(client, san_jose, sj_agent):
    client.force_login(sj_agent)

    answer = client.post(PHONE, _form(san_jose, "", phone="408 555 0191"))

    page = answer.content.decode()
    assert answer.status_code == 200
    assert "This form had expired" in page
    assert _shown_key(answer)
    assert "12 Oak St" in page
    assert not Booking.objects.exists()


def test_non_ascii_digits_are_not_read_as_numbers(client, san_jose, sj_agent):
    """int() reads "١٢" (Arabic-Indic digits) as 12 and str.isdigit() accepts them: the page
    takes ASCII digits only, so such a party or ZIP is simply not given."""
    client.force_login(sj_agent)
    data = client.get(PREVIEW, _preview(san_jose, adults="١٢")).json()
    assert data["quote"] is None
    zip_data = client.get(PREVIEW, _preview(san_jose, zip="٩٥١١٢")).json()
    assert zip_data["quote_error"] == "Enter the 5-digit ZIP for the quote."
