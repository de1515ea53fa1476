"""
Reviews in the back office (Reviews → Reviews, Review requests, Google locations).

- Reviews: every platform's reviews of the user's stations, newest first, with rating,
  platform and reply status; filters for each and the station. 1-3 star reviews that nobody
  answered yet are announced above the list (the in-admin alert; managers also get an e-mail).
  Staff (agents, managers, owners) read them; managers and owners decide replies: on a
  review's page, edit the draft (or write the reply when there is none) and choose "save the
  draft", "approve and post" or "no reply"; from the list, approve or reject the selected
  drafts as written, or post again a reply Google refused. A reply to Yelp or Facebook (no
  reply API) is marked "post manually" with a copy button. Every decision goes through
  reviews.services.
- Review requests: read only (who was asked, on which channel, when, and why not).
- Google locations: the station's Business Profile location and its OAuth credentials
  (owners; write-only, sealed, never shown back).
"""

import functools

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html

from config.exceptions import ApiError
from reviews import selectors, services
from reviews.models import (
    GoogleLocation,
    Platform,
    ReplyStatus,
    ResponseStatus,
    Review,
    ReviewRequest,
    ReviewResponse,
)
from stations import tenancy
from stations.admin_base import (
    StationListFilter,
    StationScopedAdmin,
    StationScopedInline,
    station_action,
)

DECISIONS = [
    ("", "Nothing yet"),
    ("save", "Save the draft"),
    ("approve", "Approve and post"),
    ("reject", "No reply"),
]


def _live_draft(review: Review) -> ReviewResponse | None:
    return review.responses.filter(status=ResponseStatus.DRAFT).first()


class ReviewForm(forms.ModelForm):
    """The review's own fields are read only; a manager edits or writes the reply and decides."""

    reply_text = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        label="Reply",
        help_text="The AI's draft when there is one; edit it, or write the reply.",
    )
    decision = forms.ChoiceField(choices=DECISIONS, required=False)

    class Meta:
        model = Review
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        draft = _live_draft(self.instance) if self.instance.pk else None
        if draft is not None:
            self.fields["reply_text"].initial = draft.text

    def clean(self):
        data = super().clean()
        data["reply_text"] = (data.get("reply_text") or "").replace("\x00", "").strip()
        decision = data.get("decision")
        review = self.instance
        if decision and review.reply_status in services.DECIDED_STATUSES:
            raise forms.ValidationError(
                f"This review's reply is {review.get_reply_status_display().lower()}."
            )
        if decision == "save" and _live_draft(review) is None:
            self.add_error("decision", "There is no draft to save: approve your reply instead.")
        if decision in ("save", "approve") and not data["reply_text"] and not _live_draft(review):
            self.add_error("reply_text", "Write the reply first.")
        return data


def _hours(value) -> str:
    if value is None:
        return "-"
    hours = value.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def figure_lines(request, roles) -> list[str]:
    """One line per station the user reads reviews of (at most ten): the latest months'
    average rating and count, and the last 90 days' reply times."""
    stations = tenancy.stations_for(request.user, roles=roles).order_by("name")[:10]
    lines = []
    for station in stations:
        trend = selectors.rating_trend(station=station, months=3)
        months = (
            " · ".join(f"{m.month:%b %Y} {m.average:.1f}★ ({m.count})" for m in trend)
            or "no reviews lately"
        )
        times = selectors.reply_times(station=station)
        lines.append(
            f"{station.name}: {months} · replies in the last 90 days: {times.replied}, "
            f"median {_hours(times.median)}, p90 {_hours(times.p90)}"
        )
    return lines


class ReviewResponseInline(StationScopedInline):
    model = ReviewResponse
    fields = [
        "text",
        "level",
        "status",
        "approver",
        "approved_at",
        "edited",
        "posted_at",
        "post_error",
        "copy_button",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]
    verbose_name = "reply"
    verbose_name_plural = "replies"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="post by hand")
    def copy_button(self, response: ReviewResponse):
        if response.status != ResponseStatus.POST_MANUALLY:
            return "-"
        return format_html(
            '<button type="button" class="button" data-text="{}" '
            'onclick="navigator.clipboard.writeText(this.dataset.text);'
            "this.textContent='Copied'\">Copy reply</button>",
            response.text,
        )


@admin.register(Review)
class ReviewAdmin(StationScopedAdmin):
    change_list_template = "admin/reviews/review_change_list.html"
    view_roles = tenancy.STAFF_WRITE_ROLES  # chefs: their events, not the reviews
    write_roles = tenancy.MANAGE_ROLES  # DESIGN.md §3: managers handle reviews
    form = ReviewForm
    inlines = [ReviewResponseInline]
    list_display = [
        "created_on_platform",
        "station",
        "platform",
        "stars",
        "author",
        "text_preview",
        "reply_status",
        "booking_link",
    ]
    list_filter = [StationListFilter, "platform", "rating", "reply_status"]
    list_select_related = ["station", "booking"]
    search_fields = ["author", "text"]
    ordering = ["-created_on_platform", "-pk"]
    actions = ["approve_drafts", "reject_drafts", "post_again"]
    review_fields = [
        "station",
        "platform",
        "external_id",
        "stars",
        "author",
        "text",
        "created_on_platform",
        "updated_on_platform",
        "platform_reply",
        "reply_status",
        "alerted_at",
        "booking_link",
        "customer_link",
        "conversation_link",
    ]
    readonly_fields = review_fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": self.review_fields})]
        if obj is not None and self.has_change_permission(request, obj):
            fieldsets.append(("Reply", {"fields": ["reply_text", "decision"]}))
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = []
        return super().get_form(request, obj, change, **kwargs)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """No field of the review changes here: the reply decision goes through the services."""
        decision = form.cleaned_data.get("decision")
        text = form.cleaned_data.get("reply_text") or None
        try:
            if decision == "approve":
                services.review_respond(review=obj, actor=request.user, text=text)
            elif decision == "reject":
                services.review_response_reject(review=obj, actor=request.user)
            elif decision == "save":
                draft = _live_draft(obj)
                if draft is not None and text:
                    services.review_response_edit(response=draft, actor=request.user, text=text)
        except ApiError as exc:
            messages.error(request, str(exc.detail))

    def changelist_view(self, request, extra_context=None):
        ids = tenancy.station_ids_for(request.user, roles=self.view_roles)
        if tenancy.is_superuser(request.user):
            ids = list(self.get_queryset(request).values_list("station_id", flat=True).distinct())
        waiting = selectors.needing_a_person(station_ids=ids)
        if waiting:
            messages.warning(
                request,
                f"{waiting} review(s) of 1-3 stars need a person's reply "
                "(filter: reply status → Needs a person).",
            )
        lines = figure_lines(request, self.view_roles)
        return super().changelist_view(request, {"review_lines": lines, **(extra_context or {})})

    @admin.display(description="rating", ordering="rating")
    def stars(self, review: Review):
        return "★" * review.rating + "☆" * (5 - review.rating)

    @admin.display(description="review")
    def text_preview(self, review: Review):
        text = " ".join(review.text.split())
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="booking")
    def booking_link(self, review: Review):
        if review.booking_id is None:
            return "-"
        url = reverse("admin:bookings_booking_change", args=[review.booking_id])
        return format_html('<a href="{}">{}</a>', url, review.booking.reference)

    @admin.display(description="customer")
    def customer_link(self, review: Review):
        if review.customer_id is None:
            return "-"
        url = reverse("admin:bookings_customer_change", args=[review.customer_id])
        return format_html('<a href="{}">{}</a>', url, review.customer.name)

    @admin.display(description="conversation")
    def conversation_link(self, review: Review):
        if review.conversation_id is None:
            return "-"
        url = reverse("admin:inbox_conversation_change", args=[review.conversation_id])
        return format_html('<a href="{}">open the thread</a>', url)

    def _each(self, request, queryset, run, done: str) -> None:
        count, refused = 0, []
        for review in queryset.select_related("station"):
            try:
                run(review)
                count += 1
            except ApiError as exc:
                refused.append(f"{review}: {exc.detail}")
        if count:
            messages.success(request, f"{count} {done}.")
        for line in refused[:10]:
            messages.warning(request, line)

    @station_action(roles=tenancy.MANAGE_ROLES, description="Approve and post the drafts")
    def approve_drafts(self, request, queryset):
        drafted = queryset.filter(reply_status=ReplyStatus.DRAFTED)
        self._each(
            request,
            drafted,
            lambda r: services.review_respond(review=r, actor=request.user),
            "draft(s) approved",
        )

    @station_action(roles=tenancy.MANAGE_ROLES, description="No reply for the selected reviews")
    def reject_drafts(self, request, queryset):
        self._each(
            request,
            queryset.exclude(reply_status__in=services.DECIDED_STATUSES),
            lambda r: services.review_response_reject(review=r, actor=request.user),
            "review(s) marked no reply",
        )

    @station_action(roles=tenancy.MANAGE_ROLES, description="Post again the replies Google refused")
    def post_again(self, request, queryset):
        responses = ReviewResponse.objects.filter(
            review__in=queryset.filter(platform=Platform.GOOGLE),
            status=ResponseStatus.APPROVED,
            post_failed=True,
        )
        count = 0
        for response in responses:
            ReviewResponse.objects.filter(pk=response.pk).update(post_error="", post_failed=False)
            transaction.on_commit(functools.partial(services.enqueue_post, response.pk))
            count += 1
        messages.info(request, f"{count} repl(ies) queued to post again.")


@admin.register(ReviewRequest)
class ReviewRequestAdmin(StationScopedAdmin):
    view_roles = tenancy.STAFF_WRITE_ROLES
    write_roles = frozenset()
    actions = None
    list_display = ["booking", "channel", "sent_at", "completed_at", "skipped_reason"]
    list_filter = [StationListFilter, "channel"]
    list_select_related = ["booking"]
    fields = [
        "booking",
        "channel",
        "sent_at",
        "skipped_reason",
        "completed_at",
        "review",
        "created_at",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class GoogleLocationForm(forms.ModelForm):
    """The location's fields, and its OAuth credentials: write-only inputs, blank keeps what
    is stored, "clear" removes them."""

    clear_credentials = forms.BooleanField(required=False, label="Clear credentials")

    class Meta:
        model = GoogleLocation
        fields = ["station", "location_name", "place_id", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in services.GOOGLE_CREDENTIAL_FIELDS:
            self.fields[f"credential_{name}"] = forms.CharField(
                required=False,
                max_length=4000,
                label=name.replace("_", " "),
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text="Leave blank to keep the current one. Never shown back.",
            )

    def clean_location_name(self):
        name = self.cleaned_data["location_name"].replace("\x00", "").strip().strip("/")
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "locations":
            raise forms.ValidationError("Google's name of the location: accounts/…/locations/…")
        return name

    def credential_values(self, location: GoogleLocation) -> dict[str, str] | None:
        typed = {
            name: self.cleaned_data[f"credential_{name}"]
            for name in services.GOOGLE_CREDENTIAL_FIELDS
            if self.cleaned_data.get(f"credential_{name}")
        }
        clear = self.cleaned_data.get("clear_credentials", False)
        if not typed and not clear:
            return None
        kept = {} if clear else services.google_credentials(location)
        return {**kept, **typed}


@admin.register(GoogleLocation)
class GoogleLocationAdmin(StationScopedAdmin):
    view_roles = tenancy.STAFF_WRITE_ROLES
    write_roles = tenancy.SETTINGS_ROLES  # credentials: owners only
    form = GoogleLocationForm
    list_display = ["location_name", "station", "active", "configured", "last_synced_at"]
    list_filter = [StationListFilter, "active"]
    list_select_related = ["station"]
    readonly_fields = ["configured", "last_synced_at", "last_error"]

    def get_fieldsets(self, request, obj=None):
        own = ["station", "location_name", "place_id", "active"]
        if not self.has_change_permission(request, obj):
            return [(None, {"fields": [*own, "configured", "last_synced_at", "last_error"]})]
        names = [f"credential_{n}" for n in services.GOOGLE_CREDENTIAL_FIELDS]
        return [
            (None, {"fields": own}),
            (
                "Credentials",
                {
                    "fields": ["configured", *names, "clear_credentials"],
                    "description": "An OAuth client's id and secret with a refresh token "
                    "(or an access token). Write-only.",
                },
            ),
            ("Sync", {"fields": ["last_synced_at", "last_error"]}),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = GoogleLocationForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        values = form.credential_values(obj) if isinstance(form, GoogleLocationForm) else None
        if values is not None:
            services.google_location_set_credentials(location=obj, values=values)

    @admin.display(description="credentials", boolean=True)
    def configured(self, location: GoogleLocation):
        return bool(location.credentials_sealed)
