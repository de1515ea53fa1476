"""
Inbox API. Staff (token or session, station-scoped, agents, managers and owners; chefs have no
inbox): conversations (list, detail, messages, reply, notes, assign, snooze, close, reopen,
read), merging customers, and AI drafts (list, detail; approve, edit-and-send and reject by
managers and owners, inbox.ai.drafts). Public: the contact form. Views validate, call a service
(inbox.services, inbox.outbound, inbox.merge, inbox.contact) and shape the answer.

Costs that must not grow with the data: the conversation list reads one page through the
(station, unread, last message) index with its customer, assignee and channel joined (a fixed
number of queries whatever the page size); a thread's messages are read newest first with a
cursor over the (conversation, created_at) index, with no COUNT, so a page costs the same
with a million messages.
"""

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.db.models import F, Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, permissions
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.models import Booking, Customer
from bookings.selectors import contact_match
from config.filters import IdFilter, by_assignee
from config.idempotency import idempotent
from config.schema import errors
from config.throttling import ContactThrottle, PublicThrottle, StaffThrottle
from inbox import contact, merge, outbound, selectors, services
from inbox import serializers as s
from inbox.ai import drafts
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Draft,
    DraftStatus,
    Level,
    MessageTemplate,
    TemplateKind,
)
from stations import tenancy
from stations.api import PublicEndpointMixin, StationScopedViewSet

REPLY_ERRORS = ("send_refused", "no_channel", "empty_reply")
# Deciding a draft also answers 409 `draft_superseded` (a person answered the message) and
# `draft_decided` (decided before).
DRAFT_ERRORS = ("send_refused", "no_channel", "empty_reply", "draft_superseded", "draft_decided")
ASSIGNEE_VALUE = "^(me|none|[0-9]{1,19})$"
RECENT_BOOKINGS = 10


class InboxAccess(permissions.BasePermission):
    """The inbox is for a station's agents, managers and owners (and superusers). Anyone else
    is refused (403), except that a conversation named in the URL is simply not found (404),
    as another station's objects are everywhere in the staff API."""

    message = "The inbox is for a station's agents, managers and owners."

    def has_permission(self, request, view) -> bool:
        if tenancy.has_any_role(request.user, tenancy.STAFF_WRITE_ROLES):
            return True
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
        if lookup and lookup in getattr(view, "kwargs", {}) and tenancy.has_any_role(request.user):
            view.get_object()  # scoped to the inbox's roles: not found
        return False


# --- The list ------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": ASSIGNEE_VALUE})
class AssigneeFilter(django_filters.CharFilter):
    """ "me", "none" (unassigned) or a staff member's id."""


class StrictBooleanFormField(forms.NullBooleanField):
    """ "true" or "false", as the schema's boolean is written in a query string; anything else
    is refused (Django's NullBooleanField reads an unknown value as "no filter")."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "false"):
            return value == "true"
        raise forms.ValidationError("Give true or false.", code="invalid")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanFormField


class ConversationFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="station__slug", help_text="A station's slug.")
    status = django_filters.MultipleChoiceFilter(choices=ConversationStatus.choices)
    channel = django_filters.MultipleChoiceFilter(
        field_name="last_inbound_channel__kind",
        choices=ChannelKind.choices,
        help_text="The kind of channel the customer last wrote on.",
    )
    assignee = AssigneeFilter(
        method="filter_assignee",
        validators=[RegexValidator(ASSIGNEE_VALUE, "Give me, none or a staff member's id.")],
        help_text='"me", "none" (unassigned) or a staff member\'s id.',
    )
    unread = StrictBooleanFilter(help_text="true: unread only; false: read only.")
    q = django_filters.CharFilter(
        method="search", help_text="Part of the customer's name, e-mail or phone."
    )

    class Meta:
        model = Conversation
        fields = ["station", "status", "channel", "assignee", "unread", "q"]

    def filter_assignee(self, queryset, name, value):
        return by_assignee(queryset, value, self.request.user)

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(contact_match(value, prefix="customer__"))


class MessageCursor(CursorPagination):
    """Newest first, by the (conversation, created_at) index; no COUNT. Page size as in the
    other lists (a whole number from 1; more than the maximum gives the maximum)."""

    ordering = ("-created_at", "-pk")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not raw.strip("0"):
            raise ValidationError({"page_size": ["Give a whole number from 1."]})
        return min(int(raw[:6]) if len(raw) <= 6 else self.max_page_size, self.max_page_size)


MESSAGE_PAGE_PARAMETERS = [
    OpenApiParameter(
        "cursor",
        {"type": "string", "pattern": "^[A-Za-z0-9+/=_-]*$"},
        OpenApiParameter.QUERY,
        description="From `next` or `previous` of the page before (an unknown cursor is 404).",
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1},
        OpenApiParameter.QUERY,
        description="Messages per page, from 1 (default 50); more than 200 gives 200.",
    ),
]


# --- Conversations -------------------------------------------------------------------------------


class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, StationScopedViewSet):
    """The station's conversations, unread first, then the most recent."""

    queryset = Conversation.objects.select_related(
        "station", "customer", "assignee", "last_inbound_channel"
    ).order_by(F("unread").desc(), F("last_message_at").desc(nulls_last=True), "-pk")
    serializer_class = s.ConversationSerializer
    filterset_class = ConversationFilter
    permission_classes = [permissions.IsAuthenticated, InboxAccess]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        queryset = tenancy.scope(self.queryset, self.request.user, roles=tenancy.STAFF_WRITE_ROLES)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("customer__identities", queryset=ContactIdentity.objects.order_by("pk")),
                Prefetch(
                    "customer__bookings",
                    queryset=Booking.objects.order_by("-event_date", "-pk")[:RECENT_BOOKINGS],
                    to_attr="recent_bookings",
                ),
            )
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.ConversationDetailSerializer
        return s.ConversationSerializer

    def _answer(self, conversation: Conversation, status: int = 200) -> Response:
        fresh = self.queryset.get(pk=conversation.pk)
        return Response(s.ConversationSerializer(fresh).data, status=status)

    @extend_schema(parameters=MESSAGE_PAGE_PARAMETERS, responses=s.MessagePageSerializer)
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        """The thread, newest first, notes included; `next` leads to older messages."""
        conversation = self.get_object()
        queryset = selectors.thread_messages(conversation).select_related("author", "channel")
        paginator = MessageCursor()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.MessageSerializer(page, many=True).data)

    @extend_schema(
        request=s.ReplyRequestSerializer,
        responses={201: s.MessageSerializer, **errors(*REPLY_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    @idempotent("inbox-reply")
    def reply(self, request, pk=None):
        """Queue a reply on the chosen channel, else the customer's last one. 409
        `send_refused` says why it may not go (an opted-out number, WhatsApp's 24-hour window
        for free text...). With an Idempotency-Key a retried POST queues nothing new."""
        conversation = self.get_object()
        data = s.ReplyRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        claim = getattr(request, "idempotency", None)
        message = outbound.reply_send(
            conversation=conversation,
            author=request.user,
            body=v["body"],
            channel=_station_channel(conversation, v.get("channel")),
            template=_station_template(conversation, v.get("template")),
            key=f"staff-reply-{claim.lookup}" if claim else None,
        )
        return Response(s.MessageSerializer(message).data, status=201)

    @extend_schema(request=s.NoteRequestSerializer, responses={201: s.MessageSerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request, pk=None):
        """A private note: staff see it in the thread; it is never sent."""
        conversation = self.get_object()
        data = s.NoteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.note_add(
            conversation=conversation, author=request.user, body=data.validated_data["body"]
        )
        return Response(s.MessageSerializer(note).data, status=201)

    @extend_schema(request=s.AssignRequestSerializer, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self.get_object()
        data = s.AssignRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignee = _station_staff(conversation, data.validated_data["assignee"])
        services.conversation_assign(
            conversation=conversation, assignee=assignee, actor=request.user
        )
        return self._answer(conversation)

    @extend_schema(request=s.SnoozeRequestSerializer, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        """Out of the way until a time; back open then, or when the customer writes."""
        conversation = self.get_object()
        data = s.SnoozeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        until = data.validated_data["until"]
        if until <= timezone.now():
            raise ValidationError({"until": ["Snooze until a time in the future."]})
        services.conversation_set_status(
            conversation=conversation, status=ConversationStatus.SNOOZED, snoozed_until=until
        )
        return self._answer(conversation)

    @extend_schema(request=None, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        conversation = self.get_object()
        services.conversation_set_status(
            conversation=conversation, status=ConversationStatus.CLOSED
        )
        return self._answer(conversation)

    @extend_schema(request=None, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        conversation = self.get_object()
        services.conversation_set_status(conversation=conversation, status=ConversationStatus.OPEN)
        return self._answer(conversation)

    @extend_schema(request=None, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"], url_path="read")
    def mark_read(self, request, pk=None):
        """Mark the conversation read."""
        conversation = self.get_object()
        services.conversation_mark_read(conversation=conversation)
        return self._answer(conversation)

    @extend_schema(
        request=s.MergeRequestSerializer,
        responses={200: s.MergeResultSerializer, **errors("not_found")},
    )
    @action(detail=False, methods=["post"], url_path="merge-customers")
    def merge_customers(self, request):
        """The same as POST /api/v1/staff/customers/merge."""
        return _merge(request)


def _station_channel(conversation: Conversation, channel_id: int | None) -> Channel | None:
    if channel_id is None:
        return None
    channel = Channel.objects.filter(
        pk=channel_id, station_id=conversation.station_id, active=True
    ).first()
    if channel is None or channel.kind == ChannelKind.WEB:
        raise ValidationError({"channel": ["Not a channel this station answers on."]})
    return channel


def _station_template(conversation: Conversation, template_id: int | None):
    if template_id is None:
        return None
    template = MessageTemplate.objects.filter(
        pk=template_id, station_id=conversation.station_id, active=True
    ).first()
    if template is None:
        raise ValidationError({"template": ["No such template at this station."]})
    if template.kind == TemplateKind.WHATSAPP and not template.approved:
        raise ValidationError({"template": ["Meta has not approved this template."]})
    return template


def _station_staff(conversation: Conversation, user_id: int | None):
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not tenancy.has_role(
        user, conversation.station_id, tenancy.STAFF_WRITE_ROLES
    ):
        raise ValidationError({"assignee": ["Not a staff member of this station."]})
    return user


# --- AI drafts -----------------------------------------------------------------------------------


class DraftFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="station__slug", help_text="A station's slug.")
    status = django_filters.MultipleChoiceFilter(choices=DraftStatus.choices)
    level = django_filters.MultipleChoiceFilter(choices=Level.choices)
    conversation = IdFilter(field_name="conversation_id", help_text="A conversation.")

    class Meta:
        model = Draft
        fields = ["station", "status", "level", "conversation"]


class DraftViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, StationScopedViewSet):
    """What the AI made of each inbound message, newest first: L1 sent on its own, L2 drafts
    waiting for approval (`status=proposed`), L3 tasks for a person, with the reasons. Staff
    read them; managers and owners approve, edit and send, or reject (an agent: 403)."""

    queryset = Draft.objects.select_related("station", "message", "decided_by").order_by(
        "-created_at", "-pk"
    )
    serializer_class = s.DraftSerializer
    filterset_class = DraftFilter
    permission_classes = [permissions.IsAuthenticated, InboxAccess]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return tenancy.scope(self.queryset, self.request.user, roles=tenancy.STAFF_WRITE_ROLES)

    def _deciding(self) -> Draft:
        draft = self.get_object()
        if not drafts.may_decide(self.request.user, draft):
            raise PermissionDenied("Managers and owners decide AI drafts.")
        return draft

    def _answer(self, draft: Draft) -> Response:
        return Response(s.DraftSerializer(self.queryset.get(pk=draft.pk)).data)

    @extend_schema(request=None, responses={200: s.DraftSerializer, **errors(*DRAFT_ERRORS)})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Send the draft as written, as the approver's reply (once: a second approval is
        409). 409 `send_refused` when the customer may not be sent it now."""
        draft = self._deciding()
        return self._answer(drafts.draft_approve(draft=draft, actor=request.user))

    @extend_schema(
        request=s.DraftEditRequestSerializer,
        responses={200: s.DraftSerializer, **errors(*DRAFT_ERRORS)},
    )
    @action(detail=True, methods=["post"], url_path="edit-and-send")
    def edit_and_send(self, request, pk=None):
        """Send your text in place of the draft's (recorded as edited when it differs)."""
        draft = self._deciding()
        data = s.DraftEditRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sent = drafts.draft_edit_and_send(
            draft=draft, actor=request.user, body=data.validated_data["body"]
        )
        return self._answer(sent)

    @extend_schema(
        request=s.DraftRejectRequestSerializer,
        responses={200: s.DraftSerializer, **errors("draft_decided", "draft_superseded")},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject the draft with a reason; nothing is sent."""
        draft = self._deciding()
        data = s.DraftRejectRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rejected = drafts.draft_reject(
            draft=draft, actor=request.user, reason=data.validated_data["reason"]
        )
        return self._answer(rejected)


# --- Merging customers ---------------------------------------------------------------------------


def _merge(request) -> Response:
    data = s.MergeRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    keep_id, merge_id = data.validated_data["keep"], data.validated_data["merge"]
    visible = tenancy.scope(Customer.objects.all(), request.user, roles=tenancy.STAFF_WRITE_ROLES)
    found = {c.pk: c for c in visible.filter(pk__in=[keep_id, merge_id])}
    if keep_id not in found or merge_id not in found:
        raise NotFound()
    record = merge.customers_merge(keep=found[keep_id], merge=found[merge_id], actor=request.user)
    kept = (
        Customer.objects.select_related("station")
        .prefetch_related(Prefetch("identities", queryset=ContactIdentity.objects.order_by("pk")))
        .get(pk=keep_id)
    )
    answer = {
        "merge_id": record.pk,
        "merged_customer_id": record.merged_customer_id,
        "moved": record.moved,
        "customer": s.CustomerSummarySerializer(kept).data,
    }
    return Response(answer)


class CustomerMergeView(APIView):
    """Merge two customers of a station: identities, thread, bookings (and their payments) move
    to `keep`; the merge is recorded; `merge` is gone. 404 for a customer not found (or of a
    station you do not work at); 400 for the same customer twice or two stations."""

    permission_classes = [permissions.IsAuthenticated, InboxAccess]
    throttle_classes = [StaffThrottle]

    @extend_schema(
        request=s.MergeRequestSerializer,
        responses={200: s.MergeResultSerializer, **errors("not_found")},
    )
    def post(self, request):
        return _merge(request)


# --- The public contact form ---------------------------------------------------------------------


class ContactView(PublicEndpointMixin, APIView):
    """A visitor's message to a station (its `web` channel): 201, and nothing stored is read
    back. Needs an e-mail or a phone; `station` may be left out when there is one station."""

    throttle_classes = [PublicThrottle, ContactThrottle]

    @extend_schema(
        request=s.ContactFormSerializer, responses={201: s.ContactReceivedSerializer}, auth=[]
    )
    @idempotent("contact-form")
    def post(self, request):
        data = s.ContactFormSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        claim = getattr(request, "idempotency", None)
        submission = contact.ContactSubmission(
            name=v["name"],
            message=v["message"],
            email=v["email"],
            phone=v["phone"],
            station=v["station"],
            honeypot=v["website"],
            form_started_at=v["form_started_at"],
        )
        try:
            contact.contact_receive(
                submission=submission, request_ref=claim.lookup if claim else ""
            )
        except contact.ContactRefused as refused:
            raise ValidationError({refused.field: [refused.message]}) from refused
        return Response({"received": True}, status=201)
