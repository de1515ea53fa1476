"""Staff of one station reaching for another station's things through the inbox's services:
another station's channel or template in a reply is not found (404), never used."""

import pytest

from config.exceptions import ApiError
from inbox import outbound, services
from inbox.models import Channel, ChannelKind, Message, MessageTemplate, TemplateKind
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(san_jose):
    Channel.objects.create(station=san_jose, kind=ChannelKind.EMAIL, address="sj@example.com")
    customer = CustomerFactory(station=san_jose, email="kim@example.com")
    return services.conversation_for(customer)


@pytest.fixture
def sacramento_sms(sacramento):
    return Channel.objects.create(
        station=sacramento, kind=ChannelKind.SMS_TWILIO, address="+19165550100"
    )


def test_another_stations_channel_in_a_reply_is_not_found(conversation, sacramento_sms, sj_agent):
    with pytest.raises(ApiError) as refusal:
        outbound.reply_send(
            conversation=conversation, author=sj_agent, body="Hello", channel=sacramento_sms
        )
    assert (refusal.value.status_code, refusal.value.error_code) == (404, "not_found")
    assert not Message.objects.exists()


def test_another_stations_template_in_a_reply_is_not_found(conversation, sacramento, sj_agent):
    theirs = MessageTemplate.objects.create(
        station=sacramento, kind=TemplateKind.CANNED, name="Hi", body="Sacramento says hi"
    )
    with pytest.raises(ApiError) as refusal:
        outbound.reply_send(conversation=conversation, author=sj_agent, body="", template=theirs)
    assert (refusal.value.status_code, refusal.value.error_code) == (404, "not_found")
    assert not Message.objects.exists()


def test_assigning_to_someone_of_another_station_is_refused(conversation, sj_agent, sac_agent):
    with pytest.raises(ApiError) as refusal:
        services.conversation_assign(conversation=conversation, assignee=sac_agent, actor=sj_agent)
    assert refusal.value.status_code == 400
    conversation.refresh_from_db()
    assert conversation.assignee is None
