"""Canned replies and WhatsApp templates of a station (Inbox → Message templates).

Canned replies are what the reply box offers to fill in; WhatsApp templates are the ones
registered with Meta (name and language as Meta knows them), of which only the approved ones
can be sent outside the 24-hour window, and marketing ones never to US (+1) numbers. Owners
and managers keep them; agents read them (and use them from the reply box)."""

from django import forms
from django.contrib import admin

from inbox.models import MessageTemplate, TemplateKind
from stations import tenancy
from stations.admin_base import StationListFilter, StationScopedAdmin


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["station", "kind", "name", "body", "language", "category", "approved", "active"]

    def clean(self):
        data = super().clean()
        if data.get("kind") == TemplateKind.WHATSAPP:
            if not data.get("category"):
                self.add_error("category", "A WhatsApp template has Meta's category.")
            if not data.get("language"):
                self.add_error("language", "A WhatsApp template has a language, e.g. en_US.")
        elif data.get("kind") == TemplateKind.CANNED:
            if data.get("approved"):
                self.add_error("approved", "Only WhatsApp templates are approved (by Meta).")
            data["category"] = ""
        for name in ("name", "body"):
            if isinstance(data.get(name), str):
                data[name] = data[name].replace("\x00", "")
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(StationScopedAdmin):
    view_roles = tenancy.STAFF_WRITE_ROLES  # chefs don't answer customers
    write_roles = tenancy.MANAGE_ROLES
    form = MessageTemplateForm
    list_display = ["name", "kind", "station", "language", "category", "approved", "active"]
    list_filter = [StationListFilter, "kind", "approved", "active", "category"]
    list_select_related = ["station"]
    search_fields = ["name", "body"]
    fieldsets = [
        (None, {"fields": ["station", "kind", "name", "body", "active"]}),
        (
            "WhatsApp (as registered with Meta)",
            {"fields": ["language", "category", "approved"]},
        ),
    ]
