"""
The one signal that a station's availability changed: a version number per station in the
cache. Every write that changes a chef's time (bookings, chefs, time off) bumps it when it
commits, and cached days computed under an older version are not served again
(bookings.scheduling reads it). It lives here, at the bottom of the apps, so stations' own
services (chefs, time off) and bookings' services bump the same version.
"""

from time import time_ns

from django.db import transaction

from config.cache import fail_soft


def version_key(station_id: int) -> str:
    return f"availability-version:{station_id}"


def bump(station_id: int) -> None:
    """Invalidate the station's cached availability now. With the cache unreachable there is
    nothing to invalidate (reads compute afresh); a cache that comes back with its old data
    serves it for bookings.scheduling.CACHE_SECONDS at most, and a booking of a slot taken
    meanwhile is still refused (409)."""
    fail_soft.set(version_key(station_id), time_ns(), timeout=None)


def changed_on_commit(station_id: int) -> None:
    """Invalidate it when the current transaction commits (at once outside one). After the
    commit is what counts: a reader that cached days before it, from rows without this change,
    cached them under the old version, so they are not served again."""
    transaction.on_commit(lambda: bump(station_id))
