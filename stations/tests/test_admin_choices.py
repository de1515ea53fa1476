"""
Related-object choices in the admin follow the roles that may write (DESIGN.md §3): a user who is
a chef at one station and manages another may not pick the first station's chefs for anything
they write, whether through the form's choices, the autocomplete view or a hand-made POST.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from stations.models import Chef, Membership, Role, TimeOff
from testing.factories import TimeOffFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

AUTOCOMPLETE = "admin:autocomplete"


@pytest.fixture
def chef_here_manager_there(san_jose, sacramento):
    user = UserFactory()
    Membership.objects.create(user=user, station=san_jose, role=Role.CHEF)
    Membership.objects.create(user=user, station=sacramento, role=Role.MANAGER)
    return user


@pytest.fixture
def browser(client, chef_here_manager_there):
    client.force_login(chef_here_manager_there)
    return client


def _time_off(chef) -> dict:
    start = timezone.now().replace(microsecond=0) + timedelta(days=30)
    return {  # whole days in the chef's station time (stations.forms.TimeOffForm)
        "chef": chef.pk,
        "first_day": start.date().isoformat(),
        "last_day": (start + timedelta(days=1)).date().isoformat(),
        "reason": "holiday",
    }


def test_the_time_off_form_refuses_a_chef_of_a_station_where_the_user_is_only_a_chef(
    browser, san_jose, sacramento
):
    theirs = Chef.objects.filter(station=san_jose).first()
    mine = Chef.objects.filter(station=sacramento).first()

    refused = browser.post(reverse("admin:stations_timeoff_add"), _time_off(theirs))
    accepted = browser.post(reverse("admin:stations_timeoff_add"), _time_off(mine))

    assert refused.status_code == 200
    assert "chef" in refused.context["adminform"].form.errors
    assert not TimeOff.objects.filter(chef=theirs).exists()
    assert accepted.status_code == 302
    assert TimeOff.objects.filter(chef=mine).count() == 1


def test_the_chef_choices_offer_only_stations_the_user_may_write(browser, san_jose, sacramento):
    page = browser.get(reverse("admin:stations_timeoff_add"))

    offered = set(page.context["adminform"].form.fields["chef"].queryset)

    assert offered == set(Chef.objects.filter(station=sacramento))


def test_autocomplete_offers_only_chefs_the_user_may_write_for(browser, san_jose, sacramento):
    response = browser.get(
        reverse(AUTOCOMPLETE),
        {"app_label": "stations", "model_name": "timeoff", "field_name": "chef", "term": ""},
    )

    assert response.status_code == 200
    offered = {int(row["id"]) for row in response.json()["results"]}
    assert offered == set(Chef.objects.filter(station=sacramento).values_list("pk", flat=True))


def test_autocomplete_still_offers_own_chefs_to_a_manager(client, sj_manager, san_jose):
    client.force_login(sj_manager)
    response = client.get(
        reverse(AUTOCOMPLETE),
        {"app_label": "stations", "model_name": "timeoff", "field_name": "chef", "term": "Kenji"},
    )

    assert [row["text"] for row in response.json()["results"]] == ["Kenji Tanaka"]


def test_a_change_may_not_move_time_off_to_a_chef_the_user_may_not_write_for(
    browser, san_jose, sacramento
):
    mine = Chef.objects.filter(station=sacramento).first()
    theirs = Chef.objects.filter(station=san_jose).first()
    time_off = TimeOffFactory(chef=mine, starts_at=timezone.now() + timedelta(days=30))

    response = browser.post(
        reverse("admin:stations_timeoff_change", args=[time_off.pk]), _time_off(theirs)
    )

    assert response.status_code == 200
    assert "chef" in response.context["adminform"].form.errors
    time_off.refresh_from_db()
    assert time_off.chef == mine


def test_a_chef_only_user_may_not_add_time_off(client, sj_chef):
    client.force_login(sj_chef)

    assert client.get(reverse("admin:stations_timeoff_add")).status_code == 403
