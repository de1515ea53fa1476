"""Taking a booking by phone in the admin (bookings/admin/phone.py), the staff hold, and the
"Send deposit link" tool (bookings/admin/payment_tools.py, bookings.services)."""

import re
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingEvent, BookingSource, BookingStatus, Customer
from bookings.scheduling import local_today
from bookings.tests.helpers import booking_payload
from config.exceptions import ApiError
from testing.factories import CustomerFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

PHONE = reverse("admin:bookings_booking_phone")
PREVIEW = reverse("admin:bookings_booking_phone_preview")
CUSTOMERS = reverse("admin:bookings_booking_phone_customers")
CHANGELIST = reverse("admin:bookings_booking_changelist")


def _day(station, days=10):
    return local_today(station) + timedelta(days=days)


def _form(station, **overrides):
    return {
        "station": station.pk,
        "event_date": _day(station).isoformat(),
        "adults": "12",
        "children": "2",
        "zip_code": "95112",
        "start_time": "17:00",
        "addons": ["gyoza", "edamame"],
        "phone": "408 555 0190",
        "email": "New.Caller@Example.com",
        "name": "New Caller",
        "line1": "12 Oak St",
        "line2": "",
        "city": "San Jose",
        "state": "ca",
        "notes": "Gate code 4411",
        "key": uuid.uuid4().hex,
        **overrides,
    }


# --- Who may --------------------------------------------------------------------------------


def test_the_booking_list_offers_new_booking_to_those_who_take_bookings(
    client, san_jose, sj_agent, sj_chef
):
    client.force_login(sj_agent)
    assert PHONE in client.get(CHANGELIST).content.decode()
    client.force_login(sj_chef)
    assert PHONE not in client.get(CHANGELIST).content.decode()


def test_chefs_get_403_everywhere(client, san_jose, sj_chef):
    client.force_login(sj_chef)
    assert client.get(PHONE).status_code == 403
    assert client.post(PHONE, _form(san_jose)).status_code == 403
    assert client.get(PREVIEW, {"station": san_jose.pk}).status_code == 403
    assert client.get(CUSTOMERS, {"station": san_jose.pk}).status_code == 403
    assert not Booking.objects.exists()


def test_another_station_is_no_such_station(client, san_jose, sacramento, sj_agent):
    CustomerFactory(station=sacramento, phone="+19165550111")
    client.force_login(sj_agent)

    assert client.get(PREVIEW, {"station": sacramento.pk, "date": "2030-01-01"}).status_code == 404
    lookup = client.get(CUSTOMERS, {"station": sacramento.pk, "phone": "916 555 0111"})
    assert lookup.status_code == 404
    answer = client.post(PHONE, _form(sacramento, zip_code="95814", city="Sacramento"))
    assert answer.status_code == 200
    assert "No such station" in answer.content.decode()
    assert not Booking.objects.exists()


# --- The page's reads -----------------------------------------------------------------------


def test_preview_gives_free_slots_and_a_quote_in_dollars(client, san_jose, sj_agent):
    client.force_login(sj_agent)
    query = {
        "station": san_jose.pk,
        "date": _day(san_jose).isoformat(),
        "adults": 14,
        "children": 0,
        "zip": "95112",
        "addons": ["gyoza", "edamame"],
    }

    data = client.get(PREVIEW, query).json()

    starts = [slot["start"] for slot in data["slots"]]
    assert "17:00" in starts
    assert starts == sorted(starts)
    quote = data["quote"]
    labels = [line["label"] for line in quote["lines"]]
    assert labels[:1] == ["Adult"]
    assert "Gyoza (12 pieces)" in labels
    assert quote["lines"][0]["amount"].startswith("$")
    assert quote["total"].startswith("$")
    assert quote["deposit"].startswith("$")
    assert "_cents" not in str(data)


def test_preview_explains_what_is_missing(client, san_jose, sj_agent):
    client.force_login(sj_agent)
    base = {"station": san_jose.pk, "adults": 10}
    assert client.get(PREVIEW, base).json()["slots_error"] == "Pick a date."
    data = client.get(PREVIEW, {**base, "date": _day(san_jose).isoformat(), "zip": "10001"}).json()
    assert "We don't serve ZIP code 10001" in data["quote_error"]
    too_many = {**base, "date": _day(san_jose).isoformat(), "adults": 500}
    assert "Parties of 1 to" in client.get(PREVIEW, too_many).json()["slots_error"]


def test_customer_lookup_matches_a_phone_typed_any_way(client, san_jose, sj_agent):
    known = CustomerFactory(station=san_jose, name="Mia Known", phone="+14085550190")
    make_booking(san_jose, customer=known)
    client.force_login(sj_agent)

    matches = client.get(CUSTOMERS, {"station": san_jose.pk, "phone": "(408) 555-0190"}).json()

    assert matches["matches"] == [
        {
            "choice": f"use:{known.pk}",
            "name": "Mia Known",
            "phone": "+14085550190",
            "email": known.email,
            "bookings": 1,
            "last_event": _day(san_jose).isoformat(),
        }
    ]


# --- Creating -------------------------------------------------------------------------------


def test_agent_takes_a_booking_for_a_new_customer(client, san_jose, sj_agent):
    client.force_login(sj_agent)
    before = timezone.now()

    answer = client.post(PHONE, _form(san_jose))

    booking = Booking.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:bookings_booking_change", args=[booking.pk])
    assert booking.source == BookingSource.STAFF
    assert booking.status == BookingStatus.PENDING_DEPOSIT
    assert (booking.adults, booking.children) == (12, 2)
    assert booking.addon_codes == ["edamame", "gyoza"] or booking.addon_codes == [
        "gyoza",
        "edamame",
    ]
    assert booking.customer.phone == "+14085550190"
    assert booking.customer.email == "new.caller@example.com"
    assert (booking.state, booking.notes) == ("CA", "Gate code 4411")
    assert booking.payments.filter(kind="deposit").exists()  # the deposit intent, as the API
    hold = booking.hold_expires_at - before
    assert timedelta(minutes=san_jose.staff_hold_minutes - 1) < hold
    assert hold <= timedelta(minutes=san_jose.staff_hold_minutes, seconds=5)
    created = BookingEvent.objects.get(booking=booking, reason="created")
    assert created.actor == sj_agent
    follow = client.get(answer["Location"])
    assert f"Booking {booking.reference} created" in follow.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"phone": "555"}, "phone", "Enter a valid phone number"),
        ({"start_time": ""}, "start_time", "Pick a start time"),
        ({"zip_code": "10001"}, "zip_code", "Outside the service area"),
        ({"start_time": "17:10"}, "start_time", "every 30 minutes"),
        ({"adults": "0"}, "adults", "greater than or equal to 1"),
    ],
)
def test_bad_input_is_a_form_error_and_books_nothing(
    client, san_jose, sj_agent, overrides, field, message
):
    client.force_login(sj_agent)

    answer = client.post(PHONE, _form(san_jose, **overrides))

    assert answer.status_code == 200
    assert message in str(answer.context["form"].errors.get(field))
    assert not Booking.objects.exists()


def test_a_slot_taken_meanwhile_is_a_form_error(client, san_jose, sj_agent):
    for _chef in san_jose.chefs.filter(active=True):
        make_booking(san_jose, start="17:00")
    client.force_login(sj_agent)

    answer = client.post(PHONE, _form(san_jose))

    assert answer.status_code == 200
    assert "That time was just taken" in answer.content.decode()
    assert not Booking.objects.filter(source=BookingSource.STAFF).exists()


def test_an_existing_customer_is_used_only_when_staff_say_so(client, san_jose, sj_agent):
    known = CustomerFactory(station=san_jose, name="Mia Known", phone="+14085550190")
    client.force_login(sj_agent)

    undecided = client.post(PHONE, _form(san_jose, name="Someone Else"))
    assert "Existing customer found (Mia Known)" in undecided.content.decode()
    same_phone_new = client.post(PHONE, _form(san_jose, customer_choice="new"))
    assert "enter a different phone and e-mail" in same_phone_new.content.decode()
    assert not Booking.objects.exists()

    used = client.post(
        PHONE, _form(san_jose, name="Someone Else", customer_choice=f"use:{known.pk}")
    )

    assert used.status_code == 302
    booking = Booking.objects.get()
    assert booking.customer == known
    known.refresh_from_db()
    assert known.name == "Mia Known"  # never overwritten from the phone form
    assert known.email  # the factory's, kept (the typed one was another)
    assert Customer.objects.filter(station=san_jose).count() == 1
    note = BookingEvent.objects.get(booking=booking, reason__startswith="contact given")
    assert note.data["given"]["name"] == "Someone Else"


def test_create_new_with_a_different_phone_and_email(client, san_jose, sj_agent):
    CustomerFactory(station=san_jose, name="Mia Known", phone="+14085550190")
    client.force_login(sj_agent)

    answer = client.post(
        PHONE,
        _form(san_jose, phone="408 555 0191", email="other@example.com", customer_choice="new"),
    )

    assert answer.status_code == 302
    assert Booking.objects.get().customer.name == "New Caller"


# --- The staff hold -------------------------------------------------------------------------


def test_staff_api_bookings_get_the_staff_hold_and_online_ones_the_online_hold(
    san_jose, sj_agent, staff_client, api_client
):
    san_jose.hold_minutes, san_jose.staff_hold_minutes = 30, 600
    san_jose.save()
    before = timezone.now()

    staff = staff_client(sj_agent).post(
        "/api/v1/staff/bookings/", booking_payload(san_jose), format="json"
    )
    online = api_client.post(
        "/api/v1/bookings/",
        booking_payload(
            san_jose,
            start="12:00",
            customer={"name": "B", "email": "b@example.com", "phone": "4085550177"},
        ),
        format="json",
    )

    assert staff.status_code == online.status_code == 201
    by_ref = {b.reference: b for b in Booking.objects.all()}
    staff_hold = by_ref[staff.json()["reference"]].hold_expires_at - before
    online_hold = by_ref[online.json()["reference"]].hold_expires_at - before
    assert timedelta(minutes=599) < staff_hold <= timedelta(minutes=600, seconds=5)
    assert timedelta(minutes=29) < online_hold <= timedelta(minutes=30, seconds=5)


def test_the_staff_hold_is_validated(san_jose):
    from django.core.exceptions import ValidationError

    san_jose.staff_hold_minutes = 1
    with pytest.raises(ValidationError) as refused:
        san_jose.full_clean()
    assert "staff_hold_minutes" in refused.value.message_dict


# --- Send deposit link ----------------------------------------------------------------------


def _link_url(booking):
    return reverse("admin:bookings_booking_deposit_link", args=[booking.pk])


def _send(client, booking, key="a1b2c3"):
    return client.post(_link_url(booking), {"key": key}, follow=True)


def test_deposit_link_emails_a_new_link_and_the_old_one_stops_working(
    client, san_jose, sj_agent, django_capture_on_commit_callbacks
):
    booking = make_booking(san_jose)
    old_token = booking.manage_token
    client.force_login(sj_agent)
    assert "Send deposit link" in client.get(_link_url(booking)).content.decode()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        answer = _send(client, booking)

    assert "Deposit link e-mailed to" in answer.content.decode()
    [message] = mail.outbox
    assert message.to == [booking.customer.email]
    token = re.search(rf"/booking/{booking.reference}#token=([-\w]+)", message.body).group(1)
    booking.refresh_from_db()
    assert services.token_matches(booking, token)
    assert not services.token_matches(booking, old_token)
    assert "$100.00" in message.body
    note = BookingEvent.objects.filter(booking=booking, reason__startswith="deposit link")
    assert note.get().actor == sj_agent


def test_a_double_click_sends_one_link(
    client, san_jose, sj_agent, django_capture_on_commit_callbacks
):
    booking = make_booking(san_jose)
    client.force_login(sj_agent)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        _send(client, booking, key="same")
        again = _send(client, booking, key="same")

    assert len(mail.outbox) == 1
    assert "already sent" in again.content.decode()
    token = re.search(r"#token=([-\w]+)", mail.outbox[0].body).group(1)
    booking.refresh_from_db()
    assert services.token_matches(booking, token)  # the repeat did not rotate it again


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda b: Customer.objects.filter(pk=b.customer_id).update(email=""), "no e-mail"),
        (
            lambda b: Customer.objects.filter(pk=b.customer_id).update(email_opt_in=False),
            "opted out",
        ),
        (
            lambda b: services.booking_transition(
                booking=b, to_status="confirmed", actor=services.SYSTEM
            ),
            "not waiting for a deposit",
        ),
    ],
)
def test_deposit_link_is_refused_with_the_reason(client, san_jose, sj_agent, setup, reason):
    booking = make_booking(san_jose)
    setup(booking)
    client.force_login(sj_agent)
    mail.outbox.clear()

    assert reason in client.get(_link_url(booking)).content.decode()
    answer = _send(client, booking)

    assert reason in answer.content.decode()
    assert not booking.notifications.exists()
    with pytest.raises(ApiError):
        services.booking_send_deposit_link(booking=booking, actor=services.SYSTEM, request_key="k")


def test_deposit_link_roles_and_scoping(client, san_jose, sacramento, sj_chef, sj_agent):
    mine, theirs = make_booking(san_jose), make_booking(sacramento)
    client.force_login(sj_chef)
    assert client.post(_link_url(mine), {"key": "k"}).status_code == 403
    client.force_login(sj_agent)
    assert client.get(_link_url(theirs)).status_code == 404
    assert client.post(_link_url(theirs), {"key": "k"}).status_code == 404
    assert not mine.notifications.exists()
    assert not theirs.notifications.exists()


def test_payment_tools_follow_the_role(rf, san_jose, sj_agent, sj_manager, sj_chef):
    from django.contrib import admin

    booking = make_booking(san_jose)
    booking_admin = admin.site._registry[Booking]

    def labels(user):
        request = rf.get("/")
        request.user = user
        return [tool["label"] for tool in booking_admin.payment_tools(request, booking)]

    assert labels(sj_manager) == ["Send deposit link", "Record a payment taken outside Stripe"]
    assert labels(sj_agent) == ["Send deposit link"]
    assert labels(sj_chef) == []
