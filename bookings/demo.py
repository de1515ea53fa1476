"""seed_demo builders for the bookings app: price lists and add-ons, and the demo bookings
themselves (held for their deposit; payments.demo pays, completes and cancels them through the
payment services, so every "deposit paid" in their history is a payment that exists)."""

from datetime import timedelta

from bookings.models import AddOn, AddOnPricing, Booking, PriceList
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


FIRST_NAMES = [
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Ethan",
    "Sophia",
    "Mason",
    "Mia",
    "Lucas",
    "Isabella",
    "Logan",
    "Amelia",
    "James",
    "Harper",
    "Aiden",
    "Evelyn",
    "Elijah",
]
LAST_NAMES = [
    "Nguyen",
    "Garcia",
    "Smith",
    "Patel",
    "Kim",
    "Johnson",
    "Chen",
    "Martinez",
    "Brown",
    "Lee",
    "Wong",
    "Davis",
    "Lopez",
    "Wilson",
    "Tran",
    "Anderson",
]
AREA_CODES = {"san-jose": "408", "sacramento": "916"}
DEMO_NOTE = "Demo booking"


class Fate:
    """What becomes of a demo booking (payments.demo makes it so, through the real services)."""

    PENDING = "pending"  # held, its deposit asked for and not paid yet
    CONFIRMED = "confirmed"  # deposit paid
    COMPLETED = "completed"  # deposit and balance paid, the party happened
    NO_SHOW = "no_show"  # deposit paid, nobody was there
    CANCELLED = "cancelled"  # deposit paid, then cancelled by the customer under the policy


def demo_bookings_for(station, rng, real_now) -> list[tuple[Booking, str]]:
    """About a month and a half of bookings at `station` (two weeks back, a month ahead), made
    by the booking service and held for their deposit, each with the fate payments.demo gives
    it. Past events are booked on a clock moved back 20 days (a booking can't be made for a
    past date); the few still pending were booked just now."""
    from bookings import scheduling, services
    from config.exceptions import ApiError

    seed_now = real_now - timedelta(days=20)
    today = scheduling.local_today(station, real_now)
    zips = [z for zone in station.zones.all() for z in zone.zip_codes]
    addons = list(station.addons.values_list("code", flat=True))
    times = scheduling.start_times(station)
    made = []
    for offset in range(-14, 31):
        day = today + timedelta(days=offset)
        for _ in range(rng.randint(1, 3) if day.weekday() >= 4 else rng.randint(0, 2)):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            number = rng.randint(10, 99)
            future = offset > 2
            pending = future and rng.random() < 0.1
            roll = rng.random()
            try:
                booking, _ = services.booking_create(
                    station=station,
                    event_date=day,
                    start_time=rng.choice(times[::2]),
                    adults=rng.randint(6, 24),
                    children=rng.choice([0, 0, 2, 4]),
                    addon_codes=rng.sample(addons, rng.randint(0, 2)),
                    address={
                        "line1": f"{rng.randint(100, 9999)} {last} Way",
                        "city": station.name,
                        "state": "CA",
                        "zip_code": rng.choice(zips),
                    },
                    customer={
                        "name": f"{first} {last}",
                        "email": f"{first}.{last}{number}@example.com".lower(),
                        "phone": f"+1{AREA_CODES.get(station.slug, '408')}55501{number:02d}",
                        "sms_opt_in": rng.random() < 0.6,
                    },
                    notes=DEMO_NOTE,
                    now=real_now if pending else seed_now,
                )
            except ApiError:
                continue  # that slot was taken or too close: a real calendar has gaps too
            if pending:
                fate = Fate.PENDING
            elif offset < 0:
                fate = Fate.NO_SHOW if roll < 0.05 else Fate.COMPLETED
            elif future and roll < 0.05:
                fate = Fate.CANCELLED
            else:
                fate = Fate.CONFIRMED
            made.append((booking, fate))
    return made


def demo_bookings_exist(station) -> bool:
    return Booking.objects.filter(station=station, notes=DEMO_NOTE).exists()
