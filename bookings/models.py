"""Bookings domain: the station's price list (menu and add-ons)."""

from django.core.validators import MaxValueValidator
from django.db import models

from stations.models import Station


class DepositKind(models.TextChoices):
    FIXED = "fixed", "Fixed amount"
    PERCENT = "percent", "Percent of the total"


class PriceList(models.Model):
    """A station's prices and pricing rules. Money in cents; rates in basis points (1% = 100)."""

    station = models.OneToOneField(Station, on_delete=models.CASCADE, related_name="price_list")
    adult_price_cents = models.PositiveIntegerField(default=6_000)
    child_price_cents = models.PositiveIntegerField(default=3_000)
    child_age_limit = models.PositiveSmallIntegerField(
        default=12, help_text="Guests of this age or younger pay the child price."
    )
    minimum_weekday_cents = models.PositiveIntegerField(default=60_000)
    minimum_weekend_cents = models.PositiveIntegerField(
        default=80_000, help_text="Applies to events on Friday, Saturday and Sunday."
    )
    gratuity_min_guests = models.PositiveSmallIntegerField(
        default=20, help_text="Automatic gratuity from this many guests (adults + children)."
    )
    gratuity_bp = models.PositiveIntegerField(
        default=1_800, validators=[MaxValueValidator(10_000)], help_text="18% = 1800"
    )
    tax_rate_bp = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(10_000)], help_text="9.25% = 925"
    )
    deposit_kind = models.CharField(
        max_length=8, choices=DepositKind.choices, default=DepositKind.FIXED
    )
    deposit_fixed_cents = models.PositiveIntegerField(default=10_000)
    deposit_bp = models.PositiveIntegerField(
        default=2_000, validators=[MaxValueValidator(10_000)], help_text="20% = 2000"
    )
    change_fee_cents = models.PositiveIntegerField(default=5_000)
    change_fee_notice_hours = models.PositiveIntegerField(
        default=72, help_text="Changes asked for inside this window pay the change fee."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Price list of {self.station}"


class AddOnPricing(models.TextChoices):
    PER_PERSON = "per_person", "Per person"
    FLAT = "flat", "Flat"


class AddOn(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="addons")
    code = models.SlugField(max_length=40)
    label = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    pricing = models.CharField(max_length=12, choices=AddOnPricing.choices)
    price_cents = models.PositiveIntegerField()
    active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["station", "sort_order", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "code"], name="addon_code_unique_per_station"
            )
        ]

    def __str__(self) -> str:
        return self.label
