"""
The admin side of the tenancy rule: a ModelAdmin base (and an inline base) that every app's
admin for station-owned rows inherits.

Lists, change forms, search, actions and autocomplete all start from `get_queryset`, which goes
through `tenancy.scope`; foreign-key and many-to-many choices are scoped the same way; the
station filter lists only the user's stations. Permissions come from the membership role, not
Django's per-model permissions: members may view, `write_roles` may add, change and delete.
"""

from django.contrib import admin

from stations import tenancy
from stations.models import Station


class StationListFilter(admin.SimpleListFilter):
    """A station filter that offers only the stations the user may see."""

    title = "station"
    parameter_name = "station"

    def lookups(self, request, model_admin):
        return [(s.pk, s.name) for s in tenancy.stations_for(request.user).only("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        path = tenancy.station_path(queryset.model)
        return queryset.filter(**{("pk" if not path else f"{path}_id"): int(value)})


class _ScopedChoices:
    def _scoped_related(self, db_field, request, kwargs):
        related = db_field.related_model
        if related is Station:
            kwargs.setdefault(
                "queryset", tenancy.stations_for(request.user, roles=self.write_roles)
            )
        elif tenancy.is_station_owned(related):
            base = kwargs.get("queryset") or related._default_manager.all()
            kwargs["queryset"] = tenancy.scope(base, request.user)
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = self._scoped_related(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs = self._scoped_related(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class StationScopedAdmin(_ScopedChoices, admin.ModelAdmin):
    write_roles = tenancy.STAFF_WRITE_ROLES
    show_full_result_count = False

    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return tenancy.has_any_role(request.user)

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return tenancy.has_any_role(request.user)
        return tenancy.has_role(request.user, tenancy.station_id_of(obj), tenancy.ALL_ROLES)

    def has_add_permission(self, request):
        return tenancy.has_any_role(request.user, self.write_roles)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return tenancy.has_any_role(request.user, self.write_roles)
        return tenancy.has_role(request.user, tenancy.station_id_of(obj), self.write_roles)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


class StationScopedInline(_ScopedChoices, admin.TabularInline):
    """Inline rows belong to the parent's station: the parent's role decides."""

    write_roles = tenancy.STAFF_WRITE_ROLES
    extra = 0

    def _allowed(self, request, obj, roles):
        if obj is None:
            return tenancy.has_any_role(request.user, roles)
        return tenancy.has_role(request.user, tenancy.station_id_of(obj), roles)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, obj, tenancy.ALL_ROLES)

    def has_add_permission(self, request, obj=None):
        return self._allowed(request, obj, self.write_roles)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, obj, self.write_roles)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, obj, self.write_roles)
