"""
Applying ledger rows: idempotent and order-independent. Every order of succeeded / failed /
refunded for one PaymentIntent ends in the same state; replays change nothing; the outcome is
recorded on the row; rows left pending (broker down) or failed are picked up by the sweeper.
"""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from bookings import services as bookings
from bookings.models import BookingEvent, BookingStatus
from config.celery import app as celery_app
from payments import facts, intents, ledger, selectors
from payments.models import EventOutcome, Payment, PaymentStatus, StripeEvent
from payments.tasks import process_stripe_event, sweep_stripe_events
from payments.tests.conftest import BOOKINGS, deposit_of, encode, new_event_id
from testing.factories import make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
REFUNDED = "charge.refunded"
DISPUTED = "charge.dispute.created"


def assert_booking_sums_match_payments(booking) -> None:
    """Amount paid and refunded on the booking are the sums over its succeeded payments."""
    booking.refresh_from_db()
    paid = [p for p in booking.payments.all() if p.succeeded]
    assert booking.amount_paid_cents == sum(p.amount_cents for p in paid)
    assert booking.amount_refunded_cents == sum(p.amount_refunded_cents for p in paid)


def snapshot(booking) -> dict:
    """Everything processing may change about a booking and its payments."""
    booking.refresh_from_db()
    payments = Payment.objects.filter(booking=booking).order_by("pk")
    return {
        "booking": (
            booking.status,
            booking.amount_paid_cents,
            booking.amount_refunded_cents,
            booking.balance_due_cents,
        ),
        "payments": list(
            payments.values_list(
                "pk",
                "kind",
                "amount_cents",
                "status",
                "succeeded",
                "failed",
                "amount_refunded_cents",
                "disputed",
            )
        ),
        "history": list(
            BookingEvent.objects.filter(booking=booking)
            .order_by("pk")
            .values_list("from_status", "to_status", "reason")
        ),
    }


def fresh_copy(event: dict) -> dict:
    """The same event content under a new event id (what a replay from elsewhere looks like)."""
    return {**event, "id": new_event_id()}


ORDERS = list(itertools.permutations([SUCCEEDED, FAILED, REFUNDED]))


@pytest.mark.parametrize(
    "order", ORDERS, ids=["-".join(t.split(".")[1] for t in o) for o in ORDERS]
)
def test_every_order_of_succeeded_failed_refunded_converges(
    order, deposit_booking, apply_event, stripe_event, webhook
):
    payment = deposit_of(deposit_booking)
    events = {event_type: stripe_event(event_type, payment) for event_type in order}

    for event_type in order:
        row = apply_event(events[event_type])
        assert (row.outcome, row.error, row.attempts) == (EventOutcome.PROCESSED, "", 1)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.succeeded is True
    assert payment.failed is True
    assert payment.amount_refunded_cents == payment.amount_cents == deposit_booking.deposit_cents
    assert payment.refundable_cents == 0
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED
    assert deposit_booking.amount_paid_cents == payment.amount_cents
    assert deposit_booking.amount_refunded_cents == payment.amount_cents
    assert deposit_booking.balance_due_cents == deposit_booking.total_cents
    assert_booking_sums_match_payments(deposit_booking)
    transitions = [
        (e.from_status, e.to_status)
        for e in deposit_booking.events.order_by("pk")
        if e.from_status != e.to_status
    ]
    assert transitions == [("", "pending_deposit"), ("pending_deposit", "confirmed")]

    # Replays (the same ids again, and the same content under new ids) change nothing.
    before = snapshot(deposit_booking)
    for event_type in order:
        redelivered = webhook.deliver(events[event_type])
        assert redelivered == {"received": True, "duplicate": True}
        apply_event(fresh_copy(events[event_type]))
    assert snapshot(deposit_booking) == before
    assert StripeEvent.objects.count() == 6


@pytest.mark.parametrize(("first", "second"), [(2500, 10_000), (10_000, 2500)])
def test_partial_and_full_refund_in_either_order_keep_the_highest_total(
    first, second, paid_booking, apply_event, stripe_event
):
    payment = deposit_of(paid_booking)
    assert payment.amount_cents == 10_000

    apply_event(stripe_event(REFUNDED, payment, amount_refunded=first))
    payment.refresh_from_db()
    expected_first = PaymentStatus.REFUNDED if first == 10_000 else PaymentStatus.PARTIALLY_REFUNDED
    assert (payment.status, payment.amount_refunded_cents) == (expected_first, first)
    apply_event(stripe_event(REFUNDED, payment, amount_refunded=second))

    payment.refresh_from_db()
    assert payment.amount_refunded_cents == max(first, second) == 10_000
    assert payment.status == PaymentStatus.REFUNDED
    assert_booking_sums_match_payments(paid_booking)
    assert paid_booking.amount_refunded_cents == 10_000


def test_a_partial_refund_is_partially_refunded_and_counts_on_the_booking(
    paid_booking, apply_event, stripe_event
):
    payment = deposit_of(paid_booking)

    apply_event(stripe_event(REFUNDED, payment, amount_refunded=3000))

    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded_cents, payment.refundable_cents) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        3000,
        7000,
    )
    assert_booking_sums_match_payments(paid_booking)
    assert paid_booking.balance_due_cents == paid_booking.total_cents - 7000


@pytest.mark.parametrize(
    ("refunded", "status"),
    [(3000, PaymentStatus.PARTIALLY_REFUNDED), (10_000, PaymentStatus.REFUNDED)],
)
def test_a_refunded_payment_never_goes_back_to_paid(
    refunded, status, paid_booking, apply_event, stripe_event
):
    payment = deposit_of(paid_booking)
    apply_event(stripe_event(REFUNDED, payment, amount_refunded=refunded))
    payment.refresh_from_db()
    assert payment.status == status

    # A late success (and a late older refund total) arrive afterwards.
    apply_event(stripe_event(SUCCEEDED, payment))
    apply_event(stripe_event(REFUNDED, payment, amount_refunded=1000))

    payment.refresh_from_db()
    assert payment.status == status
    assert payment.amount_refunded_cents == refunded


def test_payment_failed_alone_keeps_the_hold_and_notifies_the_customer_once(
    deposit_booking, apply_event, stripe_event, mailoutbox, api_client
):
    payment = deposit_of(deposit_booking)
    event = stripe_event(FAILED, payment)

    row = apply_event(event)
    apply_event(event)  # redelivered: stored once, applied once
    apply_event(fresh_copy(event))  # same content, new id: no second message

    assert row.outcome == EventOutcome.PROCESSED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert (payment.failed, payment.succeeded) == (True, False)
    assert payment.failure_message == "Your card has insufficient funds."
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.PENDING_DEPOSIT
    assert deposit_booking.hold_expires_at is not None
    assert (deposit_booking.amount_paid_cents, deposit_booking.amount_refunded_cents) == (0, 0)
    about_it = [m for m in mailoutbox if deposit_booking.reference in m.subject]
    assert len(about_it) == 1
    assert "did not go through" in about_it[0].subject
    assert about_it[0].to == [deposit_booking.customer.email]
    # The customer can still pay the same intent from their booking link.
    token = deposit_booking.created["manage_token"]
    shown = api_client.get(
        f"{BOOKINGS}{deposit_booking.reference}/", HTTP_X_BOOKING_TOKEN=token
    ).json()["payment"]
    assert shown["payment_intent"] == payment.stripe_payment_intent_id
    assert shown["client_secret"] == payment.client_secret


def test_deposit_paid_confirms_and_notifies_once(
    deposit_booking, apply_event, stripe_event, mailoutbox
):
    payment = deposit_of(deposit_booking)
    event = stripe_event(SUCCEEDED, payment, customer="cus_QaExample01")

    apply_event(event)
    apply_event(fresh_copy(event))

    payment.refresh_from_db()
    assert (payment.status, payment.succeeded) == (PaymentStatus.SUCCEEDED, True)
    assert payment.stripe_customer_id == "cus_QaExample01"
    assert payment.stripe_payment_method_id == "pm_1QaExampleCard"
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED
    assert deposit_booking.hold_expires_at is None
    confirmed = deposit_booking.events.filter(to_status="confirmed", from_status="pending_deposit")
    assert confirmed.count() == 1
    assert confirmed.get().reason == "deposit paid"
    about_it = [m for m in mailoutbox if deposit_booking.reference in m.subject]
    assert [m.subject for m in about_it] == [
        f"Your hibachi party is booked ({deposit_booking.reference})"
    ]
    assert_booking_sums_match_payments(deposit_booking)


def test_an_event_for_an_unknown_intent_without_our_metadata_is_ignored(
    deposit_booking, apply_event, stripe_event, mailoutbox
):
    before = snapshot(deposit_booking)

    rows = [
        apply_event(stripe_event(SUCCEEDED, intent_id="pi_notours", metadata={})),
        apply_event(stripe_event(REFUNDED, intent_id="pi_notours", metadata={})),
        apply_event(stripe_event(DISPUTED, intent_id="pi_notours")),
        # Our metadata shape, but a booking that doesn't exist here.
        apply_event(
            stripe_event(
                SUCCEEDED,
                intent_id="pi_notours2",
                metadata={"booking_reference": "MH-ZZZZZZ", "kind": "deposit"},
            )
        ),
    ]

    assert [(r.outcome, r.station_id, r.attempts) for r in rows] == [
        (EventOutcome.IGNORED, None, 1)
    ] * 4
    assert not Payment.objects.filter(stripe_payment_intent_id__startswith="pi_notours").exists()
    assert snapshot(deposit_booking) == before
    assert mailoutbox == []


@pytest.fixture
def booking_without_payment(san_jose):
    """A booking whose deposit intent we have not stored yet (Stripe's event beat our write)."""
    booking = make_booking(san_jose, days=12)
    assert not booking.payments.exists()
    return booking


def test_an_intent_we_did_not_create_never_pays_the_booking_its_metadata_names(
    booking_without_payment, apply_event, stripe_event, san_jose
):
    """A signed event proves Stripe sent it, not that we asked for the payment: an intent
    with our metadata but no row of ours (made outside this system) confirms nothing."""
    booking = booking_without_payment
    event = stripe_event(
        SUCCEEDED,
        intent_id="pi_3QaNotOurs",
        metadata={"booking_reference": booking.reference, "station": "san-jose", "kind": "deposit"},
        amount=1,
        amount_received=1,
        currency="jpy",
    )

    row = apply_event(event)
    # Looked for again (an off-session charge can beat our insert), then rejected.
    assert (row.outcome, row.attempts) == (EventOutcome.FAILED, 1)
    for _ in range(ledger.UNKNOWN_INTENT_ATTEMPTS):
        ledger.stripe_event_apply(event_row_id=row.pk)
    row.refresh_from_db()

    assert row.outcome == EventOutcome.REJECTED
    assert "not created by us" in row.error
    assert row.station == san_jose
    assert not Payment.objects.filter(stripe_payment_intent_id="pi_3QaNotOurs").exists()
    booking.refresh_from_db()
    assert (booking.status, booking.amount_paid_cents) == (BookingStatus.PENDING_DEPOSIT, 0)
    assert booking.events.filter(reason__contains="did not create").count() == 1
    # Rejected is final: the sweeper leaves it for staff.
    assert row.pk not in selectors.stripe_events_stuck(older_than_seconds=-60)


@pytest.mark.parametrize(
    ("event_type", "change"),
    [
        (SUCCEEDED, {"amount": 1, "amount_received": 1}),
        (SUCCEEDED, {"currency": "eur"}),
        (SUCCEEDED, {"amount_received": "10000"}),
        (REFUNDED, {"currency": "eur"}),
        (REFUNDED, {"amount": 999_999}),
        (REFUNDED, {"amount_refunded": -5}),
        (FAILED, {"currency": "eur"}),
    ],
)
def test_an_event_whose_money_is_not_our_payments_is_rejected_not_applied(
    event_type, change, deposit_booking, apply_event, stripe_event
):
    deposit = deposit_of(deposit_booking)
    event = stripe_event(event_type, deposit)
    event["data"]["object"].update(change)

    row = apply_event(event)

    assert row.outcome == EventOutcome.REJECTED, row.error
    deposit.refresh_from_db()
    assert (deposit.succeeded, deposit.failed, deposit.amount_refunded_cents) == (False, False, 0)
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.PENDING_DEPOSIT
    assert deposit_booking.amount_paid_cents == 0
    note = deposit_booking.events.get(reason__contains="does not match")
    assert note.data["event"] == event["id"]
    # The real payment still works afterwards.
    apply_event(stripe_event(SUCCEEDED, deposit))
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED


def test_a_euro_balance_event_does_not_pay_a_dollar_booking(
    paid_booking, apply_event, stripe_event
):
    payment = intents.payment_request_balance(booking=paid_booking, actor=bookings.SYSTEM)
    event = stripe_event(SUCCEEDED, payment, currency="eur", amount=100, amount_received=100)

    row = apply_event(event)

    assert row.outcome == EventOutcome.REJECTED
    paid_booking.refresh_from_db()
    assert paid_booking.amount_paid_cents == paid_booking.deposit_cents
    assert_booking_sums_match_payments(paid_booking)


def test_a_refund_that_beats_the_success_still_ends_refunded_and_confirmed(
    deposit_booking, apply_event, stripe_event
):
    deposit = deposit_of(deposit_booking)

    apply_event(stripe_event(REFUNDED, deposit))
    apply_event(stripe_event(SUCCEEDED, deposit))

    deposit.refresh_from_db()
    assert (deposit.status, deposit.amount_refunded_cents) == (
        PaymentStatus.REFUNDED,
        deposit.amount_cents,
    )
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED
    assert_booking_sums_match_payments(deposit_booking)


def test_a_dispute_marks_the_payment_and_notes_the_booking_history(
    paid_booking, apply_event, stripe_event
):
    payment = deposit_of(paid_booking)
    event = stripe_event(DISPUTED, payment)

    row = apply_event(event)
    apply_event(fresh_copy(event))

    assert row.outcome == EventOutcome.PROCESSED
    payment.refresh_from_db()
    assert payment.disputed is True
    assert payment.status == PaymentStatus.SUCCEEDED  # disputed money is not refunded (yet)
    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CONFIRMED
    notes = paid_booking.events.filter(reason__icontains="disputed")
    assert notes.count() == 1
    note = notes.get()
    assert (note.from_status, note.to_status) == ("confirmed", "confirmed")
    assert note.data["dispute"] == "dp_1QaExampleDispute01"
    assert note.data["reason"] == "fraudulent"


def test_a_paid_balance_adds_up_and_does_not_confirm_twice(
    paid_booking, apply_event, stripe_event, sj_manager
):
    balance = intents.payment_request_balance(
        booking=paid_booking, actor=bookings.Actor.of(sj_manager)
    )
    assert balance.amount_cents == paid_booking.total_cents - paid_booking.deposit_cents

    apply_event(stripe_event(SUCCEEDED, balance))

    paid_booking.refresh_from_db()
    assert paid_booking.amount_paid_cents == paid_booking.total_cents
    assert paid_booking.balance_due_cents == 0
    assert (
        paid_booking.events.filter(to_status="confirmed", from_status="pending_deposit").count()
        == 1
    )
    assert_booking_sums_match_payments(paid_booking)


# --- Failures, retries and the sweeper -----------------------------------------------------------


def record_without_enqueueing(event: dict, django_capture_on_commit_callbacks) -> StripeEvent:
    """Store an event as the webhook does, but the broker never gets the task (it was down)."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        row_id = ledger.stripe_event_record(
            event_id=event["id"],
            event_type=event["type"],
            livemode=False,
            payload=encode(event).decode(),
        )
    assert len(queued) == 1  # the task would have been enqueued on commit
    # received_at is PostgreSQL's now(), which time-machine does not move: restate it on the
    # test's clock, which the sweeper compares it with (they agree outside tests).
    StripeEvent.objects.filter(pk=row_id).update(received_at=timezone.now())
    return StripeEvent.objects.get(pk=row_id)


def age(row: StripeEvent, seconds: int) -> None:
    StripeEvent.objects.filter(pk=row.pk).update(
        received_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_failing_handler_records_the_failure_and_the_sweeper_retries_it(
    deposit_booking, stripe_event, monkeypatch, django_capture_on_commit_callbacks
):
    payment = deposit_of(deposit_booking)
    row = record_without_enqueueing(
        stripe_event(SUCCEEDED, payment), django_capture_on_commit_callbacks
    )

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(facts, "payment_record_success", broken)
    with pytest.raises(RuntimeError):
        ledger.stripe_event_apply(event_row_id=row.pk)

    row.refresh_from_db()
    assert row.outcome == EventOutcome.FAILED
    assert row.error == "RuntimeError: database hiccup"
    assert row.attempts == 1
    assert row.processed_at is None
    payment.refresh_from_db()
    assert payment.succeeded is False  # the handler's partial work was rolled back
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.PENDING_DEPOSIT

    # Not yet due for the sweeper (it might still be in a retry queue); later it is.
    assert row.pk not in selectors.stripe_events_stuck()
    age(row, 120)
    assert row.pk in selectors.stripe_events_stuck()
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stripe_events.delay().get() == 1

    row.refresh_from_db()
    assert (row.outcome, row.error, row.attempts) == (EventOutcome.PROCESSED, "", 2)
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED
    assert row.pk not in selectors.stripe_events_stuck()


def test_the_task_retries_a_failing_row_and_records_every_attempt(
    deposit_booking, stripe_event, monkeypatch, django_capture_on_commit_callbacks
):
    payment = deposit_of(deposit_booking)
    row = record_without_enqueueing(
        stripe_event(SUCCEEDED, payment), django_capture_on_commit_callbacks
    )
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("deadlock detected")
        return original(*args, **kwargs)

    original = facts.payment_record_success
    monkeypatch.setattr(facts, "payment_record_success", flaky)
    # Eager tasks retry at once when failures don't propagate (as in a worker).
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)
    with django_capture_on_commit_callbacks(execute=True):
        process_stripe_event.delay(row.pk)

    row.refresh_from_db()
    assert (row.outcome, row.attempts, row.error) == (EventOutcome.PROCESSED, 3, "")
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED


def test_the_sweeper_picks_up_rows_the_broker_never_delivered(
    deposit_booking, stripe_event, django_capture_on_commit_callbacks, mailoutbox
):
    payment = deposit_of(deposit_booking)
    stranded = record_without_enqueueing(
        stripe_event(SUCCEEDED, payment), django_capture_on_commit_callbacks
    )
    age(stranded, 600)
    just_in = record_without_enqueueing(stripe_event(SUCCEEDED), django_capture_on_commit_callbacks)
    given_up = record_without_enqueueing(
        stripe_event(SUCCEEDED), django_capture_on_commit_callbacks
    )
    StripeEvent.objects.filter(pk=given_up.pk).update(outcome=EventOutcome.FAILED, attempts=8)
    age(given_up, 600)

    assert selectors.stripe_events_stuck() == [stranded.pk]
    with django_capture_on_commit_callbacks(execute=True):
        swept = sweep_stripe_events.delay().get()

    assert swept == 1
    stranded.refresh_from_db()
    assert (stranded.outcome, stranded.attempts) == (EventOutcome.PROCESSED, 1)
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED
    assert len([m for m in mailoutbox if deposit_booking.reference in m.subject]) == 1
    assert StripeEvent.objects.get(pk=just_in.pk).outcome == EventOutcome.PENDING
    assert StripeEvent.objects.get(pk=given_up.pk).attempts == 8
    # Sweeping again finds nothing to do.
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stripe_events.delay().get() == 0


def test_a_processed_row_is_not_applied_again(deposit_booking, apply_event, stripe_event):
    row = apply_event(stripe_event(SUCCEEDED, deposit_of(deposit_booking)))
    before = snapshot(deposit_booking)

    assert ledger.stripe_event_apply(event_row_id=row.pk) == EventOutcome.PROCESSED
    process_stripe_event.delay(row.pk)

    row.refresh_from_db()
    assert row.attempts == 1
    assert snapshot(deposit_booking) == before


def test_an_event_with_a_nul_escape_is_stored_not_refused(
    deposit_booking, apply_event, stripe_event
):
    event = stripe_event(SUCCEEDED, deposit_of(deposit_booking))
    event["data"]["object"]["description"] = "party\x00pack"  # JSON allows \\u0000, jsonb doesn't

    row = apply_event(event)

    assert row.outcome == EventOutcome.PROCESSED
    assert "party" in row.payload["data"]["object"]["description"]
    deposit_booking.refresh_from_db()
    assert deposit_booking.status == BookingStatus.CONFIRMED


def test_a_balance_paid_after_cancellation_is_returned(
    paid_booking, apply_event, stripe_event, sj_manager, api_client
):
    balance = intents.payment_request_balance(
        booking=paid_booking, actor=bookings.Actor.of(sj_manager)
    )
    cancelled = api_client.post(
        f"{BOOKINGS}{paid_booking.reference}/cancel",
        {},
        format="json",
        HTTP_X_BOOKING_TOKEN=paid_booking.created["manage_token"],
    )
    assert cancelled.status_code == 200

    apply_event(stripe_event(SUCCEEDED, balance))

    paid_booking.refresh_from_db()
    assert paid_booking.status == BookingStatus.CANCELLED
    assert_booking_sums_match_payments(paid_booking)
    notes = paid_booking.events.filter(to_status="cancelled", from_status="cancelled")
    assert any("refunded automatically" in note.reason for note in notes)
    balance.refresh_from_db()
    assert balance.amount_refunded_cents == balance.amount_cents  # returned, not kept
