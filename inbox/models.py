"""
The unified inbox (DESIGN.md §4): channels a station receives on, the people behind them, one
conversation per customer and station across every channel, and its messages.

Rules the tables keep themselves:
- A provider message is stored once per channel (`message_provider_id_unique_per_channel`): a
  webhook retried for days inserts nothing new.
- An outbound message is sent once: its `idempotency_key` (derived from our ids) is unique, and
  the sender claims it with a conditional UPDATE before calling the provider.
- A delivery status never moves backwards: `status_rank` only grows (inbox.services.status_apply
  updates WHERE status_rank < new rank).
- A contact identity (channel kind, external id) belongs to one customer per station.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from bookings.models import Customer
from stations.models import Station


class ChannelKind(models.TextChoices):
    SMS_RINGCENTRAL = "sms_ringcentral", "SMS (RingCentral)"
    SMS_TWILIO = "sms_twilio", "SMS (Twilio)"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    EMAIL = "email", "E-mail"
    WEB = "web", "Web contact form"


SMS_KINDS = frozenset({ChannelKind.SMS_RINGCENTRAL, ChannelKind.SMS_TWILIO})


class IdentityKind(models.TextChoices):
    """How a person is known on a kind of channel. Both SMS providers share "sms": a number
    that texted STOP is opted out of every SMS channel of the station."""

    SMS = "sms", "phone (SMS)"
    WHATSAPP = "whatsapp", "WhatsApp user"
    MESSENGER = "messenger", "Messenger user"
    INSTAGRAM = "instagram", "Instagram user"
    EMAIL = "email", "e-mail address"


IDENTITY_KIND_OF_CHANNEL = {
    ChannelKind.SMS_RINGCENTRAL: IdentityKind.SMS,
    ChannelKind.SMS_TWILIO: IdentityKind.SMS,
    ChannelKind.WHATSAPP: IdentityKind.WHATSAPP,
    ChannelKind.MESSENGER: IdentityKind.MESSENGER,
    ChannelKind.INSTAGRAM: IdentityKind.INSTAGRAM,
    ChannelKind.EMAIL: IdentityKind.EMAIL,
    ChannelKind.WEB: IdentityKind.EMAIL,  # the contact form is answered by e-mail
}


class SubscriptionState(models.TextChoices):
    """A RingCentral webhook subscription, as RingCentral last reported it."""

    NONE = "", "none"
    ACTIVE = "Active", "active"
    SUSPENDED = "Suspended", "suspended"
    BLACKLISTED = "Blacklisted", "blacklisted (RingCentral stopped delivering)"
    FAILED = "failed", "renewal failed"


class Channel(models.Model):
    """Where a station receives and sends: a phone number, a WhatsApp phone-number id, a page or
    Instagram account id, an e-mail address, or the station's contact form (address = slug).

    Credentials: the provider's come from the environment; a channel may carry its own,
    encrypted at rest (`credentials_sealed`, inbox.credentials) and never shown back."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="channels")
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    address = models.CharField(
        max_length=254,
        help_text="What it receives on: an E.164 number, a WhatsApp phone-number id, a page or "
        "Instagram account id, an e-mail address; the station's slug for the contact form.",
    )
    name = models.CharField(max_length=80, blank=True)
    active = models.BooleanField(default=True)
    credentials_sealed = models.BinaryField(null=True, blank=True, editable=False)
    # RingCentral: the webhook subscription that delivers this number's messages.
    subscription_id = models.CharField(max_length=80, blank=True, editable=False)
    subscription_state = models.CharField(
        max_length=12, choices=SubscriptionState.choices, blank=True, editable=False
    )
    subscription_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    subscription_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["station", "kind", "address"]
        constraints = [
            # Routing: an inbound webhook finds its station by (kind, address).
            models.UniqueConstraint(fields=["kind", "address"], name="channel_address_unique")
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.address}"

    @property
    def identity_kind(self) -> str:
        return IDENTITY_KIND_OF_CHANNEL[self.kind]

    @property
    def is_sms(self) -> bool:
        return self.kind in SMS_KINDS


class ContactIdentity(models.Model):
    """A person as one kind of channel knows them: a phone number, an e-mail address, a
    page-scoped id or a WhatsApp user id. Opt-out (STOP) is kept here, per kind."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=12, choices=IdentityKind.choices)
    external_id = models.CharField(max_length=254)
    display_name = models.CharField(max_length=120, blank=True)
    phone = models.CharField(
        max_length=20, blank=True, help_text="E.164, when the channel told us (WhatsApp may not)"
    )
    opted_out = models.BooleanField(default=False)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opted_in_at = models.DateTimeField(
        null=True, blank=True, help_text="when START (or YES, UNSTOP) last lifted an opt-out"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "contact identities"
        constraints = [
            models.UniqueConstraint(
                fields=["station", "kind", "external_id"], name="identity_unique_per_station"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of customer {self.customer_id}"


class ConversationStatus(models.TextChoices):
    OPEN = "open", "open"
    PENDING = "pending", "pending (waiting on the customer)"
    SNOOZED = "snoozed", "snoozed"
    CLOSED = "closed", "closed"


class Conversation(models.Model):
    """The one thread of a customer at a station, across every channel.

    `waiting_since`: the oldest customer message not yet answered by a person (null when
    answered); `first_response_at`: the first human reply after the thread's first customer
    message. Together with `created_at` they are what an SLA report needs."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="conversations")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="conversation")
    status = models.CharField(
        max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    unread = models.BooleanField(default=False)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=160, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_inbound_channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waiting_since = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The seed's index on (station, read state): the unread-first inbox list of a
            # station, newest first, read from the index in order (no sort, no message scan).
            models.Index(
                "station",
                models.F("unread").desc(),
                models.F("last_message_at").desc(nulls_last=True),
                name="conversation_station_unread",
            ),
            # The same list across stations (owners, superusers).
            models.Index(
                models.F("unread").desc(),
                models.F("last_message_at").desc(nulls_last=True),
                name="conversation_unread_recent",
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation with {self.customer}"


class Direction(models.TextChoices):
    INBOUND = "in", "from the customer"
    OUTBOUND = "out", "to the customer"


class Sender(models.TextChoices):
    CUSTOMER = "customer", "customer"
    USER = "user", "staff"
    AI = "ai", "AI"
    SYSTEM = "system", "automatic (reminders, notifications, keyword replies)"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "received"
    QUEUED = "queued", "queued"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    DELIVERED = "delivered", "delivered"
    READ = "read", "read"
    FAILED = "failed", "failed"
    NOT_SENT = "not_sent", "not sent"
    UNKNOWN = "unknown", "delivery unknown (check before sending again)"
    NOTE = "note", "private note"


# A status only moves up this ladder (delivered never becomes sent). failed ranks with
# delivered: a "failed" after "sent" counts, a late "sent" after "failed" does not; read beats
# both. not_sent and unknown are ours, set by the sender, never by a provider callback.
STATUS_RANK = {
    MessageStatus.NOTE: 0,
    MessageStatus.RECEIVED: 0,
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.NOT_SENT: 3,
    MessageStatus.READ: 4,
}


class Message(models.Model):
    """One message of a conversation, or a private note (is_note: never sent)."""

    STATION_PATH = "conversation__station"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    identity = models.ForeignKey(
        ContactIdentity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    sender = models.CharField(max_length=8, choices=Sender.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_note = models.BooleanField(default=False)
    automated = models.BooleanField(
        default=False, help_text="sent without a person (reminders, AI): quiet hours apply"
    )
    opt_out_confirmation = models.BooleanField(
        default=False, help_text="the one reply to STOP: the only message to an opted-out number"
    )
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    template = models.ForeignKey(
        "MessageTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_message_id = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.RECEIVED
    )
    status_rank = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, help_text="why it failed or was not sent")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    send_after = models.DateTimeField(
        null=True, blank=True, help_text="held until then (quiet hours, retry backoff)"
    )
    created_at = models.DateTimeField()
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="inbound: when its background work (keywords, drafts) ran"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A provider message is stored once per channel; a retried webhook adds nothing.
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="message_provider_id_unique_per_channel",
            )
        ]
        indexes = [
            # One conversation's messages in order (the thread view reads the newest page).
            models.Index(fields=["conversation", "created_at"], name="message_thread"),
            # The inbound sweeper: messages whose task was lost (however old: Meta delivers
            # a message up to seven days late), by age; a handful of rows at any time.
            models.Index(
                fields=["created_at"],
                condition=Q(direction="in", processed_at__isnull=True),
                name="message_unprocessed",
            ),
            # The outbound sweeper: messages still to send, by age.
            models.Index(
                fields=["status", "created_at"],
                condition=Q(status__in=["queued", "sending"]),
                name="message_to_send",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} message {self.pk}"


class TemplateKind(models.TextChoices):
    CANNED = "canned", "canned reply"
    WHATSAPP = "whatsapp", "WhatsApp template (approved by Meta)"


class TemplateCategory(models.TextChoices):
    """Meta's template categories; marketing templates never go to US (+1) numbers."""

    UTILITY = "utility", "utility"
    MARKETING = "marketing", "marketing"
    AUTHENTICATION = "authentication", "authentication"


class MessageTemplate(models.Model):
    """A station's canned reply, or a WhatsApp template Meta approved (name and language as
    registered with Meta; `body` is its text with {{1}}-style parameters, for display)."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="templates")
    kind = models.CharField(max_length=10, choices=TemplateKind.choices)
    name = models.CharField(max_length=120)
    body = models.TextField()
    language = models.CharField(max_length=12, blank=True, default="en_US")
    category = models.CharField(
        max_length=16, choices=TemplateCategory.choices, blank=True, default=""
    )
    approved = models.BooleanField(default=False, help_text="WhatsApp: Meta approved it")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["station", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "kind", "name", "language"], name="template_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CustomerMerge(models.Model):
    """The record of one merge: `merged` (gone) into `kept`, what moved, by whom."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    kept = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges")
    merged_customer_id = models.PositiveBigIntegerField()
    merged_name = models.CharField(max_length=120)
    moved = models.JSONField(default=dict, help_text="counts of what moved, by kind")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"customer {self.merged_customer_id} merged into {self.kept_id}"


class Level(models.TextChoices):
    """The escalation ladder (DESIGN.md §7)."""

    L1 = "l1", "L1: auto-reply"
    L2 = "l2", "L2: draft for approval"
    L3 = "l3", "L3: a person only"


class DraftStatus(models.TextChoices):
    PROPOSED = "proposed", "waiting for approval"
    AUTO_SENT = "auto_sent", "sent automatically (L1)"
    HUMAN = "human", "for a person (no draft)"
    SENT = "sent", "approved and sent"
    REJECTED = "rejected", "rejected"
    SUPERSEDED = "superseded", "superseded (a person answered)"


class Draft(models.Model):
    """What the AI made of one inbound message: its level, intent and confidence with the
    reasons, and (L1, L2) the proposed reply with its grounding check. One per inbound message
    (a task run twice makes none anew). The decision, by whom and what was sent, is recorded."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="drafts")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="drafts")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="draft")
    level = models.CharField(max_length=2, choices=Level.choices)
    intent = models.CharField(max_length=30, blank=True)
    confidence = models.PositiveSmallIntegerField(default=0, help_text="percent")
    reasons = models.JSONField(default=list, help_text="why this level, in words staff read")
    body = models.TextField(blank=True, help_text="the proposed reply (contact data restored)")
    grounding = models.JSONField(
        default=dict, help_text="every price, date, time, phone, e-mail and link checked"
    )
    status = models.CharField(max_length=10, choices=DraftStatus.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    edited = models.BooleanField(default=False)
    reject_reason = models.CharField(max_length=300, blank=True)
    sent_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The approval queue and the monthly L1/L2/L3 shares of a station.
            models.Index(fields=["station", "created_at"], name="draft_station_month"),
            models.Index(
                fields=["station", "status"],
                condition=Q(status="proposed"),
                name="draft_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} for message {self.message_id}"


class AIOutcome(models.TextChoices):
    OK = "ok", "ok"
    INVALID = "invalid", "invalid output (schema)"
    ERROR = "error", "provider error"
    TIMEOUT = "timeout", "timed out"
    RATE_LIMITED = "rate_limited", "station's rate limit reached (no call made)"
    OVER_BUDGET = "over_budget", "station's monthly budget spent (no call made)"


class AIInteraction(models.Model):
    """The audit trail (DESIGN.md §7): every call to a model, or to the local drafter, with
    the prompt as it left the process (redacted), what came back, tokens, cost and time. Read
    only; linked to the draft it served, and through it to the decision and the sent message."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=30)
    model = models.CharField(max_length=100)
    prompt = models.TextField(help_text="as sent: redacted, customer text delimited as data")
    output = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_millicents = models.PositiveBigIntegerField(
        default=0, help_text="thousandths of a cent (tokens times the price table in settings)"
    )
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=12, choices=AIOutcome.choices)
    fallback_used = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    draft = models.ForeignKey(
        Draft, null=True, blank=True, on_delete=models.SET_NULL, related_name="interactions"
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "AI interaction"
        indexes = [
            # The monthly budget (sum of cost) and the dashboard's figures, per station.
            models.Index(fields=["station", "created_at"], name="aiinteraction_station_month"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} with {self.model} ({self.outcome})"


class InboundEvent(models.Model):
    """A verified inbound provider message as the webhook stored it (inbox.ledger): one row per
    (channel, provider message id), written by one INSERT ... ON CONFLICT DO NOTHING, threaded
    into its customer's conversation by the drain (processed_at set then). Holds the sender's
    number and the text: kept only until threaded, then a short while for the sweeper."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    provider_message_id = models.CharField(max_length=200)
    sender = models.CharField(max_length=254, help_text="the provider's id of the sender")
    body = models.TextField(blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"], name="inboundevent_once_per_channel"
            )
        ]
        indexes = [
            # The drain's and the sweeper's look: the rows still waiting, oldest first.
            models.Index(
                fields=["id"],
                condition=Q(processed_at__isnull=True),
                name="inboundevent_waiting",
            ),
            # The sweeper's purge of rows threaded long ago.
            models.Index(fields=["processed_at"], name="inboundevent_processed"),
        ]

    def __str__(self) -> str:
        return f"inbound {self.provider_message_id} on channel {self.channel_id}"


class InboundDrainQueued(models.Model):
    """At most one row, while a drain of the inbound ledger is queued and has not started yet
    (inbox.ledger, "Draining"); `queued_at` lets the sweeper clear one whose message was lost."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    queued_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"inbound drain queued at {self.queued_at:%Y-%m-%d %H:%M:%S}"
