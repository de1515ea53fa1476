"""
A station's channels in the back office (Inbox → Channels): where it receives and sends.

Staff (owners, managers, agents) see the channels of their stations and whether each can send
(its own credentials, the environment's, or offline); only owners add, change or delete them
(they hold provider credentials). Credentials are write-only: password inputs that are never
filled in, blank keeps what is stored, "clear" removes the channel's own (the environment's
then apply); they are sealed by inbox.credentials.channel_set_credentials and never shown
back, not even in part. A RingCentral channel shows its webhook subscription, with a warning
when RingCentral blacklisted it or its renewal failed.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from inbox import credentials
from inbox.admin import display
from inbox.models import Channel, ChannelKind, SubscriptionState
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin
from stations.validators import normalize_phone

CREDENTIAL_PREFIX = "credential_"
TROUBLE = (SubscriptionState.BLACKLISTED, SubscriptionState.FAILED)


def _kinds_using(name: str) -> list[str]:
    return [ChannelKind(k).label for k, fields in credentials.FIELDS.items() if name in fields]


def _all_credential_names() -> list[str]:
    return list(dict.fromkeys(n for fields in credentials.FIELDS.values() for n in fields))


class ChannelForm(forms.ModelForm):
    """The channel's own fields, its credential inputs (write-only), and "clear credentials"."""

    clear_credentials = forms.BooleanField(
        required=False,
        label="Clear credentials",
        help_text="Remove this channel's own credentials (the environment's then apply).",
    )

    class Meta:
        model = Channel
        fields = ["station", "kind", "address", "name", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kind = self.instance.kind if self.instance.pk else None
        names = list(credentials.FIELDS[kind]) if kind else _all_credential_names()
        for name in names:
            for_kinds = "" if kind else f" ({', '.join(_kinds_using(name))})"
            self.fields[CREDENTIAL_PREFIX + name] = forms.CharField(
                required=False,
                max_length=4000,
                strip=True,
                label=name.replace("_", " ") + for_kinds,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text="Leave blank to keep the current one. Never shown back.",
            )
        if not self.instance.pk:
            del self.fields["clear_credentials"]

    @property
    def credential_names(self) -> list[str]:
        return [
            n.removeprefix(CREDENTIAL_PREFIX)
            for n in self.fields
            if n.startswith(CREDENTIAL_PREFIX)
        ]

    def clean_address(self):
        address = self.cleaned_data["address"].replace("\x00", "").strip()
        kind = self.instance.kind if self.instance.pk else self.data.get("kind")
        if kind in (ChannelKind.SMS_TWILIO, ChannelKind.SMS_RINGCENTRAL):
            try:
                return normalize_phone(address)
            except ValidationError as exc:
                raise ValidationError("Enter the number, e.g. +14085550100.") from exc
        if kind == ChannelKind.EMAIL:
            return address.lower()
        return address

    def clean(self):
        data = super().clean()
        kind = self.instance.kind if self.instance.pk else data.get("kind")
        if kind:
            allowed = credentials.FIELDS[kind]
            for name in self.credential_names:
                if data.get(CREDENTIAL_PREFIX + name) and name not in allowed:
                    self.add_error(
                        CREDENTIAL_PREFIX + name,
                        f"Not a credential of {ChannelKind(kind).label}.",
                    )
        return data

    def credential_values(self) -> dict[str, str] | None:
        """What to seal, or None when nothing about the credentials changes: the channel's own
        (unless cleared) with what was typed over them."""
        typed = {
            name: self.cleaned_data[CREDENTIAL_PREFIX + name]
            for name in self.credential_names
            if self.cleaned_data.get(CREDENTIAL_PREFIX + name)
        }
        clear = self.cleaned_data.get("clear_credentials", False)
        if not typed and not clear:
            return None
        channel = self.instance
        allowed = credentials.FIELDS[channel.kind]
        kept = {} if clear else credentials.unseal(channel.pk, channel.credentials_sealed)
        return {**{k: v for k, v in kept.items() if k in allowed}, **typed}


@admin.register(Channel)
class ChannelAdmin(StationScopedAdmin):
    view_roles = tenancy.STAFF_WRITE_ROLES
    write_roles = tenancy.SETTINGS_ROLES  # provider credentials: owners only
    form = ChannelForm
    list_display = [
        "__str__",
        "station",
        "kind",
        "address",
        "active",
        "configured_display",
        "subscription_display",
    ]
    list_filter = [StationListFilter, "kind", "active"]
    list_select_related = ["station"]
    search_fields = ["name", "address"]
    readonly_fields = ["configured_display", "subscription_display", "created_at"]

    def get_fieldsets(self, request, obj=None):
        form_fields = ["station", "kind", "address", "name", "active"]
        fieldsets = [(None, {"fields": form_fields})]
        if not self.has_change_permission(request, obj):
            return [(None, {"fields": [*form_fields, "configured_display"]})]
        credential_fields = [
            CREDENTIAL_PREFIX + n
            for n in (credentials.FIELDS[obj.kind] if obj else _all_credential_names())
        ]
        if obj is not None:
            credential_fields = ["configured_display", *credential_fields, "clear_credentials"]
        fieldsets.append(
            (
                "Credentials",
                {
                    "fields": credential_fields,
                    "description": "Write-only. Blank: the channel keeps what it has, or uses "
                    "the environment's (TWILIO_*, RINGCENTRAL_*, META_*, POSTMARK_*).",
                },
            )
        )
        if obj is not None and obj.kind == ChannelKind.SMS_RINGCENTRAL:
            fieldsets.append(("RingCentral subscription", {"fields": ["subscription_display"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("kind")  # routing and credentials depend on it: a new channel instead
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The model's fields; the form adds its credential inputs itself.
        kwargs["fields"] = ChannelForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        values = form.credential_values() if isinstance(form, ChannelForm) else None
        if values is not None:
            credentials.channel_set_credentials(channel=obj, values=values)

    def changelist_view(self, request, extra_context=None):
        troubled = self.get_queryset(request).filter(
            kind=ChannelKind.SMS_RINGCENTRAL, subscription_state__in=TROUBLE
        )
        for channel in troubled.select_related("station")[:5]:
            messages.warning(request, _trouble_text(channel))
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        channel = self.get_object(request, object_id)
        if (
            request.method == "GET"
            and channel is not None
            and channel.kind == ChannelKind.SMS_RINGCENTRAL
            and channel.subscription_state in TROUBLE
        ):
            messages.warning(request, _trouble_text(channel))
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="can send")
    def configured_display(self, channel: Channel):
        return configured_text(channel)

    @admin.display(description="subscription")
    def subscription_display(self, channel: Channel):
        if channel.kind != ChannelKind.SMS_RINGCENTRAL:
            return "-"
        state = channel.subscription_state
        label = SubscriptionState(state).label if state in SubscriptionState.values else state
        expires = display.station_time(channel.subscription_expires_at, channel.station.timezone)
        if state in TROUBLE:
            return format_html(
                '<strong style="color:#ba2121">⚠ {}</strong>{}',
                label,
                f": {channel.subscription_error}" if channel.subscription_error else "",
            )
        if not state:
            return "no subscription yet"
        return f"{label}, expires {expires}"


def configured_text(channel: Channel) -> str:
    """Whether the channel can send, and from where its credentials come (names only)."""
    required = credentials.REQUIRED_TO_SEND[channel.kind]
    if required is None:
        return "receives only (answered by e-mail or SMS)"
    own = credentials.unseal(channel.pk, channel.credentials_sealed)
    values = credentials.for_channel(channel)
    missing = [name for name in required if not values.get(name)]
    if missing:
        return f"offline: no credentials ({', '.join(missing)} missing)"
    own_names = [name for name in credentials.FIELDS[channel.kind] if own.get(name)]
    if not own_names:
        return "yes, with the environment's credentials" if required else "yes"
    if all(own.get(name) for name in required):
        return f"yes, with its own credentials ({', '.join(own_names)})"
    return f"yes, with its own ({', '.join(own_names)}) and the environment's credentials"


def _trouble_text(channel: Channel) -> str:
    what = (
        "RingCentral blacklisted the webhook subscription"
        if channel.subscription_state == SubscriptionState.BLACKLISTED
        else "Renewing the RingCentral webhook subscription failed"
    )
    return (
        f"{channel.station.name} · {channel.address}: {what}; its texts are not arriving. "
        "Check the credentials; the hourly renewal subscribes again."
    )
