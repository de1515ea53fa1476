"""List pages: `page` and `page_size` are whole numbers from 1 (empty: the default), as the
schema says; anything else is 400, a page past the last 404 (config.pagination)."""

import pytest

pytestmark = pytest.mark.django_db

STATIONS = "/api/v1/staff/stations/"  # the owner works at both stations


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [station["slug"] for station in response.json()["results"]]


def test_pages_of_a_given_size(staff_client, owner):
    client = staff_client(owner)
    assert slugs(client.get(STATIONS, {"page_size": 1})) == ["sacramento"]
    assert slugs(client.get(STATIONS, {"page_size": 1, "page": 2})) == ["san-jose"]
    assert slugs(client.get(STATIONS, {"page_size": 500})) == ["sacramento", "san-jose"]
    assert slugs(client.get(STATIONS, {"page_size": "", "page": ""})) == [
        "sacramento",
        "san-jose",
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page_size", "false"),
        ("page_size", "0"),
        ("page_size", "-1"),
        ("page_size", "1.5"),
        ("page_size", "1e3"),
        ("page", "last"),
        ("page", "0"),
        ("page", "abc"),
    ],
)
def test_anything_but_a_whole_number_from_1_is_400(staff_client, owner, name, value):
    response = staff_client(owner).get(STATIONS, {name: value})
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["fields"]) == [name]


def test_a_page_past_the_last_is_404(staff_client, owner):
    for page in ("2", "9" * 40):
        response = staff_client(owner).get(STATIONS, {"page": page})
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
