"""
Issue 10, points 1, 5 and 6: a booking request that dies after committing, a cancellation racing
a payment, and a deposit paid just before its hold ended. Real concurrency where the defect
needs it (a live server and a stalling local Stripe; a second database connection in a thread).
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from bookings import services as booking_services
from bookings.models import Booking, BookingStatus
from bookings.tests.helpers import booking_payload, next_weekday
from config.tests.live import post_json
from config.tests.processes import wait_until
from payments import intents, ledger
from payments.models import PaymentKind, Refund
from payments.tests.conftest import (
    BOOKINGS,
    WEBHOOK,
    build_stripe_event,
    deposit_of,
    encode,
    stripe_signature,
)

SUCCEEDED = "payment_intent.succeeded"


# --- 1. One Idempotency-Key, one booking ------------------------------------------------------


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_retry_after_the_first_request_died_gets_the_same_booking(
    live_server, fake_stripe, san_jose, settings
):
    """The first request commits its booking, then hangs on Stripe; its claim goes stale; the
    retry with the same key gets that booking and a token that opens it, not a second one."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "10000/min"}
    san_jose.chefs.exclude(pk=san_jose.chefs.order_by("pk").first().pk).update(active=False)
    stall = threading.Event()
    fake_stripe.gates["/v1/customers"] = stall  # the first request's customer call hangs
    url = f"{live_server.url}{BOOKINGS}"
    body = booking_payload(san_jose, days=next_weekday(san_jose, 2))
    headers = {"Idempotency-Key": "retry-me-after-a-stall"}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post_json, url, body, headers)
        assert wait_until(Booking.objects.exists, 10)  # committed, then stuck on Stripe

        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61)):
            code, retried = post_json(url, body, headers)

        stall.set()
        first_code, first_answer = first.result(timeout=30)

    assert code == 201, retried  # not 409 for the slot its own first attempt holds
    assert Booking.objects.count() == 1
    booking = Booking.objects.get()
    assert retried["reference"] == booking.reference
    assert booking_services.token_matches(booking, retried["manage_token"])
    assert retried["payment"]["payment_intent"] == deposit_of(booking).stripe_payment_intent_id
    assert booking.payments.count() == 1
    # The first request, once unstuck, answers the same booking with the same token.
    assert first_code == 201, first_answer
    assert (first_answer["reference"], first_answer["manage_token"]) == (
        booking.reference,
        retried["manage_token"],
    )
    code, replayed = post_json(url, body, headers)
    assert (code, replayed["reference"]) == (201, booking.reference)


def test_a_booking_request_key_opens_only_its_own_booking(api_client, san_jose):
    """The manage token comes from the key: another key never finds this booking, and the
    same key with another body is 422 as before."""
    body = booking_payload(san_jose, days=next_weekday(san_jose, 2))
    first = api_client.post(BOOKINGS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-one")
    other = api_client.post(
        BOOKINGS,
        booking_payload(san_jose, days=next_weekday(san_jose, 3)),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-two",
    )
    assert (first.status_code, other.status_code) == (201, 201)
    assert first.json()["reference"] != other.json()["reference"]
    assert first.json()["manage_token"] != other.json()["manage_token"]
    reused = api_client.post(
        BOOKINGS, {**body, "notes": "changed"}, format="json", HTTP_IDEMPOTENCY_KEY="k-one"
    )
    assert reused.status_code == 422


# --- 5. A cancellation racing a payment -------------------------------------------------------


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_payment_landing_during_a_cancellation_is_not_kept(
    paid_booking, api_client, sj_manager, monkeypatch, settings
):
    """The customer cancels 10 days out (everything refunded) while the balance payment
    commits between the terms and the status change: the balance is not kept."""
    balance = intents.payment_request_balance(
        booking=paid_booking, actor=booking_services.Actor.of(sj_manager)
    )
    event = encode(build_stripe_event(SUCCEEDED, balance))
    done = threading.Event()

    def pay_the_balance():
        try:
            response = Client().post(
                WEBHOOK,
                data=event,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=stripe_signature(event, settings.STRIPE_WEBHOOK_SECRET),
            )
            assert response.status_code == 200
        finally:
            from django.db import connection

            connection.close()
            done.set()

    real_terms = booking_services.cancellation_terms

    def terms_then_a_payment_lands(booking, now=None):
        terms = real_terms(booking, now)
        threading.Thread(target=pay_the_balance).start()
        done.wait(timeout=2)  # with the row locked, the payment waits for the cancellation
        return terms

    monkeypatch.setattr(booking_services, "cancellation_terms", terms_then_a_payment_lands)

    response = api_client.post(
        f"{BOOKINGS}{paid_booking.reference}/cancel",
        {},
        format="json",
        HTTP_X_BOOKING_TOKEN=paid_booking.created["manage_token"],
    )

    assert response.status_code == 200
    assert done.wait(timeout=30)
    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CANCELLED
    assert paid_booking.amount_paid_cents == paid_booking.total_cents  # both payments landed
    assert paid_booking.amount_refunded_cents == paid_booking.amount_paid_cents  # none kept
    assert sum(Refund.objects.values_list("amount_cents", flat=True)) == paid_booking.total_cents


# --- 6. A deposit paid within the hold --------------------------------------------------------


def _paid_at(event, when):
    event["created"] = int(when.timestamp())
    return event


@pytest.mark.django_db
def test_a_deposit_paid_before_the_hold_ended_revives_the_booking(
    deposit_booking, apply_event, stripe_event, mailoutbox
):
    chef = deposit_booking.chef_id
    ended = deposit_booking.hold_expires_at
    booking_services.bookings_expire_holds(now=ended + timedelta(seconds=30))
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.EXPIRED
    event = stripe_event(SUCCEEDED, deposit_of(deposit_booking))

    apply_event(_paid_at(event, ended - timedelta(seconds=3)))

    deposit_booking.refresh_from_db()
    assert (deposit_booking.status, deposit_booking.chef_id) == (BookingStatus.CONFIRMED, chef)
    assert deposit_booking.amount_refunded_cents == 0
    assert deposit_booking.events.filter(reason__contains="revived").exists()
    assert [m for m in mailoutbox if "is booked" in m.subject]


@pytest.mark.django_db
def test_a_deposit_paid_in_time_whose_slot_was_resold_is_refunded_and_told(
    deposit_booking, book, san_jose, apply_event, stripe_event, mailoutbox
):
    ended = deposit_booking.hold_expires_at
    booking_services.bookings_expire_holds(now=ended + timedelta(seconds=30))
    days = (deposit_booking.event_date - booking_services.scheduling.local_today(san_jose)).days
    for n in range(1, 4):  # every chef of the station takes that slot meanwhile
        book(san_jose, days=days, start=f"{deposit_booking.start_time:%H:%M}", n=n)
    event = stripe_event(SUCCEEDED, deposit_of(deposit_booking))

    apply_event(_paid_at(event, ended - timedelta(seconds=3)))

    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.EXPIRED
    deposit = deposit_of(deposit_booking)
    assert (deposit.to_return, deposit.amount_refunded_cents) == (True, deposit.amount_cents)
    note = deposit_booking.events.get(reason__contains="refunded automatically")
    assert "taken meanwhile" in note.reason
    assert [m for m in mailoutbox if "being refunded" in m.subject]
    assert not deposit_booking.payments.filter(kind=PaymentKind.BALANCE).exists()


@pytest.mark.django_db
def test_the_sweeper_returns_late_money_whose_refund_was_lost(
    deposit_booking, api_client, apply_event, stripe_event, monkeypatch
):
    """The refund after commit never ran (the worker died): the sweeper returns it, once."""
    from payments.tasks import sweep_stripe_events

    api_client.post(
        f"{BOOKINGS}{deposit_booking.reference}/cancel",
        {},
        format="json",
        HTTP_X_BOOKING_TOKEN=deposit_booking.created["manage_token"],
    )
    monkeypatch.setattr(ledger, "_return_quietly", lambda payment_id: None)
    apply_event(stripe_event(SUCCEEDED, deposit_of(deposit_booking)))
    deposit = deposit_of(deposit_booking)
    assert (deposit.to_return, deposit.amount_refunded_cents) == (True, 0)

    sweep_stripe_events.delay()
    sweep_stripe_events.delay()

    deposit.refresh_from_db()
    assert deposit.amount_refunded_cents == deposit.amount_cents
    assert deposit.refunds.count() == 1
