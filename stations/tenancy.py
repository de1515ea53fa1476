"""
The tenancy rule, in one place (DESIGN.md §3).

A user sees and changes only the stations they are a member of; a superuser sees all. Every
station-owned model says how to reach its station with `STATION_PATH` (default "station", e.g.
"chef__station" for time off; "" for Station itself). `scope()` narrows any queryset of such a
model for a user; the staff API base viewset, the admin mixin and exports all call it, so
another station's object is simply not found (404, never 403).

Roles per membership: owner (everything, settings), manager, agent (no refunds, no settings),
chef (read-only). Role sets below name who may write what.
"""

from collections.abc import Iterable

from django.db.models import Model, QuerySet

from stations.models import Membership, Role, Station

ALL_ROLES = frozenset(Role.values)
STAFF_WRITE_ROLES = frozenset({Role.OWNER, Role.MANAGER, Role.AGENT})
MANAGE_ROLES = frozenset({Role.OWNER, Role.MANAGER})
SETTINGS_ROLES = frozenset({Role.OWNER})

_CACHE_ATTR = "_station_roles_cache"


def station_path(model: type[Model]) -> str:
    """The lookup from a model to its Station ("" when the model is Station)."""
    if issubclass(model, Station):
        return ""
    return getattr(model, "STATION_PATH", "station")


def is_station_owned(model: type[Model]) -> bool:
    return (
        issubclass(model, Station)
        or hasattr(model, "STATION_PATH")
        or any(
            getattr(field, "related_model", None) is Station and field.name == "station"
            for field in model._meta.get_fields()
        )
    )


def roles_by_station(user) -> dict[int, str]:
    """{station_id: role} for the user's memberships; read once and kept on the user object
    (which lives for one request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("station_id", "role"))
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget_roles(user) -> None:
    """Drop the cached roles (after memberships change within the same request or test)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def is_superuser(user) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def station_ids_for(user, *, roles: Iterable[str] | None = None) -> list[int]:
    wanted = ALL_ROLES if roles is None else frozenset(roles)
    return [sid for sid, role in roles_by_station(user).items() if role in wanted]


def stations_for(user, *, roles: Iterable[str] | None = None) -> QuerySet[Station]:
    """The stations this user may see (with one of `roles`, when given)."""
    if is_superuser(user):
        return Station.objects.all()
    return Station.objects.filter(pk__in=station_ids_for(user, roles=roles))


def scope(queryset: QuerySet, user, *, roles: Iterable[str] | None = None) -> QuerySet:
    """Narrow a queryset of a station-owned model to the rows this user may see."""
    if is_superuser(user):
        return queryset
    path = station_path(queryset.model)
    lookup = "pk__in" if not path else f"{path}__in"
    return queryset.filter(**{lookup: station_ids_for(user, roles=roles)})


def station_id_of(obj: Model) -> int | None:
    """Follow STATION_PATH from an instance to its station id."""
    if isinstance(obj, Station):
        return obj.pk
    target = obj
    *parents, last = station_path(type(obj)).split("__")
    for name in parents:
        target = getattr(target, name, None)
        if target is None:
            return None
    return getattr(target, f"{last}_id", None)


def role_at(user, station_id: int | None) -> str | None:
    if station_id is None:
        return None
    return roles_by_station(user).get(station_id)


def has_role(user, station_id: int | None, roles: Iterable[str]) -> bool:
    """True when the user holds one of `roles` at the station (superusers always do)."""
    return is_superuser(user) or role_at(user, station_id) in frozenset(roles)


def has_any_role(user, roles: Iterable[str] | None = None) -> bool:
    return is_superuser(user) or bool(station_ids_for(user, roles=roles))


def station_ids_in(queryset: QuerySet) -> set[int | None]:
    """The stations the rows of a queryset belong to (None for a row tied to no station)."""
    path = station_path(queryset.model) or "pk"
    return set(queryset.order_by().values_list(path, flat=True).distinct())


def may_act_on(user, queryset: QuerySet, roles: Iterable[str]) -> bool:
    """True when the user holds one of `roles` at the station of every row in the queryset
    (a row tied to no station: superusers only)."""
    if is_superuser(user):
        return True
    return station_ids_in(queryset) <= set(station_ids_for(user, roles=roles))
