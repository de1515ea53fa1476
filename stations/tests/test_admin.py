"""The back office: logging in, and what each role may view and change in the admin."""

import pytest
from django.test import Client
from django.urls import reverse

from stations.models import Chef, Station
from testing.admin import form_data
from testing.factories import ChefFactory


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_login_with_password(world):
    client = Client()
    response = client.post(
        reverse("admin:login"),
        {"username": "sj-manager", "password": "hibachi-demo", "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_login_with_wrong_password_fails(world):
    response = Client().post(
        reverse("admin:login"), {"username": "sj-manager", "password": "nope", "next": "/admin/"}
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session


def test_admin_index_lists_the_station_apps_for_members(sj_chef):
    response = logged_in(sj_chef).get("/admin/")
    app_labels = {app["app_label"] for app in response.context["app_list"]}
    assert {"stations", "bookings"} <= app_labels


# --- chefs: managers change, chefs only look ---------------------------------------------------


@pytest.fixture
def kenji(san_jose):
    return Chef.objects.get(station=san_jose, name="Kenji Tanaka")


def test_chef_may_view_a_chef_but_not_change_it(sj_chef, kenji):
    client = logged_in(sj_chef)
    url = reverse("admin:stations_chef_change", args=[kenji.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert "Kenji Tanaka" in page.content.decode()

    response = client.post(url, {"station": kenji.station_id, "name": "Renamed", "active": "on"})
    assert response.status_code == 403
    kenji.refresh_from_db()
    assert kenji.name == "Kenji Tanaka"


def test_chef_may_not_add_or_delete_chefs(sj_chef, kenji, san_jose):
    client = logged_in(sj_chef)
    assert client.get(reverse("admin:stations_chef_add")).status_code == 403
    response = client.post(reverse("admin:stations_chef_delete", args=[kenji.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Chef.objects.filter(pk=kenji.pk).exists()


@pytest.mark.parametrize("who", ["sj_manager", "owner"])
def test_manager_changes_a_chef(request, who, kenji):
    client = logged_in(request.getfixturevalue(who))
    url = reverse("admin:stations_chef_change", args=[kenji.pk])
    data = form_data(client.get(url))
    data.update(name="Kenji Tanaka-Sato", phone="+14085550199")
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    kenji.refresh_from_db()
    assert (kenji.name, kenji.phone) == ("Kenji Tanaka-Sato", "+14085550199")


def test_agent_may_not_change_a_chef(sj_agent, kenji):
    client = logged_in(sj_agent)
    url = reverse("admin:stations_chef_change", args=[kenji.pk])
    response = client.post(url, {"station": kenji.station_id, "name": "Renamed", "active": "on"})
    assert response.status_code == 403


def test_manager_adds_a_chef_at_own_station(sj_manager, san_jose):
    response = logged_in(sj_manager).post(
        reverse("admin:stations_chef_add"),
        {"station": san_jose.pk, "name": "New Chef", "phone": "", "active": "on"},
    )
    assert response.status_code == 302
    assert Chef.objects.get(name="New Chef").station == san_jose


def test_chef_form_rejects_a_bad_phone(sj_manager, san_jose):
    response = logged_in(sj_manager).post(
        reverse("admin:stations_chef_add"),
        {"station": san_jose.pk, "name": "New Chef", "phone": "call me", "active": "on"},
    )
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors


def test_manager_deletes_own_chef(sj_manager, san_jose):
    chef = ChefFactory(station=san_jose)
    response = logged_in(sj_manager).post(
        reverse("admin:stations_chef_delete", args=[chef.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Chef.objects.filter(pk=chef.pk).exists()


# --- station settings: owners only ---------------------------------------------------------------


def test_manager_sees_station_settings_read_only(sj_manager, san_jose):
    client = logged_in(sj_manager)
    url = reverse("admin:stations_station_change", args=[san_jose.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False

    response = client.post(url, {"name": "Hijacked", "buffer_minutes": 5})
    assert response.status_code == 403
    san_jose.refresh_from_db()
    assert (san_jose.name, san_jose.buffer_minutes) == ("San Jose", 60)


@pytest.mark.parametrize("who", ["owner", "superuser"])
def test_owner_changes_station_settings_and_zones(request, who, san_jose):
    client = logged_in(request.getfixturevalue(who))
    url = reverse("admin:stations_station_change", args=[san_jose.pk])
    data = form_data(client.get(url))
    data["buffer_minutes"] = "45"
    data["zones-0-travel_fee_cents"] = "12.34"  # dollars; first zone by ordering: the free one
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    san_jose.refresh_from_db()
    assert san_jose.buffer_minutes == 45
    assert san_jose.zones.filter(travel_fee_cents=1234).count() == 1


def test_station_form_rejects_bad_rules(owner, san_jose):
    client = logged_in(owner)
    url = reverse("admin:stations_station_change", args=[san_jose.pk])
    data = form_data(client.get(url))
    data.update(timezone="Mars/Olympus", earliest_start="19:00", latest_start="11:00")
    response = client.post(url, data)
    assert response.status_code == 200
    assert {"timezone", "latest_start"} <= set(response.context["adminform"].form.errors)
    assert Station.objects.get(pk=san_jose.pk).timezone == "America/Los_Angeles"


def test_station_form_rejects_a_zip_in_two_zones(owner, san_jose):
    client = logged_in(owner)
    url = reverse("admin:stations_station_change", args=[san_jose.pk])
    data = form_data(client.get(url))
    taken = data["zones-0-zip_codes"].split(",")[0]
    data.update(
        {
            "zones-TOTAL_FORMS": str(int(data["zones-TOTAL_FORMS"]) + 1),
            f"zones-{data['zones-TOTAL_FORMS']}-name": "Overlap",
            f"zones-{data['zones-TOTAL_FORMS']}-zip_codes": taken,
            f"zones-{data['zones-TOTAL_FORMS']}-travel_fee_cents": "0",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    (zones,) = response.context["inline_admin_formsets"]
    assert "already in zone" in str(zones.formset.errors)
    assert not san_jose.zones.filter(name="Overlap").exists()


def test_only_superusers_add_or_delete_stations(owner, superuser, san_jose):
    owner_client = logged_in(owner)
    assert owner_client.get(reverse("admin:stations_station_add")).status_code == 403
    delete_url = reverse("admin:stations_station_delete", args=[san_jose.pk])
    assert owner_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Station.objects.filter(pk=san_jose.pk).exists()
    assert logged_in(superuser).get(reverse("admin:stations_station_add")).status_code == 200


def test_manager_may_not_change_memberships(sj_manager, sj_agent):
    membership = sj_agent.memberships.get()
    client = logged_in(sj_manager)
    url = reverse("admin:stations_membership_change", args=[membership.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"user": sj_agent.pk, "station": membership.station_id, "role": "owner"}
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == "agent"


def test_calendar_feed_links_show_to_writers_and_the_chef_and_rotate(
    client, world, sj_chef, sj_manager
):
    kenji = Chef.objects.get(user=sj_chef)
    other = Chef.objects.filter(station=kenji.station).exclude(pk=kenji.pk).first()
    client.force_login(sj_chef)
    own_page = client.get(reverse("admin:stations_chef_change", args=[kenji.pk])).content.decode()
    assert kenji.calendar_token in own_page
    other_page = client.get(reverse("admin:stations_chef_change", args=[other.pk])).content.decode()
    assert other.calendar_token not in other_page
    station_page = client.get(
        reverse("admin:stations_station_change", args=[kenji.station_id])
    ).content.decode()
    assert kenji.station.calendar_token not in station_page

    client.force_login(sj_manager)
    old = other.calendar_token
    assert (
        old in client.get(reverse("admin:stations_chef_change", args=[other.pk])).content.decode()
    )
    client.post(
        reverse("admin:stations_chef_changelist"),
        {"action": "rotate_calendar_link", "_selected_action": [other.pk]},
    )
    other.refresh_from_db()
    assert other.calendar_token != old
    assert client.get(f"/feeds/chefs/{old}.ics").status_code == 404
    assert client.get(f"/feeds/chefs/{other.calendar_token}.ics").status_code == 200
