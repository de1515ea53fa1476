"""Stations (territories), who works at them and in what role, and their chefs."""

import hashlib
import secrets
from datetime import time

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from stations.validators import (
    validate_currency,
    validate_e164,
    validate_timezone,
    validate_zip_code,
)


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


def default_duration_rules() -> list[dict]:
    return [
        {"max_guests": 15, "minutes": 120},
        {"max_guests": 30, "minutes": 150},
        {"max_guests": 60, "minutes": 180},
    ]


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    AGENT = "agent", "Agent"
    CHEF = "chef", "Chef"


class L1Intent(models.TextChoices):
    """What a station may let L1 answer without a person: questions answered from station
    data. Complaints, refunds, allergies, legal matters, threats and changes to a booking are
    never on this list (they are L3, inbox.ai.intents)."""

    PRICE = "price", "prices"
    MENU = "menu", "menu"
    INCLUDED = "included", "what's included"
    SERVICE_AREA = "service_area", "service area"
    AVAILABILITY = "availability", "availability on a date"
    DEPOSIT_POLICY = "deposit_policy", "deposit policy"
    CANCELLATION_POLICY = "cancellation_policy", "cancellation policy"


def default_l1_intents() -> list[str]:
    """The intents L1 may answer by default (DESIGN.md §7): prices, menu, what's included,
    service area, availability."""
    return ["price", "menu", "included", "service_area", "availability"]


class AutoReplyLevel(models.TextChoices):
    NONE = "none", "Never auto-send (every reply approved by a person)"
    L1 = "l1", "L1: auto-send allow-listed answers at high confidence"


class Station(models.Model):
    """A territory with its own chefs, prices, phone numbers, staff and rules."""

    slug = models.SlugField(unique=True, max_length=50)
    name = models.CharField(max_length=120)
    timezone = models.CharField(
        max_length=64, default="America/Los_Angeles", validators=[validate_timezone]
    )
    currency = models.CharField(max_length=3, default="USD", validators=[validate_currency])
    phone = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    email = models.EmailField(blank=True)
    active = models.BooleanField(default=True)

    # Booking rules (all read in the station's local time).
    slot_interval_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    earliest_start = models.TimeField(default=time(11, 0))
    latest_start = models.TimeField(default=time(20, 0))
    duration_rules = models.JSONField(
        default=default_duration_rules,
        help_text='Event length by guest count: [{"max_guests": 15, "minutes": 120}, ...], '
        "ascending; the first tier that fits the party is used.",
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        default=60, help_text="Travel and set-up time kept free before and after each event."
    )
    min_notice_hours = models.PositiveSmallIntegerField(default=48)
    # Each of these at 0 would close online booking without saying so (no day is open, no chef
    # may take an event, no party fits, every hold expires at once); `active` closes a station.
    booking_horizon_days = models.PositiveSmallIntegerField(
        default=180, validators=[MinValueValidator(1)]
    )
    max_events_per_chef_per_day = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)]
    )
    max_guests = models.PositiveSmallIntegerField(default=60, validators=[MinValueValidator(1)])
    hold_minutes = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(5)],
        help_text="How long an unpaid booking made online holds its chef before it expires.",
    )
    # A booking taken by staff (phone, staff API) waits for a deposit link the customer opens
    # later, or for cash at a visit: a longer hold, set apart from the online one.
    staff_hold_minutes = models.PositiveIntegerField(
        default=24 * 60,
        validators=[MinValueValidator(5), MaxValueValidator(14 * 24 * 60)],
        help_text="How long an unpaid booking taken by staff (phone, staff API) holds its chef "
        "before it expires, in minutes (1440 = 24 hours; at most 14 days).",
    )

    # Cancellation policy (applied the same way by self-service, staff API and admin).
    deposit_forfeit_hours = models.PositiveIntegerField(
        default=72,
        help_text="Cancelled at least this long before the event: everything paid is refunded; "
        "later, the deposit is kept and the rest refunded.",
    )
    free_reschedule_notice_hours = models.PositiveIntegerField(
        default=72, help_text="One free reschedule when asked at least this long before."
    )

    # Messaging.
    quiet_hours_start = models.TimeField(default=time(21, 0))
    quiet_hours_end = models.TimeField(default=time(9, 0))
    sms_help_text = models.CharField(
        max_length=300,
        blank=True,
        help_text="The answer to a text of HELP or INFO. Blank: the station's name and phone, "
        "and how to stop messages.",
    )

    # Payments.
    manager_refund_limit_cents = models.PositiveIntegerField(
        default=50_000, help_text="Managers may refund up to this much per refund; owners any."
    )
    auto_charge_balance_days = models.PositiveSmallIntegerField(
        default=0,
        help_text="Charge the balance to the card saved with the deposit this many days "
        "before the event (0: never; staff request it instead).",
    )

    # AI.
    ai_monthly_budget_cents = models.PositiveIntegerField(default=5_000)
    ai_rate_limit_per_minute = models.PositiveSmallIntegerField(default=50)
    ai_auto_reply_level = models.CharField(
        max_length=8, choices=AutoReplyLevel.choices, default=AutoReplyLevel.NONE
    )
    ai_l1_intents = ArrayField(
        models.CharField(max_length=30, choices=L1Intent.choices),
        default=default_l1_intents,
        blank=True,
        help_text="What L1 may answer on its own (comma-separated): price, menu, included, "
        "service_area, availability (the default), deposit_policy, cancellation_policy.",
    )
    ai_confidence_threshold = models.PositiveSmallIntegerField(
        default=85,
        validators=[MaxValueValidator(100)],
        help_text="L1 sends only when the classification is at least this sure (percent).",
    )

    # Leads (speed to lead).
    opening_time = models.TimeField(
        default=time(9, 0), help_text="When staff start answering (station local time)."
    )
    closing_time = models.TimeField(
        default=time(21, 0), help_text="When staff stop answering (station local time)."
    )
    lead_response_target_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(1)],
        help_text="A new lead with no human contact after this many opening-hours minutes "
        "is flagged: the assignee is reminded, then the station's managers.",
    )
    lead_auto_first_reply = models.BooleanField(
        default=True,
        help_text="Send the first reply below at once on the lead's channel (consent and "
        "quiet hours respected).",
    )
    lead_first_reply_text = models.CharField(
        max_length=320,
        default="Hi {first_name}, thanks for asking {station} about a hibachi party! "
        "A member of our team will get back to you shortly.",
        help_text="{first_name} and {station} are filled in.",
    )

    # Reviews.
    review_request_delay_hours = models.PositiveSmallIntegerField(
        default=24,
        help_text="Ask for a review this many hours after an event is completed (quiet hours "
        "respected).",
    )
    review_auto_reply_five_star = models.BooleanField(
        default=False,
        help_text="Let the AI reply on its own (L1) to 5-star reviews with no text; every "
        "other review waits for a person.",
    )

    calendar_token = models.CharField(
        max_length=64, default=new_feed_token, unique=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        for name in ("earliest_start", "latest_start", "quiet_hours_start", "quiet_hours_end"):
            value = getattr(self, name)
            if value and (value.second or value.microsecond):
                # Customers pick starts as HH:MM; a start with seconds could never be booked.
                errors[name] = "Give a time in whole minutes (HH:MM)."
        if self.earliest_start and self.latest_start and self.earliest_start > self.latest_start:
            errors.setdefault(
                "latest_start", "The latest start must not be before the earliest start."
            )
        if self.opening_time and self.closing_time and self.opening_time >= self.closing_time:
            errors["closing_time"] = "Closing time must be after opening time."
        try:
            self.lead_first_reply_text.format(first_name="", station="")
        except (KeyError, IndexError, ValueError):
            errors["lead_first_reply_text"] = (
                "Only {first_name} and {station} can be filled in; write other braces as {{ }}."
            )
        try:
            self.event_minutes_for(1)
            tiers = [tier["max_guests"] for tier in self.duration_rules]
            if tiers != sorted(tiers) or any(int(t["minutes"]) <= 0 for t in self.duration_rules):
                raise ValueError
        except (KeyError, TypeError, ValueError, IndexError):
            errors["duration_rules"] = (
                'Give ascending tiers like [{"max_guests": 15, "minutes": 120}] with minutes > 0.'
            )
        if errors:
            raise ValidationError(errors)

    def event_minutes_for(self, guests: int) -> int:
        """Length of an event for a party of this size (the last tier covers anything larger)."""
        for tier in self.duration_rules:
            if guests <= int(tier["max_guests"]):
                return int(tier["minutes"])
        return int(self.duration_rules[-1]["minutes"])


class ServiceZone(models.Model):
    """A travel-fee zone: the ZIP codes a station serves for one fee. Outside all zones: no."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=80)
    zip_codes = ArrayField(models.CharField(max_length=5, validators=[validate_zip_code]))
    travel_fee_cents = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["station", "travel_fee_cents", "name"]
        constraints = [
            models.UniqueConstraint(fields=["station", "name"], name="zone_name_unique_per_station")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({len(self.zip_codes)} ZIPs)"

    def clean(self) -> None:
        if not self.station_id:
            return
        overlap = (
            ServiceZone.objects.filter(
                station_id=self.station_id, zip_codes__overlap=self.zip_codes
            )
            .exclude(pk=self.pk)
            .values_list("name", flat=True)
        )
        if overlap:
            raise ValidationError(
                {"zip_codes": f"Some ZIP codes are already in zone(s): {', '.join(overlap)}."}
            )


class Membership(models.Model):
    """A user's role at one station. The tenancy rule (stations.tenancy) is built on these rows."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["station", "role", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "station"], name="one_membership_per_station")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.station}"


class Chef(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="chefs")
    name = models.CharField(max_length=120)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chef_profile",
        help_text="The login of this chef, who then sees their own events read-only.",
    )
    phone = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    active = models.BooleanField(default=True)
    calendar_token = models.CharField(
        max_length=64, default=new_feed_token, unique=True, editable=False
    )

    class Meta:
        ordering = ["station", "name"]

    def __str__(self) -> str:
        return self.name


class TimeOff(models.Model):
    STATION_PATH = "chef__station"

    chef = models.ForeignKey(Chef, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name_plural = "time off"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="time_off_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.chef}: {self.starts_at:%Y-%m-%d} to {self.ends_at:%Y-%m-%d}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "Time off must end after it starts."})


class Invitation(models.Model):
    """An owner's invitation to join a station in a role, sent by e-mail. The link's token is
    stored only as its SHA-256 (a leaked table opens nothing); it works once, until it expires."""

    VALID_DAYS = 7

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    name = models.CharField(
        max_length=150, blank=True, help_text="The person's name, for a new account."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} — {self.get_role_display()} at {self.station}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def is_open(self, now=None) -> bool:
        return self.accepted_at is None and (now or timezone.now()) < self.expires_at
