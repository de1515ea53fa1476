"""
The leads API's shapes: the public lead form (DESIGN.md §5: it answers only `id` and `status`,
never what is stored), and the staff pipeline (leads with their score reasons and activities,
and what staff send to work them). Field names are part of the contract.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from bookings.models import ALLERGIES_MAX_LENGTH
from config.filters import BIGINT_MAX
from config.serializers import (
    AwareDateTimeField,
    DateField,
    ModelSerializer,
    Serializer,
    TimeOfDayField,
)
from leads.models import ActivityKind, Lead, LeadActivity, LeadSource, LeadStatus
from stations.validators import normalize_phone

MESSAGE_MAX_LENGTH = 5000
GUESTS_MAX = 500
BUDGET_MAX_CENTS = 100_000_000  # a million in the station's currency: past any party
ZIP_CODE = r"^[0-9]{5}$"
ZIP_CODE_OR_BLANK = r"^([0-9]{5})?$"
SLUG = "^[-a-zA-Z0-9_]*$"

# What the public form may say a lead came by: a phone call is taken by staff (quick-add) and
# an import comes from the CSV command; the form can claim neither.
PUBLIC_SOURCES = [
    (value, label)
    for value, label in LeadSource.choices
    if value not in (LeadSource.PHONE, LeadSource.IMPORT)
]
# What staff log by hand (lead_log): a call or a message is human contact.
LOGGED_KINDS = [
    (kind.value, kind.label)
    for kind in (ActivityKind.NOTE, ActivityKind.CALL, ActivityKind.MESSAGE)
]


class PhoneField(serializers.CharField):
    """A phone number as people type it; E.164 out (stations.validators.normalize_phone)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value:
            return ""
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class EmailField(serializers.EmailField):
    """An e-mail address, kept lower-case (as every lead and customer stores it)."""

    def to_internal_value(self, data):
        return super().to_internal_value(data).strip().lower()


def _zip_code_field(**kwargs) -> serializers.RegexField:
    # Where blank is allowed the pattern says so, or the schema would refuse what we take.
    pattern = ZIP_CODE_OR_BLANK if kwargs.get("allow_blank") else ZIP_CODE
    return serializers.RegexField(
        pattern, error_messages={"invalid": "Enter a five-digit ZIP code."}, **kwargs
    )


class IdField(serializers.IntegerField):
    """A row's id: a whole number from 1 within PostgreSQL's bigint."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(**kwargs)


def _needs_contact(email: str, phone: str) -> None:
    if not email and not phone:
        message = "Give an e-mail address or a phone number."
        raise serializers.ValidationError({"email": [message], "phone": [message]})


# --- The public lead form --------------------------------------------------------------------


class LeadFormSerializer(Serializer):
    """A party enquiry from the booking site (or a partner's landing page)."""

    name = serializers.CharField(max_length=120)
    email = EmailField(max_length=254, required=False, allow_blank=True)
    phone = PhoneField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="Any usual format; an e-mail or a phone is needed.",
    )
    zip_code = _zip_code_field(
        required=False,
        allow_blank=True,
        help_text="Where the party is: routes the lead to the station that serves it.",
    )
    station = serializers.RegexField(
        SLUG,
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text="An active station's slug; left out, the ZIP code decides.",
    )
    event_date = DateField(
        required=False, allow_null=True, default=None, help_text="Not in the past."
    )
    guests = serializers.IntegerField(
        min_value=1, max_value=GUESTS_MAX, required=False, allow_null=True, default=None
    )
    budget_cents = serializers.IntegerField(
        min_value=0,
        max_value=BUDGET_MAX_CENTS,
        required=False,
        allow_null=True,
        default=None,
        help_text="What the party may cost, in minor units of the station's currency.",
    )
    message = serializers.CharField(
        max_length=MESSAGE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    source = serializers.ChoiceField(choices=PUBLIC_SOURCES, required=False, default=LeadSource.WEB)
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
        # No defaults in the schema for these: "" is no address, no ZIP code.
        attrs.setdefault("email", "")
        attrs.setdefault("zip_code", "")
        _needs_contact(attrs["email"], attrs["phone"])
        return attrs


class LeadReceivedSerializer(Serializer):
    id = serializers.IntegerField(help_text="The lead (the same one when it was merged).")
    status = serializers.ChoiceField(choices=LeadStatus.choices)


# --- Reading (staff) -------------------------------------------------------------------------


class LeadAssigneeSerializer(Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class LeadSerializer(ModelSerializer):
    """One row of the pipeline: who, how good, where it stands, who owns it."""

    station = serializers.SerializerMethodField()
    assignee = LeadAssigneeSerializer(allow_null=True)
    converted_booking = serializers.SerializerMethodField()
    customer = serializers.IntegerField(source="customer_id", allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "station",
            "name",
            "email",
            "phone",
            "zip_code",
            "source",
            "event_date",
            "guests",
            "budget_cents",
            "status",
            "lost_reason",
            "score",
            "assignee",
            "follow_up_at",
            "customer",
            "converted_booking",
            "first_reply_at",
            "first_human_contact_at",
            "escalation_level",
            "created_at",
            "updated_at",
        ]

    def get_station(self, lead) -> str | None:
        """The station's slug; null: no station serves the ZIP (the unassigned queue)."""
        return lead.station.slug if lead.station_id else None

    def get_converted_booking(self, lead) -> str | None:
        """The booking's reference once the lead converted."""
        return lead.converted_booking.reference if lead.converted_booking_id else None


class ScoreReasonSerializer(Serializer):
    factor = serializers.CharField()
    points = serializers.IntegerField()
    max = serializers.IntegerField()
    detail = serializers.CharField()


class ActivitySerializer(ModelSerializer):
    actor = serializers.IntegerField(source="actor_id", allow_null=True)
    data = serializers.DictField(help_text="What changed (the kind decides the keys).")

    class Meta:
        model = LeadActivity
        fields = ["id", "kind", "actor", "actor_label", "body", "data", "created_at"]


class LeadDetailSerializer(LeadSerializer):
    score_reasons = ScoreReasonSerializer(many=True, help_text="Every point of the score, why.")
    activities = ActivitySerializer(many=True, help_text="The lead's history, oldest first.")

    class Meta(LeadSerializer.Meta):
        fields = [
            *LeadSerializer.Meta.fields,
            "message",
            "score_reasons",
            "score_explanation",
            "scored_at",
            "activities",
        ]


# --- What staff send -------------------------------------------------------------------------


class LeadUpdateSerializer(Serializer):
    """The details staff may correct or complete (PATCH: only the fields sent)."""

    name = serializers.CharField(max_length=120)
    email = EmailField(max_length=254, allow_blank=True)
    phone = PhoneField(max_length=32, allow_blank=True)
    zip_code = _zip_code_field(allow_blank=True)
    event_date = DateField(allow_null=True)
    guests = serializers.IntegerField(min_value=1, max_value=GUESTS_MAX, allow_null=True)
    budget_cents = serializers.IntegerField(
        min_value=0, max_value=BUDGET_MAX_CENTS, allow_null=True
    )
    message = serializers.CharField(max_length=MESSAGE_MAX_LENGTH, allow_blank=True)

    def validate(self, attrs):
        lead = self.context["lead"]
        _needs_contact(attrs.get("email", lead.email), attrs.get("phone", lead.phone))
        return attrs


class StatusRequestSerializer(Serializer):
    status = serializers.ChoiceField(choices=LeadStatus.choices)
    reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why the lead was lost (needed for `lost`).",
    )


class RouteRequestSerializer(Serializer):
    station = serializers.RegexField(
        "^[-a-zA-Z0-9_]+$", max_length=50, help_text="The slug of an active station you own."
    )


class LeadAssignRequestSerializer(Serializer):
    assignee = IdField(allow_null=True, help_text="A staff member of the lead's station, or null.")


class ActivityRequestSerializer(Serializer):
    kind = serializers.ChoiceField(
        choices=LOGGED_KINDS, help_text="A call or a message counts as contacting the lead."
    )
    body = serializers.CharField(
        max_length=MESSAGE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed for a note.",
    )


class FollowUpRequestSerializer(Serializer):
    at = AwareDateTimeField(allow_null=True, help_text="When to follow up; null clears it.")


class LeadAddressSerializer(Serializer):
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    state = serializers.RegexField(r"^[A-Za-z]{2}$", error_messages={"invalid": "Two letters."})
    zip_code = _zip_code_field()

    def validate_state(self, value: str) -> str:
        return value.upper()


class ConvertRequestSerializer(Serializer):
    """The booking the lead becomes: the same rules as any booking (availability, capacity,
    pricing); the customer is the lead's contact."""

    event_date = DateField()
    start_time = TimeOfDayField()
    adults = serializers.IntegerField(min_value=1, max_value=GUESTS_MAX)
    children = serializers.IntegerField(min_value=0, max_value=GUESTS_MAX, default=0)
    addons = serializers.ListField(
        child=serializers.SlugField(max_length=40), default=list, max_length=30
    )
    address = LeadAddressSerializer()
    notes = serializers.CharField(max_length=2000, allow_blank=True, default="")
    allergies = serializers.CharField(max_length=ALLERGIES_MAX_LENGTH, allow_blank=True, default="")
    sms_opt_in = serializers.BooleanField(
        default=False, help_text="The customer agreed to text messages."
    )


class ConvertedSerializer(Serializer):
    id = serializers.IntegerField(help_text="The lead.")
    status = serializers.ChoiceField(choices=LeadStatus.choices, help_text="`won`.")
    booking_reference = serializers.CharField(help_text="The new booking, e.g. MH-7K2P9Q.")
    booking_status = serializers.CharField(help_text="`pending_deposit` until it is paid.")


# --- Metrics ---------------------------------------------------------------------------------


class MetricsQuerySerializer(Serializer):
    strict_input = False  # a query string: all text, and other parameters are ignored
    since = AwareDateTimeField(required=False, help_text="Leads that came in from then.")
    until = AwareDateTimeField(required=False, help_text="... and before then.")


class FirstContactSerializer(Serializer):
    contacted = serializers.IntegerField()
    not_contacted = serializers.IntegerField()
    median_minutes = serializers.FloatField(allow_null=True)
    p90_minutes = serializers.FloatField(allow_null=True)


class ConversionSerializer(Serializer):
    key = serializers.CharField(allow_null=True, help_text="A station's slug, or a source.")
    leads = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    rate = serializers.FloatField(help_text="Won, as a percentage of the leads.")


class MetricsSerializer(Serializer):
    by_source = serializers.DictField(child=serializers.IntegerField())
    first_contact = FirstContactSerializer(
        help_text="Minutes from a lead coming in to a person contacting it."
    )
    conversion_by_station = ConversionSerializer(many=True)
    conversion_by_source = ConversionSerializer(many=True)
