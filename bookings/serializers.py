"""Request and response shapes of the bookings API (public and staff)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings import policy, selectors
from bookings.models import (
    ALLERGIES_MAX_LENGTH,
    AddOn,
    Booking,
    BookingEvent,
    Customer,
    PriceList,
)
from bookings.scheduling import station_tz
from config.exceptions import Conflict
from config.serializers import DateField, ModelSerializer, Serializer, TimeOfDayField
from stations.models import ServiceZone
from stations.validators import normalize_phone


class ActiveStationField(serializers.CharField):
    """An active station by slug, with its price list (every caller prices something), read
    through the selector in one query. (Not a SlugRelatedField: DRF copies every field for
    every request, and that one built a queryset each time just to describe itself.)"""

    default_error_messages = {"does_not_exist": "Unknown station."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        station = selectors.active_station_priced(data)
        if station is None:
            self.fail("does_not_exist")
        return station


class PhoneField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


def zip_code_field() -> serializers.RegexField:
    return serializers.RegexField(r"^\d{5}$", error_messages={"invalid": "Enter a 5-digit ZIP."})


class PartySerializer(Serializer):
    station = ActiveStationField()
    event_date = DateField()
    adults = serializers.IntegerField(min_value=1, max_value=500)
    children = serializers.IntegerField(min_value=0, max_value=500, default=0)
    addons = serializers.ListField(
        child=serializers.SlugField(max_length=40), default=list, max_length=30
    )


class QuoteRequestSerializer(PartySerializer):
    zip_code = zip_code_field()


class QuoteLineSerializer(Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    quantity = serializers.IntegerField()
    amount_cents = serializers.IntegerField()


class QuoteSerializer(Serializer):
    currency = serializers.CharField()
    lines = QuoteLineSerializer(many=True)
    subtotal_cents = serializers.IntegerField()
    travel_fee_cents = serializers.IntegerField()
    gratuity_cents = serializers.IntegerField()
    tax_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    deposit_cents = serializers.IntegerField()


class AddressSerializer(Serializer):
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    state = serializers.RegexField(r"^[A-Za-z]{2}$", error_messages={"invalid": "Two letters."})
    zip_code = zip_code_field()

    def validate_state(self, value: str) -> str:
        return value.upper()


class ContactSerializer(Serializer):
    name = serializers.CharField(max_length=120)
    email = serializers.EmailField(max_length=254)
    phone = PhoneField(max_length=32)
    sms_opt_in = serializers.BooleanField(default=False)


class BookingRequestSerializer(PartySerializer):
    start_time = TimeOfDayField()
    address = AddressSerializer()
    customer = ContactSerializer()
    notes = serializers.CharField(max_length=2000, allow_blank=True, default="")
    allergies = serializers.CharField(
        max_length=ALLERGIES_MAX_LENGTH,
        allow_blank=True,
        default="",
        help_text="Allergies and dietary restrictions of the party (optional); the chef sees "
        "them on their agenda and calendar feed.",
    )


class RescheduleRequestSerializer(Serializer):
    event_date = DateField()
    start_time = TimeOfDayField()


class CancelRequestSerializer(Serializer):
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")


class AvailabilityQuerySerializer(Serializer):
    strict_input = False  # a query string: all text, and other parameters are ignored
    start = DateField()
    end = DateField()
    guests = serializers.IntegerField(min_value=1, max_value=500, default=10)

    def validate(self, attrs):
        span = (attrs["end"] - attrs["start"]).days
        if span < 0:
            raise serializers.ValidationError({"end": ["The end is before the start."]})
        if span >= 62:
            raise serializers.ValidationError({"end": ["Ask for at most 62 days at a time."]})
        return attrs


class SlotSerializer(Serializer):
    date = DateField()
    start = TimeOfDayField()
    end = TimeOfDayField()
    chefs_available = serializers.IntegerField()


class AvailabilitySerializer(Serializer):
    station = serializers.CharField()
    timezone = serializers.CharField()
    slots = SlotSerializer(many=True)


class AddOnSerializer(ModelSerializer):
    class Meta:
        model = AddOn
        fields = ["code", "label", "description", "pricing", "price_cents"]


class ZoneSerializer(ModelSerializer):
    class Meta:
        model = ServiceZone
        fields = ["name", "zip_codes", "travel_fee_cents"]


class MenuSerializer(ModelSerializer):
    station = serializers.CharField(source="station.slug")
    currency = serializers.CharField(source="station.currency")
    addons = serializers.SerializerMethodField()
    travel_zones = serializers.SerializerMethodField()

    class Meta:
        model = PriceList
        fields = [
            "station",
            "currency",
            "adult_price_cents",
            "child_price_cents",
            "child_age_limit",
            "minimum_weekday_cents",
            "minimum_weekend_cents",
            "gratuity_min_guests",
            "gratuity_bp",
            "tax_rate_bp",
            "deposit_kind",
            "deposit_fixed_cents",
            "deposit_bp",
            "change_fee_cents",
            "addons",
            "travel_zones",
        ]

    def get_addons(self, prices) -> list[dict]:
        addons = prices.station.addons.filter(active=True)
        return AddOnSerializer(addons, many=True).data

    def get_travel_zones(self, prices) -> list[dict]:
        return ZoneSerializer(prices.station.zones.all(), many=True).data


class BookingSerializer(ModelSerializer):
    """A booking as its customer sees it (self-service) and as the create call answers."""

    station = serializers.CharField(source="station.slug")
    timezone = serializers.CharField(source="station.timezone")
    start_time = TimeOfDayField()
    end_time = serializers.SerializerMethodField()
    addons = serializers.ListField(source="addon_codes", child=serializers.CharField())
    address = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()
    lines = QuoteLineSerializer(source="quote_lines", many=True)
    balance_due_cents = serializers.IntegerField()
    credit_cents = serializers.IntegerField(help_text="Paid above the total: owed back.")
    payment = serializers.SerializerMethodField()
    policy = serializers.SerializerMethodField()

    class Meta:
        model = Booking
        fields = [
            "reference",
            "status",
            "station",
            "timezone",
            "event_date",
            "start_time",
            "end_time",
            "adults",
            "children",
            "addons",
            "address",
            "customer",
            "notes",
            "allergies",
            "currency",
            "lines",
            "subtotal_cents",
            "travel_fee_cents",
            "gratuity_cents",
            "tax_cents",
            "fees_cents",
            "total_cents",
            "deposit_cents",
            "amount_paid_cents",
            "amount_refunded_cents",
            "balance_due_cents",
            "credit_cents",
            "hold_expires_at",
            "payment",
            "policy",
        ]

    @extend_schema_field(TimeOfDayField())
    def get_end_time(self, booking) -> str:
        return f"{booking.ends_at.astimezone(station_tz(booking.station)):%H:%M}"

    def get_address(self, booking) -> dict:
        return {
            "line1": booking.address_line1,
            "line2": booking.address_line2,
            "city": booking.city,
            "state": booking.state,
            "zip_code": booking.zip_code,
        }

    def get_customer(self, booking) -> dict:
        """The contact as the booking request gave it: a public answer never reads back what
        is stored about a customer the request matched (bookings made before that record
        show the customer's own)."""
        given = booking.submitted_contact
        if given:
            return {k: given.get(k, "") for k in ("name", "email", "phone", "sms_opt_in")}
        c = booking.customer
        return {"name": c.name, "email": c.email, "phone": c.phone, "sms_opt_in": c.sms_opt_in}

    def get_payment(self, booking) -> dict | None:
        return self.context.get("payment")

    def get_policy(self, booking) -> dict | None:
        """What cancelling or rescheduling now would mean, so the customer sees it first."""
        if not booking.is_active:
            return None
        return {
            "cancel": policy.cancellation_terms(booking).as_dict(),
            "reschedule": policy.reschedule_terms(booking).as_dict(),
        }


class BookingCreatedSerializer(BookingSerializer):
    manage_token = serializers.SerializerMethodField()

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "manage_token"]

    def get_manage_token(self, booking) -> str:
        return self.context["manage_token"]


# --- Staff ---------------------------------------------------------------------------------


class BookingEventSerializer(ModelSerializer):
    class Meta:
        model = BookingEvent
        fields = ["created_at", "actor_label", "from_status", "to_status", "reason", "data"]


class StaffBookingSerializer(BookingSerializer):
    id = serializers.IntegerField(read_only=True)
    chef = serializers.PrimaryKeyRelatedField(read_only=True)
    chef_name = serializers.CharField(source="chef.name")
    customer_id = serializers.IntegerField()
    source = serializers.CharField()
    created_at = serializers.DateTimeField()
    submitted_contact = serializers.JSONField(
        help_text="The contact as the booking request gave it (the customer record is not "
        "changed by a public request; apply it from the admin when it is right)."
    )
    contact_differs = serializers.BooleanField()

    class Meta(BookingSerializer.Meta):
        fields = [
            "id",
            *BookingSerializer.Meta.fields,
            "chef",
            "chef_name",
            "customer_id",
            "submitted_contact",
            "contact_differs",
            "source",
            "reschedule_count",
            "created_at",
        ]

    def get_customer(self, booking) -> dict:
        """Staff see the customer record."""
        c = booking.customer
        return {"name": c.name, "email": c.email, "phone": c.phone, "sms_opt_in": c.sms_opt_in}


class StaffBookingDetailSerializer(StaffBookingSerializer):
    history = BookingEventSerializer(source="events", many=True)

    class Meta(StaffBookingSerializer.Meta):
        fields = [*StaffBookingSerializer.Meta.fields, "history"]


class StaffBookingCreateSerializer(BookingRequestSerializer):
    """Staff take bookings by phone too: the same fields, any station they may write to."""


class ReassignSerializer(Serializer):
    chef = serializers.IntegerField()


class CancelBySerializer(Serializer):
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")
    refund_cents = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="Leave out to refund what the cancellation policy gives back; after the "
        "event has started the policy gives nothing back and staff choose (default 0).",
    )


class TransitionSerializer(Serializer):
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")


class CustomerSerializer(ModelSerializer):
    station = serializers.CharField(source="station.slug", read_only=True)
    phone = PhoneField(max_length=32, allow_blank=True, required=False)

    class Meta:
        model = Customer
        fields = [
            "id",
            "station",
            "name",
            "email",
            "phone",
            "sms_opt_in",
            "email_opt_in",
            "marketing_opt_in",
            "do_not_contact",
            "created_at",
        ]
        read_only_fields = ["id", "station", "created_at"]

    def validate(self, attrs):
        """One person is one customer per station: an e-mail or phone of another customer
        there is a conflict (409), as when the database's unique constraints refuse it."""
        errors = {}
        for field in ("email", "phone"):
            value = attrs.get(field)
            if value and self.instance is not None:
                taken = Customer.objects.filter(
                    station_id=self.instance.station_id, **{field: value}
                )
                if taken.exclude(pk=self.instance.pk).exists():
                    errors[field] = ["Another customer of this station has it."]
        if errors:
            raise Conflict(
                "Another customer of this station has that e-mail or phone.", fields=errors
            )
        return attrs
