"""
Compliance is enforced by the sender on every path (issue 13, points 5 and 7): staff replies,
keyword confirmations, booking reminders and payment notifications, and automated ("AI")
messages. Everything goes to local fake provider servers; what must not go out never reaches
them.

Date-proof: explicit instants (time-machine). San Jose's quiet hours are 21:00-09:00 local.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import transaction

from bookings import reminders
from bookings.models import BookingStatus, Customer, Notification
from config.exceptions import ApiError
from inbox import compliance, outbound, sending, services
from inbox.models import (
    Channel,
    ChannelKind,
    Message,
    MessageTemplate,
    Sender,
    TemplateKind,
)
from inbox.services import SenderInfo
from payments.tests import conftest as payments_fixtures
from testing.factories import CustomerFactory, make_booking
from testing.fake_providers import running

NUMBER = "+14085550142"
T0 = datetime(2027, 3, 10, 19, 0, tzinfo=UTC)  # Wednesday 11:00 PST

fake_providers = pytest.fixture(running, name="fake_providers")
# The public booking API and the signed Stripe webhook, as the payments tests use them.
api_booking = payments_fixtures.book
stripe_webhook = payments_fixtures.webhook
sign = payments_fixtures.sign  # the webhook fixture's own dependency


@pytest.fixture
def sms(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


@pytest.fixture
def whatsapp(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.WHATSAPP, address="100000000000001"
    )


@pytest.fixture
def customer(san_jose):
    return CustomerFactory(
        station=san_jose, phone=NUMBER, sms_opt_in=True, email_opt_in=False, name="Kim Lee"
    )


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """run(fn, *args, at=instant, **kwargs): call it at that instant inside a transaction, then
    run what it queued on commit (Celery is eager in tests), as the workers would."""

    def call(fn, *args, at, **kwargs):
        with (
            time_machine.travel(at, tick=False),
            django_capture_on_commit_callbacks(execute=True),
            transaction.atomic(),
        ):
            result = fn(*args, **kwargs)
        return result

    return call


def text_in(sms_channel, body, pid, at, run):
    return run(
        services.inbound_receive,
        channel=sms_channel,
        sender=SenderInfo(external_id=NUMBER, phone=NUMBER),
        provider_message_id=pid,
        body=body,
        received_at=at,
        at=at,
    )


def ai_reply(customer, channel, body, key, run, at):
    return run(
        outbound.message_queue,
        conversation=services.conversation_for(customer),
        channel=channel,
        body=body,
        sender=Sender.AI,
        automated=True,
        key=key,
        at=at,
    )


def bodies(fake):
    return [r.form["Body"] for r in fake.of("twilio")]


# --- STOP and START ------------------------------------------------------------------------------


def test_after_stop_no_reminder_and_no_ai_message_goes_out_and_start_restores(
    fake_providers, sms, customer, san_jose, run
):
    booking = make_booking(
        san_jose, event_date=date(2027, 3, 12), start=time(18, 0), customer=customer,
        now=T0 - timedelta(days=10), status=BookingStatus.CONFIRMED,
    )  # fmt: skip
    run(lambda: None, at=T0)

    text_in(sms, "Stop", "SM-in-1", T0, run)
    assert len(bodies(fake_providers)) == 1
    assert "unsubscribed" in bodies(fake_providers)[0]  # the one confirmation
    text_in(sms, "STOP", "SM-in-2", T0 + timedelta(minutes=1), run)  # again: no second one

    # The reminder run: no consent left for SMS (and none for e-mail): nothing is queued.
    assert run(reminders.reminders_send_due, at=T0 + timedelta(hours=1)) == 0
    # An automated (AI) reply is refused by the sender, with the reason.
    refused = ai_reply(customer, sms, "We have slots!", "ai-1", run, T0 + timedelta(hours=1))
    refused.refresh_from_db()
    assert refused.status == "not_sent"
    assert "texted STOP" in refused.error
    # A person cannot send either: 409 with the reason.
    with pytest.raises(ApiError) as refusal:
        outbound.reply_send(
            conversation=services.conversation_for(customer), author=None, body="Hello?"
        )
    assert (refusal.value.status_code, refusal.value.error_code) == (409, "send_refused")
    assert len(bodies(fake_providers)) == 1  # nothing else reached Twilio

    text_in(sms, "start", "SM-in-3", T0 + timedelta(hours=2), run)
    assert "resubscribed" in bodies(fake_providers)[1]
    assert Customer.objects.get(pk=customer.pk).sms_opt_in
    sent = ai_reply(customer, sms, "Welcome back", "ai-2", run, T0 + timedelta(hours=2))
    sent.refresh_from_db()
    assert sent.status == "sent"
    assert run(reminders.reminders_send_due, at=T0 + timedelta(hours=3)) == 1  # the 72h one
    assert len(bodies(fake_providers)) == 4
    assert booking.reference in bodies(fake_providers)[3]


def test_a_message_queued_before_stop_is_not_sent_after_it(fake_providers, sms, customer, run):
    conversation = services.conversation_for(customer)
    waiting = outbound.message_queue(  # queued; its task has not run yet
        conversation=conversation, channel=sms, body="Your reminder", sender=Sender.SYSTEM,
        automated=True, key="notification-reminder-x",
    )  # fmt: skip
    text_in(sms, "UNSUBSCRIBE", "SM-in-1", T0, run)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert sending.message_send(message_id=waiting.pk) == "not_sent"
    waiting.refresh_from_db()
    assert waiting.error == "not sent: the customer texted STOP: no SMS until they text START"
    assert len(bodies(fake_providers)) == 1  # only the confirmation


def test_the_stop_confirmation_is_sent_exactly_once(fake_providers, sms, customer, run):
    message = text_in(sms, "stop", "SM-in-1", T0, run)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        assert services.inbound_process(message_id=message.pk) == "done before"
        (confirmation,) = Message.objects.filter(opt_out_confirmation=True)
        assert sending.message_send(message_id=confirmation.pk) == "sent"
    assert len(bodies(fake_providers)) == 1


def test_a_number_that_texted_stop_gets_nothing_as_another_customers_number(
    fake_providers, sms, customer, san_jose, run
):
    """The opt-out belongs to the number: when the number that texted STOP later becomes
    another customer's (Kim gave a new one; staff typed the old one in for a family member),
    nothing automated or typed by staff reaches it."""
    text_in(sms, "STOP", "SM-in-1", T0, run)
    assert len(bodies(fake_providers)) == 1  # the confirmation
    Customer.objects.filter(pk=customer.pk).update(phone="+14085550143")
    other = CustomerFactory(station=san_jose, phone=NUMBER, sms_opt_in=True, name="Lee Kim")

    later = T0 + timedelta(hours=1)
    message = ai_reply(other, sms, "Your party is on Friday", "ai-other", run, later)
    message.refresh_from_db()
    assert message.status == "not_sent"
    assert "texted STOP" in message.error
    with pytest.raises(ApiError) as refusal:
        outbound.reply_send(
            conversation=services.conversation_for(other), author=None, body="Hi", channel=sms
        )
    assert refusal.value.error_code == "send_refused"
    assert len(bodies(fake_providers)) == 1  # nothing reached the opted-out number


# --- WhatsApp ------------------------------------------------------------------------------------


def whatsapp_in(whatsapp, at, run):
    return run(
        services.inbound_receive,
        channel=whatsapp,
        sender=SenderInfo(external_id="14085550142", phone=NUMBER),
        provider_message_id=f"wamid.IN{at.timestamp():.0f}",
        body="hi",
        received_at=at,
        at=at,
    )


def template(san_jose, name, category, approved=True):
    return MessageTemplate.objects.create(
        station=san_jose, kind=TemplateKind.WHATSAPP, name=name, body=f"{name} text",
        category=category, approved=approved,
    )  # fmt: skip


def test_whatsapp_free_text_only_inside_the_24_hour_window(
    fake_providers, whatsapp, customer, san_jose, run
):
    whatsapp_in(whatsapp, T0, run)
    conversation = services.conversation_for(customer)

    def reply(at, **options):
        return run(outbound.reply_send, conversation=conversation, author=None, at=at, **options)

    inside = reply(T0 + timedelta(hours=23), body="Sure!")
    inside.refresh_from_db()
    assert inside.status == "sent"

    with pytest.raises(ApiError) as refused:
        reply(T0 + timedelta(hours=25), body="Still there?")
    assert (refused.value.status_code, refused.value.error_code) == (409, "send_refused")
    assert "24-hour" in refused.value.detail

    utility = reply(T0 + timedelta(hours=25), body="", template=template(san_jose, "u", "utility"))
    utility.refresh_from_db()
    assert utility.status == "sent"
    with pytest.raises(ApiError) as marketing:
        reply(T0 + timedelta(hours=25), template=template(san_jose, "m", "marketing"), body="")
    assert "US (+1)" in marketing.value.detail
    with pytest.raises(ApiError):
        reply(T0 + timedelta(hours=25), template=template(san_jose, "x", "utility", False), body="")

    kinds = [r.json["type"] for r in fake_providers.of("whatsapp")]
    assert kinds == ["text", "template"]


def test_whatsapp_free_text_queued_in_the_window_is_not_sent_after_it(
    fake_providers, whatsapp, customer, run
):
    whatsapp_in(whatsapp, T0, run)
    late = outbound.message_queue(
        conversation=services.conversation_for(customer), channel=whatsapp, body="Sorry, late",
        sender=Sender.USER,
    )  # fmt: skip
    with time_machine.travel(T0 + timedelta(hours=24, minutes=1), tick=False):
        assert sending.message_send(message_id=late.pk) == "not_sent"
    late.refresh_from_db()
    assert "24-hour" in late.error
    assert fake_providers.of("whatsapp") == []


# --- Quiet hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queued_at", "wakes_at"),
    [
        # Wednesday 22:00 PST → Thursday 09:00 PST
        (datetime(2027, 3, 11, 6, 0, tzinfo=UTC), datetime(2027, 3, 11, 17, 0, tzinfo=UTC)),
        # Saturday 22:00 PST, the night the clocks spring forward → Sunday 09:00 PDT
        (datetime(2027, 3, 14, 6, 0, tzinfo=UTC), datetime(2027, 3, 14, 16, 0, tzinfo=UTC)),
        # Saturday 22:00 PDT, the night the clocks fall back → Sunday 09:00 PST
        (datetime(2027, 11, 7, 5, 0, tzinfo=UTC), datetime(2027, 11, 7, 17, 0, tzinfo=UTC)),
    ],
)
def test_automated_messages_wait_for_the_end_of_quiet_hours(
    fake_providers, sms, customer, run, queued_at, wakes_at
):
    held = ai_reply(customer, sms, "Good morning offer", "ai-q", run, queued_at)
    staff = run(
        outbound.reply_send, conversation=services.conversation_for(customer), author=None,
        body="Answering you now", at=queued_at,
    )  # fmt: skip
    held.refresh_from_db()
    assert (held.status, held.send_after, held.attempts) == ("queued", wakes_at, 0)
    assert bodies(fake_providers) == ["Answering you now"]  # a person's reply is not held

    with time_machine.travel(wakes_at - timedelta(seconds=1), tick=False):
        assert sending.messages_due() == [] or held.pk not in sending.messages_due()
        assert sending.message_send(message_id=held.pk) == "not due"
    with time_machine.travel(wakes_at, tick=False):
        assert held.pk in sending.messages_due()
        assert sending.message_send(message_id=held.pk) == "sent"
    assert bodies(fake_providers) == ["Answering you now", "Good morning offer"]
    assert staff.pk != held.pk


def test_quiet_until_is_none_outside_and_the_end_inside(san_jose):
    assert compliance.quiet_until(san_jose, T0) is None
    night = datetime(2027, 3, 11, 6, 0, tzinfo=UTC)
    assert compliance.quiet_until(san_jose, night) == datetime(2027, 3, 11, 17, 0, tzinfo=UTC)


# --- Notifications through the inbox (point 7) ---------------------------------------------------


def test_a_reminder_appears_in_the_thread_and_reaches_twilio_once(
    fake_providers, sms, customer, san_jose, run
):
    booking = make_booking(
        san_jose, event_date=date(2027, 3, 20), start=time(18, 0), customer=customer,
        now=datetime(2027, 3, 1, 20, 0, tzinfo=UTC), status=BookingStatus.CONFIRMED,
    )  # fmt: skip
    in_72h = datetime(2027, 3, 18, 2, 0, tzinfo=UTC)  # 19:00 PDT, 71 hours before
    assert run(reminders.reminders_send_due, at=in_72h) == 1
    assert run(reminders.reminders_send_due, at=in_72h + timedelta(minutes=15)) == 0

    row = Notification.objects.get(booking=booking)
    assert (row.status, row.channel) == ("sent", "sms")
    (message,) = services.conversation_for(customer).messages.all()
    assert (message.sender, message.automated, message.status) == ("system", True, "sent")
    assert message.idempotency_key == f"notification-{row.key}"
    assert message.channel_id == sms.pk
    (request,) = fake_providers.of("twilio")
    assert request.form["To"] == NUMBER
    assert booking.reference in request.form["Body"]
    assert "Saturday, March 20 at 6:00 PM" in request.form["Body"]

    # The outbox row sent again (a retried task): the same message, nothing new sent.
    from bookings import notifications
    from inbox.outbound import notification_deliver

    Notification.objects.filter(pk=row.pk).update(status="pending")
    with time_machine.travel(in_72h, tick=False):
        notifications.notification_send(notification_id=row.pk, deliver=notification_deliver)
    assert services.conversation_for(customer).messages.count() == 1
    assert len(fake_providers.of("twilio")) == 1


@pytest.mark.date_sensitive
def test_a_deposit_paid_notification_appears_in_the_thread_and_reaches_twilio_once(
    fake_providers, sms, san_jose, api_booking, stripe_webhook, mailoutbox
):
    san_jose.quiet_hours_start = san_jose.quiet_hours_end = time(0, 0)  # none: real clock
    san_jose.save()
    booking = api_booking(san_jose)
    Customer.objects.filter(pk=booking.customer_id).update(sms_opt_in=True)
    deposit = payments_fixtures.deposit_of(booking)
    event = payments_fixtures.build_stripe_event("payment_intent.succeeded", deposit)
    stripe_webhook.deliver(event)
    stripe_webhook.deliver(event)  # Stripe retries: still one message

    booking.refresh_from_db()
    assert booking.status == "confirmed"
    row = Notification.objects.get(key=f"deposit-paid-{booking.pk}")
    assert (row.status, row.channel) == ("sent", "sms")
    messages = list(services.conversation_for(booking.customer).messages.all())
    assert [(m.idempotency_key, m.status) for m in messages] == [
        (f"notification-deposit-paid-{booking.pk}", "sent")
    ]
    (request,) = fake_providers.of("twilio")
    assert request.form["To"] == booking.customer.phone
    assert booking.reference in request.form["Body"]
    assert mailoutbox == []  # by SMS through the inbox, not by the old e-mail path


def test_a_station_without_an_sms_channel_keeps_the_direct_path(
    san_jose, customer, run, mailoutbox
):
    Customer.objects.filter(pk=customer.pk).update(sms_opt_in=False, email_opt_in=True)
    make_booking(
        san_jose, event_date=date(2027, 3, 20), start=time(18, 0), customer=customer,
        now=datetime(2027, 3, 1, 20, 0, tzinfo=UTC), status=BookingStatus.CONFIRMED,
    )  # fmt: skip
    assert run(reminders.reminders_send_due, at=datetime(2027, 3, 18, 2, 0, tzinfo=UTC)) == 1
    assert len(mailoutbox) == 1  # Django's e-mail backend, as before the inbox
    assert not Message.objects.exists()


def test_a_reminder_refused_by_the_inbox_is_dropped_with_the_reason(
    fake_providers, sms, customer, san_jose, run
):
    booking = make_booking(
        san_jose, event_date=date(2027, 3, 20), start=time(18, 0), customer=customer,
        now=datetime(2027, 3, 1, 20, 0, tzinfo=UTC), status=BookingStatus.CONFIRMED,
    )  # fmt: skip
    identity = services.identity_resolve(
        station=san_jose, kind="sms", sender=SenderInfo(external_id=NUMBER)
    )
    type(identity).objects.filter(pk=identity.pk).update(opted_out=True)  # STOP (consent kept)
    assert run(reminders.reminders_send_due, at=datetime(2027, 3, 18, 2, 0, tzinfo=UTC)) == 1
    row = Notification.objects.get(booking=booking)
    assert row.status == "dropped"
    assert "texted STOP" in row.last_error
    (message,) = services.conversation_for(customer).messages.all()
    assert message.status == "not_sent"
    assert fake_providers.requests == []
