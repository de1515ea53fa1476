"""seed_demo builders for the bookings app: price lists and add-ons."""

from bookings.models import AddOn, AddOnPricing, PriceList
from stations.demo import STATIONS
from stations.models import Station

ADDONS = [
    ("filet-mignon", "Filet mignon upgrade", AddOnPricing.PER_PERSON, 1_000),
    ("lobster-tail", "Lobster tail", AddOnPricing.PER_PERSON, 1_500),
    ("gyoza", "Gyoza (12 pieces)", AddOnPricing.FLAT, 1_800),
    ("edamame", "Edamame (per person)", AddOnPricing.PER_PERSON, 500),
    ("third-protein", "Third protein", AddOnPricing.PER_PERSON, 1_000),
]


def build_price_lists(*, password: str) -> str:
    for station in Station.objects.filter(slug__in=STATIONS):
        PriceList.objects.get_or_create(station=station, defaults={"tax_rate_bp": 925})
        for order, (code, label, pricing, price) in enumerate(ADDONS):
            AddOn.objects.update_or_create(
                station=station,
                code=code,
                defaults={
                    "label": label,
                    "pricing": pricing,
                    "price_cents": price,
                    "sort_order": order,
                },
            )
    return f"price lists with {len(ADDONS)} add-ons each"


STEPS = [
    ("price lists", build_price_lists),
]
