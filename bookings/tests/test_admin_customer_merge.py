"""Merging two customers from the admin's customer list (the action calls inbox.merge)."""

import pytest
from django.test import Client
from django.urls import reverse

from bookings.models import Customer
from inbox import services
from inbox.models import Channel, ChannelKind, CustomerMerge, Message
from inbox.services import SenderInfo
from testing.factories import CustomerFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]  # books days ahead of today
URL = reverse("admin:bookings_customer_changelist")


@pytest.fixture
def pair(san_jose):
    """One person twice: booked under an e-mail, then texted from a phone."""
    booked = make_booking(san_jose, days=12).customer
    sms = Channel.objects.create(
        station=san_jose, kind=ChannelKind.SMS_TWILIO, address="+14085550100"
    )
    texted = services.inbound_receive(
        channel=sms,
        sender=SenderInfo(external_id="+14085550188", phone="+14085550188"),
        provider_message_id="SMmerge1",
        body="Hi, it's me again from my other phone",
    ).conversation.customer
    return booked, texted


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_agent_merges_two_customers_after_choosing_which_to_keep(pair, sj_agent):
    booked, texted = pair
    client = signed_in(sj_agent)
    selected = {"action": "merge_customers", "_selected_action": [booked.pk, texted.pk]}

    page = client.post(URL, selected)
    assert page.status_code == 200
    assert booked.name in page.content.decode()
    assert Customer.objects.filter(pk=texted.pk).exists()  # nothing happens before "Merge"

    done = client.post(URL, {**selected, "apply": "Merge", "keep": booked.pk}, follow=True)
    assert done.status_code == 200
    assert not Customer.objects.filter(pk=texted.pk).exists()
    assert booked.bookings.count() == 1
    assert Message.objects.get(provider_message_id="SMmerge1").conversation.customer == booked
    record = CustomerMerge.objects.get(kept=booked)
    assert record.merged_customer_id == texted.pk
    assert record.actor == sj_agent
    assert "merged into" in done.content.decode()


def test_another_stations_customer_is_not_merged(pair, sacramento, sj_agent):
    booked, _ = pair
    theirs = CustomerFactory(station=sacramento)
    client = signed_in(sj_agent)
    answer = client.post(
        URL,
        {
            "action": "merge_customers",
            "_selected_action": [booked.pk, theirs.pk],
            "apply": "Merge",
            "keep": booked.pk,
        },
        follow=True,
    )
    assert answer.status_code == 200
    assert Customer.objects.filter(pk=theirs.pk).exists()
    assert not CustomerMerge.objects.exists()


def test_chefs_cannot_merge(pair, sj_chef):
    booked, texted = pair
    client = signed_in(sj_chef)
    client.post(
        URL,
        {
            "action": "merge_customers",
            "_selected_action": [booked.pk, texted.pk],
            "apply": "Merge",
            "keep": booked.pk,
        },
    )
    assert Customer.objects.filter(pk=texted.pk).exists()
