"""config.money: amounts shown as currency and typed in dollars and cents, stored in cents."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from bookings.models import PriceList
from config.money import MoneyField, format_money, money_formfield


@pytest.mark.parametrize(
    ("cents", "currency", "shown"),
    [
        (0, "USD", "$0.00"),
        (5, "USD", "$0.05"),
        (6500, "USD", "$65.00"),
        (123456789, "USD", "$1,234,567.89"),
        (-500, "USD", "-$5.00"),
        (1050, "EUR", "€10.50"),
        (1050, "JPY", "10.50 JPY"),
        (None, "USD", "-"),
    ],
)
def test_format_money(cents, currency, shown):
    assert format_money(cents, currency) == shown


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("65", 6500),
        ("65.00", 6500),
        ("65.5", 6550),
        (" $1,250.05 ", 125005),
        ("0.01", 1),
        ("0", 0),
    ],
)
def test_dollars_typed_become_cents(typed, cents):
    assert MoneyField().clean(typed) == cents


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("65.001", "precision"),
        ("abc", "invalid"),
        ("1e400", "invalid"),
        ("NaN", "invalid"),
        ("Infinity", "invalid"),
        ("-5", "min_value"),
        ("", "required"),
    ],
)
def test_bad_amounts_are_refused(typed, code):
    with pytest.raises(ValidationError) as caught:
        MoneyField().clean(typed)
    assert caught.value.code == code


@given(st.integers(min_value=0, max_value=2_147_483_647))
def test_what_is_shown_is_what_comes_back(cents):
    """The form shows an initial value in cents as dollars; submitting it unchanged saves the
    same cents and is not a change."""
    field = MoneyField()
    shown = field.prepare_value(cents)
    assert field.clean(shown) == cents
    assert field.clean(format_money(cents)) == cents
    assert not field.has_changed(cents, shown)


def test_model_cents_field_becomes_a_dollar_field_with_the_model_limits():
    field = money_formfield(PriceList._meta.get_field("adult_price_cents"))
    assert field.label == "Adult price"
    assert "cents" not in field.label.lower()
    assert field.clean("65.00") == 6500
    with pytest.raises(ValidationError):
        field.clean("21474836.48")  # one cent above a PositiveIntegerField
    assert field.clean("21474836.47") == 2_147_483_647
