"""
With a key set, payments talk to Stripe for real over HTTP: here to a local server that plays
Stripe's API (STRIPE_API_BASE), so the SDK's real requests, idempotency keys and error mapping
are what is tested.
"""

import socket
from datetime import timedelta

import pytest
import stripe
from django.urls import reverse
from django.utils import timezone

from bookings.models import BookingStatus
from config.celery import app as celery_app
from payments import intents, stripe_client
from payments.models import Payment, PaymentKind, PaymentStatus, Refund, RefundStatus
from payments.tasks import charge_balance, charge_due_balances, sweep_stripe_events
from payments.tests.conftest import BOOKINGS, deposit_of

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

INTENTS = "/v1/payment_intents"
REFUNDS = "/v1/refunds"


@pytest.fixture
def no_sdk_sleep(monkeypatch):
    """The SDK backs off between its own retries; tests don't need to wait."""
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, n: 0)


@pytest.fixture
def worker_retries(monkeypatch):
    """Eager tasks retry at once when a failure doesn't propagate, as a worker would later."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


def test_booking_create_makes_one_payment_intent_with_a_key_from_our_ids(
    fake_stripe, book, san_jose
):
    booking = book(san_jose)

    [call] = fake_stripe.posts(INTENTS)
    assert call["idempotency_key"] == f"booking-{booking.reference}-deposit"
    assert call["authorization"] == "Bearer sk_test_x"
    form = call["form"]
    assert form["amount"] == str(booking.deposit_cents) == "10000"
    assert form["currency"] == "usd"
    assert form["metadata[booking_reference]"] == booking.reference
    assert form["metadata[station]"] == "san-jose"
    assert form["metadata[kind]"] == "deposit"
    assert form["receipt_email"] == booking.customer.email
    [intent] = fake_stripe.intents.values()
    block = booking.created["payment"]
    assert block["payment_intent"] == intent["id"]
    assert block["client_secret"] == intent["client_secret"]
    assert block["client_secret"].startswith(f"{intent['id']}_secret_")
    assert block["publishable_key"] == "pk_test_x"
    assert (block["mode"], block["amount_cents"], block["currency"]) == ("test", 10_000, "USD")
    payment = deposit_of(booking)
    assert (payment.stripe_payment_intent_id, payment.offline) == (intent["id"], False)

    # Asking again (a retried request, the customer's link) makes no second intent.
    assert intents.payment_for_deposit(booking=booking) == payment
    assert len(fake_stripe.posts(INTENTS)) == 1
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("answer_lost", [False, True], ids=["refused", "answer_lost"])
def test_stripe_down_at_booking_time_the_booking_stands_and_the_link_creates_the_intent(
    answer_lost, fake_stripe, book, san_jose, api_client
):
    # answer_lost: Stripe made the intent but the answer never arrived; the retry must get the
    # same intent back (same Idempotency-Key), not a second one.
    fake_stripe.fail_next(INTENTS, 500, after_processing=answer_lost)

    booking = book(san_jose)

    assert booking.created["payment"] is None
    assert booking.status == BookingStatus.PENDING_DEPOSIT
    assert not Payment.objects.exists()
    response = api_client.get(
        f"{BOOKINGS}{booking.reference}/", HTTP_X_BOOKING_TOKEN=booking.created["manage_token"]
    )
    assert response.status_code == 200
    block = response.json()["payment"]
    [intent] = fake_stripe.intents.values()
    assert (block["payment_intent"], block["client_secret"]) == (
        intent["id"],
        intent["client_secret"],
    )
    keys = [r["idempotency_key"] for r in fake_stripe.posts(INTENTS)]
    assert keys == [f"booking-{booking.reference}-deposit"] * 2
    assert deposit_of(booking).stripe_payment_intent_id == intent["id"]


def test_stripe_unreachable_is_unavailable_and_the_booking_still_stands(
    settings, book, san_jose, no_sdk_sleep
):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings.STRIPE_SECRET_KEY, settings.STRIPE_PUBLISHABLE_KEY = "sk_test_x", "pk_test_x"
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed}"

    with pytest.raises(stripe_client.StripeUnavailable):
        stripe_client.create_payment_intent(
            amount_cents=100, currency="USD", metadata={}, idempotency_key="k"
        )
    booking = book(san_jose)
    assert booking.created["payment"] is None
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("status", "error", "raised"),
    [
        (402, {"code": "card_declined", "message": "Your card was declined."}, "rejected"),
        (400, {"type": "invalid_request_error", "message": "Amount too small."}, "rejected"),
        (401, {"type": "invalid_request_error", "message": "Invalid API Key."}, "rejected"),
        (500, {"message": "Stripe had a problem."}, "unavailable"),
        (503, {"message": "Try again."}, "unavailable"),
    ],
)
def test_stripe_errors_map_to_ours(status, error, raised, fake_stripe):
    fake_stripe.fail_next(INTENTS, status, **error)
    expected = {
        "rejected": stripe_client.StripeRejected,
        "unavailable": stripe_client.StripeUnavailable,
    }

    with pytest.raises(expected[raised]) as caught:
        stripe_client.create_payment_intent(
            amount_cents=100, currency="USD", metadata={}, idempotency_key="k1"
        )

    assert caught.value.permanent is (raised == "rejected")
    assert error["message"] in str(caught.value)
    assert len(fake_stripe.posts(INTENTS)) == 1


# --- The balance, charged to the saved card ----------------------------------------------------


@pytest.fixture
def card_on_file(fake_stripe, book, san_jose, apply_event, stripe_event):
    """A confirmed booking whose deposit was paid with a card saved to a Stripe customer."""
    booking = book(san_jose)
    deposit = deposit_of(booking)
    apply_event(
        stripe_event(
            "payment_intent.succeeded", deposit, customer="cus_saved", payment_method="pm_saved"
        )
    )
    deposit.refresh_from_db()
    assert (deposit.succeeded, deposit.stripe_customer_id, deposit.stripe_payment_method_id) == (
        True,
        "cus_saved",
        "pm_saved",
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    fake_stripe.requests.clear()
    return booking


def test_a_retried_balance_charge_sends_the_same_key_and_makes_one_payment(
    card_on_file, fake_stripe, worker_retries
):
    booking = card_on_file
    due = booking.balance_due_cents
    assert due == booking.total_cents - booking.deposit_cents > 0
    # Stripe charges the card, but the worker never hears back: the task fails and retries.
    fake_stripe.fail_next(INTENTS, 500, after_processing=True)

    charge_balance.delay(booking.pk)

    calls = fake_stripe.posts(INTENTS)
    assert [c["idempotency_key"] for c in calls] == [
        f"booking-{booking.reference}-autobalance-1-{due}"
    ] * 2
    form = calls[0]["form"]
    assert (form["amount"], form["customer"], form["payment_method"]) == (
        str(due),
        "cus_saved",
        "pm_saved",
    )
    assert (form["off_session"], form["confirm"]) == ("true", "true")
    assert form["metadata[kind]"] == "balance"
    balance_intents = [
        i for i in fake_stripe.intents.values() if i["metadata"]["kind"] == "balance"
    ]
    assert len(balance_intents) == 1
    [balance] = booking.payments.filter(kind=PaymentKind.BALANCE)
    assert (balance.stripe_payment_intent_id, balance.amount_cents) == (
        balance_intents[0]["id"],
        due,
    )

    # The task runs again (say beat enqueued it twice): nothing new, at Stripe or here.
    charge_balance.delay(booking.pk)
    assert len(fake_stripe.posts(INTENTS)) == 2
    assert booking.payments.filter(kind=PaymentKind.BALANCE).count() == 1


def test_the_hourly_job_charges_balances_inside_the_stations_window(
    card_on_file, fake_stripe, san_jose
):
    assert charge_due_balances.delay().get() == 0  # station charges never (0 days)
    san_jose.auto_charge_balance_days = 30  # the booking is 10 days ahead
    san_jose.save(update_fields=["auto_charge_balance_days"])

    assert charge_due_balances.delay().get() == 1

    assert len(fake_stripe.posts(INTENTS)) == 1
    assert card_on_file.payments.filter(kind=PaymentKind.BALANCE).count() == 1


def test_a_declined_saved_card_is_rejected_not_retried(card_on_file, fake_stripe):
    fake_stripe.fail_next(INTENTS, 402, code="card_declined", message="Your card was declined.")

    with pytest.raises(stripe_client.StripeRejected):
        charge_balance.delay(card_on_file.pk)

    assert len(fake_stripe.posts(INTENTS)) == 1
    assert not card_on_file.payments.filter(kind=PaymentKind.BALANCE).exists()


def test_without_a_saved_card_nothing_is_charged(
    fake_stripe, book, san_jose, apply_event, stripe_event
):
    booking = book(san_jose)
    apply_event(stripe_event("payment_intent.succeeded", deposit_of(booking)))  # customer null
    fake_stripe.requests.clear()

    charge_balance.delay(booking.pk)

    assert fake_stripe.requests == []
    assert not booking.payments.filter(kind=PaymentKind.BALANCE).exists()


def test_a_card_saved_with_the_deposit_can_pay_the_balance(
    fake_stripe, book, san_jose, apply_event, stripe_event
):
    booking = book(san_jose)
    intent = fake_stripe.intents[deposit_of(booking).stripe_payment_intent_id]
    assert intent["setup_future_usage"] == "off_session"
    # Stripe's success event carries the intent's customer and the card that paid.
    apply_event(
        stripe_event(
            "payment_intent.succeeded",
            deposit_of(booking),
            customer=intent["customer"],
            payment_method="pm_card_visa",
        )
    )

    charge_balance.delay(booking.pk)

    assert booking.payments.filter(kind=PaymentKind.BALANCE).count() == 1


# --- Refunds -------------------------------------------------------------------------------------


@pytest.fixture
def online_deposit(fake_stripe, book, san_jose, apply_event, stripe_event):
    booking = book(san_jose)
    payment = deposit_of(booking)
    apply_event(stripe_event("payment_intent.succeeded", payment))
    payment.refresh_from_db()
    assert (payment.succeeded, payment.offline) == (True, False)
    payment.booking = booking  # keeps the API's answer (the manage token) at hand
    fake_stripe.requests.clear()
    return payment


def staff_refund(client, payment, amount, key):
    return client.post(
        f"/api/v1/staff/payments/{payment.pk}/refund",
        {"amount_cents": amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_staff_refund_calls_stripe_with_a_key_and_the_webhook_completes_it(
    online_deposit, fake_stripe, staff_client, owner, apply_event, stripe_event
):
    client = staff_client(owner)

    first = staff_refund(client, online_deposit, 4000, "abc")
    again = staff_refund(client, online_deposit, 4000, "abc")

    assert first.status_code == again.status_code == 200
    refund = Refund.objects.get()
    [call] = fake_stripe.posts(REFUNDS)
    assert call["idempotency_key"] == f"refund-{refund.pk}"
    assert call["form"] == {
        "payment_intent": online_deposit.stripe_payment_intent_id,
        "amount": "4000",
    }
    [stripe_refund] = fake_stripe.refunds.values()
    assert (refund.status, refund.stripe_refund_id) == (RefundStatus.PENDING, stripe_refund["id"])
    online_deposit.refresh_from_db()
    assert online_deposit.amount_refunded_cents == 0  # Stripe reports completion by webhook
    # While it is in flight, only the rest can be refunded.
    assert staff_refund(client, online_deposit, 6001, "more").status_code == 400

    apply_event(stripe_event("charge.refunded", online_deposit, amount_refunded=4000))

    refund.refresh_from_db()
    online_deposit.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert (online_deposit.status, online_deposit.amount_refunded_cents) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        4000,
    )
    online_deposit.booking.refresh_from_db()
    assert online_deposit.booking.amount_refunded_cents == 4000


def test_a_refund_stripe_could_not_take_is_resent_by_the_sweeper_with_the_same_key(
    online_deposit, fake_stripe, staff_client, owner
):
    fake_stripe.fail_next(REFUNDS, 500)

    response = staff_refund(staff_client(owner), online_deposit, 2500, "k")

    assert response.status_code == 200
    refund = Refund.objects.get()
    assert (refund.status, refund.stripe_refund_id) == (RefundStatus.PENDING, "")
    Refund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    sweep_stripe_events.delay()

    refund.refresh_from_db()
    keys = [c["idempotency_key"] for c in fake_stripe.posts(REFUNDS)]
    assert keys == [f"refund-{refund.pk}"] * 2
    [stripe_refund] = fake_stripe.refunds.values()
    assert refund.stripe_refund_id == stripe_refund["id"]
    sweep_stripe_events.delay()
    assert len(fake_stripe.posts(REFUNDS)) == 2


def test_a_refund_stripe_refuses_is_502_and_frees_the_amount(
    online_deposit, fake_stripe, staff_client, owner
):
    fake_stripe.fail_next(REFUNDS, 400, message="Charge has already been refunded.")
    client = staff_client(owner)

    response = staff_refund(client, online_deposit, 10_000, "k1")

    assert response.status_code == 502
    assert response.json()["error"] == "refund_failed"
    assert "already been refunded" in response.json()["detail"]
    refund = Refund.objects.get()
    assert refund.status == RefundStatus.FAILED
    assert "already been refunded" in refund.error
    assert staff_refund(client, online_deposit, 10_000, "k2").status_code == 200


# --- Saying which mode we are in -----------------------------------------------------------------


def test_health_and_admin_say_test_mode_not_offline(fake_stripe, api_client, client, sj_manager):
    assert api_client.get("/api/v1/health").json()["payments"] == "test"
    client.force_login(sj_manager)
    page = client.get(reverse("admin:payments_payment_changelist")).content.decode()
    assert "offline mode" not in page


def _cancel(booking, api_client):
    return api_client.post(
        f"{BOOKINGS}{booking.reference}/cancel",
        {"reason": "plans changed"},
        format="json",
        HTTP_X_BOOKING_TOKEN=booking.created["manage_token"],
    )


def test_a_cancellation_refund_stripe_cannot_take_now_is_sent_later(
    online_deposit, fake_stripe, api_client
):
    fake_stripe.fail_next(REFUNDS, 503)

    response = _cancel(online_deposit.booking, api_client)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    refund = Refund.objects.get()
    assert (refund.amount_cents, refund.status, refund.stripe_refund_id) == (
        10_000,
        RefundStatus.PENDING,
        "",
    )
    Refund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    sweep_stripe_events.delay()
    refund.refresh_from_db()
    [stripe_refund] = fake_stripe.refunds.values()
    assert refund.stripe_refund_id == stripe_refund["id"]
    assert [c["idempotency_key"] for c in fake_stripe.posts(REFUNDS)] == [f"refund-{refund.pk}"] * 2


def test_a_refund_stripe_refuses_during_a_cancellation_does_not_hide_the_cancellation(
    online_deposit, fake_stripe, api_client
):
    fake_stripe.fail_next(REFUNDS, 400, message="Charge has been disputed.")
    api_client.raise_request_exception = False

    response = _cancel(online_deposit.booking, api_client)

    booking = online_deposit.booking
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED  # it happened...
    assert Refund.objects.get().status == RefundStatus.FAILED
    assert response.status_code == 200  # ...so the answer says so
    note = booking.events.filter(from_status="cancelled", to_status="cancelled")
    assert note.filter(reason__icontains="refund").exists()  # and staff are told
