"""
manage.py simulate_stripe_event (plays Stripe: signs and posts a real-format event) and
reconcile_payments (applies what the webhook missed, from Stripe's paginated lists, once).
"""

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import stripe
from django.core.management import CommandError, call_command

from bookings.models import BookingStatus
from payments import ledger
from payments.models import EventOutcome, Payment, PaymentStatus, StripeEvent
from payments.tests.conftest import WEBHOOK, deposit_of, stripe_signature

pytestmark = pytest.mark.date_sensitive

HANDLED = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
}


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- simulate_stripe_event ---------------------------------------------------------------------


class _Capture(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        status, answer = self.server.answer
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def receiver():
    """A stand-in webhook endpoint that records what it is sent."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.received, server.answer = [], (200, {"received": True, "duplicate": False})
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}{WEBHOOK}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_simulate_posts_a_stripe_signed_real_format_event(receiver, deposit_booking, settings):
    payment = deposit_of(deposit_booking)

    out = run(
        "simulate_stripe_event",
        "payment_intent.succeeded",
        "--booking",
        deposit_booking.reference.lower(),
        "--url",
        receiver.url,
    )

    [(path, headers, body)] = receiver.received
    assert path == WEBHOOK
    assert headers["Content-Type"] == "application/json"
    header = headers["Stripe-Signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert abs(timestamp - time.time()) < 60
    assert header == stripe_signature(body, settings.STRIPE_WEBHOOK_SECRET, timestamp)
    # Stripe's own verification accepts it too.
    stripe.Webhook.construct_event(body, header, settings.STRIPE_WEBHOOK_SECRET, tolerance=300)
    event = json.loads(body)
    assert event["object"] == "event"
    assert event["id"].startswith("evt_")
    assert event["type"] == "payment_intent.succeeded"
    intent = event["data"]["object"]
    assert intent["object"] == "payment_intent"
    assert (intent["id"], intent["amount"], intent["currency"], intent["status"]) == (
        payment.stripe_payment_intent_id,
        10_000,
        "usd",
        "succeeded",
    )
    assert intent["metadata"] == {
        "booking_reference": deposit_booking.reference,
        "station": "san-jose",
        "kind": "deposit",
    }
    assert "HTTP 200" in out
    assert event["id"] in out


@pytest.mark.django_db
def test_simulate_a_partial_refund_reports_the_cumulative_amount(
    receiver, paid_booking, apply_event
):
    run(
        "simulate_stripe_event",
        "charge.refunded",
        "--booking",
        paid_booking.reference,
        "--amount",
        "2500",
        "--url",
        receiver.url,
    )

    event = json.loads(receiver.received[0][2])
    charge = event["data"]["object"]
    assert (charge["object"], charge["amount_refunded"], charge["refunded"]) == (
        "charge",
        2500,
        False,
    )
    assert charge["payment_intent"] == deposit_of(paid_booking).stripe_payment_intent_id
    # What it posts is something our processing applies.
    apply_event(event)
    assert deposit_of(paid_booking).amount_refunded_cents == 2500


@pytest.mark.django_db
def test_simulate_makes_the_deposit_intent_if_there_is_none_yet(receiver, deposit_booking):
    Payment.objects.all().delete()

    run(
        "simulate_stripe_event",
        "payment_intent.succeeded",
        "--booking",
        deposit_booking.reference,
        "--url",
        receiver.url,
    )

    payment = deposit_of(deposit_booking)
    event = json.loads(receiver.received[0][2])
    assert event["data"]["object"]["id"] == payment.stripe_payment_intent_id


@pytest.mark.django_db
def test_simulate_refuses_an_unknown_booking_or_a_missing_balance(receiver, deposit_booking):
    with pytest.raises(CommandError, match="No booking MH-NOPE00"):
        run(
            "simulate_stripe_event",
            "payment_intent.succeeded",
            "--booking",
            "MH-NOPE00",
            "--url",
            receiver.url,
        )
    with pytest.raises(CommandError, match="no balance payment"):
        run(
            "simulate_stripe_event",
            "payment_intent.succeeded",
            "--booking",
            deposit_booking.reference,
            "--kind",
            "balance",
            "--url",
            receiver.url,
        )
    assert receiver.received == []


@pytest.mark.django_db
def test_simulate_reports_a_refusal_and_an_unreachable_endpoint(receiver, deposit_booking):
    receiver.answer = (400, {"error": "invalid_signature", "detail": "no", "fields": {}})
    with pytest.raises(CommandError, match="refused"):
        run(
            "simulate_stripe_event",
            "payment_intent.succeeded",
            "--booking",
            deposit_booking.reference,
            "--url",
            receiver.url,
        )

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(CommandError, match="Could not reach"):
        run(
            "simulate_stripe_event",
            "payment_intent.succeeded",
            "--booking",
            deposit_booking.reference,
            "--url",
            f"http://127.0.0.1:{closed}{WEBHOOK}",
        )


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_simulate_against_the_live_endpoint_confirms_the_booking(live_server, book, san_jose):
    booking = book(san_jose)

    out = run(
        "simulate_stripe_event",
        "payment_intent.succeeded",
        "--booking",
        booking.reference,
        "--url",
        f"{live_server.url}{WEBHOOK}",
    )

    assert "HTTP 200" in out
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    row = StripeEvent.objects.get()
    assert (row.type, row.outcome) == ("payment_intent.succeeded", EventOutcome.PROCESSED)


# --- reconcile_payments ------------------------------------------------------------------------


@pytest.mark.django_db
def test_reconcile_in_offline_mode_has_nothing_to_do(deposit_booking):
    out = run("reconcile_payments", "--since", "2026-01-01")

    assert "offline" in out
    assert "nothing to reconcile" in out
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_reconcile_refuses_a_bad_date(fake_stripe):
    with pytest.raises(CommandError, match="--since"):
        run("reconcile_payments", "--since", "last week")
    assert fake_stripe.requests == []


@pytest.mark.django_db
def test_reconcile_reports_stripe_being_down(fake_stripe):
    fake_stripe.fail_next("/v1/events", 500, message="Stripe is down")

    with pytest.raises(CommandError, match="Stripe"):
        run("reconcile_payments", "--since", "2026-01-01")


@pytest.fixture
def missed(fake_stripe, book, san_jose, sacramento, stripe_event, apply_event, mailoutbox):
    """Four online bookings and what Stripe knows that our ledger doesn't:
    a: paid, then partly refunded (both events missed); b: declined (missed);
    c: paid (event already applied); d: paid long ago (no event any more, only the intent)."""
    bookings = {
        "a": book(san_jose, days=10, n=1),
        "b": book(san_jose, days=11, n=2),
        "c": book(sacramento, days=10, n=3),
        "d": book(sacramento, days=11, n=4),
    }
    pay = {k: deposit_of(b) for k, b in bookings.items()}
    seen = stripe_event("payment_intent.succeeded", pay["c"])
    apply_event(seen)
    events = [  # newest first, as Stripe lists them
        stripe_event("charge.refunded", pay["a"], amount_refunded=4000),
        stripe_event("customer.created"),
        stripe_event("payment_intent.payment_failed", pay["b"]),
        stripe_event("payment_intent.succeeded", pay["a"]),
        seen,
    ]
    fake_stripe.events = events
    fake_stripe.page_size = 2
    intents = fake_stripe.intents
    for paid in ("a", "c", "d"):  # as Stripe shows a paid intent: all of its amount received
        intent = intents[pay[paid].stripe_payment_intent_id]
        intent.update(status="succeeded", amount_received=intent["amount"])
    intents[pay["b"].stripe_payment_intent_id]["last_payment_error"] = {
        "code": "card_declined",
        "message": "Your card was declined.",
    }
    fake_stripe.requests.clear()
    mailoutbox.clear()
    return bookings, pay, events


def state() -> list:
    return [
        list(
            Payment.objects.order_by("pk").values_list(
                "pk", "status", "succeeded", "failed", "amount_refunded_cents"
            )
        ),
        list(StripeEvent.objects.order_by("pk").values_list("event_id", "outcome", "attempts")),
    ]


@pytest.mark.django_db
def test_reconcile_applies_what_was_missed_exactly_once(
    missed, fake_stripe, django_capture_on_commit_callbacks, mailoutbox
):
    bookings, pay, events = missed

    with django_capture_on_commit_callbacks(execute=True):
        out = run("reconcile_payments", "--since", "2026-11-01")

    # Stripe's lists were read page by page.
    pages = fake_stripe.gets("/v1/events")
    assert len(pages) == 2  # customer.created is not asked for: 4 events, 2 a page
    assert "starting_after" not in pages[0]["form"]
    assert pages[1]["form"]["starting_after"] == events[2]["id"]
    query = pages[0]["form"]
    assert query["created[gte]"] == str(int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()))
    assert {v for k, v in query.items() if k.startswith("types[")} == HANDLED
    assert fake_stripe.gets("/v1/payment_intents")
    # What was missed is applied.
    for key in ("a", "b", "c", "d"):
        pay[key].refresh_from_db()
        bookings[key].refresh_from_db()
    assert (pay["a"].status, pay["a"].amount_refunded_cents) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        4000,
    )
    assert bookings["a"].status == BookingStatus.CONFIRMED
    assert (pay["b"].status, bookings["b"].status) == (
        PaymentStatus.FAILED,
        BookingStatus.PENDING_DEPOSIT,
    )
    assert (pay["c"].status, bookings["c"].status) == (
        PaymentStatus.SUCCEEDED,
        BookingStatus.CONFIRMED,
    )
    assert (pay["d"].status, bookings["d"].status) == (
        PaymentStatus.SUCCEEDED,
        BookingStatus.CONFIRMED,
    )
    assert StripeEvent.objects.filter(
        event_id=f"reconcile_{pay['d'].stripe_payment_intent_id}_succeeded"
    ).exists()
    assert not StripeEvent.objects.filter(type="customer.created").exists()
    # ...and reported.
    assert f"charge.refunded {events[0]['id']} -> processed" in out
    assert f"payment_intent.payment_failed {events[2]['id']} -> processed" in out
    assert f"payment_intent.succeeded {events[3]['id']} -> processed" in out
    assert f"reconcile_{pay['d'].stripe_payment_intent_id}_succeeded -> processed" in out
    assert events[4]["id"] not in out  # already applied: not a change
    assert "Done: 4 change(s) applied." in out
    notified = sorted(m.subject for m in mailoutbox)
    assert notified == sorted(
        [
            f"Your hibachi party is booked ({bookings['a'].reference})",
            f"Your hibachi party is booked ({bookings['d'].reference})",
            f"Your payment did not go through ({bookings['b'].reference})",
        ]
    )
    confirmations = [b.events.filter(to_status="confirmed").count() for b in bookings.values()]
    assert confirmations == [1, 0, 1, 1]

    # A second run changes nothing.
    before = state()
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = run("reconcile_payments", "--since", "2026-11-01")

    assert "Done: 0 change(s) applied." in again
    assert "-> processed" not in again
    assert state() == before
    assert mailoutbox == []


@pytest.mark.django_db
def test_reconcile_retries_a_ledger_row_that_failed(
    missed, fake_stripe, django_capture_on_commit_callbacks
):
    _, pay, events = missed
    succeeded = events[3]
    ledger.stripe_event_record(
        event_id=succeeded["id"], event_type=succeeded["type"], livemode=False, payload=succeeded
    )
    StripeEvent.objects.filter(event_id=succeeded["id"]).update(
        outcome=EventOutcome.FAILED, attempts=3, error="boom"
    )

    with django_capture_on_commit_callbacks(execute=True):
        out = run("reconcile_payments", "--since", "2026-11-01")

    row = StripeEvent.objects.get(event_id=succeeded["id"])
    assert (row.outcome, row.attempts, row.error) == (EventOutcome.PROCESSED, 4, "")
    assert f"{succeeded['id']} -> processed" in out
    pay["a"].refresh_from_db()
    assert pay["a"].succeeded


@pytest.mark.django_db
def test_reconcile_leaves_an_intent_nobody_has_tried_to_pay_alone(
    fake_stripe, book, san_jose, django_capture_on_commit_callbacks, mailoutbox
):
    booking = book(san_jose)
    payment = deposit_of(booking)
    intent = fake_stripe.intents[payment.stripe_payment_intent_id]
    assert intent["status"] == "requires_payment_method"
    assert "last_payment_error" not in intent

    with django_capture_on_commit_callbacks(execute=True):
        out = run("reconcile_payments", "--since", "2026-11-01")

    payment.refresh_from_db()
    assert (payment.status, payment.failed) == (PaymentStatus.PENDING, False)
    assert mailoutbox == []
    assert "Done: 0 change(s) applied." in out
