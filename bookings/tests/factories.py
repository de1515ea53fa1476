import factory

from bookings.models import AddOn, AddOnPricing, PriceList
from stations.tests.factories import StationFactory


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
