"""The chef's week (bookings.admin.agenda): a chef's own events, the map, the phone, the
allergies, the feed's Subscribe links, and nothing about money."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking
from bookings.scheduling import local_today
from stations.models import Chef
from testing.factories import CustomerFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

INDEX = reverse("admin:index")
AGENDA = reverse("admin:chef_agenda")
SHELLFISH = "Shellfish allergy"


def kenji(station) -> Chef:
    return Chef.objects.get(station=station, name="Kenji Tanaka")


def chef_event(station, chef, *, days=2, start="17:00", **fields) -> Booking:
    """An event of `chef` `days` after the station's local today (booked five days ago)."""
    return make_booking(
        station,
        now=timezone.now() - timedelta(days=5),
        event_date=local_today(station) + timedelta(days=days),
        start=start,
        chef=chef,
        **fields,
    )


@pytest.fixture
def chef_client(client, sj_chef):
    client.force_login(sj_chef)
    return client


def test_a_chef_lands_on_their_week(chef_client, san_jose):
    booking = chef_event(san_jose, kenji(san_jose), allergies=SHELLFISH)

    for url in (INDEX, AGENDA):
        response = chef_client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Kenji Tanaka · San Jose" in html
        assert booking.reference in html
        assert SHELLFISH in html
        assert 'id="board"' not in html


def test_the_week_shows_what_the_chef_needs(chef_client, san_jose):
    customer = CustomerFactory(station=san_jose, name="Rosa Diaz", phone="+14085550177")
    booking = chef_event(
        san_jose,
        kenji(san_jose),
        allergies=SHELLFISH,
        customer=customer,
        notes="Gate code 4321; park on the left",
        adults=8,
        children=2,
    )

    html = chef_client.get(AGENDA).content.decode()

    assert SHELLFISH in html
    assert 'class="allergy-box"' in html
    assert "Rosa Diaz" in html
    assert 'href="tel:+14085550177"' in html
    assert "Gate code 4321; park on the left" in html
    assert "8 adults, 2 children" in html
    assert "10 guests" in html
    assert "5:00 PM" in html  # station time
    assert booking.event_date.strftime("%A, %B ") in html
    address = "1 Main St, San Jose, CA 95110"
    assert address in html
    maps = "https://www.google.com/maps/search/?api=1&amp;query=" + quote(address, safe="")
    assert maps in html
    assert "1%20Main%20St%2C%20San%20Jose%2C%20CA%2095110" in html


def test_a_chef_sees_only_their_own_events(chef_client, san_jose, sacramento, sac_chef):
    mine = chef_event(san_jose, kenji(san_jose))
    colleague = chef_event(san_jose, Chef.objects.get(station=san_jose, name="Maria Lopez"))
    other_station = chef_event(sacramento, Chef.objects.get(station=sacramento, name="Hiro Sato"))

    html = chef_client.get(AGENDA).content.decode()

    assert mine.reference in html
    assert colleague.reference not in html
    assert other_station.reference not in html


def test_a_chef_row_at_a_station_they_left_shows_nothing(chef_client, sj_chef, san_jose):
    """The chef row is not enough: the tenancy rule (a membership) decides what they see."""
    booking = chef_event(san_jose, kenji(san_jose))
    sj_chef.memberships.all().delete()

    response = chef_client.get(AGENDA)

    assert response.status_code == 200
    assert booking.reference not in response.content.decode()


def test_nothing_about_money_the_ledger_or_actions(chef_client, san_jose):
    chef_event(san_jose, kenji(san_jose), allergies=SHELLFISH, paid_cents=10_000)

    for response in (chef_client.get(AGENDA), chef_client.get(INDEX)):
        html = response.content.decode()
        assert response.status_code == 200
        assert "$" not in html
        assert "Payments" not in html
        assert "Stripe" not in html
        assert "/admin/payments/" not in html
        assert 'name="action"' not in html
        assert "_selected_action" not in html


def test_the_subscribe_links_use_the_sites_public_address(chef_client, san_jose, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8123"
    token = kenji(san_jose).calendar_token
    webcal = f"webcal://127.0.0.1:8123/feeds/chefs/{token}.ics"

    html = chef_client.get(AGENDA).content.decode()

    assert f'href="{webcal}"' in html
    google = "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
    assert f'href="{google}"' in html
    assert "webcal%3A%2F%2F127.0.0.1%3A8123%2Ffeeds%2Fchefs%2F" in html
    assert f"http://127.0.0.1:8123/feeds/chefs/{token}.ics" in html
    assert chef_client.get(f"/feeds/chefs/{token}.ics").status_code == 200


def test_next_week_is_a_link_away(chef_client, san_jose):
    this_week = chef_event(san_jose, kenji(san_jose), days=3)
    next_week = chef_event(san_jose, kenji(san_jose), days=9)
    today = local_today(san_jose)

    html = chef_client.get(AGENDA).content.decode()
    assert this_week.reference in html
    assert next_week.reference not in html
    link = re.search(r'href="\?from=([0-9-]+)">Next week', html).group(1)
    assert link == (today + timedelta(days=7)).isoformat()

    later = chef_client.get(AGENDA, {"from": link}).content.decode()
    assert next_week.reference in later
    assert this_week.reference not in later
    assert "&larr; Earlier" in later


@pytest.mark.parametrize("value", ["nonsense", "2020-01-01", "9999-12-31", ""])
def test_a_bad_or_past_week_shows_this_week(chef_client, san_jose, value):
    booking = chef_event(san_jose, kenji(san_jose), days=1)
    response = chef_client.get(AGENDA, {"from": value})
    assert response.status_code == 200
    if value != "9999-12-31":
        assert booking.reference in response.content.decode()


def test_staff_without_a_chef_row_get_a_clear_message(client, sj_manager, superuser):
    for user in (sj_manager, superuser):
        client.force_login(user)
        response = client.get(AGENDA)
        assert response.status_code == 200
        assert "Your login is not linked to a chef" in response.content.decode()


def test_a_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get(AGENDA)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_chef_who_is_also_staff_gets_the_board_and_their_week(client, sj_chef, san_jose):
    sj_chef.memberships.update(role="agent")
    client.force_login(sj_chef)

    board = client.get(INDEX)
    assert board.status_code == 200  # the board, no redirect
    assert f'href="{AGENDA}">My week' in board.content.decode()
    assert "Kenji Tanaka · San Jose" in client.get(AGENDA).content.decode()


def test_the_week_costs_the_same_queries_for_1_and_many_events(chef_client, san_jose):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert chef_client.get(AGENDA).status_code == 200
        return len(queries)

    chef_event(san_jose, kenji(san_jose), days=1)
    one = count()
    for day in range(2, 7):
        chef_event(san_jose, kenji(san_jose), days=day, allergies="Peanuts")
    assert count() == one


def test_a_chef_has_no_bulk_actions_on_the_bookings_list(chef_client, san_jose):
    chef_event(san_jose, kenji(san_jose))

    page = chef_client.get(reverse("admin:bookings_booking_changelist"))

    assert page.status_code == 200
    assert 'name="action"' not in page.content.decode()
