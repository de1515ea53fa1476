"""
Factories (factory_boy) for the rows tests make, and `make_booking`, the one way a test books.

A station built here is bare (no chefs, zones or price list); the two demo stations of the root
conftest.py have all of it, so bookings are made at those.

A booking is made the way the site makes one, by `bookings.services.booking_create`: priced by
the quote engine (integer cents in the station's currency), placed in the station's time zone,
given a free chef under the no-overlap constraint, held pending_deposit. Nothing here sets a
booking's derived fields (starts_at, blocked, totals, chef) by hand, so a test booking can never
be one the site would not make.

    make_booking(san_jose)                                 10 days ahead at 17:00, 10 adults
    make_booking(san_jose, days=20, start="12:00", adults=8, status="confirmed")
    make_booking(san_jose, event_date=date(2027, 3, 20), now=CREATED)    on a pinned clock
    make_booking(san_jose, customer=known)                 an existing customer books again
    make_booking(san_jose, customer__phone="+14085550142", customer__sms_opt_in=True)
    PaymentFactory(booking=booking)                        its deposit, awaiting payment
    PaymentFactory(booking=booking, paid=True)             ... paid (the booking's totals follow)
"""

from datetime import time, timedelta

import factory
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

from bookings import services as booking_services
from bookings.models import AddOn, AddOnPricing, Booking, BookingStatus, Customer, PriceList
from bookings.scheduling import local_today
from payments.models import Payment, PaymentKind, PaymentStatus
from stations.models import Chef, Membership, Role, ServiceZone, Station, TimeOff

# --- stations ------------------------------------------------------------------------------


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station

    slug = factory.Sequence(lambda n: f"station-{n}")
    name = factory.Sequence(lambda n: f"Station {n}")
    timezone = "America/Los_Angeles"
    currency = "USD"


class ServiceZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceZone

    station = factory.SubFactory(StationFactory)
    name = factory.Sequence(lambda n: f"Zone {n}")
    zip_codes = factory.Sequence(lambda n: [f"{90000 + n:05d}"])
    travel_fee_cents = 0


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "hibachi-demo")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    station = factory.SubFactory(StationFactory)
    role = Role.MANAGER


class ChefFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chef

    station = factory.SubFactory(StationFactory)
    name = factory.Sequence(lambda n: f"Chef {n}")


class TimeOffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimeOff

    chef = factory.SubFactory(ChefFactory)
    starts_at = factory.LazyFunction(timezone.now)
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(days=1))


# --- bookings ------------------------------------------------------------------------------


class PriceListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceList

    station = factory.SubFactory(StationFactory)


class AddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AddOn

    station = factory.SubFactory(StationFactory)
    code = factory.Sequence(lambda n: f"addon-{n}")
    label = factory.Sequence(lambda n: f"Add-on {n}")
    pricing = AddOnPricing.FLAT
    price_cents = 1000


class CustomerFactory(factory.django.DjangoModelFactory):
    """A customer reached by e-mail (booking e-mails on, no SMS), unlike any other customer.
    A phone, when given, is E.164 ("+14085550142"), as the site stores it."""

    class Meta:
        model = Customer

    station = factory.SubFactory(StationFactory)
    # Fixed width: no guest's name is part of another's ("Guest 1" is in "Guest 12").
    name = factory.Sequence(lambda n: f"Guest {n:05d}")
    email = factory.Sequence(lambda n: f"guest{n:05d}@example.com")
    phone = ""


def home_zip(station: Station) -> str:
    """A ZIP code of the station's cheapest zone (no travel fee at the demo stations)."""
    zone = station.zones.order_by("travel_fee_cents", "pk").first()
    if zone is None:
        raise ValueError(f"{station} has no service zone to book in")
    return zone.zip_codes[0]


def _station_required():
    raise TypeError("BookingFactory needs station= (a station with chefs, a zone and prices)")


class BookingFactory(factory.django.DjangoModelFactory):
    """A booking made by `booking_create` (see the module's docstring); create() only.

    The declarations are the service's arguments, plus:
      days            event_date is this many days after `now`'s date at the station (10)
      now             the moment it is booked, the service's clock (None: the real one)
      customer        who books; the service finds them by e-mail or phone (a new one each time)
      chef            who cooks: given to them by booking_reassign_chef, under the no-overlap
                      guarantee (None: the chef the service picked)
      status          pending_deposit; "confirmed" or "cancelled" moves it on through the
                      services, at `now`
      paid_cents, refunded_cents
                      the booking's money totals as payments records them (refunded <= paid),
                      without payment rows: for bookings' own rules (policy), which read only
                      the totals. A test about payments makes them with PaymentFactory.
    The booking comes back with its station, customer and chef loaded, and `manage_token` (the
    customer's link token, which only the service ever sees in clear).
    """

    class Meta:
        model = Booking

    class Params:
        days = 10

    station = factory.LazyFunction(_station_required)
    customer = factory.SubFactory(CustomerFactory, station=factory.SelfAttribute("..station"))
    event_date = factory.LazyAttribute(
        lambda o: local_today(o.station, o.now) + timedelta(days=o.days)
    )
    start_time = time(17, 0)
    adults = 10
    children = 0
    addon_codes = factory.LazyFunction(list)
    address = factory.Dict(
        {
            "line1": "1 Main St",
            "line2": "",
            "city": factory.LazyAttribute(lambda o: o.factory_parent.station.name),
            "state": "CA",
            "zip_code": factory.LazyAttribute(lambda o: home_zip(o.factory_parent.station)),
        }
    )
    notes = ""
    now = None
    chef = None
    status = BookingStatus.PENDING_DEPOSIT
    paid_cents = 0
    refunded_cents = 0

    @classmethod
    def _create(
        cls, model_class, *, customer, now, chef, status, paid_cents, refunded_cents, **fields
    ):
        if not (customer.email or customer.phone):
            raise ValueError("booking_create finds its customer by e-mail or phone: give one")
        if not 0 <= refunded_cents <= paid_cents:
            raise ValueError("refunded_cents must be between 0 and paid_cents")
        contact = {
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "sms_opt_in": customer.sms_opt_in,
        }
        booking, token = booking_services.booking_create(customer=contact, now=now, **fields)
        if booking.customer_id != customer.pk:
            raise ValueError(f"booking_create did not find {customer!r} by its contact")
        if chef is not None and chef.pk != booking.chef_id:
            booking = booking_services.booking_reassign_chef(
                booking=booking, chef=chef, actor=booking_services.SYSTEM
            )
        _move_to(booking, status, now=now)
        if paid_cents:
            booking_services.booking_set_payment_totals(
                booking_id=booking.pk, paid_cents=paid_cents, refunded_cents=refunded_cents
            )
        booking = model_class.objects.select_related("station", "customer", "chef").get(
            pk=booking.pk
        )
        booking.manage_token = token
        return booking

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("A booking is made by booking_create: use create().")


def _move_to(booking: Booking, status: str, *, now) -> None:
    if status == BookingStatus.PENDING_DEPOSIT:
        return
    if status == BookingStatus.CONFIRMED:
        booking_services.booking_transition(
            booking=booking, to_status=status, actor=booking_services.SYSTEM, now=now
        )
    elif status == BookingStatus.CANCELLED:
        booking_services.booking_cancel(booking=booking, actor=booking_services.SYSTEM, now=now)
    else:
        raise ValueError(f"make a {status} booking with the services, at a moment it can be")


def make_booking(
    station: Station, *, days: int = 10, start: str | time = "17:00", **fields
) -> Booking:
    """A booking at `station`, `days` ahead at `start` ("HH:MM" in the station's time zone):
    `BookingFactory` with the station first. Any other BookingFactory declaration may be given
    (event_date, now, adults, children, addon_codes, address__zip_code, customer,
    customer__email, chef, status, paid_cents, ...)."""
    start_time = time.fromisoformat(start) if isinstance(start, str) else start
    return BookingFactory(station=station, days=days, start_time=start_time, **fields)


# --- payments ------------------------------------------------------------------------------


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment as payments stores one for a PaymentIntent it created (in offline mode, as in
    tests): in the booking's currency, for its deposit (kind="balance": for what is still due),
    awaiting payment. `paid=True`: Stripe said it succeeded, and the booking's money totals are
    the sums of its paid payments, as payments keeps them."""

    class Meta:
        model = Payment
        skip_postgeneration_save = True

    class Params:
        paid = factory.Trait(succeeded=True, status=PaymentStatus.SUCCEEDED)

    booking = factory.SubFactory(BookingFactory)
    kind = PaymentKind.DEPOSIT
    amount_cents = factory.LazyAttribute(
        lambda o: (
            o.booking.deposit_cents
            if o.kind == PaymentKind.DEPOSIT
            else o.booking.balance_due_cents
        )
    )
    currency = factory.SelfAttribute("booking.currency")
    stripe_payment_intent_id = factory.Sequence(lambda n: f"pi_factory{n:08d}")
    client_secret = factory.LazyAttribute(lambda o: f"{o.stripe_payment_intent_id}_secret_test")
    offline = True

    @factory.post_generation
    def booking_totals(payment, create, extracted, **kwargs):
        if create and payment.succeeded:
            sums = Payment.objects.filter(booking_id=payment.booking_id, succeeded=True).aggregate(
                paid=Sum("amount_cents"), refunded=Sum("amount_refunded_cents")
            )
            booking_services.booking_set_payment_totals(
                booking_id=payment.booking_id,
                paid_cents=sums["paid"],
                refunded_cents=sums["refunded"],
            )
