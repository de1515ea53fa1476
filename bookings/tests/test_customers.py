"""One person is one customer per station: bookings match them by e-mail or phone, in one
statement inside the booking's transaction, correct under concurrency."""

import pytest

from bookings import services
from bookings.models import Booking, Customer
from bookings.tests.helpers import booking_payload
from bookings.tests.test_staff_api import make_booking
from config.tests.live import storm

pytestmark = pytest.mark.django_db


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
    existing = make_booking(san_jose, days=10, n=1)
    field = Booking._meta.get_field("reference")
    references = iter([existing.reference, "MH-ZZZZZ1"])
    monkeypatch.setattr(field, "_get_default", lambda: next(references))  # new instances
    monkeypatch.setattr(field, "default", lambda: next(references))  # the retry
    again = make_booking(san_jose, days=11, n=2)
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
