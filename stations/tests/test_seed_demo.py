"""`manage.py seed_demo`: the demo data people try the product with (DESIGN.md §6).

Seeding takes a second or two (it books demo events), so each test seeds as few times as it can.
"""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from bookings.models import AddOn, Booking, PriceList
from stations.models import Chef, Membership, ServiceZone, Station

pytestmark = pytest.mark.django_db

DEMO_USERS = ["admin", "demo-owner", "sj-manager", "sj-agent", "sj-chef", "sac-manager"]
EXPECTED_ROLES = {
    ("demo-owner", "san-jose"): "owner",
    ("demo-owner", "sacramento"): "owner",
    ("sj-manager", "san-jose"): "manager",
    ("sj-agent", "san-jose"): "agent",
    ("sj-chef", "san-jose"): "chef",
    ("sac-manager", "sacramento"): "manager",
}


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = [Station, ServiceZone, Chef, get_user_model(), Membership, PriceList, AddOn, Booking]
    return {model.__name__: model.objects.count() for model in models}


def test_seed_creates_the_documented_demo_and_is_idempotent(settings, api_client):
    settings.DEBUG = True
    output = seed()

    lines = output.strip().splitlines()
    for step in ["stations, zones and chefs", "users and memberships", "price lists"]:
        assert any(step in line for line in lines), output
    assert "Demo data ready" in lines[-1]

    stations = {s.slug: s for s in Station.objects.all()}
    assert set(stations) == {"san-jose", "sacramento"}
    for station in stations.values():
        assert station.timezone == "America/Los_Angeles"
        assert station.active
        assert station.chefs.filter(active=True).count() == 3
        assert station.zones.exists()
        assert PriceList.objects.filter(station=station).exists()
        assert station.addons.count() == 5
        station.full_clean()  # the demo obeys the model's own rules

    roles = {
        (m.user.username, m.station.slug): m.role
        for m in Membership.objects.select_related("user", "station")
    }
    assert roles == EXPECTED_ROLES
    superusers = get_user_model().objects.filter(is_superuser=True)
    assert [u.username for u in superusers] == ["admin"]
    assert Chef.objects.get(user__username="sj-chef").station == stations["san-jose"]

    client = Client()
    for username in DEMO_USERS:
        assert client.login(username=username, password="hibachi-demo"), username
    response = api_client.post(
        "/api/v1/auth/token", {"username": "sj-manager", "password": "hibachi-demo"}
    )
    assert response.status_code == 200

    # Idempotent: a second run changes no counts and puts edited demo rows back.
    first = counts()
    Station.objects.filter(slug="san-jose").update(name="Renamed", active=False)
    seed()
    assert counts() == first
    station = Station.objects.get(slug="san-jose")
    assert (station.name, station.active) == ("San Jose", True)


def test_seed_refuses_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    before = counts()
    with pytest.raises(CommandError, match="DEBUG"):
        seed()
    assert counts() == before

    seed("--force", "--password", "another-secret-42")
    assert Station.objects.count() == 2
    client = Client()
    for username in DEMO_USERS:
        assert client.login(username=username, password="another-secret-42"), username
        assert not client.login(username=username, password="hibachi-demo")


@pytest.mark.parametrize("password", ["", "   "])
def test_seed_refuses_a_blank_password(settings, password):
    settings.DEBUG = True
    before = counts()
    with pytest.raises(CommandError, match="blank"):
        seed("--password", password)
    assert counts() == before
