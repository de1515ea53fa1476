"""The Redis cache is django-redis (settings.CACHES). The rate limits call `incr` on every
public request; these tests hold the library to the two properties we chose it for, so an
upgrade that loses one fails here rather than in `make bench`."""

import pytest
from django.core.cache import cache, caches
from django_redis.cache import RedisCache


@pytest.fixture(autouse=True)
def _redis_only():
    if not isinstance(caches["default"], RedisCache):
        pytest.skip("the cache is not Redis (REDIS_URL unset)")


def test_incr_of_a_missing_key_raises_and_creates_nothing():
    with pytest.raises(ValueError, match="not found"):
        cache.incr("never-set")
    assert cache.get("never-set") is None


def test_incr_counts_and_keeps_the_expiry():
    cache.set("counter", 5, timeout=30)
    assert cache.incr("counter") == 6
    assert cache.incr("counter", 10) == 16
    assert cache.get("counter") == 16
    assert 0 < cache.ttl("counter") <= 30


def test_incr_is_one_round_trip(monkeypatch):
    cache.set("counter", 1, timeout=30)
    client = cache.client.get_client(write=True)
    commands = []
    original = client.execute_command

    def spy(*args, **kwargs):
        commands.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", spy)
    assert cache.incr("counter") == 2
    assert commands == ["EVAL"]


def test_one_client_per_pool_is_reused():
    first = cache.client.get_client(write=True)
    cache.set("k", {"v": 1})
    assert cache.get("k") == {"v": 1}
    assert cache.client.get_client(write=True) is first
    assert cache.client.get_client(write=False) is first  # one server: reads use the same pool
