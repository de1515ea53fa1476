"""
Shared test fixtures: the named characters of DESIGN.md §8 at two stations, API clients, and the
defaults every test runs with (fast password hashing, its own cache key space, eager Celery).

Characters, an owner, a manager, an agent and a chef at each station (DESIGN.md §8). All but
two are built by the same builders as `seed_demo`, so tests and demo agree:
  san_jose, sacramento               the two stations, 3 chefs each, zones and price lists
  superuser                          `admin`
  owner                              `demo-owner`, owner of both stations
  sj_manager, sj_agent, sj_chef      san-jose manager, agent, chef (sj_chef is chef Kenji's login)
  sac_manager                        sacramento manager
  sac_agent, sac_chef                sacramento agent, chef (sac_chef is chef Hiro's login): test
                                     characters, made when a test asks for them (the demo has
                                     no agent or chef at sacramento)
Every character's password is PASSWORD.
"""

import os
import socket
import uuid

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.servers import basehttp
from rest_framework.test import APIClient

from bookings import demo as bookings_demo
from config.celery import app as celery_app
from stations import demo as stations_demo
from stations.models import Chef, Role, Station
from testing.factories import MembershipFactory, UserFactory

PASSWORD = "hibachi-demo"

pytest_plugins = ["testing.browser"]  # the `browser` fixture (headless Chromium)

# Tests storm the live server with a few dozen simultaneous connections; Django's listen
# backlog of 10 made the kernel drop some of them (seen as a reset connection now and then).
basehttp.WSGIServer.request_queue_size = 128

# TEST_CLOCK=2027-03-14T10:00:00-07:00 runs the whole session "on" that moment: the clock is
# moved there before the first test and keeps ticking (datetime.now, time.time, date.today, ...;
# not time.monotonic, nor PostgreSQL's now(), nor other processes such as live workers). CI runs
# the tests marked date_sensitive this way on seven consecutive days and the DST change days.
_moved_clock = None


def pytest_configure(config):
    global _moved_clock
    when = os.environ.get("TEST_CLOCK", "").strip()
    if when:
        _moved_clock = time_machine.travel(when, tick=True)
        _moved_clock.start()


def pytest_unconfigure(config):
    global _moved_clock
    if _moved_clock is not None:
        _moved_clock.stop()
        _moved_clock = None


def pytest_report_header(config):
    when = os.environ.get("TEST_CLOCK", "").strip()
    return f"TEST_CLOCK={when} (the clock was moved there)" if when else None


@pytest.fixture(autouse=True)
def _test_defaults(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each test counts rate limits and caches in a key space of its own on the shared Redis.
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def world(db):
    """Both demo stations with chefs, zones, price lists, and the demo users."""
    stations_demo.build_stations(password=PASSWORD)
    bookings_demo.build_price_lists(password=PASSWORD)
    stations_demo.build_users(password=PASSWORD)
    return {s.slug: s for s in Station.objects.all()}


@pytest.fixture
def san_jose(world):
    return world["san-jose"]


@pytest.fixture
def sacramento(world):
    return world["sacramento"]


def _user(username):
    return get_user_model().objects.get(username=username)


@pytest.fixture
def superuser(world):
    return _user("admin")


@pytest.fixture
def owner(world):
    return _user("demo-owner")


@pytest.fixture
def sj_manager(world):
    return _user("sj-manager")


@pytest.fixture
def sj_agent(world):
    return _user("sj-agent")


@pytest.fixture
def sj_chef(world):
    return _user("sj-chef")


@pytest.fixture
def sac_manager(world):
    return _user("sac-manager")


def _test_character(username, first_name, last_name, station, role):
    user = UserFactory(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=f"{username}@example.com",
    )
    MembershipFactory(user=user, station=station, role=role)
    return user


@pytest.fixture
def sac_agent(sacramento):
    return _test_character("sac-agent", "Casey", "Agent", sacramento, Role.AGENT)


@pytest.fixture
def sac_chef(sacramento):
    user = _test_character("sac-chef", "Hiro", "Sato", sacramento, Role.CHEF)
    Chef.objects.filter(station=sacramento, name="Hiro Sato").update(user=user)
    return user


@pytest.fixture
def dead_cache(settings):
    """The cache (django-redis, as deployed) pointed at a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"] = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }
    settings.CACHES = caches


@pytest.fixture
def api_client():
    """An anonymous API client (the public booking site)."""
    return APIClient()


def api_token(user) -> str:
    """A new staff API token's secret for `user`, issued as POST /api/v1/auth/token does."""
    from config.services import api_token_issue

    return api_token_issue(user=user)[1]


@pytest.fixture
def staff_client():
    """staff_client(user) → an API client authenticated with a real staff API token."""

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
        return client

    return make
