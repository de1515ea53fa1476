"""The AI in the back office (Inbox → AI drafts, Inbox → AI interactions), both read only.

- AI drafts: what the ladder made of each inbound message (level, intent, confidence, status,
  who decided), newest first; a draft is decided on its conversation's page. Above the list,
  one line per station with the month's L1/L2/L3 shares against the seed's 80/15/5, approval
  and edit rates, cost and draft latency (inbox.ai.metrics).
- AI interactions: the audit trail, every call to a model or to the local drafter, with the
  prompt as it left the process (redacted), the output, tokens, cost and time; each links to
  its draft and through it to the decision and the message sent. Nobody edits or deletes it.

Staff of the station (agents, managers, owners) read both; chefs see neither.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from config.money import format_money
from inbox.ai import metrics
from inbox.models import AIInteraction, Draft
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin


def month_lines(request) -> list[str]:
    """The month's figures of each station the user reads the inbox of (two queries each)."""
    stations = tenancy.stations_for(request.user, roles=tenancy.STAFF_WRITE_ROLES).order_by("name")
    return [
        metrics.summary_line(station, metrics.ai_month(station=station))
        for station in stations[:10]
    ]


class ReadOnlyAuditAdmin(StationScopedAdmin):
    view_roles = tenancy.STAFF_WRITE_ROLES  # chefs don't see customer messages
    write_roles = frozenset()
    actions = None
    list_per_page = 50
    change_list_template = "admin/inbox/ai_change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        lines = month_lines(request)
        return super().changelist_view(request, {"ai_month_lines": lines, **(extra_context or {})})


@admin.register(Draft)
class DraftAdmin(ReadOnlyAuditAdmin):
    list_display = [
        "created_at",
        "conversation_link",
        "level",
        "intent",
        "confidence_display",
        "status",
        "decided_by",
        "edited",
    ]
    list_filter = [StationListFilter, "level", "status", "intent"]
    list_select_related = ["conversation__customer", "decided_by", "station"]
    raw_id_fields = ["conversation", "message", "sent_message", "decided_by"]
    date_hierarchy = None
    fields = [
        "station",
        "conversation_link",
        "message_text",
        "level",
        "intent",
        "confidence_display",
        "reasons_display",
        "body",
        "grounding_display",
        "status",
        "decided_by",
        "decided_at",
        "edited",
        "reject_reason",
        "sent_message_text",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("message", "sent_message")

    @admin.display(description="conversation")
    def conversation_link(self, draft):
        url = reverse("admin:inbox_conversation_change", args=[draft.conversation_id])
        return format_html('<a href="{}">{}</a>', url, draft.conversation.customer.name)

    @admin.display(description="confidence")
    def confidence_display(self, draft):
        return f"{draft.confidence}%"

    @admin.display(description="the customer's message")
    def message_text(self, draft):
        return draft.message.body

    @admin.display(description="why this level")
    def reasons_display(self, draft):
        return format_html(
            "<ul>{}</ul>",
            format_html("".join(["<li>{}</li>"] * len(draft.reasons)), *draft.reasons)
            if draft.reasons
            else "",
        )

    @admin.display(description="grounding")
    def grounding_display(self, draft):
        checked = (draft.grounding or {}).get("checked", [])
        if not checked:
            return "nothing to check" if draft.body else "-"
        return format_html(
            "<ul>{}</ul>",
            format_html(
                "".join(["<li>{} {}: {}</li>"] * len(checked)),
                *[
                    part
                    for c in checked
                    for part in ("✓" if c["ok"] else "✗", c["kind"], c["text"])
                ],
            ),
        )

    @admin.display(description="message sent")
    def sent_message_text(self, draft):
        return draft.sent_message.body if draft.sent_message else "-"


@admin.register(AIInteraction)
class AIInteractionAdmin(ReadOnlyAuditAdmin):
    list_display = [
        "created_at",
        "station",
        "purpose",
        "model",
        "outcome",
        "fallback_used",
        "tokens_in",
        "tokens_out",
        "cost_display",
        "latency_ms",
        "draft_link",
    ]
    list_filter = [StationListFilter, "purpose", "model", "outcome", "fallback_used"]
    list_select_related = ["station", "draft"]
    fields = [
        "station",
        "purpose",
        "model",
        "outcome",
        "fallback_used",
        "error",
        "prompt",
        "output",
        "tokens_in",
        "tokens_out",
        "cost_display",
        "latency_ms",
        "draft_link",
        "decision_display",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("draft__decided_by", "station")

    @admin.display(description="cost")
    def cost_display(self, row):
        cents = (row.cost_millicents + 999) // 1000
        return f"{format_money(cents, row.station.currency)} ({row.cost_millicents} m¢)"

    @admin.display(description="draft")
    def draft_link(self, row):
        if row.draft_id is None:
            return "-"
        url = reverse("admin:inbox_draft_change", args=[row.draft_id])
        return format_html('<a href="{}">{}</a>', url, row.draft.get_status_display())

    @admin.display(description="decision")
    def decision_display(self, row):
        draft = row.draft
        if draft is None or draft.decided_by is None:
            return draft.get_status_display() if draft else "-"
        who = draft.decided_by.get_full_name() or draft.decided_by.get_username()
        edited = " (edited)" if draft.edited else ""
        return f"{draft.get_status_display()}{edited} by {who}"
