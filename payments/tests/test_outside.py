"""Money taken outside Stripe (payments.outside): counted like any other payment, confirms a
pending booking at its deposit, refused when it makes no sense, and never refunded by Stripe;
and the admin form that records it (roles, dollars, scoping)."""

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import BookingEvent, BookingStatus
from config.exceptions import ApiError
from payments import refunds
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.outside import payment_record_outside
from testing.factories import PaymentFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]


def _record(booking, user, amount, **overrides):
    fields = {
        "booking": booking,
        "amount_cents": amount,
        "method": PaymentMethod.CASH,
        "taken_by": "Chef Kenji",
        "received_at": timezone.now(),
        "note": "deposit in cash at the door",
        "actor": services.Actor.of(user),
        "request_key": uuid.uuid4().hex,
    }
    return payment_record_outside(**{**fields, **overrides})


def test_cash_deposit_confirms_the_booking_and_counts_as_paid(
    san_jose, sj_manager, django_capture_on_commit_callbacks
):
    booking = make_booking(san_jose)
    stripe_deposit = PaymentFactory(booking=booking)  # the open Stripe intent
    assert booking.status == BookingStatus.PENDING_DEPOSIT

    with django_capture_on_commit_callbacks(execute=True):
        payment = _record(booking, sj_manager, booking.deposit_cents)

    booking.refresh_from_db()
    assert payment.succeeded
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.method == PaymentMethod.CASH
    assert payment.recorded_by == sj_manager
    assert booking.amount_paid_cents == booking.deposit_cents
    assert booking.balance_due_cents == booking.total_cents - booking.deposit_cents
    assert booking.status == BookingStatus.CONFIRMED
    history = list(BookingEvent.objects.filter(booking=booking).values_list("reason", "actor"))
    assert any("taken by Chef Kenji (cash)" in r and a == sj_manager.pk for r, a in history)
    assert any(r == "deposit paid" for r, _ in history)
    # The Stripe deposit intent it replaced is withdrawn once this commits.
    stripe_deposit.refresh_from_db()
    assert stripe_deposit.status == PaymentStatus.CANCELED


def test_part_of_the_deposit_in_cash_leaves_the_booking_pending(san_jose, sj_manager):
    booking = make_booking(san_jose)

    _record(booking, sj_manager, booking.deposit_cents - 1)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING_DEPOSIT
    assert booking.amount_paid_cents == booking.deposit_cents - 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount_cents": 0}, "amount_cents"),
        ({"amount_cents": -100}, "amount_cents"),
        ({"method": PaymentMethod.STRIPE}, "method"),
        ({"note": "  "}, "note"),
        ({"taken_by": ""}, "taken_by"),
        ({"received_at": timezone.now() + timedelta(days=1)}, "received_at"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(san_jose, sj_manager, overrides, field):
    booking = make_booking(san_jose)
    with pytest.raises(ApiError) as refused:
        _record(booking, sj_manager, 5_000, **overrides)
    assert field in refused.value.fields
    assert not Payment.objects.filter(booking=booking).exists()


def test_more_than_the_balance_due_is_refused(san_jose, sj_manager):
    booking = make_booking(san_jose)
    with pytest.raises(ApiError) as refused:
        _record(booking, sj_manager, booking.total_cents + 1)
    assert "is due" in str(refused.value.detail)
    assert not Payment.objects.filter(booking=booking).exists()


def test_a_cancelled_booking_takes_no_cash(san_jose, sj_manager):
    booking = make_booking(san_jose, status=BookingStatus.CANCELLED)
    with pytest.raises(ApiError) as refused:
        _record(booking, sj_manager, 1_000)
    assert refused.value.status_code == 409
    assert not Payment.objects.filter(booking=booking).exists()


def test_stripe_cannot_refund_cash(san_jose, sj_manager, owner):
    booking = make_booking(san_jose)
    payment = _record(booking, sj_manager, booking.deposit_cents)

    with pytest.raises(ApiError) as refused:
        refunds.payment_refund(
            payment=payment,
            amount_cents=1_000,
            idempotency_key="k1",
            actor=services.Actor.of(owner),
        )
    assert refused.value.error_code == "refund_outside_stripe"
    assert "by hand" in str(refused.value.detail)
    assert not payment.refunds.exists()


def test_cancelling_a_booking_paid_in_cash_notes_the_refund_to_make_by_hand(san_jose, sj_manager):
    booking = make_booking(san_jose, days=30)
    _record(booking, sj_manager, booking.deposit_cents)
    booking.refresh_from_db()

    booking, _terms, made = refunds.booking_cancel_with_refund(
        booking=booking, actor=services.Actor.of(sj_manager)
    )

    assert made == []  # nothing went to Stripe
    notes = BookingEvent.objects.filter(booking=booking).values_list("reason", flat=True)
    assert any("refund by hand" in note for note in notes)


# --- The admin form ---------------------------------------------------------------------------


def _url(booking):
    return reverse("admin:bookings_booking_record_payment", args=[booking.pk])


def _form(**overrides):
    # Typed in the station's time (the admin reads it in the booking's zone).
    local = timezone.localtime(timezone=ZoneInfo("America/Los_Angeles")).strftime("%Y-%m-%dT%H:%M")
    return {
        "amount_cents": "100.00",
        "method": "cash",
        "taken_by": "Chef Kenji Tanaka",
        "received_at": local,
        "note": "deposit at the tasting",
        "key": uuid.uuid4().hex,
        **overrides,
    }


def test_manager_records_cash_in_dollars(client, san_jose, sj_manager):
    booking = make_booking(san_jose)
    client.force_login(sj_manager)
    page = client.get(_url(booking))
    assert page.status_code == 200
    assert "Chef Kenji Tanaka" in page.content.decode()

    answer = client.post(_url(booking), _form(amount_cents="$1,00.5"), follow=True)

    payment = Payment.objects.get(booking=booking)
    assert payment.amount_cents == 10_050  # "$1,00.5" typed: 100.50 dollars
    assert payment.taken_by == "Chef Kenji Tanaka"
    assert "recorded" in answer.content.decode()


def test_the_time_received_is_read_in_the_station_s_zone(client, san_jose, sj_manager):
    booking = make_booking(san_jose)
    client.force_login(sj_manager)

    client.post(_url(booking), _form(received_at="2026-01-15T18:30"))

    received = Payment.objects.get(booking=booking).received_at
    assert received.isoformat() == "2026-01-16T02:30:00+00:00"  # 6:30 p.m. PST


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "Enter at least"),
        ("-5", "Enter at least"),
        ("10.005", "at most two decimals"),
        ("ten", "Enter an amount"),
        ("999999", "is due on this booking"),
    ],
)
def test_bad_amounts_are_form_errors(client, san_jose, sj_manager, amount, message):
    booking = make_booking(san_jose)
    client.force_login(sj_manager)

    answer = client.post(_url(booking), _form(amount_cents=amount))

    assert answer.status_code == 200
    assert message in answer.content.decode()
    assert not Payment.objects.filter(booking=booking).exists()


def test_agents_and_chefs_cannot_record_money(client, san_jose, sj_agent, sj_chef):
    booking = make_booking(san_jose)
    for user in (sj_agent, sj_chef):
        client.force_login(user)
        assert client.post(_url(booking), _form()).status_code == 403
    assert not Payment.objects.filter(booking=booking).exists()


def test_another_station_s_booking_is_not_found(client, sacramento, sj_manager):
    booking = make_booking(sacramento)
    client.force_login(sj_manager)
    assert client.get(_url(booking)).status_code == 404
    assert client.post(_url(booking), _form()).status_code == 404
    assert not Payment.objects.filter(booking=booking).exists()


def test_cash_deposit_tells_the_customer_their_booking_is_confirmed(
    client, san_jose, sj_manager, django_capture_on_commit_callbacks
):
    booking = make_booking(san_jose)
    client.force_login(sj_manager)
    mail.outbox.clear()
    deposit = f"{booking.deposit_cents / 100:.2f}"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(booking), _form(amount_cents=deposit))

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert [m.to for m in mail.outbox] == [[booking.customer.email]]
    assert "confirmed" in mail.outbox[0].body


def test_a_time_in_the_repeated_hour_is_its_first_occurrence_and_a_skipped_one_refused(
    client, san_jose, sj_manager
):
    """2026-11-01 01:30 happens twice in Los Angeles (clocks fall back at 02:00 PDT): it is read
    as the first, 08:30 UTC; 2027-03-14 02:30 never happens there and is refused."""
    booking = make_booking(san_jose)
    client.force_login(sj_manager)

    client.post(_url(booking), _form(received_at="2026-11-01T01:30"))
    assert Payment.objects.get(booking=booking).received_at.isoformat() == (
        "2026-11-01T08:30:00+00:00"
    )

    other = make_booking(san_jose, days=11)
    answer = client.post(_url(other), _form(received_at="2026-03-08T02:30"))
    assert answer.status_code == 200
    assert not Payment.objects.filter(booking=other).exists()
