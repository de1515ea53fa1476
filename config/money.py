"""Money as people read and type it: amounts are stored in integer cents (DESIGN.md §3) and
shown and entered as currency amounts ("$1,234.50", "65.00"). Nothing here rounds: an amount
typed with more than two decimals is refused, not rounded."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "€", "GBP": "£"}


def format_money(cents: int | None, currency: str = "USD") -> str:
    """`1234550, "USD"` → "$12,345.50"; a negative amount "-$5.00"; None → "-"."""
    if cents is None:
        return "-"
    sign = "-" if cents < 0 else ""
    amount = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    symbol = SYMBOLS.get((currency or "USD").upper())
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def cents_to_decimal(cents: int | None) -> Decimal | None:
    return None if cents is None else (Decimal(cents) / 100).quantize(Decimal("0.01"))


class MoneyInput(forms.TextInput):
    """A text box for an amount: the number keypad on phones, and the value as "65.00"."""

    def __init__(self, attrs=None):
        super().__init__(
            {"inputmode": "decimal", "placeholder": "0.00", "size": 10, **(attrs or {})}
        )

    def format_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{cents_to_decimal(value)}"
        return super().format_value(value)


class MoneyField(forms.Field):
    """Takes dollars and cents ("65", "65.00", "$1,250.5") and cleans to integer cents (6500).
    The initial value is in cents and shown as dollars, so a model's `*_cents` field round-trips.
    """

    widget = MoneyInput
    default_error_messages = {
        "invalid": "Enter an amount in dollars and cents, like 65.00.",
        "precision": "Use at most two decimals (cents).",
        "min_value": "Enter at least %(limit)s.",
        "max_value": "Enter at most %(limit)s.",
    }

    def __init__(self, *, min_cents: int | None = 0, max_cents: int | None = None, **kwargs):
        self.min_cents, self.max_cents = min_cents, max_cents
        kwargs.setdefault("help_text", "")
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already cents (an initial value)
        text = str(value).strip().replace(",", "").replace(" ", "")
        for symbol in sorted(SYMBOLS.values(), key=len, reverse=True):
            text = text.removeprefix(symbol)
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not amount.is_finite() or abs(amount) >= Decimal(10) ** 12:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        cents = amount * 100
        if cents != cents.to_integral_value():
            raise ValidationError(self.error_messages["precision"], code="precision")
        return int(cents)

    def validate(self, value):
        super().validate(value)
        if value is None:
            return
        if self.min_cents is not None and value < self.min_cents:
            limit = format_money(self.min_cents).lstrip("$")
            raise ValidationError(
                self.error_messages["min_value"], code="min_value", params={"limit": limit}
            )
        if self.max_cents is not None and value > self.max_cents:
            limit = format_money(self.max_cents).lstrip("$")
            raise ValidationError(
                self.error_messages["max_value"], code="max_value", params={"limit": limit}
            )

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{cents_to_decimal(value)}"  # an initial value in cents, shown as dollars
        return value

    def has_changed(self, initial, data):
        try:
            return self.to_python(initial) != self.to_python(data)
        except ValidationError:
            return True


def is_cents_field(db_field) -> bool:
    from django.db import models

    return db_field.name.endswith("_cents") and isinstance(db_field, models.IntegerField)


def money_formfield(db_field, **kwargs) -> MoneyField:
    """The form field for a model's `*_cents` integer field: the same label without "cents",
    the model's limits (a PositiveIntegerField's 0 and 2147483647) in cents."""
    from django.db import models

    label = (kwargs.pop("label", None) or db_field.verbose_name).removesuffix(" cents")
    maximum = 2_147_483_647 if isinstance(db_field, models.PositiveIntegerField) else None
    return MoneyField(
        label=label[:1].upper() + label[1:],
        required=not db_field.blank,
        initial=db_field.default if isinstance(db_field.default, int) else None,
        min_cents=0 if isinstance(db_field, models.PositiveIntegerField) else None,
        max_cents=maximum,
        help_text=db_field.help_text or "In dollars and cents, e.g. 65.00",
        **{k: v for k, v in kwargs.items() if k in ("widget", "disabled")},
    )
