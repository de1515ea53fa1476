"""Query strings the admin lists must survive, and what the chef filter offers (issue 12,
point 9): `str.isdigit()` accepts digits `int()` refuses (a superscript two) or reads as digits
nobody typed (an Arabic-Indic one), so an id is only ever read from ASCII digits."""

import pytest
from django.urls import reverse

from stations.admin_base import query_id
from stations.models import Chef
from testing.factories import make_booking

pytestmark = pytest.mark.django_db

SUPERSCRIPT_TWO, ARABIC_ONE = "\u00b2", "\u0661"
LISTS = [
    "admin:bookings_booking_changelist",
    "admin:bookings_customer_changelist",
    "admin:payments_payment_changelist",
    "admin:stations_chef_changelist",
    "admin:stations_timeoff_changelist",
    "admin:stations_station_changelist",
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        ("0", 0),
        (7, 7),
        (SUPERSCRIPT_TWO, None),
        (ARABIC_ONE, None),
        ("1" + ARABIC_ONE, None),
        (" 1", None),
        ("-1", None),
        ("1.5", None),
        ("", None),
        (None, None),
        ("9" * 19, None),  # past any id a bigint holds
    ],
)
def test_query_id_reads_only_ascii_digits(value, expected):
    assert query_id(value) == expected


@pytest.mark.parametrize("url_name", LISTS)
@pytest.mark.parametrize("value", [SUPERSCRIPT_TWO, ARABIC_ONE, "9" * 30])
def test_a_unicode_digit_station_is_no_filter_not_a_500(client, sj_manager, url_name, value):
    client.force_login(sj_manager)

    for params in ({"station": value}, {"station": value, "_facets": "True"}):
        response = client.get(reverse(url_name), params)
        assert response.status_code in (200, 302), (url_name, params, response.status_code)


@pytest.mark.parametrize("value", [SUPERSCRIPT_TWO, ARABIC_ONE, "9" * 30])
def test_a_unicode_digit_chef_is_no_filter_not_a_500(client, sj_manager, san_jose, value):
    booking = make_booking(san_jose, days=10, status="confirmed")
    client.force_login(sj_manager)

    response = client.get(
        reverse("admin:bookings_booking_changelist"), {"chef": value, "when": "all"}
    )

    assert response.status_code == 200
    if value != "9" * 30:  # the "1" of an Arabic-Indic one is not chef 1: no filter at all
        assert booking in response.context["cl"].result_list


def _chef_choices(client) -> list[str]:
    response = client.get(reverse("admin:bookings_booking_changelist"), {"when": "all"})
    assert response.status_code == 200
    (spec,) = [
        s
        for s in response.context["cl"].filter_specs
        if getattr(s, "parameter_name", None) == "chef"
    ]
    return [label for _pk, label in spec.lookup_choices]


def test_the_chef_filter_offers_a_chef_only_their_own_name(client, sj_chef, san_jose):
    own = Chef.objects.get(user=sj_chef)
    assert Chef.objects.filter(station=san_jose).exclude(pk=own.pk).exists()
    client.force_login(sj_chef)

    assert _chef_choices(client) == [own.name]


def test_the_chef_filter_offers_staff_every_chef_of_their_station(client, sj_manager, san_jose):
    client.force_login(sj_manager)

    names = sorted(Chef.objects.filter(station=san_jose).values_list("name", flat=True))
    assert sorted(_chef_choices(client)) == names
