"""
The forms of the leads back office (leads.admin). They only read and check what a person typed;
every change is made by a service of leads.services, which has the last word (its refusals are
put back on the form by `add_service_error`).

- LeadQuickAddForm: staff take a phone call ("add lead"): the lead goes through lead_capture
  with source "phone", so it is routed, merged into an open lead and scored like any other.
- LeadDetailsForm: the lead page's editable details (saved by lead_update, then rescored).
- The lead page's work forms: log a call or note, move the status (lost needs a reason),
  assign, set the follow-up (a wall time in the station's zone), route an unassigned lead.
- LostReasonForm, RouteForm: the intermediate pages of the list's actions.
- ConvertForm: "Convert to booking", pre-filled from services.conversion_defaults, with the
  free start times of the chosen day (the booking service still decides: 409 when it's gone).
"""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from bookings.models import AddOn
from config.exceptions import ApiError
from leads.models import ActivityKind, Lead, LeadStatus
from leads.services import EDITABLE, TRANSITIONS
from stations.models import Role, Station
from stations.validators import normalize_phone

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class DayField(forms.DateField):
    """A date typed in ASCII digits: Python's parsing also reads an Arabic-Indic "٢٠٢٧" as
    2027, a date nobody typed."""

    widget = DATE_INPUT

    def to_python(self, value):
        if isinstance(value, str) and not value.isascii():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


LOST_REASONS = [
    "Booked another caterer",
    "Too expensive",
    "Date not available",
    "No reply",
    "Not a real enquiry (spam)",
]


def _clean_text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; nobody types one."""
    return (value or "").replace("\x00", "").strip()


def add_service_error(form: forms.Form, exc: ApiError) -> None:
    """Show a service's refusal on the fields it names (else, and for conflicts, at the top)."""
    placed = False
    for name, problems in (exc.fields or {}).items():
        if name in form.fields and isinstance(problems, list | tuple):
            for problem in problems:
                form.add_error(name, str(problem))
            placed = True
    if not placed or exc.status_code == 409:
        form.add_error(None, str(exc.detail))


# --- Quick-add (a phone call) and the lead's details -----------------------------------------


class _LeadContactForm(forms.ModelForm):
    """Contact and party, as staff type them (the admin makes the phone box take any format and
    the budget box dollars: stations.admin_base)."""

    def clean_name(self):
        name = _clean_text(self.cleaned_data.get("name"))
        if not name:
            raise ValidationError("Give the caller's name.")
        return name

    def clean_email(self):
        return _clean_text(self.cleaned_data.get("email")).lower()

    def clean_zip_code(self):
        value = _clean_text(self.cleaned_data.get("zip_code"))
        if value and not (len(value) == 5 and value.isascii() and value.isdigit()):
            raise ValidationError("Enter a 5-digit ZIP code.")
        return value

    def clean_message(self):
        return _clean_text(self.cleaned_data.get("message"))


class LeadQuickAddForm(_LeadContactForm):
    """A phone call taken by staff: who called, for which station, and what they want."""

    class Meta:
        model = Lead
        fields = [
            "station",
            "name",
            "phone",
            "email",
            "zip_code",
            "event_date",
            "guests",
            "budget_cents",
            "message",
        ]
        labels = {"zip_code": "ZIP", "message": "What they asked"}
        field_classes = {"event_date": DayField}
        widgets = {
            "event_date": DATE_INPUT,
            "message": forms.Textarea({"rows": 4, "cols": 60}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        station = self.fields.get("station")
        if station is not None:
            station.required = True
            station.empty_label = None
            station.help_text = "The station the caller rang (one of yours)."

    def clean(self):
        data = super().clean()
        if not (data.get("phone") or data.get("email")):
            raise ValidationError("Give a phone number or an e-mail address to call back on.")
        return data


class LeadDetailsForm(_LeadContactForm):
    """The lead page's details: what lead_update may change."""

    class Meta:
        model = Lead
        fields = list(EDITABLE)
        labels = {"zip_code": "ZIP"}
        field_classes = {"event_date": DayField}
        widgets = {
            "event_date": DATE_INPUT,
            "message": forms.Textarea({"rows": 4, "cols": 60}),
        }


# --- The lead page's work forms --------------------------------------------------------------


class LogForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            (ActivityKind.CALL, "Call"),
            (ActivityKind.NOTE, "Note"),
            (ActivityKind.MESSAGE, "Message (sent outside the inbox)"),
        ],
        initial=ActivityKind.CALL,
        widget=forms.RadioSelect,
        label="What",
    )
    body = forms.CharField(
        required=False,
        max_length=5000,
        label="Notes",
        widget=forms.Textarea({"rows": 3, "cols": 40, "id": "lead-log-body"}),
        help_text="A call or message counts as contact: a new lead becomes contacted.",
    )

    def clean_body(self):
        return _clean_text(self.cleaned_data.get("body"))

    def clean(self):
        data = super().clean()
        if data.get("kind") == ActivityKind.NOTE and not data.get("body"):
            self.add_error("body", "Write the note first.")
        return data


class StatusForm(forms.Form):
    """Move the lead along the pipeline: only the moves the pipeline allows from here (won comes
    from converting it). Lost needs a reason."""

    status = forms.ChoiceField(label="New status")
    reason = forms.CharField(
        required=False,
        max_length=200,
        label="Lost reason",
        widget=forms.TextInput({"list": "lost-reasons", "size": 30, "id": "lead-lost-reason"}),
        help_text="Needed when the lead is lost.",
    )

    def __init__(self, *args, lead: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = TRANSITIONS.get(LeadStatus(lead.status), set())
        self.fields["status"].choices = [
            (s, label) for s, label in LeadStatus.choices if s in allowed
        ]

    def clean_reason(self):
        return _clean_text(self.cleaned_data.get("reason"))

    def clean(self):
        data = super().clean()
        if data.get("status") == LeadStatus.LOST and not data.get("reason"):
            self.add_error("reason", "Say why the lead was lost.")
        return data


def station_staff(station_id: int | None):
    """The people a lead of this station may be given to (owners, managers, agents)."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__station_id=station_id,
            memberships__role__in=(Role.OWNER, Role.MANAGER, Role.AGENT),
        )
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


class _PersonChoice(forms.ModelChoiceField):
    def label_from_instance(self, user):
        return user.get_full_name() or user.get_username()


class AssignForm(forms.Form):
    assignee = _PersonChoice(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="Nobody",
        label="Assign to",
    )

    def __init__(self, *args, lead: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = station_staff(lead.station_id)
        self.fields["assignee"].initial = lead.assignee_id


class StationMomentField(forms.Field):
    """A date and time typed as the station's people read them (its zone). In the hour the
    clocks repeat, the first of the two; a time the clocks skip is refused."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *, zone: ZoneInfo, **kwargs):
        self.zone = zone
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, datetime):
            return value.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")
        return value

    def to_python(self, value):
        text = _clean_text(str(value or ""))
        if not text:
            return None
        try:
            naive = parse_datetime(text)
        except ValueError:
            naive = None
        if naive is None or naive.tzinfo is not None:
            raise ValidationError("Pick a date and a time.")
        aware = naive.replace(tzinfo=self.zone)
        try:
            again = aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None)
        except (OverflowError, ValueError):  # the first or last day there is
            raise ValidationError("Pick a date and a time.") from None
        if again != naive:
            raise ValidationError("That time does not exist here (the clocks skip it).")
        return aware


class FollowUpForm(forms.Form):
    def __init__(self, *args, lead: Lead, zone: ZoneInfo, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["at"] = StationMomentField(
            zone=zone,
            required=False,
            label="Follow up at",
            initial=lead.follow_up_at,
            help_text="Station time. Leave empty to clear it.",
        )


class RouteForm(forms.Form):
    """Give an unassigned lead (no station serves its ZIP) to a station."""

    station = forms.ModelChoiceField(queryset=Station.objects.none(), empty_label=None)

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations


class LostReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        label="Why were they lost?",
        widget=forms.TextInput({"list": "lost-reasons", "size": 40, "autofocus": True}),
        error_messages={"required": "Say why the leads were lost."},
    )

    def clean_reason(self):
        reason = _clean_text(self.cleaned_data.get("reason"))
        if not reason:
            raise ValidationError("Say why the leads were lost.")
        return reason


# --- Convert to booking ----------------------------------------------------------------------


class ConvertForm(forms.Form):
    """The booking made from the lead. The start times offered are the free ones of the day for
    the party (staff press "Show free times" after changing the day or the party); the booking
    service checks again when it books (409: somebody took it meanwhile)."""

    event_date = DayField(label="Date")
    adults = forms.IntegerField(min_value=1, max_value=500)
    children = forms.IntegerField(min_value=0, max_value=500, initial=0)
    start_time = forms.TimeField(
        label="Start time",
        widget=forms.Select,
        error_messages={"required": "Pick a start time (one of the free ones)."},
    )
    addons = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Add-ons"
    )
    line1 = forms.CharField(
        max_length=200, label="Street address", widget=forms.TextInput({"size": 40})
    )
    line2 = forms.CharField(max_length=200, required=False, label="Apt, gate code")
    city = forms.CharField(max_length=100)
    state = forms.RegexField(
        r"^[A-Za-z]{2}$", initial="CA", error_messages={"invalid": "Two letters, e.g. CA."}
    )
    zip_code = forms.RegexField(
        r"^\d{5}$", label="ZIP", error_messages={"invalid": "Enter a 5-digit ZIP."}
    )
    sms_opt_in = forms.BooleanField(required=False, label="Agrees to text messages")
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea({"rows": 3}))
    allergies = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea({"rows": 2}),
        help_text="Shown to the chef on every screen they use.",
    )

    def __init__(self, *args, station: Station, slots: list[time], **kwargs):
        super().__init__(*args, **kwargs)
        addons = AddOn.objects.filter(station=station, active=True).order_by("sort_order", "label")
        self.fields["addons"].choices = [(a.code, a.label) for a in addons]
        choices = [(f"{s:%H:%M}", s.strftime("%I:%M %p").lstrip("0")) for s in slots]
        if not choices:
            choices = [("", "No free start time that day")]
        self.fields["start_time"].widget.choices = choices

    def clean_state(self):
        return self.cleaned_data["state"].upper()

    def address(self) -> dict:
        data = self.cleaned_data
        return {k: data[k] for k in ("line1", "line2", "city", "state", "zip_code")}


def normalized_phone(term: str) -> str:
    """The E.164 form of a phone typed in a search box, or "" when it is not one."""
    if sum(ch.isdigit() for ch in term) < 7 or len(term) > 40:
        return ""
    try:
        return normalize_phone(term)
    except ValidationError:
        return ""
