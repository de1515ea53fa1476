"""
The inbox's API shapes: conversations, their messages, what staff send, merging customers,
and the public contact form. Field names are part of the contract (DESIGN.md §5): readable,
stable, and never a secret (no channel credentials, no idempotency keys, no provider ids).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from bookings.models import Booking
from config.filters import BIGINT_MAX
from config.serializers import AwareDateTimeField, ModelSerializer, Serializer
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Conversation,
    Draft,
    Message,
)
from stations.validators import normalize_phone

BODY_MAX_LENGTH = 5000


class IdField(serializers.IntegerField):
    """A row's id: a whole number from 1 within PostgreSQL's bigint."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(**kwargs)


class PhoneField(serializers.CharField):
    """A phone number as people type it; stored in E.164 (stations.validators.normalize_phone)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value:
            return ""
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


def _person_name(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


# --- Reading -------------------------------------------------------------------------------------


# Serializers nested one-to-one in another are plain Serializers: a nested ModelSerializer
# sets attributes on itself while building its fields, which config.serializers' fields built
# once would share between requests.


class ChannelSerializer(Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField()
    address = serializers.CharField(help_text=Channel._meta.get_field("address").help_text)


class StaffMemberSerializer(Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return _person_name(user)


class CustomerBriefSerializer(Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField(help_text="May be empty.")
    phone = serializers.CharField(help_text="E.164; may be empty.")


class ConversationSerializer(ModelSerializer):
    """One row of the inbox list: who, where it stands, and what came last."""

    station = serializers.CharField(source="station.slug")
    customer = CustomerBriefSerializer()
    assignee = StaffMemberSerializer(allow_null=True)
    last_inbound_channel = ChannelSerializer(
        allow_null=True, help_text="The channel the customer last wrote on (a reply goes there)."
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "station",
            "customer",
            "status",
            "snoozed_until",
            "assignee",
            "unread",
            "last_message_at",
            "last_message_preview",
            "last_inbound_at",
            "last_inbound_channel",
            "waiting_since",
            "first_response_at",
            "created_at",
        ]


class IdentitySerializer(ModelSerializer):
    class Meta:
        model = ContactIdentity
        fields = ["id", "kind", "external_id", "display_name", "opted_out", "opted_out_at"]


class CustomerBookingSerializer(ModelSerializer):
    class Meta:
        model = Booking
        fields = [
            "reference",
            "event_date",
            "status",
            "currency",
            "total_cents",
            "amount_paid_cents",
            "amount_refunded_cents",
        ]


class CustomerSummarySerializer(CustomerBriefSerializer):
    """The customer beside the thread: contact, consent, how channels know them."""

    station = serializers.CharField(source="station.slug")
    sms_opt_in = serializers.BooleanField()
    email_opt_in = serializers.BooleanField()
    marketing_opt_in = serializers.BooleanField()
    do_not_contact = serializers.BooleanField()
    identities = IdentitySerializer(many=True)
    created_at = serializers.DateTimeField()


class ConversationCustomerSerializer(CustomerSummarySerializer):
    recent_bookings = CustomerBookingSerializer(
        many=True, help_text="The customer's latest bookings (at most 10), newest event first."
    )


class ConversationDetailSerializer(ConversationSerializer):
    customer = ConversationCustomerSerializer()


class MessageSerializer(ModelSerializer):
    """A message or a private note. `status`: received (inbound), queued, sending, sent,
    delivered, read, failed, not_sent (with the reason in `error`), unknown, note."""

    channel = serializers.IntegerField(source="channel_id", allow_null=True)
    channel_kind = serializers.CharField(source="channel.kind", allow_null=True, default=None)
    author = serializers.IntegerField(source="author_id", allow_null=True)
    author_name = serializers.SerializerMethodField()
    template = serializers.IntegerField(source="template_id", allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "sender",
            "author",
            "author_name",
            "is_note",
            "automated",
            "channel",
            "channel_kind",
            "subject",
            "body",
            "template",
            "status",
            "error",
            "created_at",
            "sent_at",
            "status_at",
        ]

    def get_author_name(self, message) -> str | None:
        return _person_name(message.author)


class MessagePageSerializer(Serializer):
    """One page of a thread, newest first; follow `next` for older messages."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MessageSerializer(many=True)


# --- What staff send -------------------------------------------------------------------------


class ReplyRequestSerializer(Serializer):
    body = serializers.CharField(
        max_length=BODY_MAX_LENGTH,
        allow_blank=True,
        default="",
        help_text="The text; may be left out with a template (its text is sent).",
    )
    channel = IdField(
        required=False,
        allow_null=True,
        help_text="One of the station's channels; by default the one the customer last wrote on.",
    )
    template = IdField(
        required=False,
        allow_null=True,
        help_text="A canned reply or an approved WhatsApp template of the station.",
    )

    def validate(self, attrs):
        if not attrs["body"].strip() and attrs.get("template") is None:
            raise serializers.ValidationError({"body": ["Write the reply, or pick a template."]})
        return attrs


class NoteRequestSerializer(Serializer):
    body = serializers.CharField(max_length=BODY_MAX_LENGTH)


class AssignRequestSerializer(Serializer):
    assignee = IdField(
        allow_null=True, help_text="A staff member of the conversation's station, or null."
    )


class SnoozeRequestSerializer(Serializer):
    until = AwareDateTimeField(help_text="When the conversation comes back open (future).")


class MergeRequestSerializer(Serializer):
    keep = IdField(help_text="The customer who stays.")
    merge = IdField(help_text="The customer merged into `keep` (and then gone).")


class MergeResultSerializer(Serializer):
    merge_id = serializers.IntegerField(help_text="The merge's record.")
    merged_customer_id = serializers.IntegerField()
    moved = serializers.DictField(
        child=serializers.IntegerField(), help_text="How many rows moved, by kind."
    )
    customer = CustomerSummarySerializer(help_text="The kept customer, after the merge.")


# --- AI drafts -------------------------------------------------------------------------------


class DraftSerializer(ModelSerializer):
    """What the AI made of one inbound message (DESIGN.md §7). `level`: l1 (sent on its own),
    l2 (a draft waiting for approval), l3 (for a person: no draft). `status`: proposed,
    auto_sent, human, sent, rejected, superseded. `reasons`: why this level, in words;
    `grounding`: every price, date, time, phone, e-mail and link of the draft, checked against
    the station's data."""

    station = serializers.CharField(source="station.slug")
    message = serializers.IntegerField(source="message_id")
    message_body = serializers.CharField(source="message.body")
    decided_by = serializers.IntegerField(source="decided_by_id", allow_null=True)
    decided_by_name = serializers.SerializerMethodField()
    sent_message = serializers.IntegerField(source="sent_message_id", allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    grounding = serializers.DictField(
        help_text='{"grounded": bool, "checked": [{"kind", "text", "ok"}], "reasons": [...]}'
    )

    class Meta:
        model = Draft
        fields = [
            "id",
            "station",
            "conversation",
            "message",
            "message_body",
            "level",
            "intent",
            "confidence",
            "reasons",
            "body",
            "grounding",
            "status",
            "decided_by",
            "decided_by_name",
            "decided_at",
            "edited",
            "reject_reason",
            "sent_message",
            "created_at",
        ]

    def get_decided_by_name(self, draft) -> str | None:
        return _person_name(draft.decided_by)


class DraftEditRequestSerializer(Serializer):
    body = serializers.CharField(
        max_length=BODY_MAX_LENGTH, help_text="The text to send in place of the draft's."
    )


class DraftRejectRequestSerializer(Serializer):
    reason = serializers.CharField(
        max_length=Draft._meta.get_field("reject_reason").max_length,
        help_text="Why the draft is not sent (kept with it).",
    )


# --- The public contact form ---------------------------------------------------------------


class ContactFormSerializer(Serializer):
    name = serializers.CharField(max_length=120)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = PhoneField(max_length=32, required=False, allow_blank=True)
    message = serializers.CharField(max_length=BODY_MAX_LENGTH)
    station = serializers.RegexField(
        "^[-a-zA-Z0-9_]*$",
        max_length=50,
        required=False,
        allow_blank=True,
        help_text="The station's slug; may be left out when there is one station.",
    )
    website = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text="Leave empty: a field people do not see (the form hides it).",
    )
    form_started_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the visitor opened the form (the site fills it in).",
    )

    def validate(self, attrs):
        attrs.setdefault("email", "")
        attrs.setdefault("phone", "")
        attrs.setdefault("station", "")
        if not attrs["email"] and not attrs["phone"]:
            raise serializers.ValidationError(
                {"email": ["Give an e-mail address or a phone number."]}
            )
        attrs["email"] = attrs["email"].strip().lower()
        return attrs


class ContactReceivedSerializer(Serializer):
    received = serializers.BooleanField()
