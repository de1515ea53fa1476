"""Writes of the stations domain."""

from django.db import transaction

from stations.models import Chef, Station, new_feed_token


@transaction.atomic
def station_rotate_calendar_token(*, station: Station) -> Station:
    """Give the station's calendar feed a new secret URL; the old one stops working at once."""
    station.calendar_token = new_feed_token()
    station.save(update_fields=["calendar_token", "updated_at"])
    return station


@transaction.atomic
def chef_rotate_calendar_token(*, chef: Chef) -> Chef:
    """Give the chef's calendar feed a new secret URL; the old one stops working at once."""
    chef.calendar_token = new_feed_token()
    chef.save(update_fields=["calendar_token"])
    return chef
