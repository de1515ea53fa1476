"""The public station list and the staff station endpoint: fields, roles, validation."""

import pytest

from stations.models import Station
from testing.factories import ServiceZoneFactory, StationFactory

SJ = "/api/v1/staff/stations/san-jose/"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    return body


# --- public --------------------------------------------------------------------------------


def test_public_list_shows_active_stations_with_their_zip_codes(api_client, san_jose):
    StationFactory(slug="closed", name="Closed", active=False)
    response = api_client.get("/api/v1/stations/")
    assert response.status_code == 200
    body = response.json()
    assert [s["slug"] for s in body] == ["sacramento", "san-jose"]
    sj = next(s for s in body if s["slug"] == "san-jose")
    assert set(sj) == {"slug", "name", "timezone", "currency", "phone", "service_zip_codes"}
    assert sj["timezone"] == "America/Los_Angeles"
    assert sj["currency"] == "USD"
    assert sj["phone"] == "+14085550100"
    zips = {z for zone in san_jose.zones.all() for z in zone.zip_codes}
    assert sj["service_zip_codes"] == sorted(zips)


def test_public_zip_codes_are_unique_and_sorted(api_client, db):
    station = StationFactory(slug="zips")
    ServiceZoneFactory(station=station, zip_codes=["95200", "95100"])
    ServiceZoneFactory(station=station, zip_codes=["95150"])
    body = api_client.get("/api/v1/stations/zips/").json()
    assert body["service_zip_codes"] == ["95100", "95150", "95200"]


@pytest.mark.parametrize("slug", ["a%00b", "%00", "san%20jose"])
def test_a_station_slug_no_station_can_have_is_404(staff_client, owner, api_client, slug):
    assert_error(api_client.get(f"/api/v1/stations/{slug}/"), 404, "not_found")
    assert_error(staff_client(owner).get(f"/api/v1/staff/stations/{slug}/"), 404, "not_found")


def test_public_detail_of_inactive_station_is_404(api_client, db):
    StationFactory(slug="closed", active=False)
    assert_error(api_client.get("/api/v1/stations/closed/"), 404, "not_found")


def test_public_list_needs_no_credentials_and_ignores_bad_ones(api_client, world):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert api_client.get("/api/v1/stations/").status_code == 200


# --- staff: reading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role"),
    [("owner", "owner"), ("sj_manager", "manager"), ("sj_agent", "agent"), ("sj_chef", "chef")],
)
def test_staff_detail_shows_settings_and_the_users_role(request, staff_client, who, role):
    response = staff_client(request.getfixturevalue(who)).get(SJ)
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == role
    assert body["buffer_minutes"] == 60
    assert body["duration_rules"][0] == {"max_guests": 15, "minutes": 120}


def test_staff_role_of_superuser(staff_client, superuser):
    assert staff_client(superuser).get(SJ).json()["role"] == "superuser"


def test_staff_list_is_paginated(staff_client, owner):
    body = staff_client(owner).get("/api/v1/staff/stations/").json()
    assert body["count"] == 2
    assert [s["slug"] for s in body["results"]] == ["sacramento", "san-jose"]


def test_staff_list_has_no_create(staff_client, superuser):
    response = staff_client(superuser).post(
        "/api/v1/staff/stations/", {"slug": "new", "name": "New"}
    )
    assert_error(response, 405, "method_not_allowed")
    assert not Station.objects.filter(slug="new").exists()


# --- staff: changing settings (owners only) --------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "superuser"])
def test_owner_changes_settings(request, staff_client, san_jose, who):
    response = staff_client(request.getfixturevalue(who)).patch(
        SJ, {"buffer_minutes": 45, "latest_start": "19:30"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["buffer_minutes"] == 45
    san_jose.refresh_from_db()
    assert san_jose.buffer_minutes == 45
    assert san_jose.latest_start.strftime("%H:%M") == "19:30"


@pytest.mark.parametrize("who", ["sj_manager", "sj_agent", "sj_chef"])
def test_other_roles_may_not_change_settings(request, staff_client, san_jose, who):
    response = staff_client(request.getfixturevalue(who)).patch(SJ, {"buffer_minutes": 5})
    assert_error(response, 403, "permission_denied")
    san_jose.refresh_from_db()
    assert san_jose.buffer_minutes == 60


def test_chef_reads_but_does_not_write(staff_client, sj_chef):
    client = staff_client(sj_chef)
    assert client.get(SJ).status_code == 200
    assert client.patch(SJ, {"buffer_minutes": 5}).status_code == 403


@pytest.mark.parametrize("who", ["sac_manager", "sac_agent", "sac_chef"])
def test_another_stations_staff_get_404_not_403(request, staff_client, san_jose, who):
    response = staff_client(request.getfixturevalue(who)).patch(SJ, {"buffer_minutes": 5})
    assert_error(response, 404, "not_found")
    san_jose.refresh_from_db()
    assert san_jose.buffer_minutes == 60


def test_owner_of_one_station_gets_404_for_the_other(staff_client, sacramento, san_jose):
    from stations.models import Membership, Role
    from testing.factories import UserFactory

    sac_owner = UserFactory()
    Membership.objects.create(user=sac_owner, station=sacramento, role=Role.OWNER)
    assert_error(staff_client(sac_owner).patch(SJ, {"buffer_minutes": 5}), 404, "not_found")


def test_slug_is_read_only(staff_client, owner):
    """Refused, not quietly dropped: the client would think the station was renamed."""
    response = staff_client(owner).patch(SJ, {"slug": "renamed", "name": "San José"})
    assert_error(response, 400, "validation_error")
    assert response.json()["fields"] == {"slug": ["This field is read-only."]}
    assert Station.objects.filter(slug="san-jose", name="San Jose").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Pacific/Atlantis"}, "timezone"),
        ({"timezone": "PST"}, "timezone"),
        ({"currency": "usd"}, "currency"),
        ({"phone": "408-555-0100"}, "phone"),
        ({"earliest_start": "18:00", "latest_start": "12:00"}, "latest_start"),
        ({"earliest_start": "21:00"}, "latest_start"),  # after the stored latest start, 20:00
        ({"earliest_start": "13:38:35"}, "earliest_start"),  # never bookable as HH:MM
        ({"latest_start": "19:30:00.5"}, "latest_start"),
        ({"quiet_hours_end": "09:00:01"}, "quiet_hours_end"),
        ({"max_events_per_chef_per_day": 0}, "max_events_per_chef_per_day"),
        ({"booking_horizon_days": 0}, "booking_horizon_days"),
        ({"max_guests": 0}, "max_guests"),
        ({"hold_minutes": 0}, "hold_minutes"),
        (
            {"duration_rules": [{"max_guests": 30, "minutes": 150}, {"max_guests": 15}]},
            "duration_rules",
        ),
        ({"duration_rules": []}, "duration_rules"),
        ({"slot_interval_minutes": 0}, "slot_interval_minutes"),
        ({"ai_auto_reply_level": "l9"}, "ai_auto_reply_level"),
    ],
)
def test_invalid_settings_are_rejected(staff_client, owner, san_jose, change, field):
    before = Station.objects.values().get(pk=san_jose.pk)
    body = assert_error(staff_client(owner).patch(SJ, change), 400, "validation_error")
    assert field in body["fields"]
    assert Station.objects.values().get(pk=san_jose.pk) == before
