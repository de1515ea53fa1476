"""
Bookings domain: customers, the station's price list, bookings and their history.

The rule that matters most lives in the database: no two active bookings of one chef overlap,
buffers included (the `no_chef_double_booking` exclusion constraint over `blocked`).
"""

import secrets

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    BigIntegerRangeField,
    DateTimeRangeField,
    RangeOperators,
)
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Func, Q, Value

from stations.models import Chef, Station
from stations.validators import validate_e164

ALLERGIES_MAX_LENGTH = 500
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud on the phone


def new_reference() -> str:
    return "MH-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


class Customer(models.Model):
    """A person who books at one station; matched by e-mail or phone, so one person is one row."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="customers")
    name = models.CharField(max_length=120)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    sms_opt_in = models.BooleanField(default=False)
    email_opt_in = models.BooleanField(
        default=True, help_text="Booking e-mails (confirmations, reminders)."
    )
    marketing_opt_in = models.BooleanField(default=False)
    do_not_contact = models.BooleanField(default=False)
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "email"],
                condition=~Q(email=""),
                name="customer_email_unique_per_station",
            ),
            models.UniqueConstraint(
                fields=["station", "phone"],
                condition=~Q(phone=""),
                name="customer_phone_unique_per_station",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DepositKind(models.TextChoices):
    FIXED = "fixed", "Fixed amount"
    PERCENT = "percent", "Percent of the total"


class PriceList(models.Model):
    """A station's prices and pricing rules. Money in cents; rates in basis points (1% = 100)."""

    station = models.OneToOneField(Station, on_delete=models.CASCADE, related_name="price_list")
    adult_price_cents = models.PositiveIntegerField(default=6_000)
    child_price_cents = models.PositiveIntegerField(default=3_000)
    child_age_limit = models.PositiveSmallIntegerField(
        default=12, help_text="Guests of this age or younger pay the child price."
    )
    minimum_weekday_cents = models.PositiveIntegerField(default=60_000)
    minimum_weekend_cents = models.PositiveIntegerField(
        default=80_000, help_text="Applies to events on Friday, Saturday and Sunday."
    )
    gratuity_min_guests = models.PositiveSmallIntegerField(
        default=20, help_text="Automatic gratuity from this many guests (adults + children)."
    )
    gratuity_bp = models.PositiveIntegerField(
        default=1_800, validators=[MaxValueValidator(10_000)], help_text="18% = 1800"
    )
    tax_rate_bp = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(10_000)], help_text="9.25% = 925"
    )
    deposit_kind = models.CharField(
        max_length=8, choices=DepositKind.choices, default=DepositKind.FIXED
    )
    deposit_fixed_cents = models.PositiveIntegerField(default=10_000)
    deposit_bp = models.PositiveIntegerField(
        default=2_000, validators=[MaxValueValidator(10_000)], help_text="20% = 2000"
    )
    change_fee_cents = models.PositiveIntegerField(
        default=5_000,
        help_text="Charged for a reschedule that is not the free one (see the station's "
        "free reschedule notice).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Price list of {self.station}"


class AddOnPricing(models.TextChoices):
    PER_PERSON = "per_person", "Per person"
    FLAT = "flat", "Flat"


class AddOn(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="addons")
    code = models.SlugField(max_length=40)
    label = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    pricing = models.CharField(max_length=12, choices=AddOnPricing.choices)
    price_cents = models.PositiveIntegerField()
    active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["station", "sort_order", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "code"], name="addon_code_unique_per_station"
            )
        ]

    def __str__(self) -> str:
        return self.label


class BookingStatus(models.TextChoices):
    PENDING_DEPOSIT = "pending_deposit", "Pending deposit"
    CONFIRMED = "confirmed", "Confirmed"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"
    EXPIRED = "expired", "Expired"


# Statuses that hold a chef's time (and so take part in the no-overlap constraint).
ACTIVE_STATUSES = (BookingStatus.PENDING_DEPOSIT, BookingStatus.CONFIRMED)
# Called off before the event (cancelled, or the hold expired): nothing is owed, and what is
# still open for payment is withdrawn.
CALLED_OFF_STATUSES = (BookingStatus.CANCELLED, BookingStatus.EXPIRED)
# Takes no more money: called off, or the customer never showed.
NO_PAYMENT_STATUSES = (*CALLED_OFF_STATUSES, BookingStatus.NO_SHOW)


class BookingSource(models.TextChoices):
    WEB = "web", "Booking site"
    STAFF = "staff", "Staff"
    LEAD = "lead", "Lead conversion"


class Booking(models.Model):
    # No index of its own: booking_station_date_idx (station, event_date) serves it.
    station = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bookings")
    reference = models.CharField(max_length=12, default=new_reference)  # unique: see Meta
    manage_token_hash = models.CharField(max_length=64)
    # The Idempotency-Key claim of the request that created it (an HMAC of the key, see
    # config.idempotency): a retry of that request finds this booking instead of making another.
    request_ref = models.CharField(max_length=64, blank=True, default="")

    # When, in the station's local time (event_date, start_time) and as UTC instants.
    event_date = models.DateField()
    start_time = models.TimeField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    blocked = DateTimeRangeField(help_text="The chef's time taken: the event plus buffers.")

    adults = models.PositiveSmallIntegerField()
    children = models.PositiveSmallIntegerField(default=0)
    addon_codes = models.JSONField(default=list, blank=True)

    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2)
    zip_code = models.CharField(max_length=5)
    notes = models.TextField(blank=True)
    # Its own field, not a line in the notes: the chef's screens and feed show it prominently.
    allergies = models.CharField(
        max_length=ALLERGIES_MAX_LENGTH,
        blank=True,
        default="",
        help_text="Allergies and dietary restrictions of the party, as the customer gave them.",
    )

    chef = models.ForeignKey(Chef, on_delete=models.PROTECT, related_name="bookings")
    status = models.CharField(
        max_length=20, choices=BookingStatus.choices, default=BookingStatus.PENDING_DEPOSIT
    )
    source = models.CharField(max_length=10, choices=BookingSource.choices, default="web")
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    reschedule_count = models.PositiveSmallIntegerField(default=0)

    # Money, in cents of `currency`, from the quote engine (bookings.pricing).
    currency = models.CharField(max_length=3)
    quote_lines = models.JSONField(default=list)
    subtotal_cents = models.PositiveIntegerField()
    travel_fee_cents = models.PositiveIntegerField(default=0)
    gratuity_cents = models.PositiveIntegerField(default=0)
    tax_cents = models.PositiveIntegerField(default=0)
    fees_cents = models.PositiveIntegerField(default=0, help_text="Change fees added later.")
    total_cents = models.PositiveIntegerField()
    deposit_cents = models.PositiveIntegerField()
    amount_paid_cents = models.PositiveIntegerField(default=0)
    amount_refunded_cents = models.PositiveIntegerField(default=0)
    amount_refund_pending_cents = models.PositiveIntegerField(
        default=0, help_text="Refunds sent to Stripe and not yet confirmed by it."
    )
    # The contact as the booking request gave it. A public request never changes a matched
    # customer's stored contact or consent; staff see here what differs and may apply it.
    submitted_contact = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [
            # The calendar and availability read a station's bookings by event date.
            models.Index(fields=["station", "event_date"], name="booking_station_date_idx"),
            # The hold sweeper and the reminder task read by status and start.
            models.Index(fields=["status", "starts_at"], name="booking_status_start_idx"),
        ]
        constraints = [
            # The chef id as a one-point range, so plain GiST range operators do the "same chef"
            # part: no btree_gist extension needed (embedded PostgreSQL doesn't ship it).
            ExclusionConstraint(
                name="no_chef_double_booking",
                expressions=[
                    (
                        Func(
                            F("chef"),
                            F("chef"),
                            Value("[]"),
                            function="int8range",
                            output_field=BigIntegerRangeField(),
                        ),
                        RangeOperators.OVERLAPS,
                    ),
                    ("blocked", RangeOperators.OVERLAPS),
                ],
                condition=Q(status__in=ACTIVE_STATUSES),
            ),
            models.CheckConstraint(condition=Q(adults__gte=1), name="booking_has_an_adult"),
            # A constraint rather than unique=True: the same unique index, without the
            # LIKE-pattern index Django adds for unique text fields (nothing searches by
            # prefix; the admin's search is case-insensitive, which that index can't serve).
            models.UniqueConstraint(fields=["reference"], name="booking_reference_unique"),
            models.UniqueConstraint(
                fields=["request_ref"],
                condition=~Q(request_ref=""),
                name="booking_request_ref_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def net_paid_cents(self) -> int:
        """The money the business holds for this booking: paid, less refunds made or sent."""
        return (
            self.amount_paid_cents - self.amount_refunded_cents - self.amount_refund_pending_cents
        )

    @property
    def balance_due_cents(self) -> int:
        """What the customer still owes: nothing once the booking is cancelled or expired."""
        if self.status in CALLED_OFF_STATUSES:
            return 0
        return max(0, self.total_cents - self.net_paid_cents)

    @property
    def credit_cents(self) -> int:
        """Money held above the total (a cheaper reschedule, a payment made twice): owed to the
        customer until it is refunded. Nothing for a called-off booking, whose money the
        cancellation policy settles."""
        if self.status in CALLED_OFF_STATUSES:
            return 0
        return max(0, self.net_paid_cents - self.total_cents)

    @property
    def contact_differs(self) -> bool:
        """Whether the contact given with the request differs from the customer's record."""
        given, c = self.submitted_contact or {}, self.customer
        stored = {"name": c.name, "email": c.email, "phone": c.phone, "sms_opt_in": c.sms_opt_in}
        return any(
            given.get(k) not in (None, "", stored[k]) for k in ("name", "email", "phone")
        ) or (given.get("sms_opt_in") is True and not c.sms_opt_in)

    @property
    def guests(self) -> int:
        return self.adults + self.children

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class BookingEvent(models.Model):
    """One line of a booking's history: who moved it from what to what, and why."""

    STATION_PATH = "booking__station"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor_label = models.CharField(max_length=40, help_text="customer, system, or the username")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status}"


class ReminderKind(models.TextChoices):
    DAYS_3 = "72h", "3 days before"
    DAY_1 = "24h", "1 day before"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed (will be retried)"
    DROPPED = "dropped", "dropped (not sent, see the reason)"


class Notification(models.Model):
    """One message to a booking's customer: the transactional outbox (bookings.notifications).

    The row is written in the transaction that decided to send it, unique by `key` (derived
    from our ids, so a retried caller queues it once), and sent afterwards by a task on the
    `notifications` queue that claims it with a lease. `sent` is recorded only after the
    provider accepted the message. A reminder (`reminder_kind` set) is rendered when it is
    sent, from the booking as it is then, and is about `event_starts_at`: a booking that moved
    since gets it dropped (the new start has reminders of its own keys)."""

    STATION_PATH = "booking__station"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="notifications")
    key = models.CharField(max_length=200, unique=True, help_text="idempotency key")
    channel = models.CharField(
        max_length=8, blank=True, help_text="email or sms; blank until decided at sending"
    )
    subject = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="sending: the lease of the worker sending it; failed: not retried before",
    )
    last_error = models.TextField(blank=True, help_text="why it failed, or why it was dropped")
    reminder_kind = models.CharField(max_length=4, choices=ReminderKind.choices, blank=True)
    event_starts_at = models.DateTimeField(
        null=True, blank=True, help_text="a reminder: the start it announces"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweeper's scan: rows not finished (pending, sending, failed) by age.
            models.Index(
                fields=["status", "created_at"],
                name="notification_unfinished",
                condition=Q(status__in=["pending", "sending", "failed"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"
