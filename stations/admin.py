from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import formats
from django.utils.html import format_html

from bookings import calendar
from bookings import services as booking_services
from config.exceptions import ApiError
from stations import services, tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin, StationScopedInline
from stations.forms import InviteForm, TimeOffForm, time_off_local_fields
from stations.models import Chef, Invitation, Membership, ServiceZone, Station, TimeOff


class ServiceZoneInline(StationScopedInline):
    model = ServiceZone
    write_roles = tenancy.SETTINGS_ROLES
    fields = ["name", "zip_codes", "travel_fee_cents"]


def station_datetime(moment, station) -> str:
    """An instant in the station's zone, named: "Dec. 6, 2026, 6 p.m. PST"."""
    local = moment.astimezone(ZoneInfo(station.timezone))
    return formats.date_format(local, "DATETIME_FORMAT")


def _feed_link(url_name: str, token: str) -> str:
    url = settings.PUBLIC_BASE_URL + reverse(url_name, kwargs={"token": token})
    return format_html(
        '<a href="{}">{}</a><br><span class="help">Subscribe to this address in '
        "a calendar app. Anyone with it can read the events: rotate it if it "
        "leaks.</span>",
        url,
        url,
    )


class ChefTimeMixin:
    """Chefs and their time off decide availability: every write goes through the stations
    service that saves it and tells the availability cache when it commits."""

    def save_model(self, request, obj, form, change):
        if isinstance(obj, TimeOff):
            services.time_off_save(time_off=obj)
        else:
            services.chef_save(chef=obj)

    def delete_model(self, request, obj):
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset):
        objects = list(queryset)
        if objects and isinstance(objects[0], TimeOff):
            services.time_offs_delete(time_offs=objects)
        else:
            services.chefs_delete(chefs=objects)


class RotateFeedMixin:
    """The secret calendar-feed link on the change page, shown only to those who may read every
    event in it (writers of the station, and a chef for their own feed), and an action that
    rotates it."""

    def may_see_feed(self, request, obj) -> bool:
        return obj is not None and self.has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not self.may_see_feed(request, obj):
            fields = [f for f in fields if f != "calendar_feed"]
        return fields

    def get_fieldsets(self, request, obj=None):
        hidden = not self.may_see_feed(request, obj)
        return [
            (
                name,
                {
                    **opts,
                    "fields": [f for f in opts["fields"] if not (hidden and f == "calendar_feed")],
                },
            )
            for name, opts in super().get_fieldsets(request, obj)
        ]

    @admin.action(description="Rotate calendar link (the old address stops working)")
    def rotate_calendar_link(self, request, queryset):
        rotated = 0
        for obj in queryset:
            if self.has_change_permission(request, obj):
                self.rotate_service(obj)
                rotated += 1
        self.message_user(request, f"{rotated} calendar link(s) rotated.", messages.SUCCESS)


@admin.register(Station)
class StationAdmin(RotateFeedMixin, StationScopedAdmin):
    write_roles = tenancy.SETTINGS_ROLES
    list_display = ["name", "slug", "timezone", "currency", "phone", "active"]
    list_filter = ["active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["calendar_feed", "created_at", "updated_at"]
    inlines = [ServiceZoneInline]
    actions = ["rotate_calendar_link"]

    @staticmethod
    def rotate_service(station):
        return services.station_rotate_calendar_token(station=station)

    @admin.display(description="calendar feed")
    def calendar_feed(self, station):
        return _feed_link("station-feed", station.calendar_token)

    fieldsets = [
        (None, {"fields": ["name", "slug", "active", "timezone", "currency", "phone", "email"]}),
        (
            "Booking rules",
            {
                "fields": [
                    "slot_interval_minutes",
                    ("earliest_start", "latest_start"),
                    "duration_rules",
                    "buffer_minutes",
                    "min_notice_hours",
                    "booking_horizon_days",
                    "max_events_per_chef_per_day",
                    "max_guests",
                    "hold_minutes",
                    "staff_hold_minutes",
                ]
            },
        ),
        (
            "Cancellation policy",
            {
                "fields": [
                    "deposit_forfeit_hours",
                    "free_reschedule_notice_hours",
                ]
            },
        ),
        ("Messaging", {"fields": [("quiet_hours_start", "quiet_hours_end"), "sms_help_text"]}),
        ("Payments", {"fields": ["manager_refund_limit_cents", "auto_charge_balance_days"]}),
        (
            "AI",
            {
                "fields": [
                    "ai_monthly_budget_cents",
                    "ai_rate_limit_per_minute",
                    "ai_auto_reply_level",
                    "ai_l1_intents",
                    "ai_confidence_threshold",
                ]
            },
        ),
        (
            "Leads",
            {
                "fields": [
                    ("opening_time", "closing_time"),
                    "lead_response_target_minutes",
                    "lead_auto_first_reply",
                    "lead_first_reply_text",
                ]
            },
        ),
        ("Reviews", {"fields": ["review_request_delay_hours", "review_auto_reply_five_star"]}),
        ("Feeds", {"fields": ["calendar_feed", "created_at", "updated_at"]}),
    ]

    def has_add_permission(self, request):
        return tenancy.is_superuser(request.user)  # new territories are set up centrally

    def has_delete_permission(self, request, obj=None):
        return tenancy.is_superuser(request.user)


@admin.register(Membership)
class MembershipAdmin(StationScopedAdmin):
    """Owners add staff by e-mail invitation (the add page), never by picking from the users of
    the whole site; a membership's user and station never change (revoke and invite instead)."""

    write_roles = tenancy.SETTINGS_ROLES
    list_display = ["user", "station", "role", "created_at"]
    list_filter = [StationListFilter, "role"]
    list_select_related = ["user", "station"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    fields = ["user", "station", "role", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "station", "created_at"]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        stations = tenancy.stations_for(request.user, roles=self.write_roles)
        form = InviteForm(request.POST or None, stations=stations)
        if request.method == "POST" and form.is_valid():
            try:
                services.membership_invite(invited_by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                email = services.normalize_email(form.cleaned_data["email"])
                self.message_user(request, f"Invitation sent to {email}.", messages.SUCCESS)
                return redirect("admin:stations_invitation_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Invite a member",
            "opts": self.model._meta,
            "form": form,
            **(extra_context or {}),
        }
        return render(request, "admin/stations/membership/invite.html", context)


@admin.register(Invitation)
class InvitationAdmin(StationScopedAdmin):
    """Invitations sent, for the owners who send them: read-only; deleting one revokes its link."""

    view_roles = tenancy.SETTINGS_ROLES
    write_roles = tenancy.SETTINGS_ROLES
    list_display = ["email", "station", "role", "invited_by", "created_at", "state"]
    list_filter = [StationListFilter, "role"]
    list_select_related = ["station", "invited_by"]
    search_fields = ["email"]
    fields = [
        "email",
        "name",
        "station",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # invite from the memberships' add page

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_change_permission(request, obj)

    @admin.display(description="state")
    def state(self, invitation):
        if invitation.accepted_at:
            return "accepted"
        return "open" if invitation.is_open() else "expired"


@admin.register(Chef)
class ChefAdmin(ChefTimeMixin, RotateFeedMixin, StationScopedAdmin):
    write_roles = tenancy.MANAGE_ROLES
    list_display = ["name", "station", "phone", "active"]
    list_filter = [StationListFilter, "active"]
    list_select_related = ["station"]
    search_fields = ["name"]
    readonly_fields = ["calendar_feed"]
    actions = ["rotate_calendar_link"]

    @staticmethod
    def rotate_service(chef):
        return services.chef_rotate_calendar_token(chef=chef)

    @admin.display(description="calendar feed")
    def calendar_feed(self, chef):
        return _feed_link("chef-feed", chef.calendar_token)

    def may_see_feed(self, request, obj) -> bool:
        own = obj is not None and obj.user_id is not None and obj.user_id == request.user.pk
        return own or super().may_see_feed(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not tenancy.is_superuser(request.user):
            # A chef's login is one of the staff of the user's stations, never another station's.
            stations = tenancy.stations_for(request.user, roles=self.write_roles)
            kwargs["queryset"] = (
                get_user_model().objects.filter(memberships__station__in=stations).distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(TimeOff)
class TimeOffAdmin(ChefTimeMixin, StationScopedAdmin):
    """Time off is typed in the chef's station time, whole days by default (stations.forms).
    Saving it leads to the chef's bookings it touches, each with a button that gives it to a
    free chef (the bookings reassign service, under the database's no-overlap rule)."""

    form = TimeOffForm
    write_roles = tenancy.MANAGE_ROLES
    list_display = ["chef", "starts_local", "ends_local", "whole_days", "reason"]
    list_filter = [StationListFilter]
    list_select_related = ["chef", "chef__station"]
    search_fields = ["chef__name", "reason"]
    autocomplete_fields = ["chef"]
    date_hierarchy = "starts_at"
    fieldsets = [
        (None, {"fields": ["chef", ("first_day", "last_day"), "reason"]}),
        (
            "Part of a day (station time)",
            {"fields": ["part_of_day", ("start_time", "end_time")]},
        ),
    ]

    @admin.display(description="starts (station time)", ordering="starts_at")
    def starts_local(self, time_off):
        return station_datetime(time_off.starts_at, time_off.chef.station)

    @admin.display(description="ends (station time)", ordering="ends_at")
    def ends_local(self, time_off):
        return station_datetime(time_off.ends_at, time_off.chef.station)

    @admin.display(description="whole days", boolean=True)
    def whole_days(self, time_off):
        return not time_off_local_fields(time_off).get("part_of_day", False)

    def get_urls(self):
        view = self.admin_site.admin_view(self.affected_view)
        return [
            path("<path:object_id>/affected/", view, name="stations_timeoff_affected"),
            *super().get_urls(),
        ]

    def response_add(self, request, obj, post_url_continue=None):
        if "_addanother" in request.POST or "_continue" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        return self._to_affected(request, obj, "added")

    def response_change(self, request, obj):
        if "_addanother" in request.POST or "_continue" in request.POST:
            return super().response_change(request, obj)
        return self._to_affected(request, obj, "changed")

    def _to_affected(self, request, obj, verb):
        self.message_user(request, f"Time off {verb}: {obj.chef} is off {self._span(obj)}.")
        return redirect("admin:stations_timeoff_affected", obj.pk)

    @staticmethod
    def _span(time_off):
        """ "Mon, Nov 30 (whole day, station time)", or the two instants in station time."""
        station = time_off.chef.station
        local = time_off_local_fields(time_off)
        if local.get("part_of_day"):
            return (
                f"{station_datetime(time_off.starts_at, station)} to "
                f"{station_datetime(time_off.ends_at, station)}"
            )
        first, last = local["first_day"], local["last_day"]
        if first == last:
            return f"{first:%a, %b %-d, %Y} (whole day, {station.timezone})"
        return f"{first:%a, %b %-d} to {last:%a, %b %-d, %Y} (whole days, {station.timezone})"

    def affected_view(self, request, object_id):
        """The chef's active bookings during the time off; POST `booking` reassigns one."""
        time_off = self.get_object(request, unquote(object_id))
        if time_off is None:
            raise Http404("No such time off.")
        if not self.has_view_permission(request, time_off):
            raise PermissionDenied
        may_reassign = self.has_change_permission(request, time_off)
        affected = list(calendar.bookings_during_time_off(request.user, time_off))
        if request.method == "POST":
            if not may_reassign:
                raise PermissionDenied
            booking = next((b for b in affected if str(b.pk) == request.POST.get("booking")), None)
            if booking is None:
                self.message_user(
                    request, "That booking no longer clashes with this time off.", messages.INFO
                )
            else:
                self._reassign(request, booking)
            return redirect("admin:stations_timeoff_affected", time_off.pk)
        station = time_off.chef.station
        tz = ZoneInfo(station.timezone)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Bookings during {time_off.chef}'s time off",
            "opts": self.model._meta,
            "original": time_off,
            "time_off": time_off,
            "span": self._span(time_off),
            "first_day": time_off.starts_at.astimezone(tz).date().isoformat(),
            "may_reassign": may_reassign,
            "rows": [
                {
                    "booking": b,
                    "when": f"{b.event_date:%a %b %-d}, "
                    f"{calendar.time_range_label(b.starts_at, b.ends_at, tz)}",
                }
                for b in affected
            ],
        }
        return render(request, "admin/stations/timeoff/affected.html", context)

    def _reassign(self, request, booking):
        previous = booking.chef
        try:
            moved = booking_services.booking_reassign_to_any_free_chef(
                booking=booking, actor=booking_services.Actor.of(request.user)
            )
        except ApiError as exc:
            if exc.get_codes() == "invalid_transition":
                detail = str(exc.detail)
            else:
                detail = "no other chef is free then. Call a chef in, or reschedule or cancel it."
            self.message_user(
                request, f"{booking.reference} not reassigned: {detail}", messages.ERROR
            )
            return
        moved.refresh_from_db(fields=["chef"])
        self.message_user(
            request,
            f"{booking.reference} reassigned from {previous} to {moved.chef}.",
            messages.SUCCESS,
        )


# --- The users of the whole site: superusers only ---------------------------------------------
# Django's user and group admins go by Django's model permissions; here a user list would show
# every member of every station, so only superusers see it, whatever permissions a user holds.


class SuperuserOnlyMixin:
    def has_module_permission(self, request):
        return tenancy.is_superuser(request.user)

    def has_view_permission(self, request, obj=None):
        return tenancy.is_superuser(request.user)

    def has_add_permission(self, request):
        return tenancy.is_superuser(request.user)

    def has_change_permission(self, request, obj=None):
        return tenancy.is_superuser(request.user)

    def has_delete_permission(self, request, obj=None):
        return tenancy.is_superuser(request.user)


admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class UserAdmin(SuperuserOnlyMixin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class GroupAdmin(SuperuserOnlyMixin, auth_admin.GroupAdmin):
    pass
