"""
The quote engine (bookings.pricing) and its public door, POST /api/v1/quotes/.

The demo price list (bookings.demo / stations.demo): adult 6000, child 3000, tax 925 bp, minimum
spend 60000 weekday / 80000 weekend (Fri-Sun), gratuity 1800 bp from 20 guests, fixed deposit
10000; san-jose zones: 95112 fee 0, 95014 fee 2500, 94301 fee 5000.
"""

from dataclasses import asdict
from datetime import UTC, date, datetime, time

import pytest

from bookings import pricing, services
from bookings.models import AddOn, AddOnPricing, DepositKind
from config.exceptions import ApiError
from testing.factories import AddOnFactory, PriceListFactory, ServiceZoneFactory, StationFactory

pytestmark = pytest.mark.date_sensitive

THU = date(2027, 3, 11)
FRI = date(2027, 3, 12)
SAT = date(2027, 3, 13)
SUN = date(2027, 3, 14)
MON = date(2027, 3, 15)
NOW = datetime(2027, 3, 1, 20, 0, tzinfo=UTC)

QUOTE_FIELDS = {
    "currency",
    "lines",
    "subtotal_cents",
    "travel_fee_cents",
    "gratuity_cents",
    "tax_cents",
    "total_cents",
    "deposit_cents",
}
MONEY_FIELDS = QUOTE_FIELDS - {"currency", "lines"}


def _quote(station, *, day=THU, adults=10, children=0, zip_code="95112", addons=()):
    return pricing.quote(
        station=station,
        event_date=day,
        adults=adults,
        children=children,
        zip_code=zip_code,
        addon_codes=list(addons),
    )


def _plain_station(*, zone_fee=0, **prices):
    """A station of its own with one zone (ZIP 10001) and a price list with no minimum, no
    tax, no gratuity and no deposit unless the test says otherwise."""
    station = StationFactory()
    ServiceZoneFactory(station=station, zip_codes=["10001"], travel_fee_cents=zone_fee)
    defaults = {
        "adult_price_cents": 1_000,
        "child_price_cents": 500,
        "minimum_weekday_cents": 0,
        "minimum_weekend_cents": 0,
        "gratuity_min_guests": 1_000,
        "tax_rate_bp": 0,
        "deposit_kind": DepositKind.FIXED,
        "deposit_fixed_cents": 0,
    }
    PriceListFactory(station=station, **(defaults | prices))
    return station


def _assert_adds_up(q):
    assert q.subtotal_cents == sum(line.amount_cents for line in q.lines)
    assert q.total_cents == q.subtotal_cents + q.travel_fee_cents + q.gratuity_cents + q.tax_cents
    for value in (q.subtotal_cents, q.travel_fee_cents, q.gratuity_cents, q.tax_cents):
        assert type(value) is int
    assert type(q.total_cents) is int
    assert type(q.deposit_cents) is int
    for line in q.lines:
        assert type(line.amount_cents) is int
        assert type(line.quantity) is int


# --- The engine ----------------------------------------------------------------------------


def test_itemised_quote_with_demo_prices(san_jose):
    q = _quote(san_jose, adults=10, children=2, zip_code="95014", addons=["filet-mignon", "gyoza"])

    assert q.currency == "USD"
    assert [(line.code, line.quantity, line.amount_cents) for line in q.lines] == [
        ("adult", 10, 60_000),
        ("child", 2, 6_000),
        ("filet-mignon", 12, 12_000),  # per person: adults and children
        ("gyoza", 1, 1_800),  # flat
    ]
    assert [line.label for line in q.lines][2:] == ["Filet mignon upgrade", "Gyoza (12 pieces)"]
    assert q.subtotal_cents == 79_800
    assert q.travel_fee_cents == 2_500
    assert q.gratuity_cents == 0  # 12 guests: below the threshold
    # (79800 + 2500) * 9.25% = 7612.75 -> 7613: the travel fee is taxed, the gratuity not.
    assert q.tax_cents == 7_613
    assert q.total_cents == 79_800 + 2_500 + 7_613
    assert q.deposit_cents == 10_000
    _assert_adds_up(q)


def test_no_child_line_without_children(san_jose):
    q = _quote(san_jose, adults=12)
    assert [line.code for line in q.lines] == ["adult"]
    _assert_adds_up(q)


@pytest.mark.parametrize(
    ("zip_code", "fee"), [("95112", 0), ("95014", 2_500), ("94301", 5_000), ("95050", 2_500)]
)
def test_travel_fee_by_zone_and_taxed(san_jose, zip_code, fee):
    q = _quote(san_jose, adults=10, zip_code=zip_code)
    assert q.travel_fee_cents == fee
    assert q.tax_cents == pricing.round_half_up((60_000 + fee) * 925)
    _assert_adds_up(q)


@pytest.mark.parametrize(
    ("day", "minimum"),
    [(MON, 60_000), (THU, 60_000), (FRI, 80_000), (SAT, 80_000), (SUN, 80_000)],
)
def test_minimum_spend_top_up_weekday_and_weekend(san_jose, day, minimum):
    q = _quote(san_jose, day=day, adults=5)  # 5 x 6000 = 30000 of food

    assert q.lines[-1].code == "minimum_spend"
    assert q.lines[-1].quantity == 1
    assert q.lines[-1].amount_cents == minimum - 30_000
    assert q.subtotal_cents == minimum
    _assert_adds_up(q)


def test_minimum_spend_counts_add_ons_and_no_line_when_reached(san_jose):
    exactly = _quote(san_jose, day=THU, adults=10)  # 60000: exactly the weekday minimum
    assert [line.code for line in exactly.lines] == ["adult"]

    with_addons = _quote(san_jose, day=THU, adults=9, addons=["gyoza"])  # 54000 + 1800
    assert with_addons.lines[-1].code == "minimum_spend"
    assert with_addons.lines[-1].amount_cents == 60_000 - 55_800
    assert with_addons.subtotal_cents == 60_000

    weekend = _quote(san_jose, day=FRI, adults=10)  # 60000 < 80000 on a Friday
    assert weekend.lines[-1].amount_cents == 20_000


@pytest.mark.parametrize(
    ("adults", "children", "gratuity"),
    [
        (19, 0, 0),  # one below the threshold
        (15, 5, 18_900),  # 20 guests, children count: 18% of 105000
        (20, 0, 21_600),  # 18% of 120000
    ],
)
def test_gratuity_only_from_threshold_guest_count(san_jose, adults, children, gratuity):
    q = _quote(san_jose, day=THU, adults=adults, children=children)
    assert q.gratuity_cents == gratuity
    # gratuity is not taxed
    assert q.tax_cents == pricing.round_half_up(q.subtotal_cents * 925)
    _assert_adds_up(q)


def test_per_person_and_flat_add_ons(san_jose):
    q = _quote(san_jose, adults=20, children=4, addons=["gyoza", "filet-mignon", "edamame"])
    by_code = {line.code: line for line in q.lines}
    assert (by_code["gyoza"].quantity, by_code["gyoza"].amount_cents) == (1, 1_800)
    assert (by_code["filet-mignon"].quantity, by_code["filet-mignon"].amount_cents) == (
        24,
        24_000,
    )
    assert (by_code["edamame"].quantity, by_code["edamame"].amount_cents) == (24, 12_000)
    # lines keep the order the customer asked for
    assert [line.code for line in q.lines] == [
        "adult",
        "child",
        "gyoza",
        "filet-mignon",
        "edamame",
    ]
    _assert_adds_up(q)


def test_round_half_up_helper():
    assert pricing.round_half_up(5_000) == 1  # 0.5 cent -> up
    assert pricing.round_half_up(4_999) == 0  # 0.4999 cent -> down
    assert pricing.round_half_up(25_000) == 3  # 2.5 -> 3 (not banker's 2)
    assert pricing.round_half_up(0) == 0
    assert pricing.percent_of(60_200, 925) == 5_569  # 5568.5
    assert pricing.percent_of(60_199, 925) == 5_568  # 5568.4075


@pytest.mark.parametrize(
    ("adult_price", "tax_bp", "tax"),
    [
        (5_000, 1, 1),  # 0.5 cent exactly: rounds up
        (4_999, 1, 0),  # 0.4999 cent: rounds down
        (60_200, 925, 5_569),  # 5568.5: up (banker's rounding would give 5568)
        (60_199, 925, 5_568),  # 5568.4075: down
        (1_005, 1_000, 101),  # 100.5: up
        (1_004, 1_000, 100),  # 100.4: down
    ],
)
def test_tax_rounds_half_up_at_the_half_cent(db, adult_price, tax_bp, tax):
    station = _plain_station(adult_price_cents=adult_price, tax_rate_bp=tax_bp)
    q = _quote(station, adults=1, zip_code="10001")
    assert q.subtotal_cents == adult_price
    assert q.tax_cents == tax
    assert q.total_cents == adult_price + tax
    _assert_adds_up(q)


@pytest.mark.parametrize(("subtotal", "gratuity"), [(120_025, 21_605), (120_024, 21_604)])
def test_gratuity_rounds_half_up(db, subtotal, gratuity):
    # 120025 x 18% = 21604.5 -> 21605; 120024 x 18% = 21604.32 -> 21604
    station = _plain_station(adult_price_cents=subtotal, gratuity_min_guests=1, gratuity_bp=1_800)
    q = _quote(station, adults=1, zip_code="10001")
    assert q.gratuity_cents == gratuity
    _assert_adds_up(q)


def test_percent_deposit_rounds_half_up(db):
    station = _plain_station(
        adult_price_cents=1_001, deposit_kind=DepositKind.PERCENT, deposit_bp=5_000
    )
    q = _quote(station, adults=1, zip_code="10001")
    assert q.total_cents == 1_001
    assert q.deposit_cents == 501  # 500.5 -> 501


def test_percent_deposit_is_a_share_of_the_total(san_jose):
    prices = san_jose.price_list
    prices.deposit_kind = DepositKind.PERCENT
    prices.deposit_bp = 2_000
    prices.save()
    q = _quote(san_jose, adults=10, children=2, zip_code="95014", addons=["filet-mignon", "gyoza"])
    assert q.total_cents == 89_913
    assert q.deposit_cents == 17_983  # 20% of 89913 = 17982.6


def test_fixed_deposit_is_never_more_than_the_total(db):
    small = _plain_station(adult_price_cents=1_000, deposit_fixed_cents=10_000)
    q = _quote(small, adults=1, zip_code="10001")
    assert q.total_cents == 1_000
    assert q.deposit_cents == 1_000

    q = _quote(small, adults=20, zip_code="10001")
    assert q.total_cents == 20_000
    assert q.deposit_cents == 10_000


def test_unknown_inactive_and_foreign_add_ons_are_refused(san_jose, sacramento):
    AddOn.objects.filter(station=san_jose, code="lobster-tail").update(active=False)
    AddOnFactory(station=sacramento, code="sake", pricing=AddOnPricing.FLAT, price_cents=900)
    for codes, bad in [
        (["gyoza", "caviar"], ["caviar"]),
        (["lobster-tail"], ["lobster-tail"]),
        (["sake"], ["sake"]),
    ]:
        with pytest.raises(ApiError) as err:
            _quote(san_jose, addons=codes)
        assert err.value.status_code == 400
        assert err.value.error_code == "validation_error"
        assert err.value.fields["addons"] == [f"Unknown add-on code: {code}" for code in bad]


def test_duplicate_add_on_is_refused(san_jose):
    with pytest.raises(ApiError) as err:
        _quote(san_jose, addons=["gyoza", "gyoza"])
    assert err.value.error_code == "validation_error"
    assert "addons" in err.value.fields


def test_zip_outside_every_zone_is_outside_service_area(san_jose):
    with pytest.raises(ApiError) as err:
        _quote(san_jose, zip_code="95811")  # a Sacramento ZIP
    assert err.value.status_code == 400
    assert err.value.error_code == "outside_service_area"
    assert "zip_code" in err.value.fields


# --- POST /api/v1/quotes/ ------------------------------------------------------------------


def _body(**overrides):
    body = {
        "station": "san-jose",
        "event_date": "2027-03-11",
        "adults": 10,
        "children": 2,
        "zip_code": "95014",
        "addons": ["filet-mignon", "gyoza"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if field is not None:
        assert field in body["fields"], body
    return body


def test_quote_api_contract(api_client, san_jose):
    r = api_client.post("/api/v1/quotes/", _body(), format="json")

    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == QUOTE_FIELDS
    for line in body["lines"]:
        assert set(line) == {"code", "label", "quantity", "amount_cents"}
        assert type(line["quantity"]) is int
        assert type(line["amount_cents"]) is int
    for name in MONEY_FIELDS:
        assert type(body[name]) is int, name
    assert body["currency"] == "USD"
    assert body["subtotal_cents"] == sum(line["amount_cents"] for line in body["lines"])
    assert body["total_cents"] == (
        body["subtotal_cents"]
        + body["travel_fee_cents"]
        + body["gratuity_cents"]
        + body["tax_cents"]
    )
    assert (
        body
        == _quote(
            san_jose, adults=10, children=2, zip_code="95014", addons=["filet-mignon", "gyoza"]
        ).as_dict()
    )
    assert body["lines"] == [
        {"code": "adult", "label": "Adult", "quantity": 10, "amount_cents": 60_000},
        {"code": "child", "label": "Child", "quantity": 2, "amount_cents": 6_000},
        {
            "code": "filet-mignon",
            "label": "Filet mignon upgrade",
            "quantity": 12,
            "amount_cents": 12_000,
        },
        {"code": "gyoza", "label": "Gyoza (12 pieces)", "quantity": 1, "amount_cents": 1_800},
    ]
    assert body["total_cents"] == 89_913


def test_quote_api_defaults_children_and_addons(api_client, san_jose):
    r = api_client.post(
        "/api/v1/quotes",
        {"station": "san-jose", "event_date": "2027-03-12", "adults": 5, "zip_code": "95112"},
        format="json",
    )
    assert r.status_code == 200, r.content
    lines = r.json()["lines"]
    assert [line["code"] for line in lines] == ["adult", "minimum_spend"]
    assert lines[-1]["amount_cents"] == 50_000  # Friday: the weekend minimum


def test_quote_api_unknown_add_on(api_client, san_jose):
    r = api_client.post("/api/v1/quotes/", _body(addons=["gyoza", "caviar"]), format="json")
    body = _assert_error(r, 400, "validation_error", "addons")
    assert body["fields"]["addons"] == ["Unknown add-on code: caviar"]


def test_quote_api_duplicate_add_on(api_client, san_jose):
    r = api_client.post("/api/v1/quotes/", _body(addons=["gyoza", "gyoza"]), format="json")
    _assert_error(r, 400, "validation_error", "addons")


def test_quote_api_outside_service_area(api_client, san_jose):
    r = api_client.post("/api/v1/quotes/", _body(zip_code="95811"), format="json")
    _assert_error(r, 400, "outside_service_area", "zip_code")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"adults": 0}, "adults"),
        ({"adults": -1}, "adults"),
        ({"adults": "many"}, "adults"),
        ({"children": -1}, "children"),
        ({"station": None}, "station"),
        ({"station": "atlantis"}, "station"),
        ({"event_date": "2027-02-30"}, "event_date"),
        ({"event_date": "next friday"}, "event_date"),
        ({"event_date": None}, "event_date"),
        ({"zip_code": "9511"}, "zip_code"),
        ({"zip_code": "95112-1234"}, "zip_code"),
        ({"zip_code": "abcde"}, "zip_code"),
        ({"zip_code": None}, "zip_code"),
        ({"addons": "gyoza"}, "addons"),
    ],
)
def test_quote_api_bad_input_is_400_in_error_shape(api_client, san_jose, overrides, field):
    r = api_client.post("/api/v1/quotes/", _body(**overrides), format="json")
    _assert_error(r, 400, "validation_error", field)


def test_quote_api_inactive_station_is_unknown(api_client, san_jose):
    san_jose.active = False
    san_jose.save()
    r = api_client.post("/api/v1/quotes/", _body(), format="json")
    _assert_error(r, 400, "validation_error", "station")


def test_quote_api_malformed_json_is_400(api_client, san_jose):
    r = api_client.post("/api/v1/quotes/", "{not json", content_type="application/json")
    _assert_error(r, 400, "parse_error")


def test_quote_api_station_without_price_list_is_not_a_500(api_client, db):
    station = StationFactory(slug="no-prices")
    ServiceZoneFactory(station=station, zip_codes=["10001"])
    r = api_client.post(
        "/api/v1/quotes/", _body(station="no-prices", zip_code="10001", addons=[]), format="json"
    )
    _assert_error(r, 409, "no_price_list")


# --- Bookings are priced by the same engine ------------------------------------------------


def test_booking_create_prices_with_the_quote_engine(api_client, san_jose):
    prices = san_jose.price_list
    prices.deposit_kind = DepositKind.PERCENT
    prices.deposit_bp = 2_500
    prices.save()
    booking, _ = services.booking_create(
        station=san_jose,
        event_date=SAT,
        start_time=time(17, 0),
        adults=18,
        children=3,
        addon_codes=["lobster-tail", "gyoza"],
        address={"line1": "1 Main St", "city": "Cupertino", "state": "CA", "zip_code": "95014"},
        customer={"name": "Pat", "email": "pat@example.com", "phone": "", "sms_opt_in": False},
        now=NOW,
    )
    q = _quote(
        san_jose,
        day=SAT,
        adults=18,
        children=3,
        zip_code="95014",
        addons=["lobster-tail", "gyoza"],
    )
    assert q.gratuity_cents > 0  # 21 guests: the test covers every component
    assert q.travel_fee_cents == 2_500

    booking.refresh_from_db()
    assert booking.currency == q.currency
    assert booking.quote_lines == [asdict(line) for line in q.lines]
    assert booking.subtotal_cents == q.subtotal_cents
    assert booking.travel_fee_cents == q.travel_fee_cents
    assert booking.gratuity_cents == q.gratuity_cents
    assert booking.tax_cents == q.tax_cents
    assert booking.total_cents == q.total_cents
    assert booking.deposit_cents == q.deposit_cents

    r = api_client.post(
        "/api/v1/quotes/",
        _body(
            event_date=SAT.isoformat(),
            adults=18,
            children=3,
            addons=["lobster-tail", "gyoza"],
        ),
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["total_cents"] == booking.total_cents
    assert r.json()["deposit_cents"] == booking.deposit_cents
