"""The Redis cache backend (config/cache.py): Django's contract, fewer objects and round trips."""

import pytest
from django.core.cache import cache, caches

from config.cache import RedisCache


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
    client = cache._cache.get_client("counter")
    assert 0 < client.ttl(cache.make_key("counter")) <= 30


def test_incr_is_one_round_trip(monkeypatch):
    cache.set("counter", 1, timeout=30)
    client = cache._cache.get_client("counter", write=True)
    commands = []
    original = client.execute_command

    def spy(*args, **kwargs):
        commands.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", spy)
    assert cache.incr("counter") == 2
    assert commands == ["EVALSHA"]


def test_one_client_per_pool_is_reused():
    first = cache._cache.get_client("a", write=True)
    assert cache._cache.get_client("b", write=True) is first
    cache.set("k", {"v": 1})
    assert cache.get("k") == {"v": 1}
    assert cache._cache.get_client("c") is first  # one server: reads use the same pool
