"""
Booking reminders (bookings.reminders) and the periodic tasks (bookings.tasks).

The booking under test is on Saturday 2027-03-20 at 18:00 in San Jose (PDT), which is
2027-03-21 01:00Z. Quiet hours are 21:00-09:00 station time (PDT = UTC-7 that week).
"""

import functools
import logging
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection

from bookings import notifications, reminders, services, tasks
from bookings.models import Booking, BookingEvent, BookingStatus, Notification
from config.exceptions import ApiError
from stations.models import Chef
from testing.factories import CustomerFactory, make_booking

pytestmark = pytest.mark.date_sensitive

CREATED = datetime(2027, 3, 1, 20, 0, tzinfo=UTC)
EVENT_DAY = date(2027, 3, 20)
STARTS = datetime(2027, 3, 21, 1, 0, tzinfo=UTC)
PHONE = "+14085550142"

BEFORE_72H = datetime(2027, 3, 18, 0, 0, tzinfo=UTC)  # 73 h before; 17:00 PDT
IN_72H = datetime(2027, 3, 18, 2, 0, tzinfo=UTC)  # 71 h before; 19:00 PDT (02:00 UTC)
IN_24H = datetime(2027, 3, 20, 2, 0, tzinfo=UTC)  # 23 h before; 19:00 PDT


# The booking under test: confirmed, for Saturday 2027-03-20 at 18:00 in San Jose, 12 adults,
# booked on CREATED by a customer who gets e-mail.
saturday_party = functools.partial(
    make_booking,
    event_date=EVENT_DAY,
    start=time(18, 0),
    adults=12,
    now=CREATED,
    status=BookingStatus.CONFIRMED,
)


def kinds(booking) -> list[str]:
    """The kinds of reminder sent about the booking."""
    sent = Notification.objects.filter(booking=booking, status="sent").exclude(reminder_kind="")
    return sorted(sent.values_list("reminder_kind", flat=True))


def reminder(booking) -> Notification:
    return Notification.objects.exclude(reminder_kind="").get(booking=booking)


@pytest.fixture
def due(django_capture_on_commit_callbacks):
    """due(now=...) → reminders_send_due, and what it queued on commit run (the
    notifications queue; Celery is eager in tests), as a worker would right after."""

    def run(*, now):
        with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
            return reminders.reminders_send_due(now=now)

    return run


# --- When ------------------------------------------------------------------------------------


def test_nothing_is_due_more_than_72_hours_ahead(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose)
    assert booking.starts_at == STARTS
    assert due(now=BEFORE_72H) == 0
    assert due(now=STARTS - timedelta(hours=72, seconds=1)) == 0
    assert mailoutbox == []
    assert kinds(booking) == []


def test_72h_then_24h_reminder_each_once(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose)

    assert due(now=IN_72H) == 1
    assert due(now=IN_72H) == 0
    assert due(now=IN_72H + timedelta(hours=1)) == 0
    assert kinds(booking) == ["72h"]
    assert len(mailoutbox) == 1

    assert due(now=IN_24H) == 1
    assert due(now=IN_24H) == 0
    assert due(now=IN_24H + timedelta(hours=1)) == 0
    assert kinds(booking) == ["24h", "72h"]
    assert len(mailoutbox) == 2


def test_only_the_24h_reminder_once_inside_a_day(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose)
    assert due(now=IN_24H) == 1
    assert kinds(booking) == ["24h"]  # the 72-hour one is not sent late
    assert due(now=IN_24H + timedelta(hours=2)) == 0


def test_no_reminder_after_the_start(due, san_jose, mailoutbox):
    saturday_party(san_jose)
    assert due(now=STARTS) == 0
    assert due(now=STARTS + timedelta(hours=1)) == 0
    assert mailoutbox == []


# --- Quiet hours, in the station's local time -------------------------------------------------


@pytest.mark.parametrize(
    ("now", "sent"),
    [
        (datetime(2027, 3, 18, 2, 0, tzinfo=UTC), 1),  # 19:00 PDT (02:00 UTC, "night" in UTC)
        (datetime(2027, 3, 18, 3, 59, tzinfo=UTC), 1),  # 20:59 PDT
        (datetime(2027, 3, 18, 4, 0, tzinfo=UTC), 0),  # 21:00 PDT: quiet hours begin
        (datetime(2027, 3, 18, 10, 0, tzinfo=UTC), 0),  # 03:00 PDT
        (datetime(2027, 3, 18, 15, 0, tzinfo=UTC), 0),  # 08:00 PDT (15:00 UTC, "day" in UTC)
        (datetime(2027, 3, 18, 15, 59, tzinfo=UTC), 0),  # 08:59 PDT
        (datetime(2027, 3, 18, 16, 0, tzinfo=UTC), 1),  # 09:00 PDT: quiet hours are over
    ],
)
def test_never_inside_quiet_hours(due, san_jose, mailoutbox, now, sent):
    booking = saturday_party(san_jose)
    assert due(now=now) == sent
    assert len(mailoutbox) == sent
    assert len(kinds(booking)) == sent


def test_quiet_reminder_goes_out_when_quiet_hours_end(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose)
    assert due(now=datetime(2027, 3, 18, 6, 0, tzinfo=UTC)) == 0
    assert due(now=datetime(2027, 3, 18, 16, 15, tzinfo=UTC)) == 1
    assert kinds(booking) == ["72h"]


def test_quiet_hours_are_each_stations_own_local_time(due, san_jose, sacramento, mailoutbox):
    sacramento.timezone = "America/New_York"
    sacramento.save()
    west = saturday_party(san_jose)
    east = saturday_party(sacramento, start=time(20, 0))
    assert east.starts_at == STARTS - timedelta(hours=1)  # 20:00 EDT is 00:00Z

    # 02:00 UTC: 19:00 in San Jose, 22:00 in "Sacramento" (New York time); both are due
    assert due(now=IN_72H) == 1
    assert kinds(west) == ["72h"]
    assert kinds(east) == []
    # 13:00 UTC: 09:00 in New York, 06:00 in San Jose
    assert due(now=datetime(2027, 3, 18, 13, 0, tzinfo=UTC)) == 1
    assert kinds(east) == ["72h"]


def test_quiet_hours_are_a_station_setting(due, san_jose, mailoutbox):
    san_jose.quiet_hours_start, san_jose.quiet_hours_end = time(18, 0), time(20, 0)
    san_jose.save()
    saturday_party(san_jose)
    assert due(now=IN_72H) == 0  # 19:00 PDT
    assert due(now=IN_72H + timedelta(hours=2)) == 1  # 21:00 PDT


# --- To whom, how ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [BookingStatus.PENDING_DEPOSIT, BookingStatus.CANCELLED])
def test_only_confirmed_bookings_are_reminded(due, san_jose, mailoutbox, status):
    booking = saturday_party(san_jose, status=status)
    assert booking.status == status
    assert due(now=IN_72H) == 0
    assert due(now=IN_24H) == 0
    assert mailoutbox == []
    assert kinds(booking) == []


def test_email_reminder_in_station_local_time(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose)
    assert due(now=IN_72H) == 1

    (mail,) = mailoutbox
    assert mail.to == [booking.customer.email]
    assert mail.from_email == "sanjose@example.com"
    assert booking.reference in mail.subject
    assert "Saturday, March 20 at 6:00 PM" in mail.body
    assert booking.reference in mail.body
    assert reminder(booking).channel == "email"


def test_sms_reminder_when_opted_in_and_logged_without_contact_data(
    due, san_jose, mailoutbox, caplog
):
    booking = saturday_party(san_jose, customer__phone=PHONE, customer__sms_opt_in=True)
    caplog.set_level(logging.INFO, logger="bookings.notifications")

    assert due(now=IN_72H) == 1

    assert mailoutbox == []
    assert reminder(booking).channel == "sms"
    lines = [r.getMessage() for r in caplog.records if r.name == "bookings.notifications"]
    assert len(lines) == 1
    assert booking.reference in lines[0]
    assert "SMS" in lines[0]
    customer = booking.customer
    for secret in (PHONE, PHONE[2:], "555-0142", "5550142", customer.email, customer.name):
        assert secret not in caplog.text
        assert secret not in lines[0]


def test_sms_opt_in_without_a_phone_falls_back_to_email(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose, customer__sms_opt_in=True)
    assert due(now=IN_72H) == 1
    assert reminder(booking).channel == "email"
    assert len(mailoutbox) == 1


def test_phone_without_sms_opt_in_gets_email(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose, customer__phone=PHONE, customer__sms_opt_in=False)
    assert due(now=IN_72H) == 1
    assert reminder(booking).channel == "email"


@pytest.mark.parametrize(
    "change",
    [
        {"do_not_contact": True},
        {"do_not_contact": True, "sms_opt_in": True},
        {"email_opt_in": False},
    ],
)
def test_nobody_is_contacted_without_consent(due, san_jose, mailoutbox, caplog, change):
    booking = saturday_party(san_jose, customer__phone=PHONE)
    type(booking.customer).objects.filter(pk=booking.customer_id).update(**change)
    caplog.set_level(logging.INFO, logger="bookings.notifications")

    assert due(now=IN_72H) == 0
    assert due(now=IN_24H) == 0
    assert mailoutbox == []
    assert kinds(booking) == []
    assert not [r for r in caplog.records if r.name == "bookings.notifications"]


def test_failed_delivery_is_retried_by_the_sweeper_once(due, san_jose, mailoutbox, monkeypatch):
    booking = saturday_party(san_jose)

    def broken(row, channel):
        raise ConnectionError("smtp down")

    with monkeypatch.context() as patched:
        patched.setattr(notifications, "_deliver", broken)
        assert due(now=IN_72H) == 1  # queued, and its delivery failed
    failed = reminder(booking)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "smtp down" in failed.last_error
    assert kinds(booking) == []
    assert mailoutbox == []

    assert due(now=IN_72H + timedelta(minutes=15)) == 0  # queued already: not queued again
    assert notifications.notifications_stuck(now=failed.claimed_until) == []  # backoff
    later = failed.claimed_until + timedelta(seconds=1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert tasks.sweep_notifications.delay().get() == 1
    assert tasks.sweep_notifications.delay().get() == 0
    assert kinds(booking) == ["72h"]
    assert len(mailoutbox) == 1
    assert reminder(booking).attempts == 2


def test_several_bookings_in_one_run(due, san_jose, mailoutbox):
    a = saturday_party(san_jose, customer__email="a@example.com")
    b = saturday_party(san_jose, customer__email="b@example.com", start=time(11, 0))
    far = saturday_party(san_jose, customer__email="c@example.com", event_date=date(2027, 3, 27))
    assert due(now=IN_72H) == 2
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.com", "b@example.com"]
    assert kinds(a) == kinds(b) == ["72h"]
    assert kinds(far) == []


# --- Tasks -------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """clock(instant): make django.utils.timezone.now() answer that instant."""

    def set_now(instant):
        monkeypatch.setattr("django.utils.timezone.now", lambda: instant)

    return set_now


def test_send_reminders_task(san_jose, mailoutbox, clock, django_capture_on_commit_callbacks):
    booking = saturday_party(san_jose)
    clock(IN_72H)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_reminders.delay().get() == 1
        assert tasks.send_reminders.delay().get() == 0
    clock(IN_24H)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.send_reminders.delay()
        tasks.send_reminders.delay()
    assert kinds(booking) == ["24h", "72h"]
    assert len(mailoutbox) == 2


def test_expire_holds_task_frees_the_chef(san_jose, clock):
    keep = Chef.objects.filter(station=san_jose).order_by("pk").first()
    Chef.objects.filter(station=san_jose).exclude(pk=keep.pk).update(active=False)
    hold = saturday_party(san_jose, status=BookingStatus.PENDING_DEPOSIT)
    late = CustomerFactory(station=san_jose)
    assert hold.hold_expires_at == CREATED + timedelta(minutes=san_jose.hold_minutes)

    with pytest.raises(ApiError) as err:
        saturday_party(san_jose, customer=late, now=CREATED + timedelta(minutes=30))
    assert err.value.error_code == "slot_unavailable"

    clock(CREATED + timedelta(minutes=59))
    assert tasks.expire_holds.delay().get() == 0
    hold.refresh_from_db()
    assert hold.status == BookingStatus.PENDING_DEPOSIT

    clock(CREATED + timedelta(minutes=61))
    assert tasks.expire_holds.delay().get() == 1
    assert tasks.expire_holds.delay().get() == 0  # safe to run twice

    hold.refresh_from_db()
    assert hold.status == BookingStatus.EXPIRED
    assert hold.hold_expires_at == CREATED + timedelta(minutes=60)  # kept: when the hold ended
    event = BookingEvent.objects.filter(booking=hold).order_by("pk").last()
    assert (event.from_status, event.to_status) == ("pending_deposit", "expired")
    assert event.actor_label == "system"
    assert event.actor is None

    taken = saturday_party(
        san_jose,
        customer=late,
        status=BookingStatus.PENDING_DEPOSIT,
        now=CREATED + timedelta(minutes=61),
    )
    assert taken.chef_id == keep.pk
    assert Booking.objects.filter(chef=keep, status__in=["pending_deposit"]).count() == 1


def test_expire_holds_leaves_paid_and_fresh_bookings(san_jose, clock):
    confirmed = saturday_party(san_jose)
    fresh = saturday_party(
        san_jose, status=BookingStatus.PENDING_DEPOSIT, now=CREATED + timedelta(minutes=30)
    )
    old = saturday_party(san_jose, status=BookingStatus.PENDING_DEPOSIT, start=time(12, 0))
    clock(CREATED + timedelta(minutes=70))
    assert tasks.expire_holds.delay().get() == 1
    statuses = dict(
        Booking.objects.filter(pk__in=[confirmed.pk, fresh.pk, old.pk]).values_list("pk", "status")
    )
    assert statuses == {
        confirmed.pk: BookingStatus.CONFIRMED,
        fresh.pk: BookingStatus.PENDING_DEPOSIT,
        old.pk: BookingStatus.EXPIRED,
    }


def test_rescheduled_booking_is_reminded_of_the_new_date(due, san_jose, mailoutbox):
    booking = saturday_party(san_jose)
    assert due(now=IN_72H) == 1  # "Saturday, March 20"

    services.booking_reschedule(
        booking=booking,
        event_date=date(2027, 3, 27),
        start_time=time(18, 0),
        actor=services.CUSTOMER,
        now=IN_72H + timedelta(hours=1),
    )
    assert due(now=IN_72H + timedelta(days=7)) == 1
    assert "Saturday, March 27 at 6:00 PM" in mailoutbox[-1].body


@pytest.mark.django_db(transaction=True)
def test_a_reschedule_during_the_reminder_run_leaves_only_the_new_dates_reminder(
    san_jose, mailoutbox, monkeypatch
):
    """The run reads its bookings, then the booking is moved (committed by another
    connection) before the run queues its reminder: the old start's reminder must not go out,
    and the new start's must."""
    booking = saturday_party(san_jose)  # Saturday, March 20 at 6:00 PM
    now = datetime(2027, 3, 18, 1, 30, tzinfo=UTC)  # 71.5 h before; 18:30 PDT
    check_quiet_hours = reminders.in_quiet_hours
    moved = []

    def move():
        try:
            moved.append(
                services.booking_reschedule(
                    booking=Booking.objects.get(pk=booking.pk),
                    event_date=EVENT_DAY,
                    start_time=time(11, 0),  # the same day at 11:00 AM: 64.5 h away, due too
                    actor=services.CUSTOMER,
                    now=now,
                )
            )
        finally:
            connection.close()

    def reschedule_meanwhile(station, at):
        if not moved:  # the run has read the booking and is about to queue its reminder
            mover = threading.Thread(target=move)
            mover.start()
            mover.join(timeout=30)
        return check_quiet_hours(station, at)

    monkeypatch.setattr(reminders, "in_quiet_hours", reschedule_meanwhile)
    with time_machine.travel(now, tick=False):
        reminders.reminders_send_due(now=now)
        reminders.reminders_send_due(now=now + timedelta(minutes=15))  # the next run
        reminders.reminders_send_due(now=now + timedelta(minutes=30))

    assert moved, "the reschedule did not happen"
    assert [m.body for m in mailoutbox if "6:00 PM" in m.body] == []
    (mail,) = mailoutbox
    assert "Saturday, March 20 at 11:00 AM" in mail.body
    rows = Notification.objects.filter(booking=booking).order_by("pk")
    assert [(r.event_starts_at, r.status) for r in rows] == [
        (STARTS, "dropped"),
        (STARTS - timedelta(hours=7), "sent"),
    ]
    assert "rescheduled" in rows[0].last_error
