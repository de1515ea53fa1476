"""The shared serializer bases (config/serializers.py): fields built once per class, and each
instance still owns its fields, its context and its errors."""

from datetime import date, time
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import get_resolver
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from bookings import serializers as booking_serializers
from config.serializers import (
    DateField,
    FieldsBuiltOnce,
    ModelSerializer,
    Serializer,
    TimeOfDayField,
    TimeOfDaySecondsField,
)
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


# --- What a request may hold: what the schema says (StrictJsonInput, dates and times) ----------


class Party(Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    vip = serializers.BooleanField(default=False)
    codes = serializers.ListField(child=serializers.CharField(), default=list)
    seen = serializers.CharField(read_only=True)


class Query(Party):
    strict_input = False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nmae": "Ann"}, "Unknown field."),
        ({"seen": "x"}, "This field is read-only."),
        ({"vip": 0}, "Must be true or false."),
        ({"vip": "yes"}, "Must be true or false."),
        ({"size": "12"}, "Must be a whole number."),
        ({"size": True}, "Must be a whole number."),
        ({"name": 12}, "Must be a string."),
        ({"codes": ["a", 1]}, "Item 1: Must be a string."),
    ],
)
def test_a_request_holds_only_the_fields_and_json_types_the_schema_gives(change, message):
    party = Party(data={"name": "Ann", "size": 12, **change})
    assert not party.is_valid()
    assert party.errors == {next(iter(change)): [message]}


def test_those_errors_come_with_the_fields_own():
    party = Party(data={"name": "", "size": 12, "extra": 1})
    assert not party.is_valid()
    assert set(party.errors) == {"name", "extra"}


def test_a_request_as_the_schema_gives_it_is_valid():
    party = Party(data={"name": "Ann", "size": 12, "vip": True, "codes": ["a"]})
    assert party.is_valid(), party.errors
    assert party.validated_data["size"] == 12


def test_a_query_string_serializer_takes_text_and_ignores_other_parameters():
    query = Query(data={"name": "Ann", "size": "12", "vip": "true", "page": "2"})
    assert query.is_valid(), query.errors
    assert query.validated_data == {"name": "Ann", "size": 12, "vip": True, "codes": []}


@pytest.mark.parametrize("given", ["2027-01-02"])
def test_dates_are_iso(given):
    field = DateField()
    assert field.run_validation(given) == date(2027, 1, 2)


@pytest.mark.parametrize("given", ["20270102", "2027-1-2", "2027-W01-6", " 2027-01-02", 20270102])
def test_dates_in_other_forms_are_refused(given):
    with pytest.raises(serializers.ValidationError):
        DateField().run_validation(given)


def test_times_of_day_are_hh_mm_in_and_out():
    field = TimeOfDayField()
    assert field.run_validation("17:30") == time(17, 30)
    assert field.to_representation(time(9, 5)) == "09:05"
    for given in ("9:05", "17:30:00", "17:30Z", "24:00", "1730", 1730):
        with pytest.raises(serializers.ValidationError):
            field.run_validation(given)


def test_a_models_times_of_day_are_written_with_seconds_and_read_with_or_without():
    field = TimeOfDaySecondsField()
    assert field.to_representation(time(9, 0)) == "09:00:00"
    assert field.run_validation("09:00") == time(9, 0)
    assert field.run_validation("09:00:00") == time(9, 0)
    with pytest.raises(serializers.ValidationError):
        field.run_validation("09:00:00+01:00")
