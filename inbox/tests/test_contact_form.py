"""The public contact form: a visitor's message becomes a `web` message in their customer's
thread, stored once, never changing a stored customer, refused clearly when it cannot be taken,
and quietly dropped when a program filled it in."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from bookings.models import Customer
from inbox.models import Channel, ChannelKind, ContactIdentity, Conversation, Message
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CONTACT = "/api/v1/contact/"
NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def web(san_jose):
    return Channel.objects.create(station=san_jose, kind=ChannelKind.WEB, address="san-jose")


def stored(customer) -> dict:
    """What the customer's row says about them (its bookkeeping columns aside)."""
    row = Customer.objects.filter(pk=customer.pk).values().get()
    return {k: v for k, v in row.items() if k != "updated_at"}


def form(**fields):
    return {
        "name": "Kim Lee",
        "email": "Kim@Example.com",
        "message": "Do you cater for 30 people on May 2?",
        "station": "san-jose",
        **fields,
    }


def test_a_message_lands_in_the_customers_thread(api_client, web):
    response = api_client.post(CONTACT, form(phone="(408) 555-0177"))

    assert response.status_code == 201, response.json()
    assert response.json() == {"received": True}
    message = Message.objects.get()
    assert (message.channel, message.direction, message.body) == (
        web,
        "in",
        "Do you cater for 30 people on May 2?",
    )
    assert message.subject == "Contact form: Kim Lee, kim@example.com, +14085550177"
    customer = message.conversation.customer
    assert (customer.station_id, customer.name, customer.email, customer.phone) == (
        web.station_id,
        "Kim Lee",
        "kim@example.com",
        "+14085550177",
    )
    assert message.identity.kind == "email"
    assert message.identity.external_id == "kim@example.com"
    conversation = message.conversation
    assert (conversation.unread, conversation.waiting_since) == (True, NOW)


def test_an_existing_customer_is_found_and_left_as_stored(api_client, web, san_jose):
    known = CustomerFactory(station=san_jose, name="Kim Lee", email="kim@example.com", phone="")
    before = stored(known)

    response = api_client.post(
        CONTACT, form(name="Someone Else", email="KIM@example.com", phone="+14085550199")
    )

    assert response.status_code == 201
    assert Message.objects.get().conversation.customer_id == known.pk
    assert stored(known) == before  # not even the phone
    assert "Someone Else" in Message.objects.get().subject  # what they typed, for staff
    assert Customer.objects.count() == 1


def test_a_visitor_who_leaves_only_a_phone_joins_the_customer_with_that_number(
    api_client, web, san_jose
):
    known = CustomerFactory(station=san_jose, name="Kim Lee", phone="+14085550177")
    before = stored(known)

    first = api_client.post(CONTACT, form(name="K", email="", phone="408-555-0177"))
    again = api_client.post(CONTACT, form(name="K", phone="4085550177", email=""))

    assert (first.status_code, again.status_code) == (201, 201)
    assert set(Message.objects.values_list("conversation__customer", flat=True)) == {known.pk}
    assert stored(known) == before
    identity = ContactIdentity.objects.get()
    assert (identity.customer_id, identity.external_id, identity.phone) == (
        known.pk,
        "+14085550177",
        "+14085550177",
    )
    assert Customer.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_a_new_phone_only_visitor_becomes_a_customer_with_no_e_mail(api_client, web):
    response = api_client.post(CONTACT, form(email="", phone="+14085550188"))

    assert response.status_code == 201
    customer = Customer.objects.get()
    assert (customer.name, customer.phone, customer.email) == ("Kim Lee", "+14085550188", "")


def test_without_a_station_the_only_active_one_gets_it(api_client, web, sacramento):
    sacramento.active = False
    sacramento.save()

    response = api_client.post(CONTACT, form(station=""))
    left_out = api_client.post(CONTACT, {k: v for k, v in form().items() if k != "station"})

    assert (response.status_code, left_out.status_code) == (201, 201)
    assert set(Message.objects.values_list("channel", flat=True)) == {web.pk}


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"station": ""}, "Choose the station"),  # two active stations
        ({"station": "nowhere"}, "Unknown station"),
        ({"station": "sacramento"}, "does not take messages online"),  # no web channel
    ],
)
def test_a_station_that_cannot_take_it_is_400(api_client, web, fields, why):
    response = api_client.post(CONTACT, form(**fields))

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert why in response.json()["fields"]["station"][0]
    assert not Message.objects.exists()


def test_a_switched_off_web_channel_takes_nothing(api_client, web):
    web.active = False
    web.save()

    response = api_client.post(CONTACT, form())

    assert response.status_code == 400
    assert "station" in response.json()["fields"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "", "phone": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"name": ""}, "name"),
        ({"message": ""}, "message"),
        ({"message": "x" * 5001}, "message"),
        ({"name": ["Kim"]}, "name"),
        ({"station": 5}, "station"),
        ({"form_started_at": "yesterday"}, "form_started_at"),
        ({"form_started_at": "2026-03-04T17:00:00"}, "form_started_at"),  # no offset
        ({"extra": "field"}, "extra"),
    ],
)
def test_bad_input_is_400_with_the_field(api_client, web, fields, field):
    response = api_client.post(CONTACT, form(**fields), format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Message.objects.exists()


@pytest.mark.parametrize("body", [b"", b"[]", b'"text"', b"{", b'{"name": "\\u0000"}', b"null"])
def test_junk_bodies_are_400_never_500(api_client, web, body):
    response = api_client.generic("POST", CONTACT, body, content_type="application/json")

    assert response.status_code == 400
    assert not Message.objects.exists()


def test_a_filled_honeypot_is_answered_alike_and_stores_nothing(api_client, web):
    response = api_client.post(CONTACT, form(website="http://spam.example"))

    assert response.status_code == 201
    assert response.json() == {"received": True}
    assert not Message.objects.exists()
    assert not Customer.objects.exists()


def test_a_form_sent_faster_than_a_person_types_stores_nothing(api_client, web):
    too_fast = api_client.post(CONTACT, form(form_started_at="2026-03-04T17:59:58Z"))
    a_person = api_client.post(CONTACT, form(form_started_at="2026-03-04T09:58:00-08:00"))

    assert (too_fast.status_code, a_person.status_code) == (201, 201)
    assert too_fast.json() == a_person.json()
    assert Message.objects.count() == 1


def test_the_same_idempotency_key_stores_once(api_client, web):
    first = api_client.post(CONTACT, form(), HTTP_IDEMPOTENCY_KEY="form-1")
    again = api_client.post(CONTACT, form(), HTTP_IDEMPOTENCY_KEY="form-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    assert api_client.post(CONTACT, form()).status_code == 201
    assert Message.objects.count() == 2  # without a key, each post is a message


def test_a_retry_whose_first_answer_was_lost_stores_nothing_new(api_client, web):
    from config.models import IdempotencyKey

    api_client.post(CONTACT, form(), HTTP_IDEMPOTENCY_KEY="form-2")
    IdempotencyKey.objects.update(
        response_status=None, response_sealed=None, created_at=NOW - timedelta(hours=1)
    )

    retried = api_client.post(CONTACT, form(), HTTP_IDEMPOTENCY_KEY="form-2")

    assert retried.status_code == 201
    assert Message.objects.count() == 1


def test_the_form_has_its_own_rate_limit(api_client, web, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "contact": "2/min"}

    codes = [api_client.post(CONTACT, form()).status_code for _ in range(3)]

    assert codes == [201, 201, 429]
    assert Message.objects.count() == 2


def test_nothing_of_the_visitor_reaches_the_logs(api_client, web, caplog):
    caplog.set_level("DEBUG")

    api_client.post(CONTACT, form(phone="+14085550177"))
    api_client.post(CONTACT, form(website="x", email="spam@example.com"))

    assert "kim@example.com" not in caplog.text.lower()
    assert "5550177" not in caplog.text
    assert "spam@example.com" not in caplog.text


def test_the_schema_documents_the_form(api_client):
    operation = api_client.get("/api/schema/", {"format": "json"}).json()["paths"][
        "/api/v1/contact/"
    ]["post"]

    assert {"201", "400", "429"} <= set(operation["responses"])
    assert "401" not in operation["responses"]
    assert {} in operation.get("security", [{}])  # no credentials
