"""
The bench dataset: 10 stations with 5 chefs each and a year of bookings (about 15,000), written
with bulk inserts. Every booking respects the rules (buffers, daily cap), so the real services
and the exclusion constraint see realistic data.
"""

import random
import secrets
from datetime import date, time, timedelta

from django.contrib.postgres.fields.ranges import DateTimeTZRange
from django.db import transaction

from bookings import scheduling
from bookings.models import Booking, BookingStatus, Customer, PriceList
from payments.models import Payment, PaymentKind
from stations.models import Chef, ServiceZone, Station

STATIONS = 10
CHEFS_PER_STATION = 5
CUSTOMERS_PER_STATION = 200
DAYS = 365
# Start times used by the seeded events; with 2-hour events and 60-minute buffers they never
# overlap for one chef (12:00 blocks 11-15, 18:00 blocks 17-21).
SEED_SLOTS = ((time(12, 0), 0.5), (time(18, 0), 0.3))


def station_slug(i: int) -> str:
    return f"bench-{i:02d}"


def station_zip(i: int) -> str:
    return f"9{i:04d}"


def _stations() -> list[Station]:
    stations = []
    for i in range(1, STATIONS + 1):
        station, _ = Station.objects.update_or_create(
            slug=station_slug(i),
            defaults={
                "name": f"Bench {i}",
                "timezone": "America/Los_Angeles",
                "min_notice_hours": 48,
                "booking_horizon_days": 400,
            },
        )
        ServiceZone.objects.update_or_create(
            station=station, name="Bench zone", defaults={"zip_codes": [station_zip(i)]}
        )
        PriceList.objects.get_or_create(station=station, defaults={"tax_rate_bp": 925})
        for c in range(CHEFS_PER_STATION - station.chefs.count()):
            Chef.objects.create(station=station, name=f"Bench chef {i}-{c}")
        stations.append(station)
    return stations


def _customers(station: Station) -> list[Customer]:
    Customer.objects.bulk_create(
        [
            Customer(
                station=station, name=f"Guest {n}", email=f"guest{n}@{station.slug}.example.com"
            )
            for n in range(CUSTOMERS_PER_STATION)
        ],
        ignore_conflicts=True,
    )
    return list(Customer.objects.filter(station=station))


def _bookings(station: Station, customers: list[Customer], first_day: date, rng) -> list[Booking]:
    zip_code = station.zones.get().zip_codes[0]
    rows = []
    for chef in station.chefs.all():
        for offset in range(DAYS):
            day = first_day + timedelta(days=offset)
            for at, probability in SEED_SLOTS:
                if rng.random() >= probability:
                    continue
                starts_at = scheduling.local_instant(station, day, at)
                window = scheduling.event_window(station, starts_at, 10)
                rows.append(
                    Booking(
                        station=station,
                        customer=rng.choice(customers),
                        reference=f"MH-{station.pk % 16:X}{len(rows):05X}",
                        manage_token_hash=secrets.token_hex(32),
                        event_date=day,
                        start_time=at,
                        starts_at=window.starts_at,
                        ends_at=window.ends_at,
                        blocked=DateTimeTZRange(window.blocked_from, window.blocked_to),
                        adults=10,
                        address_line1="1 Seed St",
                        city="Bench",
                        state="CA",
                        zip_code=zip_code,
                        chef=chef,
                        status=BookingStatus.CONFIRMED,
                        currency="USD",
                        subtotal_cents=80_000,
                        tax_cents=7_400,
                        total_cents=87_400,
                        deposit_cents=10_000,
                    )
                )
    return rows


PAYMENTS_PER_STATION = 300
SCENARIO_ADDRESS = "1 Bench St"  # what the booking-create scenario sends (scenarios.py)


def _forget_earlier_runs(stations: list[Station]) -> None:
    """Remove the bookings (and customers) earlier runs' booking-create scenario made, so every
    run meets the same calendar: left in place they fill it, and each run would answer more
    409s (cheaper than bookings) than the last."""
    made = Booking.objects.filter(station__in=stations, address_line1=SCENARIO_ADDRESS)
    with transaction.atomic():
        Payment.objects.filter(booking__in=made).delete()
        made.delete()
        # (The inbox group's customers, "Inbox bench ...", are bench/inbox.py's to remove.)
        Customer.objects.filter(station__in=stations, bookings__isnull=True).exclude(
            name__startswith="Guest "
        ).exclude(name__startswith="Inbox bench").delete()


def _payments(stations: list[Station]) -> list[list]:
    """Offline deposit PaymentIntents on some bookings, for the webhook scenarios:
    [intent id, booking reference, station slug, amount] each."""
    for station in stations:
        if Payment.objects.filter(booking__station=station).exists():
            continue
        bookings = Booking.objects.filter(station=station).order_by("pk")[:PAYMENTS_PER_STATION]
        Payment.objects.bulk_create(
            [
                Payment(
                    booking=b,
                    kind=PaymentKind.DEPOSIT,
                    amount_cents=b.deposit_cents,
                    currency="USD",
                    stripe_payment_intent_id=f"pi_bench{b.pk:010d}",
                    client_secret=f"pi_bench{b.pk:010d}_secret_bench",
                    offline=True,
                )
                for b in bookings
            ]
        )
    rows = Payment.objects.filter(booking__station__in=stations).values_list(
        "stripe_payment_intent_id", "booking__reference", "booking__station__slug", "amount_cents"
    )
    return [list(row) for row in rows]


def build(today: date) -> dict:
    """Create the dataset if it is not there; return what the scenarios need."""
    rng = random.Random(7)
    first_day = today - timedelta(days=30)
    stations = _stations()
    _forget_earlier_runs(stations)
    with transaction.atomic():
        for station in stations:
            if Booking.objects.filter(station=station).exists():
                continue
            rows = _bookings(station, _customers(station), first_day, rng)
            Booking.objects.bulk_create(rows, batch_size=2000)
    payments = _payments(stations)
    return {
        "payments": payments,
        "slugs": [s.slug for s in stations],
        "zips": [station_zip(i) for i in range(1, STATIONS + 1)],
        "bookings": Booking.objects.filter(station__in=stations).count(),
        "times": [f"{t:%H:%M}" for t in scheduling.start_times(stations[0])],
    }
