"""
The admin side of the tenancy rule: a ModelAdmin base (and an inline base) that every app's
admin for station-owned rows inherits.

Lists, change forms, search, actions and autocomplete all start from `get_queryset`, which goes
through `tenancy.scope`; foreign-key and many-to-many choices are scoped the same way; the
station filter lists only the user's stations. Permissions come from the membership role, not
Django's per-model permissions: `view_roles` may view, `write_roles` may add, change and delete.

Every admin action is checked twice: its button shows only to a user holding one of its roles
somewhere, and when it runs, the user must hold one of them at the station of every selected row
(else 403, nothing done). An action's roles are the admin's `write_roles` unless it is declared
with `station_action(roles=...)`.
"""

import functools
from collections.abc import Iterable

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied

from config.money import format_money, is_cents_field, money_formfield
from stations import admin_time, tenancy
from stations.models import Station
from stations.validators import PhoneFormField, is_phone_field

# An id longer than this is no row's id (Postgres bigint has 19 digits; int() of thousands of
# digits is refused anyway).
_MAX_ID_DIGITS = 18


def query_id(value) -> int | None:
    """A row id from a query string value, or None for anything that is not one. Only ASCII
    digits: `str.isdigit()` also accepts a superscript two or an Arabic-Indic one, which
    `int()` refuses (a 500) or reads as a digit nobody typed."""
    text = str(value) if value is not None else ""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ID_DIGITS:
        return None
    return int(text)


class StationListFilter(admin.SimpleListFilter):
    """A station filter that offers only the stations whose rows the user may see here."""

    title = "station"
    parameter_name = "station"

    def lookups(self, request, model_admin):
        roles = getattr(model_admin, "view_roles", None)
        stations = tenancy.stations_for(request.user, roles=roles).only("pk", "name")
        return [(s.pk, s.name) for s in stations]

    def queryset(self, request, queryset):
        station_id = query_id(self.value())
        if station_id is None:
            return queryset
        path = tenancy.station_path(queryset.model)
        return queryset.filter(**{("pk" if not path else f"{path}_id"): station_id})


def station_action(*, roles: Iterable[str], **kwargs):
    """`admin.action` that names the roles which may run it (checked per selected row's
    station by `StationScopedAdmin`)."""

    def decorate(func):
        func = admin.action(**kwargs)(func)
        func.allowed_roles = frozenset(roles)
        return func

    return decorate


def _guarded(func, roles: frozenset):
    """The action, refused (403) unless the user holds one of `roles` at the station of every
    selected row."""

    @functools.wraps(func)
    def guarded(modeladmin, request, queryset):
        if not tenancy.may_act_on(request.user, queryset, roles):
            raise PermissionDenied
        return func(modeladmin, request, queryset)

    guarded.allowed_roles = roles
    return guarded


def money_column(field: str, description: str | None = None):
    """A list or page column showing a `*_cents` field as money in the row's currency (its own
    `currency`, else its station's)."""

    def show(modeladmin, obj):
        currency = getattr(obj, "currency", None)
        if currency is None:
            station = getattr(obj, "station", None)
            currency = getattr(station, "currency", "USD")
        return format_money(getattr(obj, field), currency)

    show.short_description = description or field.removesuffix("_cents").replace("_", " ")
    show.admin_order_field = field
    show.__name__ = f"{field}_money"
    return show


def _money_name(model, name):
    """The name to show a form's field by on a page the user may only read: a `*_cents` field
    becomes its money column (`<field>_money`), anything else stays as it is."""
    if isinstance(name, (list, tuple)):
        return type(name)(_money_name(model, n) for n in name)
    try:
        field = model._meta.get_field(name)
    except Exception:  # a display method, not a model field
        return name
    return f"{name}_money" if is_cents_field(field) else name


class _MoneyInputs:
    """Every `*_cents` integer field of a form is typed in dollars and cents (config.money), and
    shown as money on a page the user may only read (their role doesn't let them change it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.model._meta.get_fields():
            name = f"{field.name}_money"
            if is_cents_field(field) and not hasattr(self, name):
                label = field.verbose_name.removesuffix(" cents")
                setattr(self, name, functools.partial(money_column(field.name, label), self))
                column = getattr(self, name)
                column.short_description = label
                column.admin_order_field = field.name

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self.has_change_permission(request, obj):
            return fields
        cents = [f.name for f in self.model._meta.get_fields() if is_cents_field(f)]
        return [*fields, *(f"{name}_money" for name in cents)]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        shown = []
        for title, opts in fieldsets:
            # (dict.fromkeys: get_fields lists a field and, being read-only, its money column)
            fields = list(dict.fromkeys(_money_name(self.model, f) for f in opts["fields"]))
            shown.append((title, {**opts, "fields": fields}))
        return shown

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if is_cents_field(db_field):
            return money_formfield(db_field, **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class _PhoneInputs:
    """Every phone field (a model field validated by `validate_e164`) takes the formats the API
    takes ("408 555 0190") and saves E.164, with the API's error for anything else."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if is_phone_field(db_field):
            field = super().formfield_for_dbfield(db_field, request, **kwargs)
            if field is None:  # excluded or read-only
                return None
            return PhoneFormField(
                required=field.required,
                label=field.label,
                initial=field.initial,
                help_text=db_field.help_text or PhoneFormField.default_help_text,
                max_length=PhoneFormField.typed_max_length,
                widget=field.widget.__class__(attrs=dict(field.widget.attrs)),
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class _ScopedChoices(_PhoneInputs, _MoneyInputs):
    """Foreign-key and many-to-many choices of a form that writes: only rows of the stations
    where the user holds one of the admin's `write_roles` (so a chef at one station who manages
    another cannot pick the first station's rows). The choices are also what a submitted form is
    validated against."""

    def _scoped_related(self, db_field, request, kwargs):
        related = db_field.related_model
        if related is Station:
            kwargs.setdefault(
                "queryset", tenancy.stations_for(request.user, roles=self.write_roles)
            )
        elif tenancy.is_station_owned(related):
            base = kwargs.get("queryset")
            if base is None:
                base = related._default_manager.all()
            kwargs["queryset"] = tenancy.scope(base, request.user, roles=self.write_roles)
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = self._scoped_related(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs = self._scoped_related(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class StationScopedAdmin(_ScopedChoices, admin.ModelAdmin):
    view_roles = tenancy.ALL_ROLES
    write_roles = tenancy.STAFF_WRITE_ROLES
    show_full_result_count = False

    def get_queryset(self, request):
        return tenancy.scope(super().get_queryset(request), request.user, roles=self.view_roles)

    # --- Station time (stations.admin_time) -------------------------------------------------

    def get_object(self, request, object_id, from_field=None):
        """A change, history or delete page is shown in its station's time zone."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            admin_time.activate_for_station(request, tenancy.station_id_of(obj))
        return obj

    def changelist_view(self, request, extra_context=None):
        """A list filtered to one station is shown in that station's time zone."""
        station_id = query_id(request.GET.get(StationListFilter.parameter_name))
        if station_id is not None:
            admin_time.activate_for_station(request, station_id)
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # PostgreSQL text cannot hold NUL: a search for one (pasted, or typed into an
        # autocomplete box, which no form cleans) would be a 500.
        search_term = search_term.replace("\x00", "")
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        roles = self._autocomplete_roles(request)
        if roles is not None:
            queryset = tenancy.scope(queryset, request.user, roles=roles)
        return queryset, may_have_duplicates

    def _autocomplete_roles(self, request) -> frozenset | None:
        """When Django's autocomplete view asks (for a field of the form named in the request),
        the roles that may write that form: the choices it offers are choices to write with.
        None for any other search."""
        match = getattr(request, "resolver_match", None)
        if match is None or match.url_name != "autocomplete":
            return None
        try:
            source = apps.get_model(request.GET["app_label"], request.GET["model_name"])
        except (KeyError, LookupError, ValueError):
            return frozenset()
        source_admin = self.admin_site._registry.get(source)
        return frozenset(getattr(source_admin, "write_roles", self.write_roles))

    def has_module_permission(self, request):
        return tenancy.has_any_role(request.user, self.view_roles)

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return tenancy.has_any_role(request.user, self.view_roles)
        return tenancy.has_role(request.user, tenancy.station_id_of(obj), self.view_roles)

    def has_add_permission(self, request):
        return tenancy.has_any_role(request.user, self.write_roles)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return tenancy.has_any_role(request.user, self.write_roles)
        return tenancy.has_role(request.user, tenancy.station_id_of(obj), self.write_roles)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    # --- Actions ---------------------------------------------------------------------------

    def action_roles(self, func) -> frozenset:
        return getattr(func, "allowed_roles", None) or frozenset(self.write_roles)

    def get_actions(self, request):
        """The actions the user holds a role for somewhere, each guarded per selected row
        (the site-wide ones, like delete_selected, too)."""
        actions = {}
        for name, (func, action_name, description) in super().get_actions(request).items():
            roles = self.action_roles(func)
            if tenancy.has_any_role(request.user, roles):
                actions[name] = (_guarded(func, roles), action_name, description)
        return actions


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
