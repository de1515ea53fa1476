"""Taking a booking by phone in the back office: one page (a view of BookingAdmin) where staff
pick the station, date, party and ZIP, then a free start time from the availability service,
add-ons, with a live quote from the quote engine, find or enter the customer, and create the
booking through the same service the staff API uses (source "staff", the staff hold).

The form carries a one-time key made when it is shown; the booking is created under a claim
derived from it and the user (as the API does under an Idempotency-Key), so the same form sent
twice (a double click, a reload of the answer) finds the first booking instead of making a
second. The JSON reads refuse control characters (a NUL the database cannot store) with 400."""

import unicodedata
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max, Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import formats
from django.utils.crypto import salted_hmac

from bookings import scheduling, services
from bookings.admin.payment_tools import OneTimeKeyForm, is_one_time_key
from bookings.models import AddOn, AddOnPricing, Booking, BookingSource, Customer
from bookings.pricing import MINIMUM_SPEND, quote
from config.exceptions import ApiError
from config.money import format_money
from payments import intents as payment_intents
from stations import tenancy
from stations.models import Station
from stations.validators import normalize_phone

TEMPLATE = "admin/bookings/booking/phone.html"
USE, NEW = "use", "new"


def phone_stations(user):
    """The active stations where this user may take bookings (owner, manager, agent)."""
    stations = tenancy.stations_for(user, roles=tenancy.STAFF_WRITE_ROLES)
    return stations.filter(active=True).order_by("name")


def _phone_or_blank(value: str) -> str:
    try:
        return normalize_phone(value) if value.strip() else ""
    except ValidationError:
        return ""


def customer_matches(station: Station, *, phone: str, email: str) -> list[Customer]:
    """The station's customers with this (normalised) phone or (lower-case) e-mail, with how
    many bookings they have and when the last one was."""
    match = Q()
    if phone:
        match |= Q(phone=phone)
    if email:
        match |= Q(email=email.strip().lower())
    if not match:
        return []
    customers = Customer.objects.filter(match, station=station, erased_at__isnull=True)
    return list(
        customers.annotate(
            booking_count=Count("bookings"), last_event=Max("bookings__event_date")
        ).order_by("pk")[:3]
    )


class PhoneBookingForm(OneTimeKeyForm):
    station = forms.ModelChoiceField(
        queryset=Station.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "No such station (or not one you take bookings for)."},
    )
    event_date = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    adults = forms.IntegerField(min_value=1, max_value=500, initial=10)
    children = forms.IntegerField(min_value=0, max_value=500, initial=0)
    zip_code = forms.RegexField(
        r"^\d{5}$", label="ZIP", error_messages={"invalid": "Enter a 5-digit ZIP."}
    )
    start_time = forms.TimeField(
        widget=forms.HiddenInput,
        error_messages={"required": "Pick a start time (one of the free slots)."},
    )
    addons = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Add-ons"
    )
    phone = forms.CharField(max_length=32, help_text='Any format, e.g. "408 555 0190".')
    email = forms.EmailField(
        required=False,
        max_length=254,
        help_text="Needed to e-mail the deposit link.",
        widget=forms.EmailInput(attrs={"size": 32}),
    )
    name = forms.CharField(max_length=120)
    sms_opt_in = forms.BooleanField(required=False, label="Agrees to text messages")
    customer_choice = forms.CharField(required=False, widget=forms.HiddenInput)
    line1 = forms.CharField(
        max_length=200, label="Street address", widget=forms.TextInput(attrs={"size": 40})
    )
    line2 = forms.CharField(max_length=200, required=False, label="Apt, gate code")
    city = forms.CharField(max_length=100)
    state = forms.RegexField(
        r"^[A-Za-z]{2}$", initial="CA", error_messages={"invalid": "Two letters, e.g. CA."}
    )
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea({"rows": 3}))
    allergies = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea({"rows": 2}),
        help_text="Shown to the chef on every screen they use.",
    )

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations
        addons = AddOn.objects.filter(station__in=stations, active=True).order_by("sort_order")
        self.fields["addons"].choices = sorted({a.code: a.label for a in addons}.items())
        self.customer = None  # the existing customer staff chose to book for
        self.matches: list[Customer] = []

    def clean_phone(self):
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except ValidationError as exc:
            raise ValidationError("Enter a valid phone number, e.g. 408 555 0190.") from exc

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()

    def clean_state(self):
        return self.cleaned_data["state"].upper()

    def clean(self):
        data = super().clean()
        station = data.get("station")
        if station is not None and "phone" in data and "email" in data:
            self._choose_customer(station, data)
        return data

    def _choose_customer(self, station: Station, data: dict) -> None:
        """An existing customer with this phone or e-mail is used only when staff say so; a
        new one can't share a phone or e-mail with another customer of the station."""
        self.matches = customer_matches(station, phone=data["phone"], email=data["email"])
        choice = data.get("customer_choice") or ""
        if not self.matches:
            return
        chosen = next((c for c in self.matches if choice == f"{USE}:{c.pk}"), None)
        if chosen is not None:
            self.customer = chosen
            return
        names = ", ".join(c.name for c in self.matches)
        if choice == NEW:
            raise ValidationError(
                f"This phone or e-mail belongs to an existing customer ({names}). To create a "
                "new customer, enter a different phone and e-mail; otherwise use the existing "
                "customer."
            )
        raise ValidationError(
            f"Existing customer found ({names}): choose 'Use this customer' or 'Create new'."
        )

    def contact(self) -> dict:
        """The contact the booking is made for. For an existing customer, their record as
        stored (the service then changes nothing on it), only filling an e-mail or phone they
        lacked; their name and consent are never overwritten from this form."""
        data = self.cleaned_data
        if self.customer is None:
            return {k: data[k] for k in ("name", "email", "phone", "sms_opt_in")}
        c = self.customer
        return {
            "name": c.name,
            "email": c.email or data["email"],
            "phone": c.phone or data["phone"],
            "sms_opt_in": c.sms_opt_in,
        }

    def typed_contact_differences(self) -> dict:
        """What staff typed that differs from the existing customer they chose to use."""
        if self.customer is None:
            return {}
        data, c = self.cleaned_data, self.customer
        stored = {"name": c.name, "email": c.email, "phone": c.phone}
        return {k: data[k] for k in stored if data[k] and stored[k] and data[k] != stored[k]}

    def address(self) -> dict:
        data = self.cleaned_data
        fields = ("line1", "line2", "city", "state", "zip_code")
        return {k: data[k] for k in fields}

    def add_service_error(self, exc: ApiError) -> None:
        """Show a service's refusal on the fields it names (else at the top)."""
        placed = False
        for name, problems in (exc.fields or {}).items():
            field = {"addons": "addons", "zip_code": "zip_code"}.get(name, name)
            if field in self.fields and isinstance(problems, list):
                for problem in problems:
                    self.add_error(field, str(problem))
                placed = True
        if not placed or exc.error_code == "slot_unavailable":
            self.add_error(None, str(exc.detail))


def _has_control_chars(query) -> bool:
    """Any value with a control character (a NUL, which PostgreSQL text cannot hold; a line
    break): nothing typed into these fields has one."""
    return any(
        unicodedata.category(ch) == "Cc"
        for values in query.lists()
        for value in values[1]
        for ch in value
    )


def _bad_query() -> JsonResponse:
    return JsonResponse({"error": "The query holds a control character."}, status=400)


def request_claim(user, key: str) -> tuple[str, str]:
    """The claim a phone booking is created under (bookings.services.booking_create's
    request_ref) and the manage token it gets, both from the user and the form's one-time key
    (HMACs under SECRET_KEY, as config.idempotency derives the API's): the same form sent again
    finds the booking the first sending created."""
    message = f"{user.pk}\x00{key}"
    ref = salted_hmac("bookings.admin.phone.ref", message, algorithm="sha256").hexdigest()
    token = salted_hmac("bookings.admin.phone.token", message, algorithm="sha256").hexdigest()
    return ref, token


def _int(value, default=0) -> int:
    """A count from the query string: ASCII digits only (int() also reads Arabic-Indic ones)."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()):
        return default
    return int(text)


def quote_json(q) -> dict:
    """A quote as the page shows it: every line and amount in the station's currency."""

    def money(cents: int) -> str:
        return format_money(cents, q.currency)

    return {
        "lines": [
            {
                "label": line.label,
                "quantity": line.quantity,
                "amount": money(line.amount_cents),
                "top_up": line.code == MINIMUM_SPEND,
            }
            for line in q.lines
        ],
        "subtotal": money(q.subtotal_cents),
        "travel_fee": money(q.travel_fee_cents),
        "gratuity": money(q.gratuity_cents),
        "tax": money(q.tax_cents),
        "total": money(q.total_cents),
        "deposit": money(q.deposit_cents),
    }


class PhoneBookingMixin:
    """The "New booking" page for a phone call and its two small JSON reads (free slots and
    the quote; customers matching a phone or e-mail), under the booking list's admin URLs."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("phone/", wrap(self.phone_booking_view), name="bookings_booking_phone"),
            path(
                "phone/preview/",
                wrap(self.phone_preview_view),
                name="bookings_booking_phone_preview",
            ),
            path(
                "phone/customers/",
                wrap(self.phone_customers_view),
                name="bookings_booking_phone_customers",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_take_phone_booking": phone_stations(request.user).exists()}
        return super().changelist_view(request, extra_context={**extra, **(extra_context or {})})

    def _phone_stations(self, request):
        stations = phone_stations(request.user)
        if not stations.exists():
            raise PermissionDenied  # chefs and people without a station take no bookings
        return stations

    def _phone_station(self, request):
        """The station a JSON read is about: one where the user may take bookings, else 404."""
        station = self._phone_stations(request).filter(pk=_int(request.GET.get("station"))).first()
        if station is None:
            raise Http404("No such station.")
        return station

    def phone_booking_view(self, request):
        stations = self._phone_stations(request)
        key = request.POST.get("key", "")
        if request.method == "POST" and is_one_time_key(key):  # before the form, which would
            request_ref, _token = request_claim(request.user, key)  # find the customer it made
            first = Booking.objects.filter(request_ref=request_ref).first()
            if first is not None:
                messages.info(
                    request,
                    f"Booking {first.reference} was already created from this form; nothing "
                    "created again.",
                )
                return redirect(reverse("admin:bookings_booking_change", args=[first.pk]))
        form = PhoneBookingForm(request.POST or None, stations=stations)
        if request.method == "POST" and form.is_valid():
            booking = self._create_phone_booking(request, form)
            if booking is not None:
                return redirect(reverse("admin:bookings_booking_change", args=[booking.pk]))
        station_list = list(stations)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "New booking (phone)",
            "form": form,
            "stations": station_list,
            "addons": addon_choices(station_list),
            "chosen_addons": form["addons"].value() or [],
            "preview_url": reverse("admin:bookings_booking_phone_preview"),
            "customers_url": reverse("admin:bookings_booking_phone_customers"),
            "changelist_url": reverse("admin:bookings_booking_changelist"),
        }
        return render(request, TEMPLATE, context)

    def _create_phone_booking(self, request, form: PhoneBookingForm):
        data = form.cleaned_data
        request_ref, manage_token = request_claim(request.user, data["key"])
        try:
            booking, _token, _payment = payment_intents.booking_create_with_deposit(
                station=data["station"],
                event_date=data["event_date"],
                start_time=data["start_time"],
                adults=data["adults"],
                children=data["children"],
                addon_codes=data["addons"],
                address=form.address(),
                customer=form.contact(),
                notes=data["notes"],
                allergies=data["allergies"],
                source=BookingSource.STAFF,
                actor=services.Actor.of(request.user),
                request_ref=request_ref,
                manage_token=manage_token,
            )
        except ApiError as exc:  # the slot went meanwhile, a rule refused: nothing created
            form.add_service_error(exc)
            return None
        typed = form.typed_contact_differences()
        if typed:  # kept for staff to review on the booking; the customer record is untouched
            services.booking_note(
                booking=booking,
                actor=services.Actor.of(request.user),
                reason="contact given on the phone differs from the customer record (not applied)",
                data={"given": typed},
            )
        station = data["station"]
        hold = booking.hold_expires_at.astimezone(ZoneInfo(station.timezone))
        messages.success(
            request,
            f"Booking {booking.reference} created for {booking.customer.name}. Deposit "
            f"{format_money(booking.deposit_cents, booking.currency)} is due; the date is held "
            f"until {formats.date_format(hold, 'DATETIME_FORMAT')}. Send the deposit link "
            "below (e-mail; SMS once the inbox lands) or record a payment taken in cash.",
        )
        return booking

    def phone_preview_view(self, request):
        """Free start times for the date and party, and the quote, as JSON."""
        get = request.GET
        if _has_control_chars(get):
            return _bad_query()
        station = self._phone_station(request)
        adults, children = _int(get.get("adults"), 0), _int(get.get("children"), 0)
        answer = {"slots": [], "slots_error": "", "quote": None, "quote_error": ""}
        try:
            day = forms.DateField().clean(get.get("date"))
        except ValidationError:
            answer["slots_error"] = answer["quote_error"] = "Pick a date."
            return JsonResponse(answer)
        guests = adults + children
        if adults < 1 or children < 0:
            answer["slots_error"] = answer["quote_error"] = "At least one adult."
            return JsonResponse(answer)
        if guests > station.max_guests:  # no quote either: the party cannot be booked
            answer["slots_error"] = answer["quote_error"] = (
                f"Parties of 1 to {station.max_guests} guests."
            )
            return JsonResponse(answer)
        slots = scheduling.availability(station=station, start=day, end=day, guests=guests)
        answer["slots"] = [
            {"start": f"{s.start:%H:%M}", "end": f"{s.end:%H:%M}", "chefs": s.chefs_available}
            for s in slots
        ]
        if not slots:
            answer["slots_error"] = "No free start time that day (notice, horizon or chefs)."
        answer.update(self._quote(station, day, adults, children, get))
        return JsonResponse(answer)

    def _quote(self, station, day, adults, children, get) -> dict:
        zip_code = (get.get("zip") or "").strip()
        if not (len(zip_code) == 5 and zip_code.isascii() and zip_code.isdigit()):
            return {"quote_error": "Enter the 5-digit ZIP for the quote."}
        try:
            q = quote(
                station=station,
                event_date=day,
                adults=adults,
                children=children,
                zip_code=zip_code,
                addon_codes=get.getlist("addons"),
            )
        except ApiError as exc:
            return {"quote_error": str(exc.detail)}
        return {"quote": quote_json(q)}

    def phone_customers_view(self, request):
        """The station's customers matching a phone or e-mail, with their past bookings."""
        if _has_control_chars(request.GET):
            return _bad_query()
        station = self._phone_station(request)
        phone = _phone_or_blank(request.GET.get("phone", ""))
        email = (request.GET.get("email") or "").strip().lower()
        if "@" not in email:
            email = ""
        return JsonResponse(
            {
                "matches": [
                    customer_json(c) for c in customer_matches(station, phone=phone, email=email)
                ]
            }
        )


def addon_choices(stations: list[Station]) -> list[dict]:
    """The stations' active add-ons as the page lists them (each shown for its station)."""
    currency = {s.pk: s.currency for s in stations}
    addons = AddOn.objects.filter(station__in=stations, active=True)
    return [
        {
            "station": a.station_id,
            "code": a.code,
            "label": a.label,
            "price": format_money(a.price_cents, currency[a.station_id]),
            "per": "per guest" if a.pricing == AddOnPricing.PER_PERSON else "flat",
        }
        for a in addons.order_by("station", "sort_order", "label")
    ]


def customer_json(customer: Customer) -> dict:
    last = customer.last_event.isoformat() if customer.last_event else ""
    return {
        "choice": f"{USE}:{customer.pk}",
        "name": customer.name,
        "phone": customer.phone,
        "email": customer.email,
        "bookings": customer.booking_count,
        "last_event": last,
    }
