"""
The inbox in the back office: the conversation list (Inbox → Conversations) and one page per
conversation (its change page), where staff read the thread and answer.

Who: owners, managers and agents of the conversation's station read and act; chefs do not see
the inbox at all. Another station's conversation is not found (404), like every other row.

The list reads only the conversations table and its joins (inbox.selectors.conversation_list):
unread first, then the most recent, a query count that does not grow with the page. The page
reads the newest page of the thread through the (conversation, created_at) index, so it costs
the same with a million messages in the table. Opening it marks the conversation read.

Every action on the page (reply, assign, snooze, close, reopen, note, and deciding the AI's
draft) is a POST with its CSRF token to a URL of its own, calls a service of inbox.services,
inbox.outbound or inbox.ai.drafts, shows what the service refused (ApiError) as an admin error
message, and comes back to the page.

Above the reply box: what the AI made of the latest customer message (inbox.ai.ladder): its
level, intent, confidence and reasons, the grounding check, and for an L2 draft the text in an
editable box with Approve & send, Send edited and Reject (with a reason), for managers and
owners; agents read it. An L3 message, or one the AI could not handle, says "For a person".
"""

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from config.exceptions import ApiError
from config.money import format_money
from inbox import outbound, selectors, services
from inbox.admin import display
from inbox.ai import drafts as ai_drafts
from inbox.ai.ladder import answered_after
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Direction,
    Draft,
    DraftStatus,
    Level,
    Message,
    MessageTemplate,
    Sender,
    TemplateKind,
)
from payments.models import Payment
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin, query_id
from stations.validators import normalize_phone

PAGE_TEMPLATE = "admin/inbox/conversation/page.html"
PAYMENTS_SHOWN = 8
MINE, UNASSIGNED = "mine", "unassigned"


# --- List filters ----------------------------------------------------------------------------


class ChannelKindFilter(admin.SimpleListFilter):
    """The kind of channel the customer last wrote on."""

    title = "channel"
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        return ChannelKind.choices

    def queryset(self, request, queryset):
        if self.value() in ChannelKind.values:
            return queryset.filter(last_inbound_channel__kind=self.value())
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    """Mine, nobody's, or one person's (of the staff of the user's stations)."""

    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        stations = tenancy.station_ids_for(request.user, roles=tenancy.STAFF_WRITE_ROLES)
        people = get_user_model().objects.filter(
            is_active=True,
            memberships__station_id__in=stations,
            memberships__role__in=tenancy.STAFF_WRITE_ROLES,
        )
        if tenancy.is_superuser(request.user):
            people = get_user_model().objects.filter(
                is_active=True, memberships__role__in=tenancy.STAFF_WRITE_ROLES
            )
        others = sorted(
            {
                (u.pk, u.get_full_name() or u.get_username())
                for u in people.exclude(pk=request.user.pk)
            },
            key=lambda pair: pair[1].lower(),
        )
        return [(MINE, "mine"), (UNASSIGNED, "nobody (unassigned)"), *others]

    def queryset(self, request, queryset):
        value = self.value()
        if value == MINE:
            return queryset.filter(assignee=request.user)
        if value == UNASSIGNED:
            return queryset.filter(assignee__isnull=True)
        user_id = query_id(value)
        if user_id is not None:
            return queryset.filter(assignee_id=user_id)
        return queryset


# --- The page's forms ------------------------------------------------------------------------


def _one_time_key() -> str:
    return secrets.token_hex(16)


def _is_key(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isalnum()


class ReplyForm(forms.Form):
    """A reply: free text (a canned reply fills it), or an approved WhatsApp template when the
    24-hour window is closed. The one-time key makes a double click send once."""

    body = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea({"rows": 4, "id": "reply-body"})
    )
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.none(), required=False, empty_label=None
    )
    canned = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(), required=False, label="Canned reply"
    )
    whatsapp_template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(), required=False, label="WhatsApp template"
    )
    key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, conversation: Conversation, **kwargs):
        super().__init__(*args, **kwargs)
        station_id = conversation.station_id
        self.fields["channel"].queryset = Channel.objects.filter(
            station_id=station_id, active=True
        ).exclude(kind=ChannelKind.WEB)
        templates = MessageTemplate.objects.filter(station_id=station_id, active=True)
        self.fields["canned"].queryset = templates.filter(kind=TemplateKind.CANNED)
        self.fields["whatsapp_template"].queryset = templates.filter(
            kind=TemplateKind.WHATSAPP, approved=True
        )
        self.fields["key"].initial = _one_time_key()

    def clean_body(self):
        return self.cleaned_data["body"].replace("\x00", "").strip()


class NoteForm(forms.Form):
    note = forms.CharField(max_length=5000, widget=forms.Textarea({"rows": 2}))

    def clean_note(self):
        return self.cleaned_data["note"].replace("\x00", "").strip()


def _station_moment(value: str, zone: ZoneInfo) -> datetime:
    """A wall time typed in the station's zone ("2026-03-05T09:00"); in the hour the clocks
    repeat, the first of the two; a time the clocks skip is refused."""
    naive = parse_datetime((value or "").strip())
    if naive is None or naive.tzinfo is not None:
        raise ValidationError("Pick a date and time.")
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValidationError("That time does not exist here (the clocks skip it).")
    return aware


# --- The admin -------------------------------------------------------------------------------


@admin.register(Conversation)
class ConversationAdmin(StationScopedAdmin):
    """The inbox list and the conversation page (its change view)."""

    view_roles = tenancy.STAFF_WRITE_ROLES  # chefs don't see the inbox
    write_roles = tenancy.STAFF_WRITE_ROLES
    change_list_template = "admin/inbox/conversation/change_list.html"
    list_display = [
        "customer_display",
        "channel_display",
        "preview_display",
        "status_display",
        "assignee_display",
        "waiting_display",
        "last_message_display",
    ]
    list_display_links = ["customer_display"]
    list_filter = [StationListFilter, ChannelKindFilter, "status", AssigneeFilter]
    list_select_related = ["customer", "station", "assignee", "last_inbound_channel"]
    search_fields = ["customer__name", "customer__email", "customer__phone"]
    search_help_text = "Name, phone (any format) or e-mail."
    list_per_page = 50
    actions = None
    show_full_result_count = False

    def get_queryset(self, request):
        return selectors.conversation_list(super().get_queryset(request))

    def get_ordering(self, request):
        return list(selectors.LIST_ORDERING)

    def get_search_results(self, request, queryset, search_term):
        """Name, e-mail or phone; a phone typed any way ("(408) 555-0177") is also looked up in
        its E.164 form, among the customer's numbers and the numbers they wrote from."""
        term = search_term.replace("\x00", "").strip()
        if not term:
            return queryset, False
        match = (
            Q(customer__name__icontains=term)
            | Q(customer__email__icontains=term)
            | Q(customer__phone__icontains=term)
        )
        identities = ContactIdentity.objects.filter(customer_id=OuterRef("customer_id"))
        if "@" in term:
            match |= Exists(identities.filter(external_id__iexact=term))
        phone = _phone_of(term)
        if phone:
            match |= Q(customer__phone=phone) | Exists(
                identities.filter(Q(external_id=phone) | Q(phone=phone))
            )
        return queryset.filter(match), False

    def has_add_permission(self, request):
        return False  # a conversation starts when a customer writes

    def has_delete_permission(self, request, obj=None):
        return False  # the thread is the customer's history

    # --- List columns ------------------------------------------------------------------------

    @admin.display(description="customer", ordering="customer__name")
    def customer_display(self, conversation):
        if conversation.unread:
            return format_html(
                '<strong class="unread">{}</strong> <span class="unread-dot">new</span>',
                conversation.customer.name,
            )
        return conversation.customer.name

    @admin.display(description="channel")
    def channel_display(self, conversation):
        return display.channel_badge(conversation.last_inbound_channel)

    @admin.display(description="last message")
    def preview_display(self, conversation):
        text = conversation.last_message_preview
        return format_html(
            '<span class="preview">{}</span>', text[:80] + ("…" if len(text) > 80 else "")
        )

    @admin.display(description="status", ordering="status")
    def status_display(self, conversation):
        if conversation.status == ConversationStatus.SNOOZED and conversation.snoozed_until:
            until = display.station_time(conversation.snoozed_until, conversation.station.timezone)
            return f"snoozed until {until}"
        return conversation.status

    @admin.display(description="assignee", ordering="assignee__username")
    def assignee_display(self, conversation):
        user = conversation.assignee
        if user is None:
            return "-"
        return user.get_full_name() or user.get_username()

    @admin.display(description="waiting", ordering="waiting_since")
    def waiting_display(self, conversation):
        return display.waited(conversation.waiting_since)

    @admin.display(description="last message at", ordering="last_message_at")
    def last_message_display(self, conversation):
        return display.station_time(conversation.last_message_at, conversation.station.timezone)

    # --- The conversation page ---------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Inbox", **(extra_context or {})})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/reply/", wrap(self.reply_view), name="inbox_conversation_reply"),
            path(
                "<path:object_id>/assign/",
                wrap(self.assign_view),
                name="inbox_conversation_assign",
            ),
            path(
                "<path:object_id>/status/",
                wrap(self.status_view),
                name="inbox_conversation_status",
            ),
            path("<path:object_id>/note/", wrap(self.note_view), name="inbox_conversation_note"),
            path(
                "<path:object_id>/draft/",
                wrap(self.draft_view),
                name="inbox_conversation_draft",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The conversation page. Like every admin page: a user who may not see the inbox at
        all is refused (403), a conversation that is not theirs "doesn't exist" (back to the
        index with that message, as for any other object)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            conversation = self._conversation(request, object_id)
        except Http404:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        services.conversation_mark_read(conversation=conversation)
        conversation.unread = False
        return self._page(request, conversation)

    def _conversation(self, request, object_id) -> Conversation:
        """The conversation, if the user is staff at its station; else 404 (never 403)."""
        pk = query_id(object_id)
        conversation = (
            self.get_queryset(request)
            .select_related("customer", "station", "assignee", "last_inbound_channel")
            .filter(pk=pk)
            .first()
            if pk is not None
            else None
        )
        if conversation is None:
            raise Http404("No such conversation.")
        # The page is about one station: every time on it is in that station's zone.
        timezone.activate(ZoneInfo(conversation.station.timezone))
        return conversation

    def _page_url(self, conversation: Conversation) -> str:
        return reverse("admin:inbox_conversation_change", args=[conversation.pk])

    def _acting(self, request, object_id) -> Conversation:
        """The conversation an action is about (404 when the user is not staff at its
        station)."""
        conversation = self._conversation(request, object_id)
        if not tenancy.has_role(request.user, conversation.station_id, self.write_roles):
            raise PermissionDenied
        return conversation

    def _page(self, request, conversation, *, reply_form=None, note_form=None):
        zone = conversation.station.timezone
        before = query_id(request.GET.get("before"))
        page = selectors.thread_page(conversation, before=before)
        options = selectors.reply_options(conversation)
        if reply_form is None:
            initial = {"channel": options.default.pk if options.default else None}
            reply_form = ReplyForm(conversation=conversation, initial=initial)
        selected_id = _selected_channel(reply_form, options)
        customer = conversation.customer
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Conversation with {customer.name}",
            "subtitle": None,
            "conversation": conversation,
            "customer": customer,
            "station": conversation.station,
            "zone": zone,
            "status_label": self.status_display(conversation),
            "waiting": display.waited(conversation.waiting_since),
            "thread": [_row(m, customer.name, zone) for m in page.messages],
            "older_url": f"?before={page.older_than}" if page.older_than else "",
            "is_latest": page.is_latest,
            "options": options,
            "channel_rows": [
                {
                    "option": o,
                    "selected": o.channel.pk == selected_id,
                    "badge": display.channel_badge(o.channel),
                }
                for o in options.channels
            ],
            "selected_refusal": next(
                (o.refusal for o in options.channels if o.channel.pk == selected_id), ""
            ),
            "reply_form": reply_form,
            "note_form": note_form or NoteForm(),
            "staff": selectors.station_staff(conversation.station_id),
            "snooze_default": _snooze_default(zone),
            "bookings": _bookings(conversation),
            "payments": _payments(conversation),
            "customer_url": _admin_url("admin:bookings_customer_change", customer.pk),
            "list_url": reverse("admin:inbox_conversation_changelist"),
            "page_url": self._page_url(conversation),
            "statuses": ConversationStatus,
            "ai": _ai_panel(conversation, request.user, zone),
        }
        return render(request, PAGE_TEMPLATE, context)

    # --- Actions -----------------------------------------------------------------------------

    def reply_view(self, request, object_id):
        conversation = self._acting(request, object_id)
        if request.method != "POST":
            return redirect(self._page_url(conversation))
        form = ReplyForm(request.POST, conversation=conversation)
        if not form.is_valid():
            _form_errors(request, form)
            return self._page(request, conversation, reply_form=form)
        data = form.cleaned_data
        key = data.get("key")
        try:
            message = outbound.reply_send(
                conversation=conversation,
                author=request.user,
                body=data["body"],
                channel=data["channel"],
                template=data["whatsapp_template"] or data["canned"],
                key=f"admin-reply-{conversation.pk}-{key}" if _is_key(key) else None,
            )
        except ApiError as exc:
            messages.error(request, str(exc.detail))
            return self._page(request, conversation, reply_form=form)
        messages.success(request, f"Reply queued on {message.channel}.")
        return redirect(self._page_url(conversation))

    def assign_view(self, request, object_id):
        conversation = self._acting(request, object_id)
        if request.method != "POST":
            return redirect(self._page_url(conversation))
        value = request.POST.get("assignee", "")
        assignee = None
        if value == MINE:
            assignee = request.user
        elif value:
            user_id = query_id(value)
            if user_id is None or not selectors.is_station_staff(user_id, conversation.station_id):
                messages.error(request, "Pick someone on this station's staff.")
                return redirect(self._page_url(conversation))
            assignee = get_user_model().objects.get(pk=user_id)
        try:
            services.conversation_assign(
                conversation=conversation, assignee=assignee, actor=request.user
            )
        except ApiError as exc:
            messages.error(request, str(exc.detail))
        else:
            who = (assignee.get_full_name() or assignee.get_username()) if assignee else "nobody"
            messages.success(request, f"Assigned to {who}.")
        return redirect(self._page_url(conversation))

    def status_view(self, request, object_id):
        conversation = self._acting(request, object_id)
        if request.method != "POST":
            return redirect(self._page_url(conversation))
        status = request.POST.get("status", "")
        until = None
        if status == ConversationStatus.SNOOZED:
            try:
                until = _station_moment(
                    request.POST.get("snoozed_until", ""), ZoneInfo(conversation.station.timezone)
                )
            except ValidationError as exc:
                messages.error(request, exc.messages[0])
                return redirect(self._page_url(conversation))
            if until <= timezone.now():
                messages.error(request, "Snooze until a time in the future.")
                return redirect(self._page_url(conversation))
        if status not in ConversationStatus.values:
            messages.error(request, "Pick open, pending, snoozed or closed.")
            return redirect(self._page_url(conversation))
        try:
            services.conversation_set_status(
                conversation=conversation, status=status, snoozed_until=until
            )
        except ApiError as exc:
            messages.error(request, str(exc.detail))
        else:
            messages.success(request, f"Conversation {self.status_display(conversation)}.")
        return redirect(self._page_url(conversation))

    def note_view(self, request, object_id):
        conversation = self._acting(request, object_id)
        if request.method != "POST":
            return redirect(self._page_url(conversation))
        form = NoteForm(request.POST)
        if not form.is_valid():
            _form_errors(request, form)
            return self._page(request, conversation, note_form=form)
        try:
            services.note_add(
                conversation=conversation, author=request.user, body=form.cleaned_data["note"]
            )
        except ApiError as exc:
            messages.error(request, str(exc.detail))
            return self._page(request, conversation, note_form=form)
        messages.success(request, "Note added (only staff see it).")
        return redirect(self._page_url(conversation))

    def draft_view(self, request, object_id):
        """Approve & send, send edited, or reject the AI's draft (managers and owners)."""
        conversation = self._acting(request, object_id)
        if request.method != "POST":
            return redirect(self._page_url(conversation))
        draft_id = query_id(request.POST.get("draft"))
        draft = (
            Draft.objects.filter(pk=draft_id, conversation=conversation).first()
            if draft_id is not None
            else None
        )
        if draft is None:
            messages.error(request, "That draft is not this conversation's.")
            return redirect(self._page_url(conversation))
        if not ai_drafts.may_decide(request.user, draft):
            raise PermissionDenied
        decision = request.POST.get("decision", "")
        text = request.POST.get("body", "")[:5000]
        try:
            if decision == "approve":
                ai_drafts.draft_approve(draft=draft, actor=request.user)
                done = "Draft approved and sent."
            elif decision == "edit":
                draft = ai_drafts.draft_edit_and_send(draft=draft, actor=request.user, body=text)
                done = "Edited draft sent." if draft.edited else "Draft sent (unchanged)."
            elif decision == "reject":
                ai_drafts.draft_reject(
                    draft=draft, actor=request.user, reason=request.POST.get("reason", "")[:300]
                )
                done = "Draft rejected."
            else:
                messages.error(request, "Approve, send edited or reject.")
                return redirect(self._page_url(conversation))
        except ApiError as exc:
            messages.error(request, str(exc.detail))
        else:
            messages.success(request, done)
        return redirect(self._page_url(conversation))


# --- Helpers of the page ---------------------------------------------------------------------


def _phone_of(term: str) -> str:
    if sum(ch.isdigit() for ch in term) < 7 or len(term) > 40:
        return ""
    try:
        return normalize_phone(term)
    except ValidationError:
        return ""


def _row(message, customer_name: str, zone: str) -> dict:
    text, css = display.delivery(message, zone)
    return {
        "message": message,
        "author": display.author_name(message, customer_name),
        "badge": display.channel_badge(message.channel) if not message.is_note else "",
        "at": display.station_time(message.created_at, zone),
        "delivery": text,
        "delivery_css": css,
    }


def _selected_channel(form: ReplyForm, options) -> int | None:
    value = form.data.get("channel") if form.is_bound else form.initial.get("channel")
    return query_id(value) if value is not None else None


def _form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


def _snooze_default(zone: str) -> str:
    """Tomorrow at 9 a.m. in the station's zone, as a datetime-local input wants it."""
    local = timezone.localtime(timezone.now(), ZoneInfo(zone))
    return (local + timedelta(days=1)).replace(hour=9, minute=0).strftime("%Y-%m-%dT%H:%M")


def _admin_url(name: str, pk) -> str:
    return reverse(name, args=[pk])


def _bookings(conversation: Conversation) -> list[dict]:
    return [
        {
            "reference": b.reference,
            "url": _admin_url("admin:bookings_booking_change", b.pk),
            "date": b.event_date,
            "start": b.start_time,
            "status": b.get_status_display(),
            "total": format_money(b.total_cents, b.currency),
            "balance": format_money(b.balance_due_cents, b.currency),
            "owing": b.balance_due_cents > 0,
        }
        for b in selectors.customer_bookings(conversation.customer)
    ]


def _payments(conversation: Conversation) -> list[dict]:
    """The customer's latest payments at the station (payments sit above the inbox: read here,
    at the edge). Whoever sees the page is staff there, and staff see money."""
    payments = (
        Payment.objects.filter(
            booking__customer_id=conversation.customer_id,
            booking__station_id=conversation.station_id,
        )
        .select_related("booking")
        .order_by("-created_at", "-pk")[:PAYMENTS_SHOWN]
    )
    return [
        {
            "url": _admin_url("admin:payments_payment_change", p.pk),
            "kind": p.get_kind_display(),
            "amount": format_money(p.amount_cents, p.currency),
            "refunded": format_money(p.amount_refunded_cents, p.currency)
            if p.amount_refunded_cents
            else "",
            "status": p.get_status_display(),
            "reference": p.booking.reference,
        }
        for p in payments
    ]


def _ai_panel(conversation: Conversation, user, zone: str) -> dict | None:
    """What the AI made of the latest customer message, for the box above the reply box."""
    latest = (
        Message.objects.filter(
            conversation=conversation, direction=Direction.INBOUND, sender=Sender.CUSTOMER
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if latest is None:
        return None
    draft = Draft.objects.filter(message=latest).select_related("decided_by").first()
    if draft is None:
        return {"pending": True}
    open_ = draft.status == DraftStatus.PROPOSED
    superseded = open_ and answered_after(latest)
    for_person = ""
    if draft.status == DraftStatus.HUMAN or draft.level == Level.L3:
        for_person = draft.reasons[-1] if draft.reasons else "the AI did not draft a reply"
    decided_by = draft.decided_by
    return {
        "draft": draft,
        "for_person": for_person,
        "open": open_ and not superseded,
        "superseded": superseded or draft.status == DraftStatus.SUPERSEDED,
        "may_decide": ai_drafts.may_decide(user, draft),
        "checked": (draft.grounding or {}).get("checked", []),
        "grounded": (draft.grounding or {}).get("grounded"),
        "decided_by": (decided_by.get_full_name() or decided_by.get_username())
        if decided_by
        else "",
        "decided_at": display.station_time(draft.decided_at, zone) if draft.decided_at else "",
    }
