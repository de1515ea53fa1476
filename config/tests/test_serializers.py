"""The shared serializer bases (config/serializers.py): fields built once per class, and each
instance still owns its fields, its context and its errors."""

from datetime import date
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import get_resolver
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from bookings import serializers as booking_serializers
from config.serializers import FieldsBuiltOnce, ModelSerializer, Serializer
from stations.models import Station

PROJECT_APPS = ("bookings", "config", "inbox", "leads", "payments", "reviews", "stations")


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _project_serializers() -> list[type]:
    assert get_resolver().url_patterns  # imports every API module, and their serializers
    ours = [
        cls
        for cls in _subclasses(serializers.BaseSerializer)
        if cls.__module__.split(".")[0] in PROJECT_APPS
        and ".tests" not in cls.__module__
        and cls not in (Serializer, ModelSerializer)  # the bases, declaring no field
    ]
    return sorted(set(ours), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def test_every_project_serializer_builds_its_fields_once():
    ours = _project_serializers()
    assert booking_serializers.BookingRequestSerializer in ours
    assert len(ours) > 20
    assert sorted(c.__qualname__ for c in ours if not issubclass(c, FieldsBuiltOnce)) == []


# --- The two rules, checked on every serializer of the project ---------------------------------


def _contexts(user) -> list[dict]:
    factory = APIRequestFactory()
    contexts = [{}]
    for who in (AnonymousUser(), user):
        request = factory.get("/")
        request.user = who
        contexts.append({"request": request})
    return contexts


def _state(fields: dict) -> dict:
    """Every attribute of every field, by identity and, for containers, by content: an in-place
    change (append, item assignment, update) shows as a different content under the same id."""

    def content(value):
        if isinstance(value, list | tuple | set | frozenset):
            return ("seq", type(value).__name__, list(value))
        if isinstance(value, dict):
            return ("map", dict(value))
        return ("id", id(value))

    return {
        name: {attr: (id(value), content(value)) for attr, value in vars(field).items()}
        for name, field in fields.items()
    }


def _describe(fields: dict) -> dict:
    """What a field is, as far as a request can tell: its class, its declaration and every
    plain attribute (required, read_only, max_length, ...), and its validators' kinds."""
    plain = str | int | float | bool | type(None)
    return {
        name: (
            type(field).__name__,
            repr(field),
            sorted(
                (k, v)
                for k, v in vars(field).items()
                if isinstance(v, plain) and k != "_creation_counter"  # a build counter
            ),
            [type(v).__name__ for v in field.validators],
        )
        for name, field in fields.items()
    }


def _drf_fields(cls, context) -> dict:
    """The fields DRF itself builds for an instance (FieldsBuiltOnce out of the way)."""
    with mock.patch.object(
        FieldsBuiltOnce, "get_fields", lambda self: super(FieldsBuiltOnce, self).get_fields()
    ):
        return cls(context=context).fields


def _rule_breaks(cls, contexts) -> list[str]:
    """What building and using instances of `cls` under each context did against the rules."""
    breaks = []
    if "_fields_built_once" in cls.__dict__:
        del cls._fields_built_once  # built again below, before any instance's __init__ runs
    bare = cls.__new__(cls)
    serializers.BaseSerializer.__init__(bare)
    bare.fields  # noqa: B018 (builds the class's fields)
    before = _state(cls._fields_built_once)
    for context in contexts:
        if _describe(cls(context=context).fields) != _describe(_drf_fields(cls, context)):
            breaks.append(f"{cls.__qualname__}: fields depend on the context {sorted(context)}")
    if _state(cls._fields_built_once) != before:
        breaks.append(f"{cls.__qualname__}: an instance changed the class's fields in place")
    return breaks


@pytest.mark.django_db
def test_no_project_serializer_breaks_the_two_rules(sj_manager):
    contexts = _contexts(sj_manager)
    breaks = [found for cls in _project_serializers() for found in _rule_breaks(cls, contexts)]
    assert breaks == []


class ConfiguredByRequest(ModelSerializer):
    """Breaks the first rule: DRF's field build asks the request (via get_extra_kwargs)."""

    class Meta:
        model = Station
        fields = ["slug", "name"]

    def get_extra_kwargs(self):
        request = self.context.get("request")
        staff = request is not None and request.user.is_authenticated
        return {"name": {"read_only": staff}}


class ChangesMessagesInPlace(Serializer):
    name = serializers.CharField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].error_messages["blank"] = "Say a name."


@pytest.mark.django_db
def test_the_rule_check_catches_a_serializer_that_breaks_them(sj_manager):
    contexts = _contexts(sj_manager)
    assert _rule_breaks(ConfiguredByRequest, contexts) == [
        "ConfiguredByRequest: fields depend on the context ['request']"
    ]
    assert _rule_breaks(ChangesMessagesInPlace, contexts) == [
        "ChangesMessagesInPlace: an instance changed the class's fields in place"
    ]


class AppendsAValidator(Serializer):
    size = serializers.IntegerField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["size"].validators.append(_under_five)


def test_appending_to_a_shared_validator_list_fails_at_the_first_instance():
    with pytest.raises(AttributeError, match="'tuple' object has no attribute 'append'"):
        AppendsAValidator(data={"size": 1})


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
