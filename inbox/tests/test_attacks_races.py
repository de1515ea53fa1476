"""
Races, with real concurrent HTTP requests against PostgreSQL (a live server, one connection per
request thread, committed transactions): two deliveries of the same provider message, made to
meet at the worst moment by holding a lock the webhooks need until both wait on it.
"""

import hashlib
import hmac
import json
import threading
import time

import httpx
import pytest
from django.db import connection, transaction

from bookings.models import Customer
from inbox.models import Channel, ChannelKind, ContactIdentity, Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)

APP_SECRET = "meta-app-secret-race"
PAGE_ID = "105000000000077"
MESSENGER_INBOUND = {
    "object": "page",
    "entry": [
        {
            "id": PAGE_ID,
            "time": 1764093600000,
            "messaging": [
                {
                    "sender": {"id": "6000000000000077"},
                    "recipient": {"id": PAGE_ID},
                    "timestamp": 1764093600000,
                    "message": {"mid": "m_race_0123456789", "text": "Do you travel to Gilroy?"},
                }
            ],
        }
    ],
}


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction, pg_stat_activity is a snapshot taken once: take a new one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _post_twice_meeting_at(table: str, url: str, body: bytes, headers: dict) -> list[int]:
    """POST the same body from two threads; both are held at their first INSERT into `table`
    (a lock that lets reads through) until both wait there, then let go together."""
    answers: list[int] = []

    def post():
        answers.append(httpx.post(url, content=body, headers=headers, timeout=30).status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while _waiting_on_locks() < 2:
            assert time.monotonic() < deadline, "the two requests never met at the lock"
            time.sleep(0.02)
    for thread in threads:
        thread.join(30)
    return answers


def test_two_deliveries_of_a_new_senders_first_message_make_one_customer(
    live_server, san_jose, settings
):
    settings.META_APP_SECRET = APP_SECRET
    channel = Channel.objects.create(station=san_jose, kind=ChannelKind.MESSENGER, address=PAGE_ID)
    customers_before = Customer.objects.count()
    body = json.dumps(MESSENGER_INBOUND).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()

    answers = _post_twice_meeting_at(
        "inbox_contactidentity",
        f"{live_server.url}/api/v1/webhooks/meta",
        body,
        {"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )

    assert answers == [200, 200]
    assert Message.objects.filter(channel=channel).count() == 1
    assert ContactIdentity.objects.filter(station=san_jose).count() == 1
    assert Conversation.objects.filter(station=san_jose).count() == 1
    # The losing delivery made no customer of its own (no stray "New contact" at the station).
    assert Customer.objects.count() == customers_before + 1


def test_two_deliveries_of_one_stop_at_the_same_moment_opt_out_once_with_one_confirmation(
    live_server, san_jose, settings
):
    import base64
    from urllib.parse import urlencode

    token = "twilio-auth-token-race"
    settings.TWILIO_AUTH_TOKEN = token
    settings.PUBLIC_BASE_URL = live_server.url
    channel = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )
    params = {
        "MessageSid": "SM0123456789abcdef0123456789race1",
        "From": "+14085557799",
        "To": "+14085550100",
        "Body": "STOP",
        "SmsStatus": "received",
    }
    url = f"{live_server.url}/api/v1/webhooks/twilio"
    signed = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    signature = base64.b64encode(
        hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()

    # Both pass the "stored already?" check and meet at the message's INSERT.
    answers = _post_twice_meeting_at(
        "inbox_message",
        url,
        urlencode(params).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )

    assert answers == [200, 200]
    inbound = Message.objects.filter(channel=channel, direction="in")
    assert inbound.count() == 1
    identity = ContactIdentity.objects.get(station=san_jose, external_id="+14085557799")
    assert identity.opted_out
    assert Message.objects.filter(opt_out_confirmation=True).count() == 1
