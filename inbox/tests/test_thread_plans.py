"""The assumption behind inbox.selectors.thread_messages (a shortcut for speed): a thread's
newest page is read backwards along the message_thread index even when PostgreSQL plans the
statement once for every conversation (a generic plan, which server-side prepared statements
lead to). With the conversation as a bound parameter that plan reads and sorts the whole
thread; with the literal it does not. Both halves are checked, so the test shows the cause."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from inbox import selectors
from inbox.models import Channel, ChannelKind, Conversation, Message
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


@pytest.fixture
def long_thread(san_jose):
    """One thread of 5,000 messages among 200 threads of 2: the planner's average is small."""
    channel = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )

    def thread(n_messages):
        conversation = Conversation.objects.create(
            station=san_jose, customer=CustomerFactory(station=san_jose)
        )
        Message.objects.bulk_create(
            Message(
                conversation=conversation,
                channel=channel,
                direction="in",
                sender="customer",
                body=f"message {i}",
                created_at=T0 + timedelta(minutes=i),
            )
            for i in range(n_messages)
        )
        return conversation

    for _ in range(200):
        thread(2)
    long = thread(5_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_message")
    return long


def generic_plan(queryset) -> str:
    """The plan PostgreSQL uses once it plans the statement for any parameter values."""
    sql, params = queryset.query.sql_with_params()
    for n in range(1, len(params) + 1):
        sql = sql.replace("%s", f"${n}", 1)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE thread_page_plan AS {sql}")
        try:
            values = ", ".join(str(int(value)) for value in params)  # ids only, here
            execute = (
                f"EXECUTE thread_page_plan({values})" if params else "EXECUTE thread_page_plan"
            )
            cursor.execute(f"EXPLAIN {execute}")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE thread_page_plan")


def newest_page(messages):
    return messages.select_related("channel", "author").order_by("-created_at", "-pk")[:51]


def test_the_newest_page_of_a_long_thread_is_read_backwards_along_the_index(long_thread):
    plan = generic_plan(newest_page(selectors.thread_messages(long_thread)))
    assert "Backward" in plan, plan
    assert "Bitmap" not in plan, plan  # not the whole thread, then sorted


def test_with_a_bound_parameter_the_generic_plan_sorts_the_whole_thread(long_thread):
    """Why the literal: the parameterised statement's generic plan (the cause, kept visible)."""
    plan = generic_plan(newest_page(Message.objects.filter(conversation=long_thread)))
    assert "Backward" not in plan, plan


def test_the_page_is_the_same_either_way(long_thread):
    fast = list(newest_page(selectors.thread_messages(long_thread)))
    plain = list(newest_page(Message.objects.filter(conversation=long_thread)))
    assert [m.pk for m in fast] == [m.pk for m in plain]
    assert len(fast) == 51
