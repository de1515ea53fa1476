"""Every API error has one shape, {"error", "detail", "fields"}; the admin keeps HTML pages."""

import json

import pytest
from django.test import Client, RequestFactory

from config import errors
from stations.models import Station


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v1/nowhere/", "/api/v2/stations/"])
def test_unknown_api_path_is_json_404(api_client, db, path):
    assert_error(api_client.get(path), 404, "not_found")


def test_unknown_object_is_json_404(api_client, db):
    assert_error(api_client.get("/api/v1/stations/atlantis/"), 404, "not_found")


def test_wrong_method_is_405(api_client, db):
    body = assert_error(
        api_client.post("/api/v1/stations/", {"slug": "x"}), 405, "method_not_allowed"
    )
    assert body["fields"] == {}


def test_malformed_json_is_400_parse_error(api_client, db):
    response = api_client.post(
        "/api/v1/auth/token", data='{"username": "sj-manager",', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_unsupported_media_type_is_415(api_client, db):
    response = api_client.post(
        "/api/v1/auth/token", data="username=a", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_validation_error_lists_fields(staff_client, owner):
    body = assert_error(
        staff_client(owner).patch(
            "/api/v1/staff/stations/san-jose/", {"buffer_minutes": -1, "currency": "usd"}
        ),
        400,
        "validation_error",
    )
    assert set(body["fields"]) == {"buffer_minutes", "currency"}
    assert all(isinstance(messages, list) for messages in body["fields"].values())


def test_unauthenticated_staff_request_is_401(api_client, db):
    response = api_client.get("/api/v1/staff/stations/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_is_401(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert_error(api_client.get("/api/v1/staff/stations/"), 401, "authentication_failed")


def test_csrf_failure_on_session_authenticated_write_is_json_403(owner, san_jose):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    url = "/api/v1/staff/stations/san-jose/"
    body = json.dumps({"buffer_minutes": 5})

    response = client.patch(url, body, content_type="application/json")
    assert "CSRF" in assert_error(response, 403, "permission_denied")["detail"]
    san_jose.refresh_from_db()
    assert san_jose.buffer_minutes == 60

    # With the token the same request goes through: the 403 above was the CSRF check.
    client.get("/admin/")
    token = client.cookies["csrftoken"].value
    response = client.patch(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert Station.objects.get(pk=san_jose.pk).buffer_minutes == 5


def test_disallowed_host_on_api_path_is_json_400(api_client, db):
    assert_error(api_client.get("/api/v1/health", HTTP_HOST="evil.example"), 400, "bad_request")


def test_non_api_404_stays_html(client, db):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_admin_csrf_failure_stays_html(db):
    response = Client(enforce_csrf_checks=True).post(
        "/admin/login/", {"username": "x", "password": "y"}
    )
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_unexpected_exception_in_an_api_view_is_json_500(db, monkeypatch):
    from config.health import HealthView

    def broken(self, request):
        raise RuntimeError("a bug, with a customer's phone +14085550123 in it")

    monkeypatch.setattr(HealthView, "get", broken)
    response = Client(raise_request_exception=False).get("/api/v1/health")
    body = assert_error(response, 500, "server_error")
    assert "14085550123" not in body["detail"]  # no internals leak to the client


# --- Django's own error views, called as Django calls them ----------------------------------


@pytest.mark.parametrize(
    ("view", "args", "status", "code"),
    [
        (errors.bad_request, (Exception(),), 400, "bad_request"),
        (errors.permission_denied, (Exception(),), 403, "permission_denied"),
        (errors.page_not_found, (Exception(),), 404, "not_found"),
        (errors.server_error, (), 500, "server_error"),
        (errors.csrf_failure, (), 403, "csrf_failed"),
    ],
)
def test_django_error_views_answer_json_on_api_paths(view, args, status, code):
    request = RequestFactory().post("/api/v1/bookings/")
    assert_error(view(request, *args), status, code)


@pytest.mark.parametrize(
    ("view", "args", "status"),
    [
        (errors.page_not_found, (Exception(),), 404),
        (errors.server_error, (), 500),
        (errors.csrf_failure, (), 403),
    ],
)
def test_django_error_views_answer_html_elsewhere(view, args, status):
    response = view(RequestFactory().get("/admin/anything/"), *args)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")


def test_api_exception_handler_maps_django_errors():
    from django.core.exceptions import PermissionDenied, ValidationError
    from django.http import Http404

    from config.exceptions import ApiError, Conflict, api_exception_handler

    def handle(exc):
        return api_exception_handler(exc, {})

    assert handle(Http404()).data["error"] == "not_found"
    assert handle(PermissionDenied()).status_code == 403
    response = handle(ValidationError({"zip_code": ["Not served."]}))
    assert response.status_code == 400
    assert response.data["fields"] == {"zip_code": ["Not served."]}
    response = handle(ValidationError("Too late to change."))
    assert response.data == {
        "error": "validation_error",
        "detail": "Too late to change.",
        "fields": {},
    }
    response = handle(Conflict("That slot was just taken.", code="slot_unavailable"))
    assert response.status_code == 409
    assert response.data == {
        "error": "slot_unavailable",
        "detail": "That slot was just taken.",
        "fields": {},
    }
    response = handle(ApiError("Nope.", code="refund_too_large", fields={"amount": ["max"]}))
    assert (response.status_code, response.data["fields"]) == (400, {"amount": ["max"]})
    assert handle(RuntimeError("boom")) is None  # left to Django's 500 handler


def test_a_nul_character_anywhere_in_a_json_body_is_a_400_not_a_500(api_client, world):
    response = api_client.post(
        "/api/v1/bookings/",
        {"station": "san-jose\x00", "customer": {"name": "a\x00"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


@pytest.mark.parametrize("depth", [33, 500, 100_000])
@pytest.mark.parametrize("shape", ["list", "object"])
def test_a_json_body_nested_too_deeply_is_a_400_not_a_500(api_client, db, depth, shape):
    opening, closing = ("[", "]") if shape == "list" else ('{"a":', "}")
    body = opening * depth + ("" if shape == "list" else "1") + closing * depth

    response = api_client.post("/api/v1/quotes/", body, content_type="application/json")

    assert_error(response, 400, "parse_error")
    assert "32 levels" in response.json()["detail"]


def test_json_nested_as_deep_as_allowed_is_parsed(api_client, db):
    body = '{"station": "nowhere", "addons": ' + "[" * 31 + "]" * 31 + "}"

    response = api_client.post("/api/v1/quotes/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"  # parsed, then validated


QUOTE = {
    "station": "san-jose",
    "event_date": "2027-03-10",
    "adults": 12,
    "zip_code": "95014",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sms_optin": True}, "sms_optin"),  # no such field: refused, not silently dropped
        ({"adults": "12"}, "adults"),  # a string where the schema says integer
        ({"event_date": "20270310"}, "event_date"),  # not "YYYY-MM-DD"
        ({"addons": [1]}, "addons"),
    ],
)
def test_a_body_the_schema_forbids_is_a_400(api_client, world, change, field):
    response = api_client.post("/api/v1/quotes/", {**QUOTE, **change}, format="json")

    body = assert_error(response, 400, "validation_error")
    assert list(body["fields"]) == [field]


def test_a_nested_object_is_closed_too(api_client, world):
    from bookings.tests.helpers import booking_payload

    payload = booking_payload(world["san-jose"])
    payload["address"]["floor"] = "2"
    response = api_client.post("/api/v1/bookings/", payload, format="json")

    body = assert_error(response, 400, "validation_error")
    assert body["fields"] == {"address": {"floor": ["Unknown field."]}}
