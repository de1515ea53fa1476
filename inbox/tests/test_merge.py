"""Merging two customers: nothing is lost (messages, bookings, payments), identities and the
thread move to the kept customer, contact and consent are combined, the merge is recorded, and
two merges of the same pair at once give one merge and one clean refusal."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import models
from django.test.utils import isolate_apps

from bookings.models import Booking, Customer
from config.services import api_token_issue
from config.tests.live import storm
from inbox import merge, services
from inbox.models import (
    Channel,
    ChannelKind,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    CustomerMerge,
    Message,
)
from inbox.services import SenderInfo
from payments.models import Payment
from testing.factories import CustomerFactory, PaymentFactory, make_booking

T0 = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
MERGE = "/api/v1/staff/customers/merge"
ALIAS = "/api/v1/staff/conversations/merge-customers"


@pytest.fixture
def sms(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )


@pytest.fixture
def email(san_jose):
    return Channel.objects.create(
        station=san_jose, kind=ChannelKind.EMAIL, address="sanjose@example.com"
    )


def receive(channel, external_id, pid, at=T0, **sender) -> Message:
    return services.inbound_receive(
        channel=channel,
        sender=SenderInfo(external_id=external_id, **sender),
        provider_message_id=pid,
        body=f"message {pid}",
        received_at=at,
    )


@pytest.fixture
def pair(san_jose, sms, email, sj_agent):
    """Kim wrote by e-mail and booked twice (one paid); "+14085550177" texted and booked once:
    the same person, as two customers of san-jose."""
    kim = CustomerFactory(station=san_jose, name="Kim Lee", email="kim@example.com")
    texter = CustomerFactory(
        station=san_jose, name="New contact", email="", phone="+14085550177", sms_opt_in=True
    )
    for n in range(3):
        receive(email, "kim@example.com", f"<m{n}@example.com>", at=T0 + timedelta(hours=n))
    for n in range(2):
        receive(sms, "+14085550177", f"SM{n}", at=T0 - timedelta(hours=1) + timedelta(hours=3 * n))
    kept_thread = Conversation.objects.get(customer=kim)
    services.note_add(conversation=kept_thread, author=sj_agent, body="regular")
    PaymentFactory(booking=make_booking(san_jose, customer=kim), paid=True)
    make_booking(san_jose, customer=kim, days=12)
    PaymentFactory(booking=make_booking(san_jose, customer=texter, days=14), paid=True)
    return kim, texter


def counts() -> dict:
    return {
        "messages": Message.objects.count(),
        "bookings": Booking.objects.count(),
        "payments": Payment.objects.count(),
        "identities": ContactIdentity.objects.count(),
    }


@pytest.mark.django_db
def test_nothing_is_lost_and_everything_points_at_the_kept_customer(pair, sj_agent):
    kim, texter = pair
    before = counts()
    texter_thread = Conversation.objects.get(customer=texter)

    record = merge.customers_merge(keep=kim, merge=texter, actor=sj_agent)

    assert counts() == before
    assert not Customer.objects.filter(pk=texter.pk).exists()
    assert not Conversation.objects.filter(pk=texter_thread.pk).exists()
    thread = Conversation.objects.get(customer=kim)
    assert thread.messages.count() == before["messages"]
    assert set(ContactIdentity.objects.values_list("customer", flat=True)) == {kim.pk}
    assert set(Booking.objects.values_list("customer", flat=True)) == {kim.pk}
    assert Payment.objects.filter(booking__customer=kim).count() == before["payments"]
    assert (record.kept, record.merged_customer_id, record.merged_name) == (
        kim,
        texter.pk,
        "New contact",
    )
    assert record.actor == sj_agent
    assert record.moved == {
        "bookings": 1,
        "booking_events": 1,  # its history, and its payment, came along
        "payments": 1,
        "identities": 1,
        "messages": 2,
        "conversations": 1,
    }


@pytest.mark.django_db
def test_the_thread_keeps_the_earliest_and_the_latest_of_both(pair, sj_agent, sj_manager):
    kim, texter = pair
    kept = Conversation.objects.get(customer=kim)
    gone = Conversation.objects.get(customer=texter)
    # Kim's thread was answered and read; the texter's waits, unread and assigned.
    Conversation.objects.filter(pk=kept.pk).update(
        unread=False,
        waiting_since=None,
        first_response_at=T0 + timedelta(hours=3),
        status=ConversationStatus.CLOSED,
    )
    Conversation.objects.filter(pk=gone.pk).update(
        assignee=sj_agent, created_at=T0 - timedelta(days=2)
    )

    merge.customers_merge(keep=kim, merge=texter, actor=sj_manager)

    thread = Conversation.objects.get(customer=kim)
    assert thread.pk == kept.pk
    assert thread.created_at == T0 - timedelta(days=2)
    assert thread.first_response_at == T0 + timedelta(hours=3)
    assert thread.waiting_since == T0 - timedelta(hours=1)
    assert thread.unread is True
    assert thread.status == ConversationStatus.OPEN  # the texter's was open
    assert thread.assignee == sj_agent
    assert thread.last_message_at == T0 + timedelta(hours=2)  # Kim's last e-mail, the latest
    assert thread.last_message_preview == "message <m2@example.com>"
    assert thread.last_inbound_channel.kind == ChannelKind.EMAIL


@pytest.mark.django_db
def test_a_kept_customer_without_a_thread_takes_the_merged_ones(san_jose, sms, sj_agent):
    kept = CustomerFactory(station=san_jose, email="ann@example.com")
    texter_thread = receive(sms, "+14085550188", "SM9").conversation

    record = merge.customers_merge(keep=kept, merge=texter_thread.customer, actor=sj_agent)

    texter_thread.refresh_from_db()
    assert texter_thread.customer_id == kept.pk
    assert record.moved["messages"] == 1


@pytest.mark.django_db
def test_contact_and_consent_are_combined(san_jose, sj_agent):
    kept = CustomerFactory(
        station=san_jose, email="kim@example.com", phone="", marketing_opt_in=True
    )
    merged = CustomerFactory(
        station=san_jose,
        email="kim.lee@example.com",
        phone="+14085550177",
        sms_opt_in=True,
        email_opt_in=False,
        do_not_contact=True,
    )

    merge.customers_merge(keep=kept, merge=merged, actor=sj_agent)

    kept.refresh_from_db()
    assert kept.email == "kim@example.com"  # kept's own
    assert kept.phone == "+14085550177"  # it had none: taken, with its consent
    assert kept.sms_opt_in is True
    assert kept.email_opt_in is False  # both had an e-mail: the stricter
    assert kept.marketing_opt_in is False
    assert kept.do_not_contact is True


@pytest.mark.django_db
def test_refused_merges(san_jose, sacramento, sj_agent):
    one = CustomerFactory(station=san_jose)
    other_station = CustomerFactory(station=sacramento)

    for keep, gone in [(one, one), (one, other_station)]:
        with pytest.raises(merge.ApiError) as refused:
            merge.customers_merge(keep=keep, merge=gone, actor=sj_agent)
        assert refused.value.status_code == 400
        assert "merge" in refused.value.fields
    assert Customer.objects.count() == 2
    assert not CustomerMerge.objects.exists()


@pytest.mark.django_db
def test_an_unknown_one_to_one_relation_stops_the_merge():
    """A later app's one-to-one to Customer has no safe generic move: the merge refuses rather
    than lose or break its rows; a plain foreign key is simply re-pointed."""
    with isolate_apps("inbox"):

        class Loyalty(models.Model):  # noqa: DJ008
            customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="+")

        class Visit(models.Model):  # noqa: DJ008
            customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

        class Seat(models.Model):  # noqa: DJ008
            customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
            number = models.IntegerField()

            class Meta:
                constraints = [
                    models.UniqueConstraint(fields=["customer", "number"], name="one_seat")
                ]

        with pytest.raises(merge.MergeUnsupported, match=r"Loyalty\.customer"):
            merge._mover_for(Loyalty._meta.get_field("customer").remote_field)
        with pytest.raises(merge.MergeUnsupported, match=r"Seat\.customer"):
            merge._mover_for(Seat._meta.get_field("customer").remote_field)
        assert merge._mover_for(Visit._meta.get_field("customer").remote_field) is merge._repoint


# --- Through the API -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [MERGE, f"{MERGE}/", ALIAS])
def test_the_api_answers_the_kept_customer_and_what_moved(staff_client, sj_agent, pair, url):
    kim, texter = pair

    response = staff_client(sj_agent).post(url, {"keep": kim.pk, "merge": texter.pk})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["merged_customer_id"] == texter.pk
    assert body["customer"]["id"] == kim.pk
    assert body["customer"]["phone"] == "+14085550177"
    assert {i["kind"] for i in body["customer"]["identities"]} == {"email", "sms"}
    assert body["moved"]["messages"] == 2
    assert body["merge_id"] == CustomerMerge.objects.get().pk


@pytest.mark.django_db
def test_another_stations_customer_is_not_found(staff_client, sj_agent, san_jose, sacramento):
    mine = CustomerFactory(station=san_jose)
    theirs = CustomerFactory(station=sacramento)

    for body in ({"keep": mine.pk, "merge": theirs.pk}, {"keep": theirs.pk, "merge": mine.pk}):
        response = staff_client(sj_agent).post(MERGE, body)
        assert response.status_code == 404
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_the_api_refuses_with_the_field(staff_client, owner, san_jose, sacramento):
    mine = CustomerFactory(station=san_jose)
    theirs = CustomerFactory(station=sacramento)
    client = staff_client(owner)

    same = client.post(MERGE, {"keep": mine.pk, "merge": mine.pk})
    across = client.post(ALIAS, {"keep": mine.pk, "merge": theirs.pk})
    bad = client.post(MERGE, {"keep": "x", "merge": 0})

    assert (same.status_code, across.status_code, bad.status_code) == (400, 400, 400)
    assert "merge" in same.json()["fields"]
    assert "merge" in across.json()["fields"]
    assert set(bad.json()["fields"]) == {"keep", "merge"}


@pytest.mark.django_db
def test_chefs_cannot_merge(staff_client, sj_chef, san_jose):
    one, two = CustomerFactory(station=san_jose), CustomerFactory(station=san_jose)

    response = staff_client(sj_chef).post(MERGE, {"keep": one.pk, "merge": two.pk})

    assert response.status_code == 403
    assert Customer.objects.count() == 2


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_same_merge_twice_at_once_merges_once(live_server, settings, pair, owner):
    """Both requests pass the API's checks; the customer rows, locked in id order, let one
    merge through and the other find its customer gone: 200 and 404, never a 500."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "staff": "10000/min"}
    kim, texter = pair
    before = counts()
    headers = {"Authorization": f"Token {api_token_issue(user=owner)[1]}"}
    body = {"keep": kim.pk, "merge": texter.pk}
    swapped = {"keep": texter.pk, "merge": kim.pk}

    results = storm(
        [
            (f"{live_server.url}{MERGE}", body, headers),
            (f"{live_server.url}{ALIAS}", body, headers),
            (f"{live_server.url}{MERGE}", swapped, headers),
        ]
    )

    codes = sorted(code for code, _ in results)
    assert codes == [200, 404, 404], results
    assert CustomerMerge.objects.count() == 1
    assert Customer.objects.filter(pk__in=[kim.pk, texter.pk]).count() == 1
    assert counts() == before
    survivor = Customer.objects.get(pk__in=[kim.pk, texter.pk])
    assert Conversation.objects.filter(customer=survivor).count() == 1
    assert Conversation.objects.count() == 1
