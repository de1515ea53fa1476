"""Admin phone fields take the formats the API takes (issue 12, point 9): "408 555 0190",
"(408) 555-0190" and "+1 408-555-0190" are saved as +14085550190 through every admin form with
a phone (customer, chef, station); "hello" and "123" are refused with the API's error and change
nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from bookings.models import Customer
from conftest import PASSWORD
from stations.models import Chef, Station
from stations.validators import PhoneFormField, normalize_phone
from testing.admin import form_data
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TYPED = ["408 555 0190", "(408) 555-0190", "+1 408-555-0190", " 408.555.0190 "]
GARBAGE = ["hello", "123"]
API_ERROR = "Enter a valid phone number."


@pytest.fixture
def owner_client(owner):
    client = Client()
    assert client.login(username=owner.username, password=PASSWORD)
    return client


@pytest.fixture
def phone_objects(san_jose):
    return {
        "bookings.customer": CustomerFactory(station=san_jose),
        "stations.chef": Chef.objects.filter(station=san_jose).first(),
        "stations.station": san_jose,
    }


def change_url(label: str, obj) -> str:
    app, model = label.split(".")
    return reverse(f"admin:{app}_{model}_change", args=[obj.pk])


def post_phone(client, label, obj, phone):
    url = change_url(label, obj)
    page = client.get(url)
    assert page.status_code == 200
    assert isinstance(page.context["adminform"].form.fields["phone"], PhoneFormField), label
    data = form_data(page)
    data["phone"] = phone
    return client.post(url, data)


@pytest.mark.parametrize("label", ["bookings.customer", "stations.chef", "stations.station"])
@pytest.mark.parametrize("typed", TYPED)
def test_an_admin_phone_is_typed_as_people_write_it_and_saved_in_e164(
    owner_client, phone_objects, label, typed
):
    obj = phone_objects[label]
    response = post_phone(owner_client, label, obj, typed)
    assert response.status_code == 302, response.context["adminform"].form.errors
    obj.refresh_from_db()
    assert obj.phone == "+14085550190"
    assert normalize_phone(typed) == obj.phone  # the API's rule, to the character


@pytest.mark.parametrize("label", ["bookings.customer", "stations.chef", "stations.station"])
@pytest.mark.parametrize("garbage", GARBAGE)
def test_an_admin_phone_that_is_no_number_is_refused_and_nothing_changes(
    owner_client, phone_objects, label, garbage
):
    obj = phone_objects[label]
    before = obj.phone
    response = post_phone(owner_client, label, obj, garbage)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["phone"] == [API_ERROR]
    assert API_ERROR in response.content.decode()
    obj.refresh_from_db()
    assert obj.phone == before


def test_a_blank_phone_stays_blank_where_the_model_allows_it(owner_client, phone_objects):
    chef = phone_objects["stations.chef"]
    Chef.objects.filter(pk=chef.pk).update(phone="+14085550177")
    response = post_phone(owner_client, "stations.chef", chef, "  ")
    assert response.status_code == 302
    chef.refresh_from_db()
    assert chef.phone == ""


def test_the_api_and_the_admin_refuse_the_same_input_with_the_same_words():
    from rest_framework import serializers

    from bookings.serializers import PhoneField

    api_field, admin_field = PhoneField(max_length=32), PhoneFormField(required=False)
    for garbage in GARBAGE:
        with pytest.raises(serializers.ValidationError) as api_error:
            api_field.run_validation(garbage)
        with pytest.raises(ValidationError) as admin_error:
            admin_field.clean(garbage)
        assert api_error.value.detail == admin_error.value.messages == [API_ERROR]
    for typed in TYPED:
        assert api_field.run_validation(typed) == admin_field.clean(typed) == "+14085550190"


def test_the_add_form_saves_a_typed_phone_in_e164(owner_client, san_jose):
    page = owner_client.get(reverse("admin:stations_chef_add"))
    assert page.status_code == 200
    data = form_data(page)
    data.update(name="Yuki Mori", station=str(san_jose.pk), phone="(916) 555-0123", active="on")
    response = owner_client.post(reverse("admin:stations_chef_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Chef.objects.get(name="Yuki Mori").phone == "+19165550123"
    assert Station.objects.filter(phone__startswith="+").count() == 2
    assert not Customer.objects.filter(phone="(916) 555-0123").exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_types_a_customer_phone_as_people_say_it(browser, sj_manager, san_jose):
    customer = CustomerFactory(station=san_jose, name="Dana Phone")
    browser.login(sj_manager.username, PASSWORD)
    browser.get(change_url("bookings.customer", customer))
    browser.fill("#id_phone", "hello")
    browser.css("input[name=_continue]").click()
    browser.wait_for_text(API_ERROR)
    browser.screenshot("admin-phone-refused")
    customer.refresh_from_db()
    assert customer.phone == ""
    browser.fill("#id_phone", "(408) 555-0190")
    browser.css("input[name=_continue]").click()
    browser.wait_for_text("was changed successfully")
    assert browser.css("#id_phone").get_attribute("value") == "+14085550190"
    assert "408 555 0190" in browser.text  # the help text says what may be typed
    browser.screenshot("admin-phone-saved")
    customer.refresh_from_db()
    assert customer.phone == "+14085550190"
