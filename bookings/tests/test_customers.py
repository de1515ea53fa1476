"""One person is one customer per station: bookings match them by e-mail or phone, in one
statement inside the booking's transaction, correct under concurrency."""

import pytest

from bookings import services
from bookings.models import Booking, Customer
from bookings.tests.helpers import booking_payload
from config.tests.live import storm
from testing.factories import CustomerFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]


def upsert(station, **contact):
    return services.customer_upsert(station=station, **{"name": "Pat", **contact})


def test_a_new_person_is_a_new_customer(san_jose):
    made = upsert(san_jose, email=" Pat@Example.com ", phone="+14085550100", sms_opt_in=True)
    stored = Customer.objects.get(pk=made.pk)
    assert (stored.email, stored.phone, stored.sms_opt_in) == (
        "pat@example.com",
        "+14085550100",
        True,
    )
    assert (made.name, made.email, made.station_id) == ("Pat", "pat@example.com", san_jose.pk)
    assert (stored.email_opt_in, stored.marketing_opt_in, stored.do_not_contact) == (
        True,
        False,
        False,
    )


def test_matched_by_email_gets_the_new_name_and_the_phone_it_lacked(san_jose):
    first = upsert(san_jose, email="pat@example.com")
    again = upsert(san_jose, name="Pat Lee", email="PAT@example.com", phone="+14085550100")
    assert again.pk == first.pk
    stored = Customer.objects.get(pk=first.pk)
    assert (stored.name, stored.phone) == ("Pat Lee", "+14085550100")


def test_matched_by_phone_keeps_its_email_and_consent(san_jose):
    first = upsert(san_jose, email="pat@example.com", phone="+14085550100", sms_opt_in=True)
    again = upsert(san_jose, email="other@example.com", phone="+14085550100", sms_opt_in=False)
    assert again.pk == first.pk
    stored = Customer.objects.get(pk=first.pk)
    assert (stored.email, stored.sms_opt_in) == ("pat@example.com", True)  # never taken back


def test_email_wins_and_another_customers_phone_is_not_taken(san_jose):
    by_email = upsert(san_jose, email="pat@example.com")
    by_phone = upsert(san_jose, name="Sam", phone="+14085550100")
    found = upsert(san_jose, email="pat@example.com", phone="+14085550100")
    assert found.pk == by_email.pk
    assert Customer.objects.get(pk=by_email.pk).phone == ""  # still Sam's number
    assert Customer.objects.get(pk=by_phone.pk).phone == "+14085550100"
    assert Customer.objects.filter(station=san_jose).count() == 2


def test_stations_do_not_share_customers(san_jose, sacramento):
    one = upsert(san_jose, email="pat@example.com")
    other = upsert(sacramento, email="pat@example.com")
    assert one.pk != other.pk


def test_a_taken_reference_is_retried_with_a_new_one(san_jose, monkeypatch):
    existing = make_booking(san_jose, days=10)
    field = Booking._meta.get_field("reference")
    references = iter([existing.reference, "MH-ZZZZZ1"])
    monkeypatch.setattr(field, "_get_default", lambda: next(references))  # new instances
    monkeypatch.setattr(field, "default", lambda: next(references))  # the retry
    again = make_booking(san_jose, days=11)
    assert again.reference == "MH-ZZZZZ1"
    assert Booking.objects.filter(station=san_jose).count() == 2
    assert again.events.count() == 1
    assert Customer.objects.filter(station=san_jose).count() == 2


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_one_person_booking_many_times_at_once_is_one_customer(live_server, settings, san_jose):
    """Ten simultaneous bookings (different days) by one new person: ten bookings, one row."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "10000/min"}
    url = f"{live_server.url}/api/v1/bookings/"
    requests = []
    for n in range(10):
        body = booking_payload(san_jose, days=10 + n)
        body["customer"] = {**body["customer"], "email": "same@example.com"}
        requests.append((url, body, {}))

    results = storm(requests)

    assert [code for code, _ in results] == [201] * 10, results
    assert Customer.objects.filter(station=san_jose).count() == 1
    person = Customer.objects.get(station=san_jose)
    assert person.bookings.values("event_date").distinct().count() == 10


# --- The public booking form and a known contact (issue 9, point 11) ---------------------------

STORED = {
    "name": "Robin Original",
    "email": "robin@example.com",
    "phone": "+14085550177",
    "sms_opt_in": False,
}


@pytest.mark.parametrize("match_by", ["email", "EMAIL", "phone"])
@pytest.mark.parametrize("other", ["different", "same"])
@pytest.mark.parametrize("sms_opt_in", [True, False])
@pytest.mark.parametrize("name", ["Mallory Attacker", STORED["name"]])
def test_a_public_booking_never_reads_back_or_rewrites_a_known_customer(
    match_by, other, sms_opt_in, name, api_client, san_jose
):
    """Every way an anonymous request can match a stored customer (by e-mail in any case, or
    by phone) with the other contact different or the same: the answer shows only what was
    sent, and the stored customer is exactly as before."""
    known = CustomerFactory(station=san_jose, **STORED)
    sent = {"name": name, "sms_opt_in": sms_opt_in}
    key, other_key = ("phone", "email") if match_by == "phone" else ("email", "phone")
    sent[key] = STORED["email"].upper() if match_by == "EMAIL" else STORED[key]
    other_value = {"email": "mallory@example.net", "phone": "+14085550199"}[other_key]
    sent[other_key] = STORED[other_key] if other == "same" else other_value
    body = booking_payload(san_jose, customer=sent)

    response = api_client.post("/api/v1/bookings/", body, format="json")

    assert response.status_code == 201, response.json()
    shown = response.json()["customer"]
    assert shown["name"] == name
    assert shown["sms_opt_in"] is sms_opt_in
    if other != "same":
        assert STORED[other_key] not in str(response.json())
    known.refresh_from_db()
    assert {k: getattr(known, k) for k in STORED} == STORED
    booking = Booking.objects.get(reference=response.json()["reference"])
    assert booking.customer_id == known.pk
    # Staff see what differs, and the link shows the same as the create answer.
    token = response.json()["manage_token"]
    again = api_client.get(
        f"/api/v1/bookings/{booking.reference}/", HTTP_X_BOOKING_TOKEN=token
    ).json()
    assert again["customer"] == shown
    differs = name != STORED["name"] or other == "different" or sms_opt_in
    assert booking.contact_differs is differs


def test_staff_see_the_contact_given_and_can_apply_it(api_client, san_jose, client, sj_agent):
    known = CustomerFactory(station=san_jose, **STORED)
    sent = {"name": "Robin New", "email": STORED["email"], "phone": "+14085550111"}
    response = api_client.post(
        "/api/v1/bookings/", booking_payload(san_jose, customer=sent), format="json"
    )
    booking = Booking.objects.get(reference=response.json()["reference"])
    client.force_login(sj_agent)

    changes = client.post(
        "/admin/bookings/booking/",
        {"action": "apply_submitted_contact", "_selected_action": [booking.pk]},
    )

    assert changes.status_code == 302
    known.refresh_from_db()
    assert (known.name, known.email, known.phone) == ("Robin New", STORED["email"], "+14085550111")
    assert booking.events.filter(reason__contains="contact updated").exists()


def test_staff_taking_a_booking_by_phone_still_fill_in_what_the_customer_lacked(
    staff_client, sj_agent, san_jose
):
    known = CustomerFactory(station=san_jose, name="Pat", email="pat@example.com")
    body = booking_payload(
        san_jose, customer={"name": "Pat", "email": "pat@example.com", "phone": "+14085550123"}
    )

    response = staff_client(sj_agent).post("/api/v1/staff/bookings/", body, format="json")

    assert response.status_code == 201, response.json()
    known.refresh_from_db()
    assert known.phone == "+14085550123"
