"""
Availability (bookings.scheduling) and GET /api/v1/stations/{slug}/availability/.

San Jose's defaults: starts 11:00-20:00 every 30 minutes, 120 minutes up to 15 guests (150 up
to 30, 180 up to 60), 60 minutes of buffer before and after, 48 hours' notice, 180 days ahead,
2 events per chef per day, 3 chefs. Direct calls pass a fixed `now`; API calls use dates far
enough ahead of the real clock.
"""

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings import scheduling, services
from bookings.models import BookingStatus
from config.exceptions import ApiError
from stations.models import Chef, TimeOff
from testing.factories import make_booking

pytestmark = pytest.mark.date_sensitive

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2027, 3, 1, 20, 0, tzinfo=UTC)  # 12:00 PST, Monday 2027-03-01
DAY = date(2027, 3, 10)  # a Wednesday, far from any DST change
SPRING = date(2027, 3, 14)  # 02:00 PST -> 03:00 PDT
FALL = date(2027, 11, 7)  # 02:00 PDT -> 01:00 PST
NOW_FALL = datetime(2027, 10, 25, 19, 0, tzinfo=UTC)


def t(text: str) -> time:
    return time.fromisoformat(text)


# Bookings on the module's clock (NOW), unless a test gives its own.
book = functools.partial(make_booking, now=NOW)


def slots_of(station, start, end=None, *, guests=10, now=NOW):
    return scheduling.availability(
        station=station, start=start, end=end or start, guests=guests, now=now
    )


def by_start(slots) -> dict[str, int]:
    return {f"{s.start:%H:%M}": s.chefs_available for s in slots}


def by_start_full(slots) -> dict:
    return {f"{s.start:%H:%M}": s for s in slots}


def every_half_hour(first: str, last: str) -> list[str]:
    out, at = [], datetime.combine(DAY, t(first))
    while at.time() <= t(last):
        out.append(f"{at:%H:%M}")
        at += timedelta(minutes=30)
    return out


def night_window(station):
    station.earliest_start, station.latest_start = time(0, 0), time(4, 0)
    station.slot_interval_minutes = 30
    station.save()


def _local(d: date, hh_mm: str) -> datetime:
    return datetime.combine(d, t(hh_mm), tzinfo=LA)


# --- The API ---------------------------------------------------------------------------------


def _get(client, slug="san-jose", **params):
    return client.get(f"/api/v1/stations/{slug}/availability/", params)


def _assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    if field:
        assert field in body["fields"], body


def test_api_shape_and_slots(api_client, san_jose):
    day = scheduling.local_today(san_jose) + timedelta(days=20)
    r = _get(api_client, start=day.isoformat(), end=day.isoformat(), guests=10)

    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"station", "timezone", "slots"}
    assert body["station"] == "san-jose"
    assert body["timezone"] == "America/Los_Angeles"
    assert [s["start"] for s in body["slots"]] == every_half_hour("11:00", "20:00")
    for slot in body["slots"]:
        assert set(slot) == {"date", "start", "end", "chefs_available"}
        assert slot["date"] == day.isoformat()
        assert slot["chefs_available"] == 3
        start = datetime.combine(day, t(slot["start"]), tzinfo=LA)
        end = (start.astimezone(UTC) + timedelta(minutes=120)).astimezone(LA)
        assert slot["end"] == f"{end:%H:%M}"
    assert body["slots"][0]["end"] == "13:00"
    assert body["slots"][-1]["end"] == "22:00"


@pytest.mark.parametrize(
    ("guests", "first_end", "last_end"),
    [(1, "13:00", "22:00"), (15, "13:00", "22:00"), (16, "13:30", "22:30"), (40, "14:00", "23:00")],
)
def test_api_guests_change_the_event_length(api_client, san_jose, guests, first_end, last_end):
    day = scheduling.local_today(san_jose) + timedelta(days=21)
    r = _get(api_client, start=day.isoformat(), end=day.isoformat(), guests=guests)
    assert r.status_code == 200, r.content
    slots = r.json()["slots"]
    assert (slots[0]["start"], slots[0]["end"]) == ("11:00", first_end)
    assert (slots[-1]["start"], slots[-1]["end"]) == ("20:00", last_end)


def test_api_range_of_62_days_is_allowed_63_is_not(api_client, san_jose):
    start = scheduling.local_today(san_jose) + timedelta(days=10)
    r = _get(api_client, start=start.isoformat(), end=(start + timedelta(days=61)).isoformat())
    assert r.status_code == 200, r.content
    dates = {s["date"] for s in r.json()["slots"]}
    assert len(dates) == 62

    r = _get(api_client, start=start.isoformat(), end=(start + timedelta(days=62)).isoformat())
    _assert_error(r, 400, "validation_error", "end")


def test_api_end_before_start_is_400(api_client, san_jose):
    start = scheduling.local_today(san_jose) + timedelta(days=10)
    r = _get(api_client, start=start.isoformat(), end=(start - timedelta(days=1)).isoformat())
    _assert_error(r, 400, "validation_error", "end")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end": "2027-01-10"}, "start"),
        ({"start": "2027-01-10"}, "end"),
        ({"start": "2027-02-30", "end": "2027-03-01"}, "start"),
        ({"start": "2027-01-10", "end": "soon"}, "end"),
        ({"start": "2027-01-10", "end": "2027-01-10", "guests": 0}, "guests"),
        ({"start": "2027-01-10", "end": "2027-01-10", "guests": "ten"}, "guests"),
    ],
)
def test_api_bad_query_is_400(api_client, san_jose, params, field):
    _assert_error(_get(api_client, **params), 400, "validation_error", field)


def test_api_unknown_or_inactive_station_is_404(api_client, san_jose):
    day = (scheduling.local_today(san_jose) + timedelta(days=10)).isoformat()
    _assert_error(_get(api_client, slug="atlantis", start=day, end=day), 404, "not_found")
    san_jose.active = False
    san_jose.save()
    _assert_error(_get(api_client, start=day, end=day), 404, "not_found")


def test_api_reflects_a_booking(api_client, san_jose):
    day = scheduling.local_today(san_jose) + timedelta(days=30)
    book(san_jose, event_date=day, start="16:00", now=None)
    r = _get(api_client, start=day.isoformat(), end=day.isoformat(), guests=10)
    counts = {s["start"]: s["chefs_available"] for s in r.json()["slots"]}
    assert counts["12:00"] == 3
    assert counts["12:30"] == 2
    assert counts["19:30"] == 2
    assert counts["20:00"] == 3


def test_api_first_date_ever_answers_no_slots_not_a_500(api_client, san_jose):
    api_client.raise_request_exception = False
    r = _get(api_client, start="0001-01-01", end="0001-01-02")
    assert r.status_code == 200, r.content
    assert r.json() == {"station": "san-jose", "timezone": "America/Los_Angeles", "slots": []}


def test_last_date_ever_is_refused_not_crashed(api_client, san_jose):
    with pytest.raises(ApiError) as err:
        services.validate_start(
            station=san_jose,
            event_date=date(9999, 12, 31),
            start_time=time(20, 0),
            guests=10,
            now=NOW,
        )
    assert err.value.status_code == 400
    assert "event_date" in err.value.fields


# --- Window, notice, horizon ------------------------------------------------------------------


def test_slots_every_interval_within_the_start_window(san_jose):
    san_jose.earliest_start, san_jose.latest_start = time(10, 0), time(18, 0)
    san_jose.slot_interval_minutes = 45
    san_jose.save()
    starts = [f"{s.start:%H:%M}" for s in slots_of(san_jose, DAY)]
    assert starts == [
        "10:00",
        "10:45",
        "11:30",
        "12:15",
        "13:00",
        "13:45",
        "14:30",
        "15:15",
        "16:00",
        "16:45",
        "17:30",
    ]


def test_minimum_notice(san_jose):
    # NOW is 12:00 PST on 03-01; 48 hours' notice: nothing before 12:00 on 03-03.
    slots = slots_of(san_jose, date(2027, 3, 1), date(2027, 3, 4))
    earliest = NOW + timedelta(hours=48)
    assert slots
    for slot in slots:
        assert datetime.combine(slot.date, slot.start, tzinfo=LA) >= earliest
    days = {s.date for s in slots}
    assert date(2027, 3, 1) not in days
    assert date(2027, 3, 2) not in days
    on_3rd = [f"{s.start:%H:%M}" for s in slots if s.date == date(2027, 3, 3)]
    assert on_3rd == every_half_hour("12:00", "20:00")
    on_4th = [f"{s.start:%H:%M}" for s in slots if s.date == date(2027, 3, 4)]
    assert on_4th == every_half_hour("11:00", "20:00")


def test_minimum_notice_is_a_station_setting(san_jose):
    san_jose.min_notice_hours = 0
    san_jose.save()
    slots = slots_of(san_jose, date(2027, 3, 1))
    assert [f"{s.start:%H:%M}" for s in slots] == every_half_hour("12:00", "20:00")


def test_booking_horizon(san_jose):
    san_jose.booking_horizon_days = 5
    san_jose.save()
    slots = slots_of(san_jose, date(2027, 3, 1), date(2027, 3, 20))
    # 48 hours' notice from Monday noon, 5 days ahead at most
    assert sorted({s.date for s in slots}) == [date(2027, 3, day) for day in (3, 4, 5, 6)]
    assert slots_of(san_jose, date(2027, 3, 7), date(2027, 3, 20)) == []


# --- Chefs, bookings, buffers ------------------------------------------------------------------


def test_booking_takes_its_chef_for_event_plus_buffers(san_jose):
    book(san_jose, event_date=DAY, start="16:00")  # 120 min: event 16:00-18:00, blocked 15:00-19:00
    counts = by_start(slots_of(san_jose, DAY))
    # a 10-guest slot at S blocks [S-60, S+180); it overlaps [15:00, 19:00) for 12:00 < S < 20:00
    for at in every_half_hour("11:00", "20:00"):
        expected = 2 if t("12:00") < t(at) < t("20:00") else 3
        assert counts[at] == expected, at


def test_a_longer_party_needs_a_longer_gap(san_jose):
    book(san_jose, event_date=DAY, start="16:00")
    # 40 guests: 180 minutes, so a 12:00 start blocks [11:00, 16:00) and overlaps [15:00, 19:00)
    counts = by_start(slots_of(san_jose, DAY, guests=40))
    assert counts["11:00"] == 3
    assert counts["11:30"] == 2
    assert counts["12:00"] == 2
    assert counts["19:30"] == 2
    assert counts["20:00"] == 3  # its blocked range starts at 19:00, where the booking's ends


def test_the_buffer_is_a_station_setting(san_jose):
    san_jose.buffer_minutes = 0
    san_jose.save()
    book(san_jose, event_date=DAY, start="16:00")  # blocks 16:00-18:00 only
    counts = by_start(slots_of(san_jose, DAY))
    assert counts["14:00"] == 3  # ends at 16:00 exactly
    assert counts["14:30"] == 2
    assert counts["17:30"] == 2
    assert counts["18:00"] == 3  # starts at 18:00 exactly


def test_a_fully_booked_slot_is_not_offered(san_jose):
    for _ in range(3):
        book(san_jose, event_date=DAY, start="16:00")
    counts = by_start(slots_of(san_jose, DAY))
    assert "16:00" not in counts
    assert "12:30" not in counts
    assert counts["12:00"] == 3
    assert counts["20:00"] == 3
    with pytest.raises(ApiError) as err:
        book(san_jose, event_date=DAY, start="17:00")
    assert err.value.status_code == 409
    assert err.value.error_code == "slot_unavailable"


def test_time_off_removes_the_chef(san_jose):
    chef = Chef.objects.filter(station=san_jose).first()
    TimeOff.objects.create(
        chef=chef, starts_at=_local(DAY, "15:00"), ends_at=_local(DAY, "16:00"), reason="dentist"
    )
    counts = by_start(slots_of(san_jose, DAY))
    for at in every_half_hour("11:00", "20:00"):
        expected = 2 if t("12:00") < t(at) < t("17:00") else 3
        assert counts[at] == expected, at

    next_day = DAY + timedelta(days=1)
    TimeOff.objects.create(
        chef=chef,
        starts_at=_local(next_day, "00:00"),
        ends_at=_local(next_day + timedelta(days=1), "00:00"),
    )
    assert set(by_start(slots_of(san_jose, DAY + timedelta(days=1))).values()) == {2}


def test_inactive_chef_is_not_counted(san_jose):
    Chef.objects.filter(station=san_jose, name="David Kim").update(active=False)
    assert set(by_start(slots_of(san_jose, DAY)).values()) == {2}
    Chef.objects.filter(station=san_jose).update(active=False)
    assert slots_of(san_jose, DAY) == []


def test_other_stations_chefs_and_bookings_do_not_count(san_jose, sacramento):
    book(sacramento, event_date=DAY, start="16:00")
    Chef.objects.filter(station=sacramento).update(active=False)
    assert set(by_start(slots_of(san_jose, DAY)).values()) == {3}


def test_daily_cap_per_chef(san_jose):
    san_jose.max_events_per_chef_per_day = 1
    san_jose.save()
    book(san_jose, event_date=DAY, start="11:00")
    # the chef of the 11:00 event is gone for the whole day, even far from it
    assert set(by_start(slots_of(san_jose, DAY)).values()) == {2}
    # ... and only that day
    assert set(by_start(slots_of(san_jose, DAY + timedelta(days=1))).values()) == {3}


@pytest.mark.django_db(transaction=True)  # availability is invalidated on commit
def test_default_daily_cap_of_two(san_jose):
    assert san_jose.max_events_per_chef_per_day == 2
    chef = Chef.objects.filter(station=san_jose).order_by("pk").first()
    others = Chef.objects.filter(station=san_jose).exclude(pk=chef.pk)
    others.update(active=False)
    book(san_jose, event_date=DAY, start="11:00")
    assert by_start(slots_of(san_jose, DAY))["17:00"] == 1  # a second event fits
    book(san_jose, event_date=DAY, start="15:00")
    assert slots_of(san_jose, DAY) == []  # after two, the chef is done for the day


@pytest.mark.django_db(transaction=True)  # availability is invalidated on commit
@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.EXPIRED])
def test_cancelled_or_expired_booking_frees_the_chef(san_jose, status):
    booking = book(san_jose, event_date=DAY, start="16:00")
    assert by_start(slots_of(san_jose, DAY))["16:00"] == 2
    services.booking_transition(booking=booking, to_status=status, actor=services.SYSTEM, now=NOW)
    assert set(by_start(slots_of(san_jose, DAY)).values()) == {3}
    book(san_jose, event_date=DAY, start="16:00")  # and the time can be booked again


def test_confirmed_booking_still_holds_the_chef(san_jose):
    booking = book(san_jose, event_date=DAY, start="16:00")
    services.booking_transition(
        booking=booking, to_status=BookingStatus.CONFIRMED, actor=services.SYSTEM, now=NOW
    )
    assert by_start(slots_of(san_jose, DAY))["16:00"] == 2


def test_booking_late_the_day_before_blocks_the_early_morning(san_jose):
    san_jose.earliest_start, san_jose.latest_start = time(0, 0), time(23, 30)
    san_jose.save()
    keep = Chef.objects.filter(station=san_jose).order_by("pk").first()
    Chef.objects.filter(station=san_jose).exclude(pk=keep.pk).update(active=False)
    book(san_jose, event_date=DAY, start="23:30")  # event to 01:30 next day, blocked 22:30 to 02:30
    counts = by_start(slots_of(san_jose, DAY + timedelta(days=1)))
    assert "03:00" not in counts  # blocks [02:00, 06:00): overlaps
    assert counts["03:30"] == 1  # blocks [02:30, 06:30): free


# --- Daylight saving (America/Los_Angeles) ------------------------------------------------------


def test_spring_forward_gap_is_not_offered(san_jose):
    night_window(san_jose)
    starts = [f"{s.start:%H:%M}" for s in slots_of(san_jose, SPRING)]
    assert starts == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30", "04:00"]
    before = [f"{s.start:%H:%M}" for s in slots_of(san_jose, SPRING - timedelta(days=1))]
    assert before == every_half_hour("00:00", "04:00")


def test_spring_forward_gap_cannot_be_booked(san_jose):
    night_window(san_jose)
    with pytest.raises(ApiError) as err:
        book(san_jose, event_date=SPRING, start="02:30")
    assert err.value.status_code == 400
    assert "start_time" in err.value.fields


def test_fall_back_repeated_hour_is_offered_once(san_jose):
    night_window(san_jose)
    slots = slots_of(san_jose, FALL, now=NOW_FALL)
    starts = [f"{s.start:%H:%M}" for s in slots]
    assert starts == every_half_hour("00:00", "04:00")  # 01:00 and 01:30 once each
    assert len(starts) == len(set(starts)) == 9


@pytest.mark.parametrize(
    ("day", "now"),
    [
        (SPRING - timedelta(days=1), NOW),
        (SPRING, NOW),
        (SPRING + timedelta(days=1), NOW),
        (FALL - timedelta(days=1), NOW_FALL),
        (FALL, NOW_FALL),
        (FALL + timedelta(days=1), NOW_FALL),
    ],
)
def test_evening_event_on_dst_days_is_two_hours(san_jose, day, now):
    slot = by_start_full(slots_of(san_jose, day, now=now))["18:00"]
    assert f"{slot.end:%H:%M}" == "20:00"


@pytest.mark.parametrize(
    ("day", "now", "expected"),
    [
        # 00:00 PST + 2 h = 03:00 PDT; 01:00 PST + 2 h = 04:00 PDT
        (SPRING, NOW, {"00:00": "03:00", "00:30": "03:30", "01:00": "04:00", "01:30": "04:30"}),
        # 00:00 PDT + 2 h = 01:00 PST; 01:00 PDT + 2 h = 02:00 PST
        (FALL, NOW_FALL, {"00:00": "01:00", "00:30": "01:30", "01:00": "02:00", "01:30": "02:30"}),
    ],
)
def test_night_event_across_dst_change_lasts_real_elapsed_time(san_jose, day, now, expected):
    night_window(san_jose)
    slots = by_start_full(slots_of(san_jose, day, now=now))
    assert {at: f"{slots[at].end:%H:%M}" for at in expected} == expected


@pytest.mark.parametrize(
    ("day", "now", "starts_utc"),
    [
        (date(2027, 3, 13), NOW, datetime(2027, 3, 14, 2, 0, tzinfo=UTC)),  # PST, UTC-8
        (SPRING, NOW, datetime(2027, 3, 15, 1, 0, tzinfo=UTC)),  # PDT, UTC-7
        (date(2027, 3, 15), NOW, datetime(2027, 3, 16, 1, 0, tzinfo=UTC)),
        (date(2027, 11, 6), NOW_FALL, datetime(2027, 11, 7, 1, 0, tzinfo=UTC)),  # PDT
        (FALL, NOW_FALL, datetime(2027, 11, 8, 2, 0, tzinfo=UTC)),  # PST
    ],
)
def test_booking_instants_in_utc_across_dst(san_jose, day, now, starts_utc):
    booking = book(san_jose, event_date=day, start="18:00", now=now)
    booking.refresh_from_db()
    assert booking.starts_at == starts_utc
    assert booking.ends_at == starts_utc + timedelta(minutes=120)
    assert booking.blocked.lower == starts_utc - timedelta(minutes=60)
    assert booking.blocked.upper == starts_utc + timedelta(minutes=180)
    assert booking.event_date == day
    assert booking.start_time == time(18, 0)


@pytest.mark.parametrize(("day", "now"), [(SPRING, NOW), (FALL, NOW_FALL)])
def test_booking_across_dst_change_lasts_its_duration(san_jose, day, now):
    night_window(san_jose)
    booking = book(san_jose, event_date=day, start="01:00", now=now)
    booking.refresh_from_db()
    assert booking.ends_at - booking.starts_at == timedelta(minutes=120)
    assert booking.blocked.upper - booking.blocked.lower == timedelta(minutes=240)


def test_chef_is_not_double_booked_across_spring_forward(san_jose):
    night_window(san_jose)
    san_jose.buffer_minutes = 0
    san_jose.save()
    keep = Chef.objects.filter(station=san_jose).order_by("pk").first()
    Chef.objects.filter(station=san_jose).exclude(pk=keep.pk).update(active=False)
    # 01:00 PST is 09:00Z, two hours: the chef is busy until 11:00Z
    book(san_jose, event_date=SPRING, start="01:00")
    with pytest.raises(ApiError) as err:
        # 03:00 PDT is 10:00Z: inside the first event
        book(san_jose, event_date=SPRING, start="03:00")
    assert err.value.error_code == "slot_unavailable"


# --- Query count ---------------------------------------------------------------------------------


def _busy_calendar(station):
    chefs = list(Chef.objects.filter(station=station).order_by("pk"))
    for offset in range(0, 60, 4):
        day = DAY + timedelta(days=offset)
        book(station, event_date=day, start="12:00")
        book(station, event_date=day, start="18:00")
    for offset in range(2, 60, 7):
        day = DAY + timedelta(days=offset)
        TimeOff.objects.create(
            chef=chefs[offset % 3], starts_at=_local(day, "09:00"), ends_at=_local(day, "21:00")
        )


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_the_range(san_jose):
    _busy_calendar(san_jose)
    one = _queries(lambda: slots_of(san_jose, DAY))
    many = _queries(lambda: slots_of(san_jose, DAY, DAY + timedelta(days=61)))
    assert one == many
    assert many <= 6


def test_api_query_count_does_not_grow_with_the_range(
    api_client, san_jose, django_assert_max_num_queries
):
    start = scheduling.local_today(san_jose) + timedelta(days=5)
    for offset in range(0, 60, 5):
        book(san_jose, event_date=start + timedelta(days=offset), start="17:00", now=None)
    chef = Chef.objects.filter(station=san_jose).first()
    TimeOff.objects.create(
        chef=chef,
        starts_at=_local(start + timedelta(days=3), "00:00"),
        ends_at=_local(start + timedelta(days=4), "00:00"),
    )

    def fetch(days):
        end = start + timedelta(days=days - 1)
        r = _get(api_client, start=start.isoformat(), end=end.isoformat())
        assert r.status_code == 200, r.content
        return r

    one = _queries(lambda: fetch(1))
    many = _queries(lambda: fetch(62))
    assert one == many
    with django_assert_max_num_queries(6):
        r = fetch(62)
    assert len({s["date"] for s in r.json()["slots"]}) == 62
