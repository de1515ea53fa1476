"""
The Redis cache backend: Django's, with two costs of its client removed.

- Django's client builds a new `redis.Redis` object on every call (each one fills a table of
  some 170 response callbacks); here one is built per connection pool and reused. A redis-py
  client over a pool is thread-safe, and the pool reconnects after a fork.
- Django's `incr` is two round trips (EXISTS, then INCRBY); here it is one script with the same
  contract (ValueError when the key is missing), which is what every rate-limited request pays.

And `fail_soft`: the cache for code that can do without it, so a Redis outage degrades the
site, never breaks it (README, Operations).
"""

import logging
import threading
import time

import redis
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # pool index -> (client, its incr script)

    def _client_and_incr(self, write: bool):
        index = self._get_connection_pool_index(write)
        found = self._clients.get(index)
        if found is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            found = self._clients[index] = (client, client.register_script(_INCR_EXISTING))
        return found

    def get_client(self, key=None, *, write=False):
        return self._client_and_incr(write)[0]

    def incr(self, key, delta):
        _client, incr_existing = self._client_and_incr(write=True)
        value = incr_existing(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient


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
        if not isinstance(backend, DjangoRedisCache):
            return getattr(backend, method)(*args, **kwargs)
        breaker = Breaker.for_("cache", ",".join(backend._servers))
        if not breaker.allows():
            raise _Unavailable
        try:
            result = getattr(backend, method)(*args, **kwargs)
        except redis.RedisError as exc:
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
