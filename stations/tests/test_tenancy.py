"""
The tenancy rule (DESIGN.md §3): a user sees and changes only the rows of their own stations,
another station's object is "not found", a superuser sees all.

Every station-scoped surface is checked by the same matrix over SCOPED_SURFACES. To add one
(a later app's model), append a `ScopedSurface`:

    ScopedSurface(
        id="booking",                                   # test id
        make=lambda station: BookingFactory(station=station, notes=marker(station, "booking")),
        text=lambda booking: booking.notes,             # shown in the admin changelist row,
                                                        # nowhere else on that page
        admin="admin:bookings_booking_changelist",
        api="/api/v1/staff/bookings/",                  # the staff API list URL, or None
        api_lookup="reference",                         # the field in the detail URL (default pk)
        search="zeta",                                  # finds `text` in the admin search, or None
        owner_can_delete=True,                          # False where only superusers delete
    )

`make(station)` gets a station with its demo chefs, zones and price list already there; use
`marker(station, kind)` for texts ("Zeta san-jose booking") so the two stations' rows differ and
the admin search term "zeta" finds both. Every test below then runs for the new entry.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from bookings.models import Customer, PriceList
from bookings.scheduling import local_today
from bookings.services import booking_create
from bookings.tests.factories import AddOnFactory
from payments.intents import payment_for_deposit
from stations import tenancy
from stations.models import Chef, Membership, Role, Station, TimeOff
from stations.tests.factories import (
    ChefFactory,
    MembershipFactory,
    StationFactory,
    TimeOffFactory,
    UserFactory,
)

# What the Django admin says about an object outside get_queryset (typographic apostrophe).
DOES_NOT_EXIST = "doesn\N{RIGHT SINGLE QUOTATION MARK}t exist"


def marker(station: Station, kind: str) -> str:
    return f"Zeta {station.slug} {kind}"


@dataclass(frozen=True)
class ScopedSurface:
    id: str
    make: Callable[[Station], Model]
    text: Callable[[Model], str]
    admin: str
    api: str | None = None
    api_lookup: str = "pk"
    search: str | None = None
    # False where nobody but a superuser may delete (a station owner deletes everything else).
    owner_can_delete: bool = True

    def __str__(self) -> str:
        return self.id


SCOPED_SURFACES = [
    ScopedSurface(
        id="station",
        make=lambda station: station,
        text=lambda station: station.name,
        admin="admin:stations_station_changelist",
        api="/api/v1/staff/stations/",
        api_lookup="slug",
        search="sa",  # "San Jose" and "Sacramento"
        owner_can_delete=False,
    ),
    ScopedSurface(
        id="chef",
        make=lambda station: ChefFactory(station=station, name=marker(station, "chef")),
        text=lambda chef: chef.name,
        admin="admin:stations_chef_changelist",
        search="zeta",
    ),
    ScopedSurface(
        id="time-off",
        make=lambda station: TimeOffFactory(
            chef=station.chefs.first(), reason=marker(station, "time off")
        ),
        text=lambda time_off: time_off.reason,
        admin="admin:stations_timeoff_changelist",
        search="zeta",
    ),
    ScopedSurface(
        id="membership",
        make=lambda station: MembershipFactory(
            station=station,
            role=Role.AGENT,
            user=UserFactory(username=f"zeta-{station.slug}-member"),
        ),
        text=lambda membership: membership.user.username,
        admin="admin:stations_membership_changelist",
        search="zeta",
    ),
    ScopedSurface(
        id="addon",
        make=lambda station: AddOnFactory(station=station, label=marker(station, "add-on")),
        text=lambda addon: addon.label,
        admin="admin:bookings_addon_changelist",
        search="zeta",
    ),
    ScopedSurface(
        id="price-list",
        make=lambda station: PriceList.objects.get(station=station),  # one per station
        text=lambda price_list: price_list.station.name,
        admin="admin:bookings_pricelist_changelist",
    ),
    ScopedSurface(
        id="customer",
        make=lambda station: Customer.objects.create(
            station=station, name=marker(station, "customer")
        ),
        text=lambda customer: customer.name,
        admin="admin:bookings_customer_changelist",
        api="/api/v1/staff/customers/",
        api_lookup="id",
        search="zeta",
    ),
    ScopedSurface(
        id="booking",
        make=lambda station: _booking(station),
        text=lambda booking: booking.customer.name,
        admin="admin:bookings_booking_changelist",
        api="/api/v1/staff/bookings/",
        api_lookup="id",
        search="zeta",
        owner_can_delete=False,  # bookings are cancelled, never deleted
    ),
    ScopedSurface(
        id="payment",
        make=lambda station: payment_for_deposit(booking=_booking(station)),
        text=lambda payment: payment.booking.reference,
        admin="admin:payments_payment_changelist",
        api="/api/v1/staff/payments/",
        api_lookup="id",
        owner_can_delete=False,  # money rows stay; refunds undo them
    ),
]


def _booking(station: Station):
    """A booking at the station through the booking service (its first zone, 20 days out)."""
    zip_code = station.zones.order_by("pk").first().zip_codes[0]
    booking, _ = booking_create(
        station=station,
        event_date=local_today(station) + timedelta(days=20),
        start_time=time(12, 0),
        adults=8,
        children=0,
        addon_codes=[],
        address={"line1": "1 Zeta Way", "city": "Zeta", "state": "CA", "zip_code": zip_code},
        customer={
            "name": marker(station, "booking"),
            "email": f"zeta@{station.slug}.example.com",
            "phone": "",
            "sms_opt_in": False,
        },
    )
    return booking


WITH_API = [s for s in SCOPED_SURFACES if s.api]
WITH_SEARCH = [s for s in SCOPED_SURFACES if s.search]


@pytest.fixture(params=SCOPED_SURFACES, ids=str)
def surface(request):
    return request.param


@pytest.fixture
def rows(surface, san_jose, sacramento):
    """(san-jose's object, sacramento's object) of the surface under test."""
    return surface.make(san_jose), surface.make(sacramento)


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(obj: Model) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def api_ids(response, surface: ScopedSurface) -> set[str]:
    assert response.status_code == 200, response.content
    return {str(row[surface.api_lookup]) for row in response.json()["results"]}


def api_id(obj: Model, surface: ScopedSurface) -> str:
    return str(getattr(obj, surface.api_lookup))


# --- the matrix: one station's manager ------------------------------------------------------


def test_admin_changelist_shows_own_rows_only(surface, rows, sj_manager):
    mine, theirs = rows
    response = admin_client(sj_manager).get(reverse(surface.admin))
    assert response.status_code == 200
    html = response.content.decode()
    assert surface.text(mine) in html
    assert surface.text(theirs) not in html


def test_admin_change_page_of_another_station_does_not_exist(surface, rows, sj_manager):
    mine, theirs = rows
    client = admin_client(sj_manager)
    assert client.get(change_url(mine)).status_code == 200

    response = client.get(change_url(theirs))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    followed = client.get(response["Location"])
    assert any(DOES_NOT_EXIST in str(m) for m in followed.context["messages"])
    assert surface.text(theirs) not in followed.content.decode()


@pytest.mark.parametrize("surface", WITH_SEARCH, ids=str, indirect=True)
def test_admin_search_does_not_find_other_stations_rows(surface, rows, sj_manager):
    mine, theirs = rows
    response = admin_client(sj_manager).get(reverse(surface.admin), {"q": surface.search})
    assert response.status_code == 200
    result = list(response.context["cl"].result_list)
    assert mine in result
    assert theirs not in result


def test_admin_delete_action_skips_other_stations_rows(surface, rows, san_jose):
    mine, theirs = rows
    sj_owner = MembershipFactory(station=san_jose, role=Role.OWNER).user
    admin_client(sj_owner).post(
        reverse(surface.admin),
        {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"},
    )
    model = type(theirs)
    assert model.objects.filter(pk=theirs.pk).exists()
    assert model.objects.filter(pk=mine.pk).exists() is not surface.owner_can_delete


@pytest.mark.parametrize("surface", WITH_API, ids=str, indirect=True)
def test_staff_api_lists_own_rows_only(surface, rows, sj_manager, staff_client):
    mine, theirs = rows
    ids = api_ids(staff_client(sj_manager).get(surface.api), surface)
    assert api_id(mine, surface) in ids
    assert api_id(theirs, surface) not in ids


@pytest.mark.parametrize("surface", WITH_API, ids=str, indirect=True)
def test_staff_api_detail_of_another_station_is_404(surface, rows, sj_manager, staff_client):
    mine, theirs = rows
    client = staff_client(sj_manager)
    assert client.get(f"{surface.api}{api_id(mine, surface)}/").status_code == 200
    response = client.get(f"{surface.api}{api_id(theirs, surface)}/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# --- the matrix: who sees both stations ------------------------------------------------------


@pytest.mark.parametrize("who", ["superuser", "owner"])
def test_superuser_and_owner_of_both_see_both_in_the_admin(request, who, surface, rows):
    client = admin_client(request.getfixturevalue(who))
    html = client.get(reverse(surface.admin)).content.decode()
    for obj in rows:
        assert surface.text(obj) in html
        assert client.get(change_url(obj)).status_code == 200


@pytest.mark.parametrize("who", ["superuser", "owner"])
@pytest.mark.parametrize("surface", WITH_API, ids=str, indirect=True)
def test_superuser_and_owner_of_both_see_both_in_the_api(request, who, surface, rows, staff_client):
    client = staff_client(request.getfixturevalue(who))
    assert api_ids(client.get(surface.api), surface) >= {api_id(obj, surface) for obj in rows}


def test_user_without_membership_sees_nothing(surface, rows, staff_client):
    outsider = UserFactory()
    response = admin_client(outsider).get(reverse(surface.admin))
    assert response.status_code == 403
    if surface.api:
        # a token of a user with no station is refused outright (config.authentication)
        assert staff_client(outsider).get(surface.api).status_code == 401


# --- admin forms and filters -----------------------------------------------------------------


def test_chef_add_form_offers_only_own_stations_and_staff(sj_manager, san_jose, owner):
    response = admin_client(sj_manager).get(reverse("admin:stations_chef_add"))
    assert response.status_code == 200
    fields = response.context["adminform"].form.fields
    assert list(fields["station"].queryset) == [san_jose]
    users = {user.username for user in fields["user"].queryset}
    assert users == {"demo-owner", "sj-manager", "sj-agent", "sj-chef"}


def test_chef_add_form_rejects_another_station(sj_manager, sacramento):
    response = admin_client(sj_manager).post(
        reverse("admin:stations_chef_add"),
        {"station": sacramento.pk, "name": "Smuggled chef", "active": "on"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert "station" in response.context["adminform"].form.errors
    assert not Chef.objects.filter(name="Smuggled chef").exists()


def test_superuser_chef_add_form_offers_every_station(superuser, san_jose, sacramento):
    response = admin_client(superuser).get(reverse("admin:stations_chef_add"))
    fields = response.context["adminform"].form.fields
    assert set(fields["station"].queryset) == {san_jose, sacramento}


def _station_filter_choices(response) -> set[str]:
    (station_filter,) = [
        spec
        for spec in response.context["cl"].filter_specs
        if getattr(spec, "parameter_name", None) == "station"
    ]
    return {name for _, name in station_filter.lookup_choices}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("sj_manager", {"San Jose"}),
        ("sac_manager", {"Sacramento"}),
        ("owner", {"San Jose", "Sacramento"}),
        ("superuser", {"San Jose", "Sacramento"}),
    ],
)
def test_station_filter_lists_the_users_stations(request, who, expected):
    client = admin_client(request.getfixturevalue(who))
    response = client.get(reverse("admin:stations_chef_changelist"))
    assert _station_filter_choices(response) == expected


def test_station_filter_with_another_stations_id_shows_nothing(sj_manager, sacramento):
    response = admin_client(sj_manager).get(
        reverse("admin:stations_chef_changelist"), {"station": sacramento.pk}
    )
    assert list(response.context["cl"].result_list) == []


def test_time_off_chef_autocomplete_offers_own_chefs_only(sj_manager, san_jose):
    response = admin_client(sj_manager).get(
        reverse("admin:autocomplete"),
        {"app_label": "stations", "model_name": "timeoff", "field_name": "chef", "term": ""},
    )
    assert response.status_code == 200
    names = {row["text"] for row in response.json()["results"]}
    assert names == set(san_jose.chefs.values_list("name", flat=True))


# --- stations.tenancy, the helper everything above goes through ------------------------------


def test_stations_for_members_superusers_and_others(
    san_jose, sacramento, sj_manager, owner, superuser
):
    assert list(tenancy.stations_for(sj_manager)) == [san_jose]
    assert set(tenancy.stations_for(owner)) == {san_jose, sacramento}
    extra = StationFactory()
    assert set(tenancy.stations_for(superuser)) == {san_jose, sacramento, extra}
    assert list(tenancy.stations_for(UserFactory())) == []


def test_stations_for_filters_by_role(san_jose, sj_manager, owner):
    assert list(tenancy.stations_for(sj_manager, roles=tenancy.SETTINGS_ROLES)) == []
    assert list(tenancy.stations_for(sj_manager, roles=tenancy.MANAGE_ROLES)) == [san_jose]
    assert tenancy.stations_for(owner, roles=[Role.OWNER]).count() == 2


def test_stations_for_anonymous_and_inactive_users(db, world, sj_manager):
    from django.contrib.auth.models import AnonymousUser

    assert list(tenancy.stations_for(AnonymousUser())) == []
    sj_manager.is_active = False
    assert list(tenancy.stations_for(sj_manager)) == []
    inactive_superuser = UserFactory(is_superuser=True, is_active=False)
    assert list(tenancy.stations_for(inactive_superuser)) == []


def test_scope_direct_nested_and_station_rows(san_jose, sacramento, sj_manager, superuser):
    sj_chef = san_jose.chefs.first()
    sac_chef = sacramento.chefs.first()
    sj_off, sac_off = TimeOffFactory(chef=sj_chef), TimeOffFactory(chef=sac_chef)

    assert set(tenancy.scope(Chef.objects.all(), sj_manager)) == set(san_jose.chefs.all())
    assert list(tenancy.scope(TimeOff.objects.all(), sj_manager)) == [sj_off]
    assert list(tenancy.scope(Station.objects.all(), sj_manager)) == [san_jose]
    assert set(tenancy.scope(TimeOff.objects.all(), superuser)) == {sj_off, sac_off}


def test_scope_keeps_the_callers_filters(san_jose, sj_manager):
    inactive = ChefFactory(station=san_jose, active=False)
    scoped = tenancy.scope(Chef.objects.filter(active=False), sj_manager)
    assert list(scoped) == [inactive]


def test_scope_by_role(san_jose, sj_agent):
    assert tenancy.scope(Chef.objects.all(), sj_agent, roles=tenancy.MANAGE_ROLES).count() == 0
    assert tenancy.scope(Chef.objects.all(), sj_agent).count() == san_jose.chefs.count()


def test_has_role(san_jose, sacramento, sj_manager, sj_chef, owner, superuser):
    assert tenancy.has_role(sj_manager, san_jose.pk, tenancy.MANAGE_ROLES)
    assert not tenancy.has_role(sj_manager, san_jose.pk, tenancy.SETTINGS_ROLES)
    assert not tenancy.has_role(sj_manager, sacramento.pk, tenancy.ALL_ROLES)
    assert not tenancy.has_role(sj_chef, san_jose.pk, tenancy.STAFF_WRITE_ROLES)
    assert tenancy.has_role(sj_chef, san_jose.pk, tenancy.ALL_ROLES)
    assert tenancy.has_role(owner, sacramento.pk, tenancy.SETTINGS_ROLES)
    assert tenancy.has_role(superuser, sacramento.pk, tenancy.SETTINGS_ROLES)
    assert not tenancy.has_role(sj_manager, None, tenancy.ALL_ROLES)


def test_roles_are_reread_after_forget_roles(sacramento, sj_manager):
    assert not tenancy.has_role(sj_manager, sacramento.pk, tenancy.ALL_ROLES)
    Membership.objects.create(user=sj_manager, station=sacramento, role=Role.AGENT)
    tenancy.forget_roles(sj_manager)
    assert tenancy.has_role(sj_manager, sacramento.pk, [Role.AGENT])


def test_station_id_of_follows_station_path(san_jose):
    chef = san_jose.chefs.first()
    assert tenancy.station_id_of(san_jose) == san_jose.pk
    assert tenancy.station_id_of(chef) == san_jose.pk
    assert tenancy.station_id_of(TimeOffFactory(chef=chef)) == san_jose.pk
    assert tenancy.station_id_of(PriceList.objects.get(station=san_jose)) == san_jose.pk


def test_is_station_owned():
    assert tenancy.is_station_owned(Station)
    assert tenancy.is_station_owned(Chef)
    assert tenancy.is_station_owned(TimeOff)
    assert tenancy.is_station_owned(PriceList)
    assert not tenancy.is_station_owned(get_user_model())
