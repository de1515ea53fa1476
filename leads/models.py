"""
Leads (DESIGN.md §4): a person who asked about a party and has not booked yet.

A lead is captured from the public form, an inbound message from an unknown sender, a staff
quick-add (a phone call) or a CSV import. It is routed to the station whose service area covers
its ZIP code (else it waits in the unassigned queue, which owners see), merged into the station's
open lead with the same phone or e-mail, scored 0-100 with readable reasons, and worked through
the pipeline until it is won (converted to a booking) or lost (with a reason).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from bookings.models import Booking, Customer
from stations.models import Station
from stations.validators import validate_e164


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    QUOTED = "quoted", "Quoted"
    WON = "won", "Won"
    LOST = "lost", "Lost"


OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.QUOTED)


class LeadSource(models.TextChoices):
    WEB = "web", "Website form"
    PHONE = "phone", "Phone call"
    SMS = "sms", "Text message"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    EMAIL = "email", "E-mail"
    REFERRAL = "referral", "Referral"
    EVENT = "event", "Seen at an event"
    IMPORT = "import", "Import"
    OTHER = "other", "Other"


class Lead(models.Model):
    # No index of its own on station: lead_station_status_idx (station, status) serves it.
    station = models.ForeignKey(
        Station,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        db_index=False,
        help_text="Empty: no station serves the ZIP code; the lead waits in the unassigned queue.",
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    name = models.CharField(max_length=120)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    zip_code = models.CharField(max_length=5, blank=True)
    source = models.CharField(max_length=16, choices=LeadSource.choices, default=LeadSource.WEB)
    event_date = models.DateField(null=True, blank=True)
    guests = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(500)]
    )
    budget_cents = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    status = models.CharField(max_length=12, choices=LeadStatus.choices, default=LeadStatus.NEW)
    lost_reason = models.CharField(max_length=200, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_leads",
    )
    follow_up_at = models.DateTimeField(null=True, blank=True)

    score = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    # [{"factor": "guests", "points": 15, "max": 20, "detail": "12 guests"}, ...]
    score_reasons = models.JSONField(default=list, blank=True)
    score_explanation = models.TextField(blank=True, help_text="The AI's reading of the score.")
    scored_at = models.DateTimeField(null=True, blank=True)

    # Speed to lead.
    first_reply_at = models.DateTimeField(
        null=True, blank=True, help_text="The automatic first reply was queued."
    )
    first_human_contact_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(
        default=0, help_text="0: none; 1: the assignee was reminded; 2: the managers were."
    )
    escalated_at = models.DateTimeField(null=True, blank=True)

    converted_booking = models.OneToOneField(
        Booking, on_delete=models.SET_NULL, null=True, blank=True, related_name="lead"
    )
    # The import row (or other outside record) this lead came from: a second import of the same
    # file finds it instead of creating another.
    import_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The seed's index for the pipeline: the admin's status tabs, their counts and the
            # staff API list all filter by station and status (DESIGN.md §4).
            models.Index(fields=["station", "status"], name="lead_station_status_idx"),
            # Dedupe looks for the station's open lead with this phone or e-mail.
            models.Index(fields=["station", "phone"], name="lead_station_phone_idx"),
            models.Index(fields=["station", "email"], name="lead_station_email_idx"),
            # The stale-lead sweep reads new leads nobody has contacted yet.
            models.Index(
                fields=["created_at"],
                name="lead_uncontacted_idx",
                condition=models.Q(status="new", first_human_contact_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="lost") | ~models.Q(lost_reason=""),
                name="lead_lost_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(score__lte=100), name="lead_score_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def first_name(self) -> str:
        return (self.name or "").split(" ")[0]


class ActivityKind(models.TextChoices):
    CAPTURED = "captured", "Came in"
    MERGED = "merged", "Merged"
    NOTE = "note", "Note"
    CALL = "call", "Call"
    MESSAGE = "message", "Message"
    STATUS = "status", "Status change"
    ASSIGNED = "assigned", "Assigned"
    FOLLOW_UP = "follow_up", "Follow-up set"
    REMINDER = "reminder", "Reminder"
    FIRST_REPLY = "first_reply", "First reply"
    CONVERTED = "converted", "Converted"
    UPDATED = "updated", "Details changed"


# The kinds that count as a person at the station reaching the lead (speed to lead).
HUMAN_CONTACT_KINDS = (ActivityKind.CALL, ActivityKind.MESSAGE)


class LeadActivity(models.Model):
    STATION_PATH = "lead__station"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=12, choices=ActivityKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor_label = models.CharField(max_length=150, blank=True)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "lead activities"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.lead_id}"
