"""
A stateful property test of a booking's money (issue 9): hypothesis drives random sequences
of what a customer, staff, Stripe and the clock do to one booking, through the same doors they
use (the booking link and the staff API over HTTP, signed webhooks, the tasks), and after
every step checks the money invariants of DESIGN.md §3:

- refunded ≤ paid, per payment, per booking and at Stripe;
- what the booking link offers ≤ the balance due;
- the booking's sums equal its payments' and refunds' (paid, refunded, refunds in flight);
- one currency per booking;
- money held above the total is never silent: a refund is on its way or staff were told;
- nothing is cancelled, rescheduled or refunded by the customer after the event started.

Stripe is the local fake of conftest (intents, refunds, cancellation: a paid intent cannot be
cancelled), its events are built in Stripe's format, delivered late, out of order and more than
once. The clock is moved with time-machine, across the event and across a daylight-saving
change of the station's time zone.

Bounded for `make test` (MONEY_MACHINE_EXAMPLES, default 25, times MONEY_MACHINE_STEPS, default
30); a larger search: `MONEY_MACHINE_EXAMPLES=500 MONEY_MACHINE_STEPS=60
MONEY_MACHINE_RANDOM=1 make test PYTEST_ARGS=payments/tests/test_money_machine.py`.
"""

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import pytest
import time_machine
from django.db import transaction
from django.test import TestCase
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from bookings import services as booking_services
from bookings.models import CALLED_OFF_STATUSES, Booking, BookingStatus
from payments import fake_events, selectors
from payments.models import Payment, PaymentKind, Refund, RefundStatus
from payments.tasks import charge_balance, sweep_stripe_events

EXAMPLES = int(os.environ.get("MONEY_MACHINE_EXAMPLES", "25"))
STEPS = int(os.environ.get("MONEY_MACHINE_STEPS", "30"))

# A step takes up to ~40 ms here: a larger search gets the time it needs.
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(max(300, EXAMPLES * STEPS // 10))]

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
# Ten days before each daylight-saving change of 2027 in San Jose (March 14, November 7), so
# the events and the clock's moves fall on both sides of it.
STARTS = [
    datetime(2027, 3, 4, 10, tzinfo=LOS_ANGELES),
    datetime(2027, 10, 28, 10, tzinfo=LOS_ANGELES),
]
TIMES = ["12:00", "17:00", "19:30"]
OVERPAID_NOTES = ("more than the total", "refund by hand")


class MoneyMachine(RuleBasedStateMachine):
    """One booking's life. Class attributes are set by the test before it runs."""

    fake = None
    station = None
    users: dict = {}
    webhook_secret = ""

    def __init__(self):
        super().__init__()
        # Each example in a savepoint of its own, rolled back in teardown.
        self._example = transaction.atomic()
        self._example.__enter__()
        self.now = None
        self.booking_id = None
        self.token = None
        self.queued = []  # Stripe events sent and not yet forgotten (redeliveries happen)
        for kept in (self.fake.intents, self.fake.refunds, self.fake.answers, self.fake.requests):
            kept.clear()  # Stripe starts afresh with the database

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    # --- plumbing -------------------------------------------------------------------------

    def at_now(self):
        return time_machine.travel(self.now, tick=False)

    def call(self, method, path, body=None, user=None, token=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(self.users[user])
        headers = {"HTTP_X_BOOKING_TOKEN": token} if token else {}
        with self.at_now(), TestCase.captureOnCommitCallbacks(execute=True):
            response = getattr(client, method)(path, body or {}, format="json", **headers)
        assert response.status_code < 500, (path, response.content)
        return response

    def booking(self) -> Booking:
        return Booking.objects.select_related("station", "customer").get(pk=self.booking_id)

    def link(self, action="", body=None):
        path = f"/api/v1/bookings/{self.booking().reference}/"
        method = "get" if not action else "post"
        return self.call(method, path + action if action else path, body, token=self.token)

    def staff(self, user, path, body=None):
        return self.call("post", f"/api/v1/staff/{path}", body, user=user)

    def started(self) -> bool:
        return self.now >= self.booking().starts_at

    def deliver(self, event: dict):
        body = fake_events.encode(event)
        with self.at_now():
            signature = fake_events.signature_header(body, self.webhook_secret)
        client = APIClient()
        with self.at_now(), TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post(
                "/api/v1/webhooks/stripe",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature,
            )
        assert response.status_code == 200, response.content

    def snapshot(self):
        b = self.booking()
        return (b.status, b.event_date, b.start_time, b.total_cents, Refund.objects.count())

    # --- the booking ----------------------------------------------------------------------

    @initialize(start=st.sampled_from(STARTS), days=st.integers(8, 12), at=st.sampled_from(TIMES))
    def book(self, start, days, at):
        self.now = start
        day = (start + timedelta(days=days)).date()
        body = {
            "station": self.station.slug,
            "event_date": day.isoformat(),
            "start_time": at,
            "adults": 10,
            "children": 2,
            "addons": ["gyoza"],
            "address": {
                "line1": "1 Main St",
                "city": "San Jose",
                "state": "CA",
                "zip_code": "95112",
            },
            "customer": {"name": "Pat", "email": "pat@example.com", "phone": "+14085550142"},
        }
        response = self.call("post", "/api/v1/bookings/", body)
        assert response.status_code == 201, response.content
        self.token = response.json()["manage_token"]
        self.booking_id = Booking.objects.get(reference=response.json()["reference"]).pk

    # --- the customer ---------------------------------------------------------------------

    def pay_intent(self, intent_id: str, *, save_card: bool):
        """Stripe takes the customer's money for an intent (if it still can be paid)."""
        intent = self.fake.intents.get(intent_id)
        if intent is None or intent["status"] in ("succeeded", "canceled"):
            return
        intent.update(status="succeeded", amount_received=intent["amount"])
        event = fake_events.build_event("payment_intent.succeeded", self.payment(intent_id))
        if save_card:
            event["data"]["object"].update(customer="cus_saved", payment_method="pm_saved")
        self.queued.append(event)

    def payment(self, intent_id: str) -> Payment:
        return Payment.objects.select_related("booking__station").get(
            stripe_payment_intent_id=intent_id
        )

    @rule(save_card=st.booleans())
    def customer_pays_what_the_link_offers(self, save_card):
        offered = self.link().json()["payment"]
        if offered is not None:
            self.pay_intent(offered["payment_intent"], save_card=save_card)

    @rule(data=st.data())
    def customer_pays_an_old_link(self, data):
        """A second tab, an old e-mail: any of the booking's intents Stripe would still take."""
        intents = list(self.booking().payments.values_list("stripe_payment_intent_id", flat=True))
        if intents:
            self.pay_intent(data.draw(st.sampled_from(intents)), save_card=False)

    @rule()
    def customer_cancels(self):
        before, started = self.snapshot(), self.started()
        response = self.link("cancel")
        if started:
            assert response.status_code == 409, response.content
            assert self.snapshot() == before

    @rule(days=st.integers(-3, 20), at=st.sampled_from(TIMES))
    def customer_reschedules(self, days, at):
        before, started = self.snapshot(), self.started()
        day = self.booking().event_date + timedelta(days=days)
        response = self.link("reschedule", {"event_date": day.isoformat(), "start_time": at})
        if started:
            assert response.status_code == 409, response.content
            assert self.snapshot() == before

    # --- staff ----------------------------------------------------------------------------

    @rule(user=st.sampled_from(["owner", "manager", "agent"]))
    def staff_request_balance(self, user):
        self.staff(user, f"bookings/{self.booking_id}/request-balance")

    @rule(
        user=st.sampled_from(["owner", "manager"]),
        days=st.integers(1, 20),
        at=st.sampled_from(TIMES),
    )
    def staff_reschedule(self, user, days, at):
        day = self.booking().event_date + timedelta(days=days)
        body = {"event_date": day.isoformat(), "start_time": at}
        self.staff(user, f"bookings/{self.booking_id}/reschedule", body)

    @rule(
        user=st.sampled_from(["owner", "manager"]),
        refund=st.one_of(st.none(), st.integers(0, 100_000)),
    )
    def staff_cancel(self, user, refund):
        body = {} if refund is None else {"refund_cents": refund}
        self.staff(user, f"bookings/{self.booking_id}/cancel", body)

    @rule(action=st.sampled_from(["confirm", "complete", "no-show"]))
    def staff_records(self, action):
        self.staff("manager", f"bookings/{self.booking_id}/{action}")

    @rule(data=st.data(), user=st.sampled_from(["owner", "manager"]))
    def staff_refunds(self, data, user):
        payments = list(self.booking().payments.values_list("pk", flat=True))
        if not payments:
            return
        payment = data.draw(st.sampled_from(payments))
        amount = data.draw(st.integers(1, 100_000))
        self.staff(user, f"payments/{payment}/refund", {"amount_cents": amount})

    # --- Stripe ---------------------------------------------------------------------------

    @rule(data=st.data())
    def stripe_declines_a_card(self, data):
        open_intents = [
            i for i in self.fake.intents.values() if i["status"] == "requires_payment_method"
        ]
        ours = [
            i
            for i in open_intents
            if Payment.objects.filter(stripe_payment_intent_id=i["id"]).exists()
        ]
        if ours:
            intent = data.draw(st.sampled_from(ours))
            event = fake_events.build_event(
                "payment_intent.payment_failed", self.payment(intent["id"])
            )
            self.queued.append(event)

    @rule()
    def stripe_reports_refunds(self):
        """charge.refunded, with the cumulative amount refunded at Stripe, per paid intent."""
        for intent_id, refunded in self.refunded_at_stripe().items():
            payment = self.payment(intent_id)
            event = fake_events.build_event("charge.refunded", payment, amount_cents=refunded)
            self.queued.append(event)

    @precondition(lambda self: self.queued)
    @rule(pick=st.integers(0, 10_000), keep=st.booleans())
    def stripe_delivers_an_event(self, pick, keep):
        """Some event sent so far, in any order; kept for a redelivery, or not."""
        event = self.queued[pick % len(self.queued)]
        if not keep:
            self.queued.remove(event)
        self.deliver(event)

    # --- time and the background work ----------------------------------------------------

    @rule(hours=st.sampled_from([1, 5, 23, 25, 71, 24 * 7]))
    def time_passes(self, hours):
        self.now += timedelta(hours=hours)

    @rule(minutes=st.integers(-90, 300))
    def the_party_time_comes(self, minutes):
        """The clock jumps to around the start (only forwards)."""
        self.now = max(self.now, self.booking().starts_at + timedelta(minutes=minutes))

    @rule()
    def beat_runs(self):
        """The periodic tasks: hold expiry, the ledger sweeper and the automatic charge."""
        with self.at_now(), TestCase.captureOnCommitCallbacks(execute=True):
            booking_services.bookings_expire_holds(now=self.now)
            sweep_stripe_events.delay()

    @rule()
    def the_card_on_file_is_charged(self):
        with self.at_now(), TestCase.captureOnCommitCallbacks(execute=True):
            charge_balance.delay(self.booking_id)
        for payment in self.booking().payments.filter(off_session=True):
            intent = self.fake.intents[payment.stripe_payment_intent_id]
            if intent["status"] == "succeeded" and not payment.succeeded:
                event = fake_events.build_event("payment_intent.succeeded", payment)
                self.queued.append(event)

    # --- what must always hold ----------------------------------------------------------------

    def refunded_at_stripe(self) -> dict:
        totals = {}
        for refund in self.fake.refunds.values():
            totals[refund["payment_intent"]] = (
                totals.get(refund["payment_intent"], 0) + refund["amount"]
            )
        return totals

    @invariant()
    def money_adds_up(self):
        if self.booking_id is None:
            return
        b = self.booking()
        payments = list(b.payments.all())
        paid = [p for p in payments if p.succeeded]
        pending = Refund.objects.filter(payment__booking=b, status=RefundStatus.PENDING)
        assert {p.currency for p in payments} <= {b.currency}
        assert b.amount_paid_cents == sum(p.amount_cents for p in paid)
        assert b.amount_refunded_cents == sum(p.amount_refunded_cents for p in paid)
        assert b.amount_refund_pending_cents == sum(r.amount_cents for r in pending)
        assert b.amount_refunded_cents + b.amount_refund_pending_cents <= b.amount_paid_cents
        for p in payments:
            asked = sum(r.amount_cents for r in p.refunds.exclude(status=RefundStatus.FAILED))
            assert p.amount_refunded_cents <= p.amount_cents
            assert asked <= (p.amount_cents if p.succeeded else 0)

    @invariant()
    def stripe_never_refunds_more_than_it_took(self):
        for intent_id, refunded in self.refunded_at_stripe().items():
            assert refunded <= self.fake.intents[intent_id]["amount_received"]

    @invariant()
    def the_link_never_asks_for_more_than_is_due(self):
        if self.booking_id is None:
            return
        b = self.booking()
        offered = selectors.open_payment(b)
        if offered is not None:
            assert offered.amount_cents <= b.balance_due_cents
            assert offered.kind in PaymentKind.values

    @invariant()
    def money_above_the_total_is_never_silent(self):
        if self.booking_id is None:
            return
        b = self.booking()
        if b.status in CALLED_OFF_STATUSES or b.net_paid_cents <= b.total_cents:
            return
        told = any(note in e.reason for e in b.events.all() for note in OVERPAID_NOTES)
        assert told, (
            b.net_paid_cents,
            b.total_cents,
            list(b.events.values_list("reason", flat=True)),
        )

    @invariant()
    def the_booking_is_in_a_known_state(self):
        if self.booking_id is not None:
            assert self.booking().status in BookingStatus.values


def test_a_bookings_money_holds_whatever_happens(
    fake_stripe, san_jose, owner, sj_manager, sj_agent, settings
):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_money_machine"
    # One client books and calls hundreds of times a minute here; the limits are not the subject.
    settings.THROTTLE_RATES = dict.fromkeys(settings.THROTTLE_RATES, "1000000/min")
    san_jose.auto_charge_balance_days = 5
    san_jose.save()
    MoneyMachine.fake = fake_stripe
    MoneyMachine.station = san_jose
    MoneyMachine.users = {"owner": owner, "manager": sj_manager, "agent": sj_agent}
    MoneyMachine.webhook_secret = settings.STRIPE_WEBHOOK_SECRET
    run_state_machine_as_test(
        MoneyMachine,
        settings=hypothesis_settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not os.environ.get("MONEY_MACHINE_RANDOM"),
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
