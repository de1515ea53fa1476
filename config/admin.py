"""
The admin site's own pages. Its first page is today's board for staff and a chef's own week for
a chef (bookings.admin.board, bookings.admin.agenda; installed on the default site below, so
every existing admin URL keeps working).

The staff API tokens in the back office (Project plumbing → API tokens): who holds one, since
when and until when, never the secret (only its digest is stored anyway); a *Revoke* action.
A token that a password change has killed stays listed until its expiry, when the hourly sweep
deletes it (its digest no longer matches anything, so it cannot be told apart before).

A superuser sees every token; an owner sees the tokens of the users who are members of a station
they own; every other role sees nothing. This module is edge code (it reads the tenancy rule of
`stations`), like config.auth.
"""

import functools

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.urls import path
from knox.models import AuthToken

from bookings.admin import agenda, board
from config import services
from config.models import ApiToken
from stations import tenancy
from stations.models import Membership, Role

OWNER_ONLY = frozenset({Role.OWNER})


def _may_see_tokens(user) -> bool:
    return tenancy.has_any_role(user, OWNER_ONLY)


def install_back_office_pages(site: admin.AdminSite) -> None:
    """Give `site` the board as its index and a "My week" page (admin:chef_agenda), keeping its
    own URLs (and its app list, shown below the board)."""
    plain_index, plain_urls = site.index, site.get_urls
    site.index = functools.partial(board.index, site, plain_index)
    site.index_template = "admin/index.html"  # templates/admin/index.html: board + app list

    def get_urls():
        my_week = site.admin_view(functools.partial(agenda.agenda_view, site))
        return [path("my-week/", my_week, name="chef_agenda"), *plain_urls()]

    site.get_urls = get_urls


install_back_office_pages(admin.site)


# knox registers a page of its own (it shows the digest, and adds tokens bound to no password).
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created", "expiry"]
    list_select_related = ["user"]
    list_filter = ["created", "expiry"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    ordering = ["-created"]
    fields = ["user", "created", "expiry"]
    readonly_fields = fields
    actions = ["revoke"]
    show_full_result_count = False

    def get_queryset(self, request):
        tokens = super().get_queryset(request)
        if tenancy.is_superuser(request.user):
            return tokens
        owned = tenancy.station_ids_for(request.user, roles=OWNER_ONLY)
        members = Membership.objects.filter(station_id__in=owned).values("user_id")
        return tokens.filter(user_id__in=members)

    @admin.action(description="Revoke the selected tokens (sign them out)", permissions=["revoke"])
    def revoke(self, request, queryset: QuerySet[ApiToken]):
        count = services.api_tokens_revoke(queryset=queryset)
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # revoking is the one way out, through the service
        return actions

    def has_revoke_permission(self, request) -> bool:
        return _may_see_tokens(request.user)

    def has_module_permission(self, request) -> bool:
        return _may_see_tokens(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return _may_see_tokens(request.user)  # obj is already within get_queryset

    def has_add_permission(self, request) -> bool:
        return False  # tokens come from POST /api/v1/auth/token, with a password

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
