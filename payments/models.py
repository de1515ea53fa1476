"""
Payments: Stripe PaymentIntents per booking (deposit, balance), refunds, and the webhook event
ledger. A payment's status is derived from facts that only ever grow (seen succeeded, seen
failed, the highest refunded amount), so events applied in any order converge.
"""

from django.conf import settings
from django.db import models

from bookings.models import Booking
from stations.models import Station


class PaymentKind(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    BALANCE = "balance", "Balance"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Awaiting payment"
    FAILED = "failed", "Failed (can be retried)"
    SUCCEEDED = "succeeded", "Paid"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    CANCELED = "canceled", "Withdrawn (booking ended)"


class PaymentMethod(models.TextChoices):
    STRIPE = "stripe", "Card through Stripe"
    CASH = "cash", "Cash"
    CHECK = "check", "Check"
    CARD_TERMINAL = "card_terminal", "Card terminal (not Stripe)"


# Money taken outside Stripe and recorded by staff (payments.outside): counted like any other
# payment, but Stripe can neither refund it nor tell us about it.
OUTSIDE_METHODS = (PaymentMethod.CASH, PaymentMethod.CHECK, PaymentMethod.CARD_TERMINAL)


# A payment still waiting for the customer: offered on the booking link, withdrawn when the
# booking ends.
OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.FAILED)


class Payment(models.Model):
    STATION_PATH = "booking__station"

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=8, choices=PaymentKind.choices)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # For money taken outside Stripe, a unique id of our own ("outside_<hex>"), never sent to it.
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True)
    method = models.CharField(
        max_length=16, choices=PaymentMethod.choices, default=PaymentMethod.STRIPE
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who recorded a payment taken outside Stripe.",
    )
    taken_by = models.CharField(
        max_length=120, blank=True, help_text="Who took the money (a staff member or a chef)."
    )
    received_at = models.DateTimeField(
        null=True, blank=True, help_text="When money taken outside Stripe was received."
    )
    note = models.CharField(max_length=300, blank=True)
    client_secret = models.CharField(max_length=255, blank=True)
    offline = models.BooleanField(
        default=False, help_text="Made without Stripe (no STRIPE_SECRET_KEY): not real money."
    )
    to_return = models.BooleanField(
        default=False,
        help_text="Paid after its booking ended (cancelled, or expired and its slot gone): "
        "refunded automatically.",
    )
    off_session = models.BooleanField(
        default=False, help_text="Charged to the card saved with the deposit (automatic balance)."
    )
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    # The facts the status is derived from; each only moves one way.
    succeeded = models.BooleanField(default=False)
    failed = models.BooleanField(default=False)
    failure_message = models.CharField(max_length=300, blank=True)
    amount_refunded_cents = models.PositiveIntegerField(default=0)
    disputed = models.BooleanField(default=False)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Webhook processing finds a payment by its PaymentIntent within a booking.
            models.Index(
                fields=["booking", "stripe_payment_intent_id"], name="payment_booking_intent_idx"
            )
        ]
        constraints = [
            # One deposit per booking: a retried create can never make a second one.
            models.UniqueConstraint(
                fields=["booking"],
                condition=models.Q(kind="deposit"),
                name="one_deposit_per_booking",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_cents / 100:.2f} {self.currency}"

    @property
    def is_outside(self) -> bool:
        """Taken outside Stripe (cash, check, a card terminal): Stripe cannot refund it."""
        return self.method != PaymentMethod.STRIPE

    @property
    def refundable_cents(self) -> int:
        return self.amount_cents - self.amount_refunded_cents if self.succeeded else 0


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Sent to Stripe"
    SUCCEEDED = "succeeded", "Refunded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    STATION_PATH = "payment__booking__station"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    stripe_refund_id = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    requested_by_label = models.CharField(max_length=40)
    by_policy = models.BooleanField(
        default=False,
        help_text="Ordered by the station's policy (a cancellation, credit above the total), "
        "not chosen by a person; does not count against a manager's refund limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Refund {self.amount_cents / 100:.2f} ({self.get_status_display()})"


class EventOutcome(models.TextChoices):
    PENDING = "pending", "Waiting to be processed"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (type not handled or object unknown)"
    FAILED = "failed", "Failed (will be retried)"
    REJECTED = "rejected", "Rejected (does not match our payment: review)"


# Outcomes that are final: the row is never applied again (rejected rows wait for staff).
FINAL_OUTCOMES = (EventOutcome.PROCESSED, EventOutcome.IGNORED, EventOutcome.REJECTED)


class StripeEvent(models.Model):
    """The webhook ledger: every verified Stripe event, stored once under its id."""

    STATION_PATH = "station"

    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    livemode = models.BooleanField(default=False)
    station = models.ForeignKey(
        Station, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(
        max_length=10, choices=EventOutcome.choices, default=EventOutcome.PENDING
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The sweeper looks for rows still waiting.
            models.Index(fields=["outcome", "received_at"], name="stripe_event_outcome_idx")
        ]
        constraints = [
            # A constraint rather than unique=True: the same unique index, without the
            # LIKE-pattern index Django adds for unique text fields, which nothing here uses
            # and every webhook event paid to maintain.
            models.UniqueConstraint(fields=["event_id"], name="stripe_event_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class StripeDrainQueued(models.Model):
    """At most one row, while a drain of the ledger is queued and has not started yet
    (payments.ledger, "Draining"). Its presence is the flag; `queued_at` lets the sweeper clear
    one whose drain message was lost."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    queued_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"drain queued at {self.queued_at:%Y-%m-%d %H:%M:%S}"
