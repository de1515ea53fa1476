"""Forms of the stations admin: the invitation flow (the owner's invite form, the new account
form of the accept page), time off in station time, and the percent field of rates."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import UsernameField
from django.utils import timezone

from stations.models import Role, Station, TimeOff


class InviteForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.none())
    email = forms.EmailField(help_text="The invitation link is sent here.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.AGENT)
    name = forms.CharField(
        max_length=150,
        required=False,
        help_text="For a new account: the person's name (an existing account keeps its own).",
    )

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations
        if stations.count() == 1:
            self.fields["station"].initial = stations.first()


class NewAccountForm(forms.Form):
    """A username and a password, checked by the site's password validators."""

    username = UsernameField(max_length=150)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, invitation, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = invitation

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This username is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            first_name, _, last_name = self.invitation.name.partition(" ")
            candidate = get_user_model()(
                username=cleaned.get("username", ""),
                email=self.invitation.email,
                first_name=first_name,
                last_name=last_name,
            )
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


# --- Admin form fields and forms of the back office ----------------------------------------------


class PercentField(forms.Field):
    """A rate typed in percent ("18", "9.25") and cleaned to basis points (1800, 925), as the
    models store rates. Nothing is rounded: more than two decimals is refused, as is anything
    outside 0 to 100."""

    widget = forms.TextInput
    default_error_messages = {
        "invalid": "Enter a percentage, like 18 or 9.25.",
        "precision": "Use at most two decimals, like 9.25.",
        "range": "Enter a percentage from 0 to 100.",
    }

    def widget_attrs(self, widget):
        return {
            **super().widget_attrs(widget),
            "inputmode": "decimal",
            "size": 6,
            "placeholder": "0",
        }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already basis points (an initial value)
        text = str(value).strip().removesuffix("%").strip()
        try:
            percent = Decimal(text)
        except InvalidOperation:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not percent.is_finite():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if not 0 <= percent <= 100:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        bp = percent * 100
        if bp != bp.to_integral_value():
            raise forms.ValidationError(self.error_messages["precision"], code="precision")
        return int(bp)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return format_percent(value)
        return value

    def has_changed(self, initial, data):
        try:
            return self.to_python(initial) != self.to_python(data)
        except forms.ValidationError:
            return True


def format_percent(bp: int | None) -> str:
    """1800 → "18", 925 → "9.25", 950 → "9.5"."""
    if bp is None:
        return ""
    whole, part = divmod(bp, 100)
    return f"{whole}.{part:02d}".rstrip("0").rstrip(".") if part else str(whole)


class TimeOffForm(forms.ModelForm):
    """Time off typed as a person thinks of it, in the chef's station time zone: whole days by
    default (first and last day, midnight to midnight local, so a sick day today covers this
    evening's events), or part of a day with local start and end times. It is stored as two
    instants; the day length follows the zone (a spring-forward day is 23 hours)."""

    first_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    last_day = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the first day only.",
    )
    part_of_day = forms.BooleanField(
        required=False,
        label="Only part of a day",
        help_text="Off from the start time on the first day to the end time on the last day.",
    )
    start_time = forms.TimeField(
        required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    end_time = forms.TimeField(
        required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )

    MAX_DAYS = 366
    # The days time off may fall on, around the station's local today: ten years either way,
    # and far from the ends of the calendar (a whole day ending on 9999-12-31 would need a
    # 10000-01-01 midnight).
    DAYS_BACK = 10 * 365
    DAYS_AHEAD = 10 * 365

    class Meta:
        model = TimeOff
        fields = [
            "chef",
            "first_day",
            "last_day",
            "part_of_day",
            "start_time",
            "end_time",
            "reason",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # shown, and compared with what is posted (changed_data)
            self.initial.update(time_off_local_fields(self.instance))

    def clean(self):
        cleaned = super().clean()
        chef, first = cleaned.get("chef"), cleaned.get("first_day")
        if chef is None or first is None:
            return cleaned
        when = {"chef", "first_day", "last_day", "part_of_day", "start_time", "end_time"}
        if self.instance.pk and not when & set(self.changed_data):
            return cleaned  # only the reason changed: the stored instants stay as they are
        last = cleaned.get("last_day") or first
        if last < first:
            self.add_error("last_day", "The last day is before the first day.")
            return cleaned
        if (last - first).days >= self.MAX_DAYS:
            self.add_error("last_day", f"Enter at most {self.MAX_DAYS} days at a time.")
            return cleaned
        tz = ZoneInfo(chef.station.timezone)
        today = timezone.now().astimezone(tz).date()
        earliest = today - timedelta(days=self.DAYS_BACK)
        latest = today + timedelta(days=self.DAYS_AHEAD)
        outside = False
        for name, day in (("first_day", first), ("last_day", last)):
            if not earliest <= day <= latest and name not in self.errors:
                self.add_error(name, f"Enter a day from {earliest} to {latest} (station time).")
                outside = True
        if outside:
            return cleaned
        if cleaned.get("part_of_day"):
            span = self._part_of_day(cleaned, first, last, tz)
        else:
            span = (_day_start(first, tz), _day_start(last + timedelta(days=1), tz))
        if span is not None:
            self.instance.starts_at, self.instance.ends_at = span
        return cleaned

    def _part_of_day(self, cleaned, first, last, tz):
        start, end = cleaned.get("start_time"), cleaned.get("end_time")
        for name, value in (("start_time", start), ("end_time", end)):
            if value is None and name not in self.errors:
                self.add_error(name, "Enter a time (station time) for part of a day.")
        if start is None or end is None:
            return None
        starts_at, ends_at = _local(first, start, tz), _local(last, end, tz)
        for name, value, day in (("start_time", starts_at, first), ("end_time", ends_at, last)):
            if value is None:
                self.add_error(name, f"This time does not exist on {day} (the clocks change).")
        if starts_at is None or ends_at is None:
            return None
        if ends_at <= starts_at:
            self.add_error("end_time", "Time off must end after it starts.")
            return None
        return starts_at, ends_at


def _local(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The instant of a local wall-clock time; None inside a spring-forward gap."""
    candidate = datetime.combine(day, at, tzinfo=tz)
    if candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != candidate.replace(
        tzinfo=None
    ):
        return None
    return candidate


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local date: its midnight, or, where the clocks jump forward at
    midnight (America/Havana, Asia/Beirut, America/Santiago), the instant they jump to (01:00
    local): the day has no midnight, and it begins there."""
    # A wall time in a gap, read with fold=0, has the offset from before the change: converted
    # to UTC and back, it is the wall time after the jump. An ambiguous midnight (clocks falling
    # back at midnight) with fold=0 is its first occurrence, the start of the day too.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).astimezone(tz)


def time_off_local_fields(time_off: TimeOff) -> dict:
    """The form's fields for stored time off, in its chef's station zone."""
    tz = ZoneInfo(time_off.chef.station.timezone)
    starts, ends = time_off.starts_at.astimezone(tz), time_off.ends_at.astimezone(tz)
    if starts == _day_start(starts.date(), tz) and ends == _day_start(ends.date(), tz):
        return {"first_day": starts.date(), "last_day": ends.date() - timedelta(days=1)}
    return {
        "first_day": starts.date(),
        "last_day": ends.date(),
        "part_of_day": True,
        "start_time": starts.time(),
        "end_time": ends.time(),
    }
