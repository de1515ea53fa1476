"""
The quote engine: one function prices quotes and bookings alike.

Rounding: every amount is an integer number of cents. Percentages (gratuity, tax, a percent
deposit) are computed on integer cents with round-half-up to the nearest cent, once per
component, never on a sub-total of rounded parts. So:
    subtotal = sum of lines (people, add-ons, minimum-spend top-up)
    gratuity = round_half_up(subtotal * gratuity rate)       when guests >= the threshold
    tax      = round_half_up((subtotal + travel fee) * tax rate)   (gratuity is not taxed)
    total    = subtotal + travel fee + gratuity + tax
    deposit  = the fixed deposit (never more than the total) or round_half_up(total * rate)
"""

from dataclasses import asdict, dataclass, field
from datetime import date

from django.db import connection

from bookings import sql
from bookings.models import AddOn, AddOnPricing, PriceList
from config.exceptions import ApiError
from stations.models import Station

MINIMUM_SPEND = "minimum_spend"
WEEKEND_DAYS = {4, 5, 6}  # Friday, Saturday, Sunday (date.weekday())


@dataclass(frozen=True)
class QuoteLine:
    code: str
    label: str
    quantity: int
    amount_cents: int


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: list[QuoteLine] = field(default_factory=list)
    subtotal_cents: int = 0
    travel_fee_cents: int = 0
    gratuity_cents: int = 0
    tax_cents: int = 0
    total_cents: int = 0
    deposit_cents: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def round_half_up(cents_times_bp: int) -> int:
    """Divide an amount in cents x basis points by 10,000, rounding half up (integers only)."""
    return (cents_times_bp + 5_000) // 10_000


def percent_of(amount_cents: int, bp: int) -> int:
    return round_half_up(amount_cents * bp)


def travel_fee_for(station: Station, zip_code: str) -> int:
    """The zone fee for a ZIP code; a ZIP outside every zone is outside the service area.
    (Plain SQL, bookings.sql.TRAVEL_FEE: every quote and booking asks.)"""
    with connection.cursor() as cursor:
        cursor.execute(sql.TRAVEL_FEE, [station.pk, zip_code])
        row = cursor.fetchone()
    if row is None:
        raise ApiError(
            f"We don't serve ZIP code {zip_code} from {station.name} yet.",
            code="outside_service_area",
            fields={"zip_code": ["Outside the service area."]},
        )
    return row[0]


def price_list_for(station: Station) -> PriceList:
    try:
        return station.price_list
    except PriceList.DoesNotExist:
        raise ApiError(
            "This station has no price list yet.", code="no_price_list", status_code=409
        ) from None


def _addon_lines(station: Station, codes: list[str], guests: int) -> list[QuoteLine]:
    if len(set(codes)) != len(codes):
        raise ApiError(
            "Each add-on can be listed once.",
            code="validation_error",
            fields={"addons": ["Duplicate add-on codes."]},
        )
    if not codes:
        return []
    addons = {a.code: a for a in AddOn.objects.filter(station=station, active=True, code__in=codes)}
    unknown = sorted(set(codes) - set(addons))
    if unknown:
        raise ApiError(
            f"Unknown add-on(s): {', '.join(unknown)}.",
            code="validation_error",
            fields={"addons": [f"Unknown add-on code: {code}" for code in unknown]},
        )
    lines = []
    for code in codes:
        addon = addons[code]
        quantity = guests if addon.pricing == AddOnPricing.PER_PERSON else 1
        lines.append(QuoteLine(code, addon.label, quantity, quantity * addon.price_cents))
    return lines


def quote(
    *,
    station: Station,
    event_date: date,
    adults: int,
    children: int,
    zip_code: str,
    addon_codes: list[str],
    sold_lines: list[dict] | None = None,
    travel_fee_cents: int | None = None,
) -> Quote:
    """Price an event. Raises ApiError for an unknown add-on or a ZIP outside the service area.

    Re-pricing a booking for another date (a reschedule) passes what it was sold with: its
    `sold_lines` (people and add-ons, even an add-on retired since, at the prices of the sale)
    and its `travel_fee_cents`; only the minimum spend and the rates follow the new date."""
    prices = price_list_for(station)
    guests = adults + children
    if sold_lines is not None:
        lines = [QuoteLine(**line) for line in sold_lines if line["code"] != MINIMUM_SPEND]
    else:
        lines = [QuoteLine("adult", "Adult", adults, adults * prices.adult_price_cents)]
        if children:
            lines.append(QuoteLine("child", "Child", children, children * prices.child_price_cents))
        lines += _addon_lines(station, addon_codes, guests)

    minimum = (
        prices.minimum_weekend_cents
        if event_date.weekday() in WEEKEND_DAYS
        else prices.minimum_weekday_cents
    )
    food = sum(line.amount_cents for line in lines)
    if food < minimum:
        lines.append(QuoteLine(MINIMUM_SPEND, "Minimum spend top-up", 1, minimum - food))

    subtotal = sum(line.amount_cents for line in lines)
    if travel_fee_cents is None:
        travel_fee_cents = travel_fee_for(station, zip_code)
    travel_fee = travel_fee_cents
    gratuity = (
        percent_of(subtotal, prices.gratuity_bp) if guests >= prices.gratuity_min_guests else 0
    )
    tax = percent_of(subtotal + travel_fee, prices.tax_rate_bp)
    total = subtotal + travel_fee + gratuity + tax
    if prices.deposit_kind == "percent":
        deposit = percent_of(total, prices.deposit_bp)
    else:
        deposit = min(prices.deposit_fixed_cents, total)
    return Quote(
        currency=station.currency,
        lines=lines,
        subtotal_cents=subtotal,
        travel_fee_cents=travel_fee,
        gratuity_cents=gratuity,
        tax_cents=tax,
        total_cents=total,
        deposit_cents=deposit,
    )
