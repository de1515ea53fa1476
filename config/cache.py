"""
The cache the code can do without: `fail_soft`, so a Redis outage degrades the site, never
breaks it (README, Operations).

The Redis backend itself is django-redis (settings.CACHES): one redis-py client per connection
pool, kept for the life of the process, and `incr` in one round trip (a Lua script), which is
what every rate-limited request pays.
"""

import logging
import threading
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted

# --- Doing without the cache -------------------------------------------------------------------

logger = logging.getLogger(__name__)

# After an error, a process leaves the service alone for this long (every call in the meantime
# takes its fallback at once), so a Redis that hangs costs one request a socket timeout, not all.
BYPASS_SECONDS = 5.0


class Breaker:
    """Per process and per server: is a service worth asking? Opened by a failure (one log
    line), closed by the first success after BYPASS_SECONDS (another)."""

    _all: dict[tuple[str, str], "Breaker"] = {}
    _lock = threading.Lock()

    def __init__(self, name: str):
        self.name = name
        self.open_until: float | None = None

    @classmethod
    def for_(cls, name: str, server: str) -> "Breaker":
        """The breaker of `name` ("cache", "broker") at `server` (its URL: kept, not logged)."""
        found = cls._all.get((name, server))
        if found is None:
            with cls._lock:
                found = cls._all.setdefault((name, server), cls(name))
        return found

    def allows(self) -> bool:
        return self.open_until is None or time.monotonic() >= self.open_until

    def failed(self, exc: BaseException) -> None:
        self.open_until = time.monotonic() + BYPASS_SECONDS
        logger.warning(
            "%s unreachable (%s: %s); doing without it for %g s",
            self.name,
            type(exc).__name__,
            exc,
            BYPASS_SECONDS,
        )

    def succeeded(self) -> None:
        if self.open_until is not None:
            self.open_until = None
            logger.warning("%s reachable again", self.name)


class _Unavailable(Exception):
    pass


class FailSoftCache:
    """The default cache for callers that can do without it (availability, rate limits, the
    Stripe drain flag): a Redis error, or a recent one (Breaker), is never raised but answered
    as documented per method, as if the cache were empty and writes were lost. The errors are
    caught here, in one place. (Health asks the cache itself: it must see the error.)"""

    @staticmethod
    def _call(method: str, *args, **kwargs):
        backend = caches["default"]
        if not isinstance(backend, RedisCache):
            return getattr(backend, method)(*args, **kwargs)
        breaker = Breaker.for_("cache", str(settings.CACHES["default"]["LOCATION"]))
        if not breaker.allows():
            raise _Unavailable
        try:
            result = getattr(backend, method)(*args, **kwargs)
        except (redis.RedisError, ConnectionInterrupted) as exc:
            breaker.failed(exc)
            raise _Unavailable from exc
        breaker.succeeded()
        return result

    def get(self, key, default=None):
        try:
            return self._call("get", key, default)
        except _Unavailable:
            return default

    def get_many(self, keys) -> dict:
        try:
            return self._call("get_many", keys)
        except _Unavailable:
            return {}

    def add(self, key, value, timeout=DEFAULT_TIMEOUT) -> bool | None:
        """True: added; False: the key was there; None: the cache is unreachable."""
        try:
            return self._call("add", key, value, timeout)
        except _Unavailable:
            return None

    def set(self, key, value, timeout=DEFAULT_TIMEOUT) -> bool:
        """False when the cache is unreachable (the value is not stored)."""
        try:
            self._call("set", key, value, timeout)
        except _Unavailable:
            return False
        return True

    def set_many(self, data: dict, timeout=DEFAULT_TIMEOUT) -> bool:
        try:
            self._call("set_many", data, timeout)
        except _Unavailable:
            return False
        return True

    def delete(self, key) -> bool | None:
        try:
            return self._call("delete", key)
        except _Unavailable:
            return None

    def incr(self, key, delta: int = 1) -> int | None:
        """The new value; ValueError when the key is missing; None when unreachable."""
        try:
            return self._call("incr", key, delta)
        except _Unavailable:
            return None


fail_soft = FailSoftCache()
