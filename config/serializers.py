"""Shared serializer bases: every serializer of the project derives from one of these two.

DRF builds each serializer instance's fields from scratch: a ModelSerializer introspects its
model (field mapping, uniqueness, extra kwargs), and every serializer deep-copies its declared
fields, which re-runs each field's __init__ with deep copies of its arguments. For one booking
(its request and its answer, about fifty fields) that was a third of the time of the request.

Here the fields are built once per class, the first time one is needed, and each instance gets
its own copies of them: a leaf field (one that holds no other field) as a shallow copy of its
attributes, which `Serializer.fields` then binds to the new instance as DRF always does; a field
holding others (a nested serializer, a ListField's child, a many-related field) as DRF's own deep
copy, which builds its inner fields the same way. A leaf field's only per-instance state is what
`bind` sets (name, parent, source); what the copies share (validators, error messages, choices,
a related field's queryset, which DRF re-evaluates with `.all()`) is only read while validating
or representing.

Two rules follow:
- get_fields must not depend on the instance (its context or request); configure a field in
  its declaration, not in the serializer's __init__;
- never mutate a field's shared attributes in place (`field.validators.append(...)`); assign a
  new value instead (`field.validators = [*field.validators, v]`), which stays on the copy.

They are enforced, not only written down: the class's leaf fields keep their validators in a
tuple, so `validators.append` raises at the first instance; and config/tests/test_serializers.py
builds every serializer of the project with anonymous and staff requests, compares its fields
with the ones DRF builds per instance, and fails if building or using an instance changed any
attribute of the class's fields.

Kept because it is measured: without it booking create does about 3 % fewer requests a second
(bench/README.md), and it is this one module; deleting it (and the two bases) gives DRF's
behaviour back.
"""

import copy

from rest_framework import serializers
from rest_framework.relations import ManyRelatedField


def _holds_fields(field: serializers.Field) -> bool:
    return isinstance(field, serializers.BaseSerializer | ManyRelatedField) or hasattr(
        field, "child"
    )


def _freeze(field: serializers.Field) -> serializers.Field:
    """The class's copy of a leaf field: its validators in a tuple, so that appending to the
    shared list (instead of assigning a new one) fails loudly."""
    if not _holds_fields(field):
        field.validators = tuple(field.validators)
    return field


def _own_copy(field: serializers.Field) -> serializers.Field:
    if _holds_fields(field):
        return copy.deepcopy(field)
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


class FieldsBuiltOnce:
    """get_fields: build the class's fields once, hand each instance its own copies."""

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = {name: _freeze(field) for name, field in super().get_fields().items()}
            cls._fields_built_once = built
        return {name: _own_copy(field) for name, field in built.items()}


class Serializer(FieldsBuiltOnce, serializers.Serializer):
    pass


class ModelSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    pass
