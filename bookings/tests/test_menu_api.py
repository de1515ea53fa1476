"""GET /api/v1/stations/{slug}/menu/: a station's price list, active add-ons and travel zones."""

import pytest

from bookings.models import AddOn, AddOnPricing, DepositKind
from stations.models import ServiceZone
from testing.factories import AddOnFactory, ServiceZoneFactory, StationFactory

URL = "/api/v1/stations/{}/menu/"

PRICE_FIELDS = {
    "station",
    "currency",
    "adult_price_cents",
    "child_price_cents",
    "child_age_limit",
    "minimum_weekday_cents",
    "minimum_weekend_cents",
    "gratuity_min_guests",
    "gratuity_bp",
    "tax_rate_bp",
    "deposit_kind",
    "deposit_fixed_cents",
    "deposit_bp",
    "change_fee_cents",
    "addons",
    "travel_zones",
}


def _assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]


def test_menu_of_san_jose(api_client, san_jose):
    r = api_client.get(URL.format("san-jose"))

    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == PRICE_FIELDS
    assert body["station"] == "san-jose"
    assert body["currency"] == "USD"
    assert body["adult_price_cents"] == 6_000
    assert body["child_price_cents"] == 3_000
    assert body["minimum_weekday_cents"] == 60_000
    assert body["minimum_weekend_cents"] == 80_000
    assert body["gratuity_min_guests"] == 20
    assert body["gratuity_bp"] == 1_800
    assert body["tax_rate_bp"] == 925
    assert body["deposit_kind"] == "fixed"
    assert body["deposit_fixed_cents"] == 10_000
    assert body["change_fee_cents"] == 5_000
    for name, value in body.items():
        if name.endswith(("_cents", "_bp")):
            assert type(value) is int, name


def test_menu_add_ons(api_client, san_jose):
    body = api_client.get(URL.format("san-jose")).json()

    assert [a["code"] for a in body["addons"]] == [
        "filet-mignon",
        "lobster-tail",
        "gyoza",
        "edamame",
        "third-protein",
    ]
    by_code = {a["code"]: a for a in body["addons"]}
    assert set(by_code["gyoza"]) == {"code", "label", "description", "pricing", "price_cents"}
    assert by_code["filet-mignon"]["pricing"] == "per_person"
    assert by_code["filet-mignon"]["price_cents"] == 1_000
    assert by_code["filet-mignon"]["label"] == "Filet mignon upgrade"
    assert by_code["gyoza"]["pricing"] == "flat"
    assert by_code["gyoza"]["price_cents"] == 1_800


def test_menu_lists_only_active_add_ons_of_this_station(api_client, san_jose, sacramento):
    AddOn.objects.filter(station=san_jose, code="lobster-tail").update(active=False)
    AddOnFactory(station=sacramento, code="sake", pricing=AddOnPricing.FLAT, price_cents=900)
    AddOnFactory(station=san_jose, code="mochi", pricing=AddOnPricing.PER_PERSON, price_cents=400)

    codes = [a["code"] for a in api_client.get(URL.format("san-jose")).json()["addons"]]
    assert "lobster-tail" not in codes
    assert "sake" not in codes
    assert "mochi" in codes
    assert len(codes) == 5

    sac = [a["code"] for a in api_client.get(URL.format("sacramento")).json()["addons"]]
    assert "sake" in sac
    assert "lobster-tail" in sac  # inactive only at san-jose
    assert "mochi" not in sac


def test_menu_travel_zones(api_client, san_jose):
    zones = api_client.get(URL.format("san-jose")).json()["travel_zones"]

    assert [z["travel_fee_cents"] for z in zones] == [0, 2_500, 5_000]
    for zone in zones:
        assert set(zone) == {"name", "zip_codes", "travel_fee_cents"}
    fee_of = {zip_code: z["travel_fee_cents"] for z in zones for zip_code in z["zip_codes"]}
    assert fee_of["95112"] == 0
    assert fee_of["95014"] == 2_500
    assert fee_of["94301"] == 5_000
    assert "95811" not in fee_of  # Sacramento's
    assert len(fee_of) == sum(
        len(z)
        for z in ServiceZone.objects.filter(station=san_jose).values_list("zip_codes", flat=True)
    )


def test_menu_follows_price_list_changes(api_client, san_jose):
    prices = san_jose.price_list
    prices.adult_price_cents = 6_500
    prices.deposit_kind = DepositKind.PERCENT
    prices.deposit_bp = 2_500
    prices.save()
    body = api_client.get(URL.format("san-jose")).json()
    assert body["adult_price_cents"] == 6_500
    assert (body["deposit_kind"], body["deposit_bp"]) == ("percent", 2_500)


def test_menu_without_trailing_slash(api_client, san_jose):
    r = api_client.get("/api/v1/stations/san-jose/menu")
    assert r.status_code == 200, r.content
    assert r.json()["station"] == "san-jose"


def test_menu_needs_no_login(api_client, san_jose):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    r = api_client.get(URL.format("san-jose"))
    assert r.status_code == 200, r.content


def test_unknown_station_is_404(api_client, world):
    _assert_error(api_client.get(URL.format("atlantis")), 404, "not_found")


def test_inactive_station_is_404(api_client, san_jose):
    san_jose.active = False
    san_jose.save()
    _assert_error(api_client.get(URL.format("san-jose")), 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_menu_is_read_only(api_client, san_jose, method):
    r = getattr(api_client, method)(URL.format("san-jose"), {}, format="json")
    _assert_error(r, 405, "method_not_allowed")


def test_station_without_price_list_is_not_a_500(api_client, db):
    station = StationFactory(slug="new-station")
    ServiceZoneFactory(station=station, zip_codes=["10001"])
    _assert_error(api_client.get(URL.format("new-station")), 409, "no_price_list")
