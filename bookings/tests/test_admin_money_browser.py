"""In a real browser (issue 12, "done when"): the owner types the adult price in dollars and
sees what a typical party will pay."""

import pytest

from bookings.models import PriceList
from conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.date_sensitive
def test_the_owner_edits_the_adult_price_in_dollars_and_sees_the_sample_quote(
    browser, san_jose, owner
):
    prices = san_jose.price_list
    browser.login("demo-owner", PASSWORD)

    browser.get(f"/admin/bookings/pricelist/{prices.pk}/change/")
    browser.fill("input[name=adult_price_cents]", "65.00")
    browser.css("input[name=_continue]").click()

    browser.wait_for_text("Sample quote for 10 adults and 2 children")
    assert "Adult \u00d7 10 at $65.00" in browser.text
    assert browser.css("input[name=adult_price_cents]").get_attribute("value") == "65.00"
    browser.screenshot("price-list-sample-quote")
    assert PriceList.objects.get(pk=prices.pk).adult_price_cents == 6500
