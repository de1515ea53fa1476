"""The factories make only rows the site itself would make: a booking as booking_create makes it
(priced in cents by the quote engine, in the station's time zone, with a free chef of the
station), a payment in its booking's currency whose booking totals are the sums of its payments."""

from datetime import UTC, date, datetime, time

import pytest

from bookings import pricing, scheduling
from bookings.models import BookingStatus
from payments.models import PaymentKind, PaymentStatus
from stations.models import Chef
from testing.factories import BookingFactory, CustomerFactory, PaymentFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

BOOKED = datetime(2027, 3, 1, 20, 0, tzinfo=UTC)
SATURDAY = date(2027, 3, 20)


def test_a_booking_is_the_one_booking_create_makes(san_jose):
    booking = make_booking(
        san_jose, event_date=SATURDAY, start="18:00", adults=12, addon_codes=["gyoza"], now=BOOKED
    )

    quote = pricing.quote(
        station=san_jose,
        event_date=SATURDAY,
        adults=12,
        children=0,
        zip_code=booking.zip_code,
        addon_codes=["gyoza"],
    )
    assert (booking.currency, booking.total_cents, booking.deposit_cents) == (
        quote.currency,
        quote.total_cents,
        quote.deposit_cents,
    )
    assert booking.starts_at == scheduling.local_instant(san_jose, SATURDAY, time(18, 0))
    assert booking.starts_at == datetime(2027, 3, 21, 1, 0, tzinfo=UTC)  # 18:00 PDT
    assert booking.chef.station_id == booking.customer.station_id == san_jose.pk
    assert booking.status == BookingStatus.PENDING_DEPOSIT
    assert booking.events.count() == 1
    assert booking.manage_token


def test_each_booking_has_its_own_customer_unless_one_is_given(san_jose):
    first, second = make_booking(san_jose), make_booking(san_jose)
    again = make_booking(san_jose, days=11, customer=first.customer)

    assert first.customer_id != second.customer_id
    assert again.customer_id == first.customer_id
    assert first.customer.name not in second.customer.name


def test_a_customer_the_service_cannot_find_is_refused(san_jose):
    nameless = CustomerFactory(station=san_jose, email="", phone="")
    with pytest.raises(ValueError, match="e-mail or phone"):
        make_booking(san_jose, customer=nameless)


def test_the_chef_and_the_status_are_reached_through_the_services(san_jose):
    last_chef = Chef.objects.filter(station=san_jose).order_by("pk").last()

    confirmed = make_booking(san_jose, chef=last_chef, status="confirmed")
    cancelled = make_booking(san_jose, status="cancelled")

    assert confirmed.chef == last_chef
    history = [(e.reason, e.to_status) for e in confirmed.events.order_by("pk")]
    assert history == [
        ("created", "pending_deposit"),
        ("chef reassigned", "pending_deposit"),
        ("", "confirmed"),
    ]
    assert cancelled.status == BookingStatus.CANCELLED
    with pytest.raises(ValueError, match="with the services"):
        make_booking(san_jose, status="completed")


def test_money_totals_are_kept_within_the_rules(san_jose):
    booking = make_booking(san_jose, paid_cents=30_000, refunded_cents=5_000)
    assert (booking.amount_paid_cents, booking.amount_refunded_cents) == (30_000, 5_000)
    with pytest.raises(ValueError, match="refunded_cents"):
        make_booking(san_jose, paid_cents=1_000, refunded_cents=2_000)


def test_a_booking_is_never_built_unsaved(san_jose):
    with pytest.raises(NotImplementedError):
        BookingFactory.build(station=san_jose)


def test_a_payment_is_in_its_bookings_currency_for_what_it_asks(san_jose):
    booking = make_booking(san_jose)

    deposit = PaymentFactory(booking=booking)
    paid = PaymentFactory(booking=make_booking(san_jose), paid=True)

    assert (deposit.kind, deposit.amount_cents, deposit.currency, deposit.status) == (
        PaymentKind.DEPOSIT,
        booking.deposit_cents,
        booking.currency,
        PaymentStatus.PENDING,
    )
    paid.booking.refresh_from_db()
    assert paid.status == PaymentStatus.SUCCEEDED
    assert paid.booking.amount_paid_cents == paid.amount_cents == paid.booking.deposit_cents
    balance = PaymentFactory(booking=paid.booking, kind=PaymentKind.BALANCE)
    assert balance.amount_cents == paid.booking.total_cents - paid.booking.deposit_cents
