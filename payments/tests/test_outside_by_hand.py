"""Money taken or given back outside Stripe, sent twice: the admin's "Record a payment taken
outside Stripe" form acts once per showing (payments.outside is idempotent on its one-time
key), and "Record a refund given by hand" records cash given back after a cancellation."""

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import BookingEvent, BookingStatus
from config.exceptions import ApiError
from payments import refunds
from payments.models import Payment, PaymentMethod, Refund, RefundStatus
from payments.outside import payment_record_outside, payment_refund_outside
from testing.factories import PaymentFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]


def _record(booking, user, amount, key=None):
    return payment_record_outside(
        booking=booking,
        amount_cents=amount,
        method=PaymentMethod.CASH,
        taken_by="Chef Kenji",
        received_at=timezone.now(),
        note="deposit in cash at the door",
        actor=services.Actor.of(user),
        request_key=key or uuid.uuid4().hex,
    )


def _payment_form(key, **overrides):
    local = timezone.localtime(timezone=ZoneInfo("America/Los_Angeles")).strftime("%Y-%m-%dT%H:%M")
    return {
        "amount_cents": "100.00",
        "method": "cash",
        "taken_by": "Chef Kenji Tanaka",
        "received_at": local,
        "note": "deposit at the tasting",
        "key": key,
        **overrides,
    }


def _shown_key(page) -> str:
    return re.search(r'name="key" value="([0-9a-f]+)"', page.content.decode()).group(1)


# --- Recording a payment twice --------------------------------------------------------------


def test_the_same_payment_form_sent_twice_records_one_payment(client, san_jose, sj_manager):
    booking = make_booking(san_jose)
    url = reverse("admin:bookings_booking_record_payment", args=[booking.pk])
    client.force_login(sj_manager)
    key = _shown_key(client.get(url))
    form = _payment_form(key)

    first = client.post(url, form, follow=True)
    again = client.post(url, form, follow=True)

    assert Payment.objects.filter(booking=booking).count() == 1
    booking.refresh_from_db()
    assert booking.amount_paid_cents == 10_000
    assert booking.balance_due_cents == booking.total_cents - 10_000
    assert "recorded. Balance due now" in first.content.decode()
    assert "already recorded from this form; nothing recorded again" in again.content.decode()


def test_the_same_key_is_one_payment_even_when_the_balance_moved(san_jose, sj_manager):
    booking = make_booking(san_jose)
    big = booking.total_cents - 100  # a second one would be more than is now due

    first = _record(booking, sj_manager, big, key="k1")
    again = _record(booking, sj_manager, big, key="k1")
    other = _record(booking, sj_manager, 100, key="k2")

    assert again.pk == first.pk
    assert other.pk != first.pk
    booking.refresh_from_db()
    assert booking.amount_paid_cents == booking.total_cents
    # The key is stored as an HMAC, never as typed.
    assert "k1" not in first.stripe_payment_intent_id


def test_a_payment_form_without_its_key_records_nothing_and_gets_a_new_one(
    client, san_jose, sj_manager
):
    booking = make_booking(san_jose)
    url = reverse("admin:bookings_booking_record_payment", args=[booking.pk])
    client.force_login(sj_manager)

    for key in ("", "not a key\x00"):
        answer = client.post(url, _payment_form(key))
        assert "This form had expired" in answer.content.decode()
        assert _shown_key(answer)
    assert not Payment.objects.filter(booking=booking).exists()


# --- Refunds given by hand ------------------------------------------------------------------


def _cancelled_after_cash(booking, user):
    payment = _record(booking, user, booking.deposit_cents)
    booking.refresh_from_db()
    booking, _terms, made = refunds.booking_cancel_with_refund(
        booking=booking, actor=services.Actor.of(user)
    )
    assert made == []  # Stripe cannot refund cash: "refund by hand" is noted
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.net_paid_cents == payment.amount_cents  # the money still shows as held
    return booking, payment


def _refund_url(booking):
    return reverse("admin:bookings_booking_refund_by_hand", args=[booking.pk])


def _tool_labels(client, booking):
    page = client.get(reverse("admin:bookings_booking_change", args=[booking.pk]))
    return page.content.decode()


def test_cash_given_back_after_a_cancellation_clears_the_money_held(client, san_jose, sj_manager):
    booking, payment = _cancelled_after_cash(make_booking(san_jose, days=30), sj_manager)
    client.force_login(sj_manager)
    assert "Record a refund given by hand" in _tool_labels(client, booking)
    page = client.get(_refund_url(booking))
    amount = f"{payment.amount_cents / 100:.2f}"

    answer = client.post(
        _refund_url(booking),
        {
            "key": _shown_key(page),
            "payment": payment.pk,
            "amount_cents": amount,
            "note": "cash returned at the office",
        },
        follow=True,
    )

    assert "given back by hand recorded" in answer.content.decode()
    refund = Refund.objects.get(payment=payment)
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.amount_cents == payment.amount_cents
    assert not refund.stripe_refund_id
    assert refund.requested_by == sj_manager
    booking.refresh_from_db()
    assert booking.amount_refunded_cents == payment.amount_cents
    assert booking.net_paid_cents == 0
    payment.refresh_from_db()
    assert payment.amount_refunded_cents == payment.amount_cents
    history = BookingEvent.objects.filter(booking=booking).values_list("reason", "actor")
    assert any("given back by hand recorded" in r and a == sj_manager.pk for r, a in history)
    # Nothing is left to give back: the tool is gone.
    assert "Record a refund given by hand" not in _tool_labels(client, booking)


def test_the_same_refund_form_sent_twice_records_one_refund(client, san_jose, owner):
    booking, payment = _cancelled_after_cash(make_booking(san_jose, days=30), owner)
    client.force_login(owner)
    form = {
        "key": _shown_key(client.get(_refund_url(booking))),
        "payment": payment.pk,
        "amount_cents": "10.00",
        "note": "part of the deposit in cash",
    }

    client.post(_refund_url(booking), form)
    again = client.post(_refund_url(booking), form, follow=True)

    assert Refund.objects.filter(payment=payment).count() == 1
    booking.refresh_from_db()
    assert booking.amount_refunded_cents == 1_000
    assert "already recorded from this form" in again.content.decode()


def test_more_than_is_refundable_is_refused(client, san_jose, sj_manager):
    _booking, payment = _cancelled_after_cash(make_booking(san_jose, days=30), sj_manager)
    actor = services.Actor.of(sj_manager)

    with pytest.raises(ApiError) as refused:
        payment_refund_outside(
            payment=payment,
            amount_cents=payment.amount_cents + 1,
            note="too much",
            actor=actor,
            request_key="r1",
        )
    assert "amount_cents" in refused.value.fields
    whole = payment.amount_cents
    payment_refund_outside(
        payment=payment, amount_cents=whole, note="all", actor=actor, request_key="r2"
    )
    with pytest.raises(ApiError):
        payment_refund_outside(
            payment=payment, amount_cents=1, note="again", actor=actor, request_key="r3"
        )
    assert Refund.objects.filter(payment=payment).count() == 1

    # Through the form: the error on the field, nothing written.
    client.force_login(sj_manager)
    other_booking, other = _cancelled_after_cash(make_booking(san_jose, days=31), sj_manager)
    answer = client.post(
        _refund_url(other_booking),
        {
            "key": uuid.uuid4().hex,
            "payment": other.pk,
            "amount_cents": f"{other.amount_cents / 100 + 1:.2f}",
            "note": "too much",
        },
    )
    assert answer.status_code == 200
    assert "can be given back" in answer.content.decode()
    assert not Refund.objects.filter(payment=other).exists()


def test_a_stripe_payment_is_not_refunded_by_hand(san_jose, owner):
    booking = make_booking(san_jose)
    card = PaymentFactory(booking=booking, paid=True)
    with pytest.raises(ApiError) as refused:
        payment_refund_outside(
            payment=card,
            amount_cents=100,
            note="x",
            actor=services.Actor.of(owner),
            request_key="k",
        )
    assert refused.value.status_code == 409
    assert "refund it there" in str(refused.value.detail)


def test_only_owners_and_managers_record_refunds_by_hand(client, san_jose, sj_manager, sj_agent):
    booking, _payment = _cancelled_after_cash(make_booking(san_jose, days=30), sj_manager)
    client.force_login(sj_agent)
    assert client.get(_refund_url(booking)).status_code == 403
    assert "Record a refund given by hand" not in _tool_labels(client, booking)


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_at_the_same_moment_records_one_payment(san_jose, sj_manager):
    booking = make_booking(san_jose)
    start = Barrier(6)

    def send(_):
        try:
            start.wait()
            return _record(booking, sj_manager, 2_000, key="same").pk
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(send, range(6)))

    assert len(ids) == 1
    booking.refresh_from_db()
    assert booking.amount_paid_cents == 2_000
    assert Payment.objects.filter(booking=booking).count() == 1
