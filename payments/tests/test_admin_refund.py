"""The refund page of the payments admin and its money in dollars (issue 12, point 4): it
starts empty, says what is refundable, takes dollars and cents, and refuses more than that."""

import re

import pytest
from django.urls import reverse

from payments.models import Refund, StripeEvent
from payments.tests.conftest import deposit_of

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

CHANGELIST = "admin:payments_payment_changelist"


@pytest.fixture
def manager(client, sj_manager):
    client.force_login(sj_manager)
    return client


def _refund(client, payment, **extra):
    data = {"action": "refund_selected", "_selected_action": [payment.pk], **extra}
    return client.post(reverse(CHANGELIST), data, follow=True)


def test_the_form_starts_empty_and_says_what_is_refundable(paid_booking, manager):
    html = _refund(manager, deposit_of(paid_booking)).content.decode()

    field = re.search(r"<input[^>]*name=\"amount\"[^>]*>", html).group(0)
    assert "value=" not in field
    assert "of $100.00 refundable" in html
    assert "paid $100.00" in html
    assert "cents" not in html.lower().replace("dollars and cents", "")


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("100.01", "At most $100.00 can be refunded on this payment."),
        ("2,000", "At most $100.00 can be refunded on this payment."),
        ("25.001", "Use at most two decimals (cents)."),
        ("abc", "Enter an amount in dollars and cents, like 65.00."),
        ("-5", "Enter at least 0.01."),
        ("0", "Enter at least 0.01."),
        ("", "This field is required."),
    ],
)
def test_a_bad_amount_is_a_form_error_and_refunds_nothing(paid_booking, manager, typed, error):
    response = _refund(manager, deposit_of(paid_booking), apply="Refund", amount=typed)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Refund.objects.exists()


def test_dollars_typed_are_refunded_in_cents(paid_booking, manager):
    payment = deposit_of(paid_booking)

    done = _refund(manager, payment, apply="Refund", amount="$37.50", refund_token="9")

    assert "refund of $37.50 sent" in done.content.decode()
    assert Refund.objects.get().amount_cents == 3750
    again = _refund(manager, payment).content.decode()
    assert "of $62.50 refundable" in again


def test_the_payment_pages_show_dollars(paid_booking, manager):
    payment = deposit_of(paid_booking)
    _refund(manager, payment, apply="Refund", amount="10", refund_token="3")

    listing = manager.get(reverse(CHANGELIST)).content.decode()
    page = manager.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    ledger = manager.get(reverse("admin:payments_stripeevent_changelist")).content.decode()

    for shown in ("$100.00", "$10.00", "$90.00"):  # paid, refunded, refundable
        assert shown in listing
    html = page.content.decode()
    for shown in ("$100.00", "$90.00", "$10.00"):  # paid, refundable, the refund
        assert shown in html
    assert "10000" not in html.replace(payment.stripe_payment_intent_id, "")
    assert StripeEvent.objects.exists()
    assert "$100.00" in ledger


def test_another_stations_manager_cannot_refund(paid_booking, client, sac_manager):
    client.force_login(sac_manager)

    response = _refund(client, deposit_of(paid_booking), apply="Refund", amount="10")

    # The row is outside the user's queryset: Django's "no items selected", nothing shown.
    assert response.status_code in (200, 403, 404)
    assert paid_booking.reference not in response.content.decode()
    assert "refundable" not in response.content.decode()
    assert not Refund.objects.exists()
