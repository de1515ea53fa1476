"""Money on the booking page and list is shown per station (issue 12, points 1, 5 and 8): a chef
reads the history without any amount, someone who manages one station and cooks at another sees
money only on the first's rows, and the history's times are in the station's zone."""

from datetime import UTC, datetime

import pytest

from bookings import services
from bookings.admin.booking import NO_MONEY
from bookings.admin.booking_page import history_text
from bookings.models import Booking
from bookings.policy import cancellation_terms
from bookings.tests.test_admin_booking_page import (
    LIST,
    as_user,
    book,
    clock,  # noqa: F401  (a fixture)
    listed,
    on,
    page_url,
)
from payments.outside import payment_record_outside
from stations.models import Chef, Role
from testing.factories import MembershipFactory, PaymentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

# 6:12 p.m. on Dec 1 in San Jose (PST), already Dec 2 in UTC.
RECEIVED = datetime(2026, 12, 2, 2, 12, tzinfo=UTC)


def paid(booking: Booking) -> Booking:
    """The Stripe deposit paid and the booking confirmed."""
    PaymentFactory(booking=booking, paid=True)
    services.booking_transition(
        booking=booking, to_status="confirmed", actor=services.SYSTEM, reason="deposit paid"
    )
    booking.refresh_from_db()
    return booking


@pytest.fixture
def moneyed_history(clock, san_jose, sj_manager):  # noqa: F811
    """sj_chef's booking with a Stripe deposit, $123.45 in cash, and two policy lines."""
    kenji = Chef.objects.get(station=san_jose, name="Kenji Tanaka")
    booking = paid(book(san_jose, on(12), start="18:00", chef=kenji))
    payment_record_outside(
        booking=booking,
        amount_cents=12_345,
        method="cash",
        taken_by="Bob",
        received_at=RECEIVED,
        note="deposit in cash at the door",
        actor=services.Actor.of(sj_manager),
        request_key="test-cash-deposit",
    )
    booking.refresh_from_db()
    services.booking_note(
        booking=booking,
        actor=services.SYSTEM,
        reason="cancellation quoted",
        data={"policy": cancellation_terms(booking).as_dict()},
    )
    services.booking_note(
        booking=booking,
        actor=services.SYSTEM,
        reason="reschedule quoted",
        data={"policy": {"rule": "change_fee", "fee_cents": 5_000, "hours_before": 30}},
    )
    services.booking_update_details(
        booking=Booking.objects.get(pk=booking.pk), actor=services.SYSTEM, allergies="peanuts"
    )
    return Booking.objects.get(pk=booking.pk)


def test_chef_reads_the_history_without_any_amount(client, moneyed_history, sj_chef):
    html = as_user(client, sj_chef).get(page_url(moneyed_history)).content.decode()

    assert "$" not in html
    assert "123.45" not in html
    assert "an amount taken by Bob (cash) recorded: deposit in cash at the door" in html
    assert "policy: change fee, 30 h before the event" in html
    assert "Pending deposit → Confirmed" in html  # status changes stay
    assert "peanuts" in html  # allergies stay
    assert "fee_cents" not in html


def test_manager_still_reads_the_history_with_money(client, moneyed_history, sj_manager):
    html = as_user(client, sj_manager).get(page_url(moneyed_history)).content.decode()

    assert "$123.45 taken by Bob (cash) recorded" in html
    assert "amount: $123.45" in html
    assert "policy: change fee, fee $50.00, 30 h before the event" in html
    assert "refund $" in html


def test_history_shows_times_in_the_stations_zone(client, moneyed_history, sj_manager):
    html = as_user(client, sj_manager).get(page_url(moneyed_history)).content.decode()

    assert "received at: Dec. 1, 2026, 6:12 p.m. PST" in html
    assert RECEIVED.isoformat() not in html
    assert "2026-12-02T02:12" not in html


def test_history_text_without_money_drops_amounts_keeps_the_rest():
    data = {
        "policy": {"rule": "full_refund", "refund_cents": 10_000, "hours_before": 200},
        "amount_cents": 5_000,
        "payment_intent": "pi_1",
        "gate": "4521",
    }

    text = history_text(data, currency="USD", chefs={}, money=False)

    assert text == "policy: full refund, 200 h before the event · gate: 4521"
    assert "$100.00" in history_text(data, currency="USD", chefs={})


# --- a manager of one station who cooks at another ---


@pytest.fixture
def two_hats(clock, sac_manager, san_jose, sacramento):  # noqa: F811
    """sac_manager also cooks at San Jose (as Maria Lopez); one paid booking at each."""
    MembershipFactory(user=sac_manager, station=san_jose, role=Role.CHEF)
    maria = Chef.objects.get(station=san_jose, name="Maria Lopez")
    Chef.objects.filter(pk=maria.pk).update(user=sac_manager)
    cooks = paid(book(san_jose, on(12), start="18:00", chef=maria))
    manages = paid(book(sacramento, on(12), start="18:00"))
    return cooks, manages


def test_list_shows_money_only_on_rows_of_stations_where_the_role_sees_it(
    client, two_hats, sac_manager, san_jose, sacramento
):
    cooks, manages = two_hats
    client = as_user(client, sac_manager)

    at_san_jose = client.get(LIST, {"station": san_jose.pk, "when": "all"})
    at_sacramento = client.get(LIST, {"station": sacramento.pk, "when": "all"})

    assert listed(at_san_jose) == [cooks.reference]
    assert "$" not in at_san_jose.content.decode()
    assert listed(at_sacramento) == [manages.reference]
    assert f"${manages.deposit_cents // 100:,}.00" in at_sacramento.content.decode()
    cl = at_san_jose.context["cl"]
    assert cl.model_admin.total_display(cl.result_list[0]) == NO_MONEY


def test_money_filter_acts_only_on_stations_where_the_role_sees_money(
    client, two_hats, sac_manager
):
    cooks, manages = two_hats
    client = as_user(client, sac_manager)

    assert cooks.balance_due_cents
    assert manages.balance_due_cents
    assert listed(client.get(LIST, {"money": "outstanding", "when": "all"})) == [manages.reference]
    assert cooks.reference not in listed(client.get(LIST, {"money": "settled", "when": "all"}))
    # without the filter, both are listed
    assert set(listed(client.get(LIST, {"when": "all"}))) == {cooks.reference, manages.reference}
