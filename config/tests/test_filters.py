"""List filters take what the schema says they take: ids as whole numbers, dates as ISO dates,
an empty value as no filter (config.filters)."""

import pytest

pytestmark = pytest.mark.django_db

BOOKINGS = "/api/v1/staff/bookings/"


@pytest.mark.parametrize(
    "query",
    [
        {"chef": "1"},
        {"chef": "", "customer": "", "date_from": "", "station": ""},
        {"date_from": "2027-01-02", "date_to": "2027-12-31"},
        {"customer": str(2**63 - 1)},
    ],
)
def test_filters_as_the_schema_gives_them(staff_client, sj_manager, query):
    response = staff_client(sj_manager).get(BOOKINGS, query)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("chef", "1.5"),
        ("chef", "1.0"),
        ("chef", "-1"),
        ("chef", "0"),
        ("customer", "1e300"),
        ("customer", str(2**63)),
        ("date_from", "12/31/2027"),
        ("date_from", "20271231"),
        ("date_to", " 2027-12-31"),
        ("station", "san\x00jose"),
        ("status", ""),
    ],
)
def test_anything_else_is_400(staff_client, sj_manager, name, value):
    response = staff_client(sj_manager).get(BOOKINGS, {name: value})
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["fields"]) == [name]
