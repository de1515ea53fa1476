"""The shared serializer bases (config/serializers.py): fields built once per class, and each
instance still owns its fields, its context and its errors."""

from datetime import date

import pytest
from django.urls import get_resolver
from rest_framework import serializers

from bookings import serializers as booking_serializers
from config.serializers import FieldsBuiltOnce, ModelSerializer, Serializer
from stations.models import Station

PROJECT_APPS = ("bookings", "config", "inbox", "leads", "payments", "reviews", "stations")


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_project_serializer_builds_its_fields_once():
    assert get_resolver().url_patterns  # imports every API module, and their serializers
    ours = {
        cls
        for cls in _subclasses(serializers.BaseSerializer)
        if cls.__module__.split(".")[0] in PROJECT_APPS and ".tests" not in cls.__module__
    }
    assert booking_serializers.BookingRequestSerializer in ours
    assert len(ours) > 20
    assert sorted(c.__qualname__ for c in ours if not issubclass(c, FieldsBuiltOnce)) == []


class Line(Serializer):
    code = serializers.CharField()
    seen = serializers.SerializerMethodField()

    def get_seen(self, line) -> str:
        return f"{self.context['tag']}:{line['code']}"


class Order(Serializer):
    tag = serializers.SerializerMethodField()
    lines = Line(many=True)
    codes = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField(min_value=1, max_value=10)

    def get_tag(self, order) -> str:
        return self.context["tag"]


ORDER = {"lines": [{"code": "a"}, {"code": "b"}], "codes": ["x"], "size": 3}


def test_each_instance_owns_bound_copies_of_the_class_fields():
    first, second = Order(ORDER), Order(ORDER)
    for name in ("tag", "lines", "codes", "size"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
    built = Order._fields_built_once
    assert all(field.parent is None for field in built.values())  # the class's copy stays unbound
    assert first.fields["lines"].child is not second.fields["lines"].child


def test_context_reaches_every_level_of_each_instance():
    one = Order(ORDER, context={"tag": "one"})
    two = Order(ORDER, context={"tag": "two"})  # built before the first one is read
    assert one.data["tag"] == "one"
    assert [line["seen"] for line in one.data["lines"]] == ["one:a", "one:b"]
    assert two.data["tag"] == "two"
    assert [line["seen"] for line in two.data["lines"]] == ["two:a", "two:b"]


def test_validation_of_one_instance_does_not_touch_another():
    bad = Order(data={"lines": [{}], "codes": "nope", "size": 99})
    good = Order(data=ORDER)
    assert not bad.is_valid()
    assert set(bad.errors) == {"lines", "codes", "size"}
    assert good.is_valid(), good.errors
    assert good.validated_data["size"] == 3
    small = Order(data={**ORDER, "size": 0})
    assert not small.is_valid()
    assert small.errors == {"size": ["Ensure this value is greater than or equal to 1."]}


def test_assigning_a_field_attribute_stays_on_that_instance():
    changed, other = Order(data={**ORDER, "size": 9}), Order(data={**ORDER, "size": 9})
    changed.fields["size"].validators = [*changed.fields["size"].validators, _under_five]
    assert not changed.is_valid()
    assert changed.errors["size"] == ["Under five, please."]
    assert other.is_valid(), other.errors


def _under_five(value):
    if value >= 5:
        raise serializers.ValidationError("Under five, please.")


class StationName(ModelSerializer):
    class Meta:
        model = Station
        fields = ["slug", "name"]


def test_model_serializer_fields_are_built_from_the_model_once(monkeypatch):
    assert list(StationName().fields) == ["slug", "name"]  # builds the class's fields
    calls = []
    monkeypatch.setattr(
        serializers.ModelSerializer, "get_field_names", lambda *a: calls.append(a) or []
    )
    data = StationName(Station(slug="north", name="North")).data
    assert data == {"slug": "north", "name": "North"}
    assert calls == []  # no model introspection for a second instance


@pytest.mark.django_db
def test_a_real_request_serializer_validates_per_instance():
    payload = {
        "name": "Ann",
        "email": "ANN@example.com",
        "phone": "(408) 555-0101",
        "sms_opt_in": True,
    }
    good = booking_serializers.ContactSerializer(data=payload)
    bad = booking_serializers.ContactSerializer(data={**payload, "phone": "12"})
    assert not bad.is_valid()
    assert good.is_valid(), good.errors
    assert good.validated_data["phone"] == "+14085550101"
    assert list(bad.errors) == ["phone"]
    reschedule = booking_serializers.RescheduleRequestSerializer(
        data={"event_date": "2027-01-02", "start_time": "17:30"}
    )
    assert reschedule.is_valid(), reschedule.errors
    assert reschedule.validated_data["event_date"] == date(2027, 1, 2)
