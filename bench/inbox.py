"""
`python -m bench.inbox small|large`: the inbox part of the bench dataset, in DATABASE_URL.

- small: 1,000 messages (100 conversations at station bench-01: the measured one with 109,
  more than a page of the thread, the others 9 each);
- large: 1,000,000 messages: 100,000 conversations of 10 across the 10 bench stations, and
  the measured conversation grown to 50,000 messages; written with INSERT ... SELECT FROM
  generate_series (a minute, not an hour of ORM inserts).

Either way it starts from an empty inbox (so a run always measures 1k against 1M, whatever an
earlier run left), makes the bench agent (an agent of bench-01) with a signed-in session, and
the Twilio channels the inbound-ack scenario posts to. The inbound ledger (what the ack stored
and no drain threaded) is emptied too. Prints one JSON line: the session cookie,
the measured conversation, the Twilio numbers and the count of messages.
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from bench.dataset import station_slug  # noqa: E402
from inbox.models import Channel, ChannelKind, Message  # noqa: E402
from stations.models import Membership, Role, Station  # noqa: E402

AGENT = "bench-agent"
SMALL_CONVERSATIONS, PER_CONVERSATION = 100, 10
SMALL_PER_CONVERSATION, MEASURED_SMALL = 9, 109  # 99 x 9 + 109 = 1,000; a full thread page
LARGE_CONVERSATIONS = 100_000
MEASURED_LARGE = 50_000
INBOX_CUSTOMER = "Inbox bench"  # the customers this module makes are named so


def twilio_number(i: int) -> str:
    return f"+1408555{i:04d}"


def _empty_inbox() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE inbox_aiinteraction, inbox_draft, inbox_message, inbox_contactidentity, "
            "inbox_conversation, inbox_customermerge, inbox_inboundevent, "
            "inbox_inbounddrainqueued"
        )
        cursor.execute("DELETE FROM bookings_customer WHERE name LIKE %s", [f"{INBOX_CUSTOMER}%"])


def _channels(stations: list[Station]) -> list[str]:
    numbers = []
    for i, station in enumerate(stations, start=1):
        Channel.objects.update_or_create(
            kind=ChannelKind.SMS_TWILIO,
            address=twilio_number(i),
            defaults={"station": station, "name": f"Bench SMS {i}", "active": True},
        )
        numbers.append(twilio_number(i))
    return numbers


def _session(station: Station) -> str:
    user, _ = get_user_model().objects.get_or_create(
        username=AGENT, defaults={"first_name": "Bench", "last_name": "Agent", "is_staff": True}
    )
    Membership.objects.update_or_create(user=user, station=station, defaults={"role": Role.AGENT})
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


# One statement each: customers, their conversations, and `per` messages per conversation
# (every fifth one ours, the rest the customer's), spread over the last 90 days.
CONVERSATIONS = """
INSERT INTO inbox_conversation (station_id, customer_id, status, unread, last_message_at,
    last_message_preview, last_inbound_at, last_inbound_channel_id, waiting_since, created_at)
SELECT c.station_id, c.id, 'open', (c.id %% 7 = 0),
    now() - make_interval(secs => (c.id %% 7776000)), 'Bench message',
    now() - make_interval(secs => (c.id %% 7776000)), ch.id,
    CASE WHEN c.id %% 7 = 0 THEN now() - make_interval(secs => (c.id %% 7776000)) END,
    now() - interval '90 days'
FROM bookings_customer c
JOIN inbox_channel ch ON ch.station_id = c.station_id AND ch.kind = 'sms_twilio'
WHERE c.name LIKE %(name)s || '%%'
"""

MESSAGES = """
INSERT INTO inbox_message (conversation_id, channel_id, direction, sender, is_note, automated,
    opt_out_confirmation, subject, body, provider_message_id, status, status_rank, error,
    attempts, created_at)
SELECT v.id, v.last_inbound_channel_id,
    CASE WHEN g %% 5 = 0 THEN 'out' ELSE 'in' END,
    CASE WHEN g %% 5 = 0 THEN 'user' ELSE 'customer' END,
    false, false, false, '', 'Bench message ' || g,
    'SMbench' || v.id || 'x' || g,
    CASE WHEN g %% 5 = 0 THEN 'delivered' ELSE 'received' END,
    CASE WHEN g %% 5 = 0 THEN 3 ELSE 0 END, '', 0,
    v.last_message_at - make_interval(secs => (%(per)s - g) * 60)
FROM inbox_conversation v, generate_series(1, %(per)s) g
WHERE v.id = ANY(%(ids)s) OR (%(all)s AND v.id <> %(measured)s)
"""


def _customers_sql(slugs: list[str], per_station: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO bookings_customer (station_id, name, email, phone, sms_opt_in,
                email_opt_in, marketing_opt_in, do_not_contact, created_at, updated_at)
            SELECT s.id, %(name)s || ' ' || s.id || '-' || g,
                'inbox-bench-' || s.id || '-' || g || '@example.com',
                '', false, true, false, false, now(), now()
            FROM stations_station s, generate_series(1, %(per_station)s) g
            WHERE s.slug = ANY(%(slugs)s)
            """,
            {"name": INBOX_CUSTOMER, "per_station": per_station, "slugs": slugs},
        )
        cursor.execute(CONVERSATIONS, {"name": INBOX_CUSTOMER})


def _messages(*, per: int, ids: list[int], every_other: bool, measured: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(MESSAGES, {"per": per, "ids": ids, "all": every_other, "measured": measured})


def build(phase: str) -> dict:
    stations = list(Station.objects.filter(slug__startswith="bench-").order_by("slug"))
    first = next(s for s in stations if s.slug == station_slug(1))
    with transaction.atomic():
        _empty_inbox()
        numbers = _channels(stations)
        if phase == "small":
            _customers_sql([first.slug], SMALL_CONVERSATIONS)
        else:
            _customers_sql([s.slug for s in stations], LARGE_CONVERSATIONS // len(stations))
        from inbox.models import Conversation

        measured = (
            Conversation.objects.filter(station=first, unread=True).order_by("pk").first()
            or Conversation.objects.filter(station=first).order_by("pk").first()
        )
        if phase == "small":
            # The measured conversation fills its page (as at 1M), the rest make up 1,000.
            _messages(per=SMALL_PER_CONVERSATION, ids=[], every_other=True, measured=measured.pk)
            _messages(per=MEASURED_SMALL, ids=[measured.pk], every_other=False, measured=0)
        else:
            _messages(per=PER_CONVERSATION, ids=[], every_other=True, measured=measured.pk)
            _messages(per=MEASURED_LARGE, ids=[measured.pk], every_other=False, measured=0)
    # Vacuumed and analysed now, not by autovacuum in the middle of the measurement (on two
    # cores, autovacuum over a million fresh rows took a third of the CPU the pages needed).
    with connection.cursor() as cursor:
        for table in ("inbox_message", "inbox_conversation", "bookings_customer"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return {
        "session": _session(first),
        "conversation": measured.pk,
        "twilio_numbers": numbers,
        "messages": Message.objects.count(),
    }


if __name__ == "__main__":
    print(json.dumps(build(sys.argv[1] if len(sys.argv) > 1 else "small")))
