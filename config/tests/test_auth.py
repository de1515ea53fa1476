"""POST /api/v1/auth/token, token and session auth on the staff API, and the rate limits."""

import pytest
from rest_framework.test import APIClient

TOKEN = "/api/v1/auth/token"
STAFF = "/api/v1/staff/stations/"
CREDENTIALS = {"username": "sj-manager", "password": "hibachi-demo"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    return body


def test_token_works_on_the_staff_api(api_client, world):
    response = api_client.post(TOKEN, CREDENTIALS)
    assert response.status_code == 200
    token = response.json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(STAFF)
    assert response.status_code == 200
    assert [s["slug"] for s in response.json()["results"]] == ["san-jose"]
    assert client.get(f"{STAFF}sacramento/").status_code == 404


def test_the_answer_is_a_token_and_its_expiry(api_client, world):
    body = api_client.post(f"{TOKEN}/", CREDENTIALS).json()
    assert set(body) == {"token", "expiry"}


def test_wrong_password_is_400_invalid_credentials(api_client, world):
    response = api_client.post(TOKEN, {**CREDENTIALS, "password": "wrong"})
    body = assert_error(response, 400, "invalid_credentials")
    assert body["fields"] == {}
    assert "token" not in response.json()


def test_unknown_user_looks_like_a_wrong_password(api_client, world):
    wrong_password = api_client.post(TOKEN, {**CREDENTIALS, "password": "wrong"}).json()
    unknown_user = api_client.post(TOKEN, {"username": "nobody", "password": "x"}).json()
    assert unknown_user == wrong_password


def test_inactive_user_gets_no_token(api_client, sj_manager):
    sj_manager.is_active = False
    sj_manager.save()
    assert_error(api_client.post(TOKEN, CREDENTIALS), 400, "invalid_credentials")


def test_missing_fields_are_400_validation_error(api_client, db):
    body = assert_error(api_client.post(TOKEN, {}), 400, "validation_error")
    assert set(body["fields"]) == {"username", "password"}
    body = assert_error(api_client.post(TOKEN, {"username": "sj-manager"}), 400, "validation_error")
    assert set(body["fields"]) == {"password"}


def test_session_auth_works_on_the_staff_api(sj_manager):
    client = APIClient()
    client.force_login(sj_manager)
    response = client.get(STAFF)
    assert response.status_code == 200
    assert [s["slug"] for s in response.json()["results"]] == ["san-jose"]


def test_no_credentials_is_refused_in_the_error_shape(api_client, db):
    response = api_client.get(STAFF)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "error": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "fields": {},
    }


def test_logged_in_user_without_membership_is_403(db):
    from testing.factories import UserFactory

    client = APIClient()
    client.force_login(UserFactory())
    assert_error(client.get(STAFF), 403, "permission_denied")


# --- throttling --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def throttle_clock(monkeypatch):
    """Hold the throttles' clock 30 s into a minute, so no test straddles a window boundary."""
    from config.throttling import _ScopedThrottle

    monkeypatch.setattr(_ScopedThrottle, "timer", staticmethod(lambda: 1_800_000_030.0))


@pytest.fixture
def auth_rate_3(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "auth": "3/min"}


def attempt(client, remote_addr="203.0.113.7", **headers):
    return client.post(
        TOKEN, {**CREDENTIALS, "password": "guess"}, REMOTE_ADDR=remote_addr, **headers
    )


def test_fourth_attempt_is_throttled(api_client, world, auth_rate_3):
    assert [attempt(api_client).status_code for _ in range(3)] == [400, 400, 400]
    response = attempt(api_client)
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    # the right password does not get through either while the limit holds
    assert api_client.post(TOKEN, CREDENTIALS, REMOTE_ADDR="203.0.113.7").status_code == 429


def test_forged_forwarded_for_does_not_reset_the_limit(api_client, world, auth_rate_3):
    codes = [
        attempt(api_client, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(5)
    ]
    assert codes == [400, 400, 400, 429, 429]


def test_another_address_has_its_own_limit(api_client, world, auth_rate_3):
    for _ in range(4):
        attempt(api_client, "203.0.113.7")
    assert attempt(api_client, "203.0.113.7").status_code == 429
    assert attempt(api_client, "203.0.113.8").status_code == 400


def test_trusted_proxy_count_uses_the_forwarded_address(api_client, world, settings, auth_rate_3):
    # TRUSTED_PROXY_COUNT=1 in the environment: one load balancer appends the client address.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(3):
        attempt(api_client, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert attempt(api_client, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    # behind the proxy, another client is another limit
    assert attempt(api_client, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 400


def test_public_endpoints_are_throttled_per_address(api_client, world, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "public": "2/min"}
    codes = [
        api_client.get("/api/v1/stations/", REMOTE_ADDR="203.0.113.9").status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    assert_error(
        api_client.get("/api/v1/stations/san-jose/", REMOTE_ADDR="203.0.113.9"), 429, "throttled"
    )
    assert api_client.get("/api/v1/stations/", REMOTE_ADDR="203.0.113.10").status_code == 200


def test_staff_api_is_throttled_per_user(staff_client, sj_manager, sj_agent, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "staff": "2/min"}
    manager = staff_client(sj_manager)
    assert [manager.get(STAFF).status_code for _ in range(3)] == [200, 200, 429]
    assert staff_client(sj_agent).get(STAFF).status_code == 200


def test_limits_are_counted_in_redis_shared_by_every_process(api_client, world, auth_rate_3):
    import redis
    from django.conf import settings
    from django.core.cache import cache

    attempt(api_client)
    pattern = cache.make_key("throttle_auth_203.0.113.7") + "*"
    assert list(redis.Redis.from_url(settings.REDIS_URL).scan_iter(match=pattern))


# --- the admin's login page shares the limit ------------------------------------------------


def admin_attempt(client, password="guess", remote_addr="203.0.113.7"):
    return client.post(
        "/admin/login/",
        {"username": CREDENTIALS["username"], "password": password, "next": "/admin/"},
        REMOTE_ADDR=remote_addr,
    )


def test_admin_login_is_throttled_like_the_token_endpoint(client, world, auth_rate_3):
    assert [admin_attempt(client).status_code for _ in range(3)] == [200, 200, 200]  # form errors

    response = admin_attempt(client, password=CREDENTIALS["password"])

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in response.content.decode()
    assert "<form" in response.content.decode()  # the form again, to try later
    assert "_auth_user_id" not in client.session  # the right password did not get in
    assert admin_attempt(client, CREDENTIALS["password"], "203.0.113.8").status_code == 302


def test_admin_and_api_attempts_count_together(client, api_client, world, auth_rate_3):
    for _ in range(3):
        attempt(api_client)
    assert admin_attempt(client).status_code == 429
    assert client.get("/admin/login/", REMOTE_ADDR="203.0.113.7").status_code == 200
