"""
The Twilio inbound ledger (inbox.ledger): the webhook stores a message with one INSERT and a
drain threads it; keywords keep the synchronous path; the routing cache's assumption (a
channel's routing is at most ROUTE_TTL_SECONDS stale) holds, and its token never shows.
"""

import logging
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from inbox import credentials, ledger, tasks
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Direction,
    InboundDrainQueued,
    InboundEvent,
    Message,
)
from inbox.tests.test_attacks_races import _post_twice_meeting_at
from inbox.tests.test_webhook_twilio import INBOUND, TOKEN, URL, twilio_signature

SENDER = INBOUND["From"]


@pytest.fixture
def channel(san_jose, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address=INBOUND["To"]
    )


def _post(client, settings, params, *, token=TOKEN):
    signature = twilio_signature(settings.PUBLIC_BASE_URL + URL, params, token)
    return client.post(
        URL,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


@pytest.fixture
def post(client, settings, django_capture_on_commit_callbacks):
    """POST a signed message; the callbacks queued on commit (the drain) are NOT run."""

    def send(params, *, token=TOKEN):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = _post(client, settings, params, token=token)
        send.callbacks = callbacks
        return response

    return send


# --- The ack stores, the drain threads ------------------------------------------------------


def test_the_ack_stores_the_message_and_the_drain_makes_it_a_message_in_the_thread(channel, post):
    assert post(INBOUND).status_code == 200
    row = InboundEvent.objects.get()
    assert (row.channel_id, row.sender, row.body) == (channel.pk, SENDER, INBOUND["Body"])
    assert row.processed_at is None
    assert Message.objects.count() == 0  # not threaded in the request
    assert len(post.callbacks) == 1  # the drain, queued on commit

    assert ledger.inbound_events_drain() == 1

    message = Message.objects.get()
    assert (message.direction, message.body, message.channel_id) == (
        Direction.INBOUND,
        INBOUND["Body"],
        channel.pk,
    )
    assert message.created_at == row.received_at
    assert message.conversation.unread
    row.refresh_from_db()
    assert row.processed_at is not None
    assert row.attempts == 1


def test_a_redelivery_stores_nothing_and_queues_no_drain(channel, post):
    post(INBOUND)
    assert post(INBOUND).status_code == 200
    assert post.callbacks == []
    assert InboundEvent.objects.count() == 1


def test_a_burst_publishes_one_drain(channel, post, monkeypatch):
    published = []
    monkeypatch.setattr(ledger, "enqueue", lambda task: published.append(task.name) or True)
    for n in range(5):
        post({**INBOUND, "MessageSid": f"SM{n:032d}"})
        for callback in post.callbacks:
            callback()
    assert published == ["inbox.tasks.drain_inbound_events"]
    assert InboundDrainQueued.objects.count() == 1
    assert ledger.inbound_events_drain() == 5
    assert InboundDrainQueued.objects.count() == 0  # the next message queues a drain again


def test_the_drain_is_idempotent(channel, post):
    post(INBOUND)
    row = InboundEvent.objects.get()
    assert ledger.inbound_events_drain() == 1
    assert ledger.inbound_events_drain() == 0
    assert ledger.inbound_event_apply(event_id=row.pk) == "done before"
    assert tasks.drain_inbound_events() == 0
    assert Message.objects.count() == 1


def test_a_row_whose_message_is_already_threaded_is_marked_done_without_a_second(channel, post):
    post(INBOUND)
    row = InboundEvent.objects.get()
    ledger.inbound_event_apply(event_id=row.pk)
    InboundEvent.objects.filter(pk=row.pk).update(processed_at=None)  # as if the mark was lost
    assert ledger.inbound_event_apply(event_id=row.pk) == "duplicate"
    assert Message.objects.count() == 1
    row.refresh_from_db()
    assert row.processed_at is not None


def test_a_failing_row_keeps_its_error_without_contact_data_and_stops_after_max_attempts(
    channel, post, monkeypatch, caplog
):
    post({**INBOUND, "Body": "call me at +14085559999"})

    def broken(**_):
        raise ValueError(f"cannot thread {SENDER}")

    monkeypatch.setattr(ledger.services, "inbound_receive", broken)
    with caplog.at_level(logging.INFO):
        for _ in range(ledger.MAX_ATTEMPTS + 2):
            ledger.inbound_events_drain()
    row = InboundEvent.objects.get()
    assert row.attempts == ledger.MAX_ATTEMPTS
    assert row.processed_at is None
    assert row.error == "ValueError"
    assert SENDER not in caplog.text
    assert "+14085559999" not in caplog.text
    assert ledger.inbound_events_waiting(grace_seconds=0) == 0


def test_a_row_that_loses_a_race_three_times_waits_for_the_next_drain(channel, post, monkeypatch):
    """What answered 503 when the ack threaded the message: now the drain retries it."""
    from config.exceptions import Conflict

    post(INBOUND)

    def always_raced(**_):
        raise Conflict("Please try again.", code="try_again")

    monkeypatch.setattr("inbox.services.customer_upsert", always_raced)
    assert ledger.inbound_events_drain() == 0
    assert InboundEvent.objects.get().error == "Conflict"
    monkeypatch.undo()
    assert ledger.inbound_events_drain() == 1
    assert Message.objects.count() == 1


# --- Dedupe under real concurrency --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_meeting_at_the_insert_store_one_row_and_make_one_message(
    live_server, san_jose, settings
):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = live_server.url
    channel = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address=INBOUND["To"]
    )
    body = urlencode(INBOUND).encode()
    signature = twilio_signature(live_server.url + URL, INBOUND)

    answers = _post_twice_meeting_at(
        "inbox_inboundevent",
        live_server.url + URL,
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )

    assert answers == [200, 200]
    assert InboundEvent.objects.filter(channel=channel).count() == 1
    # The winner's commit queued the drain (eager here): threaded once.
    assert Message.objects.filter(channel=channel).count() == 1
    assert InboundEvent.objects.get().processed_at is not None
    assert (
        httpx.post(
            live_server.url + URL,
            content=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
            timeout=30,
        ).status_code
        == 200
    )
    assert Message.objects.filter(channel=channel).count() == 1


# --- The sweeper --------------------------------------------------------------------------------


def test_with_the_broker_down_the_row_waits_and_the_sweeper_threads_it(channel, post, monkeypatch):
    monkeypatch.setattr(ledger, "enqueue", lambda task: False)  # the broker is down
    post(INBOUND)
    for callback in post.callbacks:
        callback()
    assert InboundDrainQueued.objects.count() == 0  # the next message may try again
    assert Message.objects.count() == 0
    monkeypatch.undo()

    assert tasks.sweep_inbound_events() == 0  # within the grace: a drain may still come
    assert Message.objects.count() == 0

    InboundEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert tasks.sweep_inbound_events() == 1  # queued a drain (eager: ran)
    assert Message.objects.count() == 1
    assert tasks.sweep_inbound_events() == 0


def test_the_sweeper_forgets_a_flag_whose_drain_was_lost_but_not_a_fresh_one(db):
    with connection.cursor() as cursor:
        cursor.execute(ledger.sql.DRAIN_QUEUE, ledger.sql.NEW_DRAIN_QUEUED.defaults())
    assert ledger.drain_flags_forget_lost() == 0
    InboundDrainQueued.objects.update(
        queued_at=timezone.now() - timedelta(seconds=ledger.DRAIN_QUEUED_SECONDS + 5)
    )
    assert ledger.drain_flags_forget_lost() == 1
    assert InboundDrainQueued.objects.count() == 0


def test_the_sweeper_deletes_rows_threaded_more_than_a_week_ago(channel, post):
    post(INBOUND)
    post({**INBOUND, "MessageSid": "SM" + "1" * 32})
    ledger.inbound_events_drain()
    old, recent = InboundEvent.objects.order_by("pk")
    InboundEvent.objects.filter(pk=old.pk).update(
        processed_at=timezone.now() - timedelta(days=ledger.KEEP_THREADED_DAYS, minutes=1)
    )
    tasks.sweep_inbound_events()
    assert list(InboundEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert Message.objects.count() == 2  # the messages stay


# --- Keywords keep the synchronous path ---------------------------------------------------------


@pytest.mark.parametrize("body", ["STOP", "stop", " Unsubscribe ", "START", "HELP"])
def test_a_keyword_is_threaded_in_the_request_and_not_stored_in_the_ledger(channel, post, body):
    assert post({**INBOUND, "Body": body}).status_code == 200
    assert InboundEvent.objects.count() == 0
    assert Message.objects.filter(direction=Direction.INBOUND).count() == 1


def test_stop_opts_out_before_the_answer_with_no_task_run(channel, post):
    post({**INBOUND, "Body": "STOP"})
    assert ContactIdentity.objects.get(external_id=SENDER).opted_out


def test_a_message_that_only_mentions_stop_goes_to_the_ledger(channel, post):
    post({**INBOUND, "Body": "please don't stop the party"})
    assert InboundEvent.objects.count() == 1
    assert not ContactIdentity.objects.filter(external_id=SENDER).exists()


# --- The routing cache's assumption ----------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(ledger, "_clock", lambda: now[0])

    def move(seconds):
        now[0] += seconds

    return move


def test_a_channel_switched_off_stops_receiving_within_30_seconds(channel, post, clock):
    post(INBOUND)
    Channel.objects.filter(pk=channel.pk).update(active=False)
    clock(ledger.ROUTE_TTL_SECONDS - 1)
    post({**INBOUND, "MessageSid": "SM" + "1" * 32})
    assert InboundEvent.objects.count() == 2  # still routed from memory: the documented lag
    clock(30.5 - (ledger.ROUTE_TTL_SECONDS - 1))  # 30.5 s after the first lookup
    post({**INBOUND, "MessageSid": "SM" + "2" * 32})
    assert InboundEvent.objects.count() == 2


def test_a_rotated_token_takes_over_once_the_ttl_passed(channel, post, clock):
    post(INBOUND)
    credentials.channel_set_credentials(channel=channel, values={"auth_token": "rotated-token"})
    clock(30.5)
    assert post({**INBOUND, "MessageSid": "SM" + "1" * 32}).status_code == 403
    assert (
        post({**INBOUND, "MessageSid": "SM" + "2" * 32}, token="rotated-token").status_code == 200
    )


def test_a_number_we_dont_serve_is_not_cached_so_a_new_channel_receives_at_once(
    san_jose, post, settings, clock
):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    post(INBOUND)
    assert InboundEvent.objects.count() == 0
    Channel.objects.create(station=san_jose, kind=ChannelKind.SMS_TWILIO, address=INBOUND["To"])
    post(INBOUND)
    assert InboundEvent.objects.count() == 1


def test_the_cached_token_is_never_shown_or_logged(channel, post, caplog):
    credentials.channel_set_credentials(
        channel=channel, values={"auth_token": "own-secret-token-123"}
    )
    with caplog.at_level(logging.DEBUG):
        post(INBOUND, token="own-secret-token-123")
        for callback in post.callbacks:
            callback()
        route = ledger.twilio_route(INBOUND["To"])
    assert route.auth_token == "own-secret-token-123"
    assert "own-secret-token-123" not in repr(route)
    assert "own-secret-token-123" not in caplog.text
    assert SENDER not in caplog.text
    assert Message.objects.count() == 1


def test_a_settings_change_forgets_the_routes(channel, settings):
    assert ledger.twilio_route(INBOUND["To"]).auth_token == TOKEN
    settings.TWILIO_AUTH_TOKEN = "another"
    assert ledger.twilio_route(INBOUND["To"]).auth_token == "another"


def test_health_says_degraded_while_stored_messages_wait_too_long_to_be_threaded(
    client, settings, san_jose
):
    from datetime import timedelta

    from django.utils import timezone

    from inbox.models import Channel, ChannelKind, InboundEvent

    channel = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550166"
    )
    event = InboundEvent.objects.create(
        channel=channel,
        provider_message_id="SMwaiting",
        sender="+14085550199",
        body="hello",
        received_at=timezone.now()
        - timedelta(seconds=settings.HEALTH_STRIPE_EVENT_WAIT_SECONDS + 5),
    )
    body = client.get("/api/v1/health").json()
    assert "inbound messages waiting to be threaded: 1" in body["problems"]
    assert body["status"] == "degraded"

    InboundEvent.objects.filter(pk=event.pk).update(processed_at=timezone.now())
    assert not any("inbound" in p for p in client.get("/api/v1/health").json()["problems"])
