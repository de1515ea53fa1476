"""Shared serializer bases."""

import copy

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, building its fields from the model once per class.

    DRF introspects the model (field mapping, uniqueness, extra kwargs) for every serializer
    instance, which cost most of the time of answering with one booking. The result depends
    only on the class (its Meta and declared fields), so it is built on first use and each
    instance gets a deep copy, as DRF already does for declared fields. Subclasses must not
    make get_fields depend on the instance (context, request)."""

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            cls._fields_built_once = built
        return copy.deepcopy(built)
