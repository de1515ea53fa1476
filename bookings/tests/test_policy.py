"""
The cancellation and reschedule policy (bookings.policy) and the services that apply it.

San Jose's defaults: deposit kept when cancelling inside 72 hours, one free reschedule asked at
least 72 hours ahead, change fee 5000, fixed deposit 10000.
"""

import functools
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bookings import policy, services
from bookings.models import BookingEvent, BookingStatus, DepositKind
from bookings.scheduling import local_today
from testing.factories import make_booking

pytestmark = pytest.mark.date_sensitive

NOW = datetime(2027, 3, 1, 20, 0, tzinfo=UTC)
EVENT_DAY = date(2027, 3, 20)  # Saturday; 18:00 PDT is 2027-03-21 01:00Z
STARTS = datetime(2027, 3, 21, 1, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


# The booking under test: Saturday 2027-03-20 at 18:00 in San Jose, 12 adults, booked on NOW.
saturday_party = functools.partial(
    make_booking, event_date=EVENT_DAY, start=time(18, 0), adults=12, now=NOW
)


# --- Cancellation ----------------------------------------------------------------------------


def test_booking_under_test_starts_when_expected(san_jose):
    booking = saturday_party(san_jose)
    assert booking.starts_at == STARTS
    assert booking.deposit_cents == 10_000
    assert san_jose.deposit_forfeit_hours == 72


@pytest.mark.parametrize("before", [timedelta(days=15), timedelta(hours=100), timedelta(hours=72)])
def test_cancel_with_notice_refunds_everything_paid(san_jose, before):
    booking = saturday_party(san_jose, paid_cents=30_000)
    terms = policy.cancellation_terms(booking, now=STARTS - before)
    assert terms.rule == "full_refund"
    assert terms.refund_cents == 30_000
    assert terms.forfeit_cents == 0
    assert terms.hours_before == int(before.total_seconds() // 3600)


@pytest.mark.parametrize(
    "before", [timedelta(hours=72) - SECOND, timedelta(hours=24), timedelta(minutes=5)]
)
def test_cancel_inside_the_window_keeps_the_deposit(san_jose, before):
    booking = saturday_party(san_jose, paid_cents=30_000)
    terms = policy.cancellation_terms(booking, now=STARTS - before)
    assert terms.rule == "deposit_forfeited"
    assert terms.forfeit_cents == 10_000
    assert terms.refund_cents == 20_000
    assert terms.hours_before < 72


def test_cancel_inside_the_window_with_only_part_of_the_deposit_paid(san_jose):
    booking = saturday_party(san_jose, paid_cents=4_000)
    terms = policy.cancellation_terms(booking, now=STARTS - timedelta(hours=10))
    assert (terms.refund_cents, terms.forfeit_cents) == (0, 4_000)


def test_cancel_with_nothing_paid(san_jose):
    booking = saturday_party(san_jose)
    early = policy.cancellation_terms(booking, now=NOW)
    late = policy.cancellation_terms(booking, now=STARTS - timedelta(hours=1))
    assert (early.refund_cents, early.forfeit_cents) == (0, 0)
    assert (late.refund_cents, late.forfeit_cents) == (0, 0)


def test_cancel_counts_what_was_already_refunded(san_jose):
    booking = saturday_party(san_jose, paid_cents=30_000, refunded_cents=5_000)
    early = policy.cancellation_terms(booking, now=NOW)
    late = policy.cancellation_terms(booking, now=STARTS - timedelta(hours=1))
    assert early.refund_cents == 25_000
    assert (late.refund_cents, late.forfeit_cents) == (15_000, 10_000)


def test_cancel_forfeits_the_bookings_own_deposit(san_jose):
    prices = san_jose.price_list
    prices.deposit_kind = DepositKind.PERCENT
    prices.deposit_bp = 5_000
    prices.save()
    booking = saturday_party(san_jose, paid_cents=80_000)
    assert booking.deposit_cents == (booking.total_cents * 5_000 + 5_000) // 10_000
    terms = policy.cancellation_terms(booking, now=STARTS - timedelta(hours=1))
    assert terms.forfeit_cents == booking.deposit_cents
    assert terms.refund_cents == 80_000 - booking.deposit_cents


def test_forfeit_window_is_a_station_setting(san_jose):
    san_jose.deposit_forfeit_hours = 24
    san_jose.save()
    booking = saturday_party(san_jose, paid_cents=30_000)
    assert policy.cancellation_terms(booking, now=STARTS - timedelta(hours=48)).rule == (
        "full_refund"
    )
    terms = policy.cancellation_terms(booking, now=STARTS - timedelta(hours=24) + SECOND)
    assert (terms.rule, terms.refund_cents) == ("deposit_forfeited", 20_000)


def test_booking_cancel_applies_and_records_the_terms(san_jose):
    booking = saturday_party(san_jose, paid_cents=30_000)
    now = STARTS - timedelta(hours=30)
    cancelled, terms = services.booking_cancel(
        booking=booking, actor=services.CUSTOMER, reason="rain", now=now
    )
    assert cancelled.status == BookingStatus.CANCELLED
    assert (terms.refund_cents, terms.forfeit_cents) == (20_000, 10_000)
    event = BookingEvent.objects.filter(booking=booking).order_by("pk").last()
    assert (event.from_status, event.to_status) == ("pending_deposit", "cancelled")
    assert event.actor_label == "customer"
    assert event.data["policy"] == {
        "hours_before": 30,
        "refund_cents": 20_000,
        "forfeit_cents": 10_000,
        "rule": "deposit_forfeited",
        "allowed": True,
    }


def test_self_service_link_shows_and_applies_the_same_policy(api_client, san_jose):
    day = local_today(san_jose) + timedelta(days=20)
    booking = saturday_party(san_jose, event_date=day, now=None, paid_cents=30_000)
    headers = {"HTTP_X_BOOKING_TOKEN": booking.manage_token}
    url = f"/api/v1/bookings/{booking.reference}/"

    shown = api_client.get(url, **headers).json()["policy"]
    expected = policy.cancellation_terms(booking).as_dict()
    assert shown["cancel"]["rule"] == expected["rule"] == "full_refund"
    assert shown["cancel"]["refund_cents"] == 30_000
    assert shown["reschedule"]["free"] is True

    r = api_client.post(f"{url}cancel", {"reason": "moving"}, format="json", **headers)
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "cancelled"
    event = BookingEvent.objects.filter(booking=booking, to_status="cancelled").get()
    assert event.data["policy"]["rule"] == "full_refund"
    assert event.data["policy"]["refund_cents"] == 30_000


# --- Reschedule ------------------------------------------------------------------------------


def test_first_reschedule_with_notice_is_free(san_jose):
    booking = saturday_party(san_jose)
    for before in (timedelta(days=10), timedelta(hours=72)):
        terms = policy.reschedule_terms(booking, now=STARTS - before)
        assert (terms.free, terms.fee_cents, terms.rule) == (True, 0, "free_reschedule")


def test_late_reschedule_costs_the_change_fee(san_jose):
    booking = saturday_party(san_jose)
    terms = policy.reschedule_terms(booking, now=STARTS - timedelta(hours=72) + SECOND)
    assert (terms.free, terms.fee_cents, terms.rule) == (False, 5_000, "change_fee")
    assert terms.hours_before == 71


def test_second_reschedule_costs_the_change_fee(san_jose):
    booking = saturday_party(san_jose)
    booking.reschedule_count = 1
    terms = policy.reschedule_terms(booking, now=NOW)
    assert (terms.free, terms.fee_cents, terms.rule) == (False, 5_000, "change_fee")


def test_change_fee_and_notice_come_from_station_data(san_jose):
    prices = san_jose.price_list
    prices.change_fee_cents = 7_500
    prices.save()
    san_jose.free_reschedule_notice_hours = 240
    san_jose.save()
    booking = saturday_party(san_jose)
    terms = policy.reschedule_terms(booking, now=STARTS - timedelta(hours=239))
    assert (terms.free, terms.fee_cents) == (False, 7_500)
    assert policy.reschedule_terms(booking, now=STARTS - timedelta(hours=240)).free is True


def test_booking_reschedule_charges_per_policy(san_jose):
    booking = saturday_party(san_jose, paid_cents=10_000)
    total = booking.total_cents

    moved, terms = services.booking_reschedule(
        booking=booking,
        event_date=date(2027, 3, 27),
        start_time=time(17, 0),
        actor=services.CUSTOMER,
        now=NOW,
    )
    assert terms["free"] is True
    assert (moved.reschedule_count, moved.fees_cents, moved.total_cents) == (1, 0, total)
    assert moved.event_date == date(2027, 3, 27)
    assert moved.amount_paid_cents == 10_000  # the payment stays on the booking

    moved, terms = services.booking_reschedule(
        booking=moved,
        event_date=date(2027, 4, 3),
        start_time=time(17, 0),
        actor=services.CUSTOMER,
        now=NOW,
    )
    assert (terms["free"], terms["fee_cents"], terms["rule"]) == (False, 5_000, "change_fee")
    moved.refresh_from_db()
    assert (moved.reschedule_count, moved.fees_cents) == (2, 5_000)
    assert moved.total_cents == total + 5_000
    assert moved.balance_due_cents == total + 5_000 - 10_000

    history = list(BookingEvent.objects.filter(booking=booking, reason="rescheduled"))
    assert [e.data["policy"]["fee_cents"] for e in history] == [0, 5_000]
    assert history[1].data["from"] == {"event_date": "2027-03-27", "start_time": "17:00"}
    assert history[1].data["to"] == {"event_date": "2027-04-03", "start_time": "17:00"}


def test_late_first_reschedule_is_charged(san_jose):
    booking = saturday_party(san_jose)
    total = booking.total_cents
    moved, terms = services.booking_reschedule(
        booking=booking,
        event_date=date(2027, 3, 27),
        start_time=time(17, 0),
        actor=services.CUSTOMER,
        now=STARTS - timedelta(hours=48),
    )
    assert terms["fee_cents"] == 5_000
    assert (moved.fees_cents, moved.total_cents) == (5_000, total + 5_000)
