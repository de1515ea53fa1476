"""
The outbox of customer messages (bookings.notifications): queued in the caller's transaction
once per key, sent after commit on the `notifications` queue under a lease, `sent` recorded
after the provider accepted, dropped (with the reason) for customers who may not be contacted.
"""

import smtplib
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from bookings import notifications, tasks
from bookings.models import Customer, Notification
from testing.factories import make_booking

pytestmark = pytest.mark.date_sensitive


@pytest.fixture
def booking(san_jose):
    return make_booking(san_jose, status="confirmed")


def notify(booking, key="deposit-paid-1", **options):
    return notifications.notify_customer(
        booking=booking, subject=f"Booked ({booking.reference})", text="Thank you!", key=key,
        **options,
    )  # fmt: skip


def test_queued_in_the_callers_transaction_and_sent_after_commit(
    booking, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            first = notify(booking)
            assert notify(booking) is None  # a retried caller queues nothing new
            assert mailoutbox == []  # nothing goes out inside the transaction
        assert mailoutbox == []
    (mail,) = mailoutbox
    assert mail.to == [booking.customer.email]
    assert mail.extra_headers["Message-ID"] == notifications.message_id("deposit-paid-1")
    row = Notification.objects.get(pk=first)
    assert (row.status, row.channel, row.attempts, row.claimed_until) == ("sent", "email", 1, None)
    assert row.sent_at is not None


def test_a_rolled_back_caller_sends_nothing(
    booking, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        sid = transaction.savepoint()
        notify(booking)
        transaction.savepoint_rollback(sid)
    assert mailoutbox == []
    assert not Notification.objects.exists()


def test_published_to_the_notifications_queue(booking, monkeypatch):
    published = []
    monkeypatch.setattr(
        tasks.send_notification, "apply_async", lambda args, **kw: published.append((args, kw))
    )
    row_id = notify(booking)
    notifications.enqueue(row_id)
    assert published == [((row_id,), {"queue": "notifications"})]


def test_a_broker_that_is_down_leaves_it_for_the_sweeper(booking, monkeypatch, mailoutbox):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.send_notification, "apply_async", down)
        row_id = notify(booking)
        notifications.enqueue(row_id)  # logged, not raised
    assert notifications.notifications_stuck() == []  # not before the grace period
    later = timezone.now() + timedelta(seconds=notifications.PENDING_GRACE_SECONDS + 1)
    assert notifications.notifications_stuck(now=later) == [row_id]
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert tasks.sweep_notifications.delay().get() == 1
    assert len(mailoutbox) == 1


def test_held_under_a_live_lease_then_taken_over_when_it_runs_out(booking, mailoutbox):
    row_id = notify(booking)
    now = timezone.now()
    assert notifications._claim(row_id, now) == 1  # a worker took it, then died
    assert notifications.notification_send(notification_id=row_id, now=now) == "busy"
    assert notifications.notifications_stuck(now=now) == []
    expired = now + timedelta(seconds=notifications.lease_seconds() + 1)
    assert notifications.notifications_stuck(now=expired) == [row_id]
    assert notifications.notification_send(notification_id=row_id, now=expired) == "sent"
    assert notifications.notification_send(notification_id=row_id, now=expired) == "sent"
    assert len(mailoutbox) == 1
    assert Notification.objects.get(pk=row_id).attempts == 2


def test_the_message_id_is_stable_and_valid():
    key = "reminder-12-72h-2027-03-21T01:00:00+00:00"
    assert notifications.message_id(key) == notifications.message_id(key)
    assert notifications.message_id(key) != notifications.message_id(key.replace(":", "."))
    local, domain = notifications.message_id(key).strip("<>").split("@")
    assert domain
    assert all(c.isalnum() or c in ".-" for c in local)
    assert ".." not in local


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"do_not_contact": True}, "do not contact"),
        ({"email_opt_in": False}, "no consent"),
        ({"erased_at": timezone.now()}, "erased"),
    ],
)
def test_customers_who_may_not_be_contacted_get_it_dropped(booking, mailoutbox, change, reason):
    row_id = notify(booking)
    Customer.objects.filter(pk=booking.customer_id).update(**change)
    assert notifications.notification_send(notification_id=row_id) == "dropped"
    row = Notification.objects.get(pk=row_id)
    assert row.status == "dropped"
    assert reason in row.last_error
    assert mailoutbox == []
    assert notifications.notifications_stuck(now=timezone.now() + timedelta(days=1)) == []


def test_a_refused_address_is_dropped_and_errors_keep_no_contact_data(booking, monkeypatch, caplog):
    refused_id, broken_id = notify(booking, key="a"), notify(booking, key="b")
    email = booking.customer.email

    def refused(row, channel):
        raise smtplib.SMTPRecipientsRefused({email: (550, b"no such user")})

    def broken(row, channel):
        raise smtplib.SMTPServerDisconnected(f"connection lost sending to {email}")

    monkeypatch.setattr(notifications, "_deliver", refused)
    assert notifications.notification_send(notification_id=refused_id) == "dropped"
    assert "refused" in Notification.objects.get(pk=refused_id).last_error

    monkeypatch.setattr(notifications, "_deliver", broken)
    with pytest.raises(notifications.DeliveryFailed) as failure:
        notifications.notification_send(notification_id=broken_id)
    assert failure.value.__cause__ is None
    row = Notification.objects.get(pk=broken_id)
    assert row.status == "failed"
    assert "SMTPServerDisconnected" in row.last_error
    assert email not in row.last_error
    assert email not in caplog.text
