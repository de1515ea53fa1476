"""Today's board: the admin's first page for staff (bookings.board, bookings.admin.board)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import board
from bookings.models import Booking
from bookings.scheduling import local_today
from stations.models import Chef
from testing.factories import make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

INDEX = reverse("admin:index")


def booked_for_today(station, *, start="17:00", **fields) -> Booking:
    """An event today at the station (booked five days ago, as the notice rule wants)."""
    return booked_for(station, 0, start=start, **fields)


def booked_for(station, days: int, **fields) -> Booking:
    """An event `days` after the station's local today, booked five days before today."""
    return make_booking(
        station,
        now=timezone.now() - timedelta(days=5),
        event_date=local_today(station) + timedelta(days=days),
        **fields,
    )


def days_left_in_week(station) -> int:
    return 6 - local_today(station).weekday()


@pytest.fixture
def manager(client, sj_manager):
    client.force_login(sj_manager)
    return client


def test_the_first_page_is_todays_board_with_what_the_crew_needs(manager, san_jose):
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    today = booked_for_today(
        san_jose,
        chef=kenji,
        adults=12,
        children=3,
        paid_cents=10_000,
        allergies="Shellfish allergy",
    )

    page = manager.get(INDEX)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Today at San Jose" in html
    assert reverse("admin:bookings_booking_change", args=[today.pk]) in html
    assert today.reference in html
    assert "Kenji Tanaka" in html
    assert "1 Main St, San Jose, CA" in html
    assert "<td>15 <span" in html  # guests: 12 adults + 3 children
    assert "Shellfish allergy" in html
    assert "Pending deposit" in html
    assert "$100.00" in html  # paid
    assert f"${(today.total_cents - 10_000) // 100:,}." in html  # balance, in dollars
    assert "5:00 PM" in html  # the station's local start, not UTC


def test_the_rest_of_the_week_is_listed_by_day_and_nothing_after_it(manager, san_jose):
    left = days_left_in_week(san_jose)
    later = booked_for(san_jose, left) if left else None
    next_week = booked_for(san_jose, left + 1, start="12:00")

    html = manager.get(INDEX).content.decode()

    if later is not None:
        assert later.reference in html
        assert later.event_date.strftime("%A, %B ") in html
    else:
        assert "Today is the last day of the week." in html
    assert next_week.reference not in html


def test_called_off_events_are_not_on_the_board(manager, san_jose):
    cancelled = booked_for_today(san_jose, status="cancelled")
    on = booked_for_today(san_jose, start="12:00")

    html = manager.get(INDEX).content.decode()

    assert on.reference in html
    assert cancelled.reference not in html


def test_another_stations_events_are_never_on_the_board(manager, san_jose, sacramento):
    theirs = booked_for_today(sacramento)
    theirs_hold = make_booking(sacramento)

    html = manager.get(INDEX).content.decode()
    assert "Today at San Jose" in html
    assert theirs.reference not in html
    assert theirs_hold.reference not in html
    assert 'name="station"' not in html  # one station: no picker

    foreign = manager.get(INDEX, {"station": sacramento.pk})
    assert foreign.status_code == 404
    assert theirs.reference not in foreign.content.decode()
    assert "Sacramento" not in foreign.content.decode()


def test_unpaid_holds_about_to_expire_soonest_first(manager, san_jose):
    later_hold = make_booking(san_jose, now=timezone.now() + timedelta(hours=2), days=12)
    soon_hold = make_booking(san_jose, days=11)
    far_hold = make_booking(san_jose, now=timezone.now() + timedelta(hours=30), days=13)
    paid = make_booking(san_jose, days=14, status="confirmed")

    html = manager.get(INDEX).content.decode()
    holds = html[html.index("Unpaid holds about to expire") :]

    assert soon_hold.reference in holds
    assert later_hold.reference in holds
    assert holds.index(soon_hold.reference) < holds.index(later_hold.reference)
    assert reverse("admin:bookings_booking_change", args=[soon_hold.pk]) in holds
    assert far_hold.reference not in holds
    assert paid.reference not in holds
    assert "$100.00" in holds  # the deposit asked for


def test_no_hold_expiring_says_so(manager, san_jose):
    html = manager.get(INDEX).content.decode()
    assert "No unpaid hold expires in the next 24 hours." in html
    assert "No events today." in html


def test_an_owner_of_two_stations_picks_one_and_it_is_remembered(
    client, owner, san_jose, sacramento
):
    sj_event = booked_for_today(san_jose)
    sac_event = booked_for_today(sacramento)
    client.force_login(owner)

    first = client.get(INDEX).content.decode()
    assert 'name="station"' in first
    assert "Sacramento</option>" in first
    assert "San Jose</option>" in first

    picked = client.get(INDEX, {"station": sacramento.pk}).content.decode()
    remembered = client.get(INDEX).content.decode()

    for html in (picked, remembered):
        assert "Today at Sacramento" in html
        assert sac_event.reference in html
        assert sj_event.reference not in html
    assert client.get(INDEX, {"station": "nonsense"}).status_code == 404
    assert "Today at Sacramento" in client.get(INDEX).content.decode()  # still remembered


def test_the_board_reads_in_the_stations_zone_at_the_turn_of_the_utc_day(
    client, superuser, san_jose
):
    """At 9:30 p.m. in San Jose it is already tomorrow in UTC: "today" is still San Jose's."""
    zone = ZoneInfo(san_jose.timezone)
    evening = datetime.combine(local_today(san_jose) + timedelta(days=3), datetime.min.time())
    evening = evening.replace(hour=21, minute=30, tzinfo=zone)
    with time_machine.travel(evening - timedelta(days=5), tick=False):
        tonight = make_booking(san_jose, days=5, start="19:00")
        tomorrow = make_booking(san_jose, days=6, start="19:00")
    client.force_login(superuser)  # no membership: the board still reads in the station's zone
    with time_machine.travel(evening, tick=False):
        assert timezone.now().astimezone(ZoneInfo("UTC")).date() > evening.date()
        html = client.get(INDEX, {"station": san_jose.pk}).content.decode()

    today_part = html[: html.index("Rest of this week")]
    assert tonight.reference in today_part
    assert tomorrow.reference not in today_part
    assert "7:00 PM" in today_part


def test_the_board_costs_the_same_queries_for_1_and_many_events(manager, san_jose):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager.get(INDEX).status_code == 200
        return len(queries)

    booked_for_today(san_jose)
    make_booking(san_jose, days=11)
    count()  # the first visit also stores the station picked in the session
    one = count()
    for start in ["12:00", "15:00", "18:00", "19:30"]:
        booked_for_today(san_jose, start=start)
    for n in range(6):
        make_booking(san_jose, days=12 + n)
    assert count() == one


def test_djangos_app_list_and_every_admin_page_stay_reachable(manager, san_jose):
    html = manager.get(INDEX).content.decode()

    assert 'id="all-sections"' in html
    assert reverse("admin:bookings_booking_changelist") in html
    assert reverse("admin:bookings_customer_changelist") in html
    for name in ("admin:bookings_booking_changelist", "admin:bookings_booking_calendar"):
        assert manager.get(reverse(name)).status_code == 200
    assert manager.get(reverse("admin:app_list", args=["bookings"])).status_code == 200


def test_a_superuser_gets_the_board_of_any_station(client, superuser, sacramento):
    event = booked_for_today(sacramento)
    client.force_login(superuser)

    html = client.get(INDEX, {"station": sacramento.pk}).content.decode()

    assert event.reference in html


def test_a_user_with_no_station_gets_djangos_index(client, db):
    from testing.factories import UserFactory

    nobody = UserFactory(is_staff=True)
    client.force_login(nobody)

    response = client.get(INDEX)

    assert response.status_code == 200
    assert 'id="board"' not in response.content.decode()


def test_the_board_selector_is_scoped_to_the_user(sj_manager, san_jose, sacramento):
    mine = booked_for_today(san_jose)
    booked_for_today(sacramento)

    assert [b.pk for b in board.station_board(sj_manager, san_jose).today_bookings] == [mine.pk]
    assert board.station_board(sj_manager, sacramento).today_bookings == []
    assert board.board_stations(sj_manager) == [san_jose]
