"""Money in dollars and rates in percent on the admin forms (issue 12, point 4): the price list,
add-ons, service zones and the station's limits take "65.00" as $65 (6500 cents) and refuse
what is not an amount, saving nothing; saving a price list shows a sample quote."""

from datetime import date, timedelta

import pytest
from django.urls import reverse

from bookings import pricing
from bookings.models import AddOn, PriceList
from stations.models import ServiceZone, Station
from testing.admin import form_data

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def change(client, obj, **typed):
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    data = {**form_data(client.get(url)), **typed}
    return client.post(url, data, follow=True)


# --- The price list ----------------------------------------------------------------------------


def test_the_adult_price_typed_in_dollars_prices_a_14_adult_party(owner_client, san_jose):
    prices = san_jose.price_list

    response = change(owner_client, prices, adult_price_cents="65.00")

    assert response.status_code == 200
    prices.refresh_from_db()
    assert prices.adult_price_cents == 6500
    saturday = date.today() + timedelta(days=(5 - date.today().weekday()) % 7 + 14)
    quote = pricing.quote(
        station=Station.objects.get(pk=san_jose.pk),
        event_date=saturday,
        adults=14,
        children=0,
        zip_code=san_jose.zones.first().zip_codes[0],
        addon_codes=[],
    )
    assert quote.lines[0].amount_cents == 14 * 6500 == 91_000  # $910, no minimum top-up
    assert [line.code for line in quote.lines] == ["adult"]


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("65.001", "Use at most two decimals (cents)."),
        ("abc", "Enter an amount in dollars and cents, like 65.00."),
        ("-5", "Enter at least 0.00."),
        ("", "This field is required."),
    ],
)
def test_a_bad_price_is_refused_and_nothing_saved(owner_client, san_jose, typed, error):
    before = PriceList.objects.values().get(station=san_jose)

    response = change(owner_client, san_jose.price_list, adult_price_cents=typed)

    assert error in response.context["adminform"].form.errors["adult_price_cents"][0]
    assert PriceList.objects.values().get(station=san_jose) == before


def test_the_price_list_shows_dollars_and_percent(owner_client, san_jose):
    prices = san_jose.price_list
    url = reverse("admin:bookings_pricelist_change", args=[prices.pk])

    page = owner_client.get(url)
    listing = owner_client.get(reverse("admin:bookings_pricelist_changelist")).content.decode()

    form = page.context["adminform"].form
    assert form["adult_price_cents"].value() == "60.00"
    html = page.content.decode()
    for shown in ('value="60.00"', 'value="18"', 'value="9.25"'):
        assert shown in html
    assert "Tax rate (%)" in html
    for shown in ("$60.00", "$600.00", "9.25%"):
        assert shown in listing
    assert "$100.00" in listing  # the fixed deposit
    assert "18% from 20 guests" in listing


@pytest.mark.parametrize(
    ("field", "typed", "stored"),
    [("tax_rate_bp", "9.25", 925), ("gratuity_bp", "18", 1800), ("deposit_bp", "12.5%", 1250)],
)
def test_rates_are_typed_in_percent(owner_client, san_jose, field, typed, stored):
    change(owner_client, san_jose.price_list, **{field: typed})

    assert getattr(PriceList.objects.get(station=san_jose), field) == stored


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("9.255", "Use at most two decimals"),
        ("101", "from 0 to 100"),
        ("-1", "from 0 to 100"),
        ("nine", "Enter a percentage"),
    ],
)
def test_a_bad_rate_is_refused_and_nothing_saved(owner_client, san_jose, typed, error):
    response = change(owner_client, san_jose.price_list, tax_rate_bp=typed)

    assert error in response.context["adminform"].form.errors["tax_rate_bp"][0]
    assert PriceList.objects.get(station=san_jose).tax_rate_bp == 925


def test_saving_the_price_list_shows_a_sample_quote(owner_client, san_jose):
    response = change(owner_client, san_jose.price_list, adult_price_cents="65.00")

    messages = [str(m) for m in response.context["messages"]]
    sample = next(m for m in messages if m.startswith("Sample quote"))
    # 10 x $65 + 2 x $30 = $710, below the $800 weekend minimum: a $90 top-up, then 9.25% tax.
    assert "10 adults and 2 children on Sat" in sample
    assert "total $874.00, deposit $100.00" in sample
    assert "Adult \u00d7 10 at $65.00: $650.00" in sample
    assert "Child \u00d7 2 at $30.00: $60.00" in sample
    assert "Minimum spend top-up: $90.00" in sample
    assert "Tax: $74.00" in sample
    page = owner_client.get(
        reverse("admin:bookings_pricelist_change", args=[san_jose.price_list.pk])
    )
    assert 'Total</td><td style="text-align:right">$874.00' in page.content.decode()


def test_another_stations_manager_cannot_open_the_price_list(client, sac_manager, san_jose):
    client.force_login(sac_manager)
    url = reverse("admin:bookings_pricelist_change", args=[san_jose.price_list.pk])

    response = client.get(url, follow=True)

    assert "$60.00" not in response.content.decode()
    assert response.redirect_chain or response.status_code == 404


# --- Add-ons, zones and the station's limits ------------------------------------------------------


def test_an_add_on_price_in_dollars(owner_client, san_jose):
    addon = AddOn.objects.filter(station=san_jose).first()

    change(owner_client, addon, price_cents="12.50")
    refused = change(owner_client, addon, price_cents="12.505")

    addon.refresh_from_db()
    assert addon.price_cents == 1250
    assert "price_cents" in refused.context["adminform"].form.errors
    listing = owner_client.get(reverse("admin:bookings_addon_changelist")).content.decode()
    assert "$12.50 per person" in listing or "$12.50 flat" in listing


def test_station_limits_and_zone_fees_in_dollars(owner_client, san_jose):
    zone = ServiceZone.objects.filter(station=san_jose).order_by("pk").first()
    index = list(ServiceZone.objects.filter(station=san_jose)).index(zone)
    typed = {
        "manager_refund_limit_cents": "250.00",
        "ai_monthly_budget_cents": "75",
        f"zones-{index}-travel_fee_cents": "35.50",
    }

    response = change(owner_client, san_jose, **typed)

    assert response.status_code == 200
    san_jose.refresh_from_db()
    zone.refresh_from_db()
    assert (san_jose.manager_refund_limit_cents, san_jose.ai_monthly_budget_cents) == (
        25_000,
        7_500,
    )
    assert zone.travel_fee_cents == 3550


def test_a_bad_station_limit_is_refused_and_nothing_saved(owner_client, san_jose):
    before = san_jose.manager_refund_limit_cents

    response = change(owner_client, san_jose, manager_refund_limit_cents="1.234")

    assert "manager_refund_limit_cents" in response.context["adminform"].form.errors
    san_jose.refresh_from_db()
    assert san_jose.manager_refund_limit_cents == before


def test_a_station_without_zones_saves_its_prices_and_says_why_there_is_no_sample(
    owner_client, san_jose
):
    ServiceZone.objects.filter(station=san_jose).delete()

    response = change(owner_client, san_jose.price_list, adult_price_cents="70")

    messages = [str(m) for m in response.context["messages"]]
    assert "No sample quote: the station has no service zone to quote for." in messages
    assert PriceList.objects.get(station=san_jose).adult_price_cents == 7000
