"""
Factories (factory_boy) for the rows tests make. A station built here is bare (no chefs, zones or
price list); the two demo stations of the root conftest.py have all of it.
"""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.models import AddOn, AddOnPricing, PriceList
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
