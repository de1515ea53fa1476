"""The OpenAPI schema at /api/schema/ is valid and documents the public contract, its errors
and its constraints (config.schema); docs render."""

import re
import tomllib
from pathlib import Path

import pytest
from django.conf import settings
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from config.schema import ERROR_CODES, NO_NUL


@pytest.fixture(scope="module")
def schema():
    """Generated once for the module (it needs no database)."""
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_schema_is_valid_openapi(schema):
    validate(schema)  # raises on an invalid document
    assert schema["openapi"].startswith("3.")


def test_schema_documents_the_station_routes(schema):
    assert {"/api/v1/stations/", "/api/v1/staff/stations/"} <= set(schema["paths"])
    assert "get" in schema["paths"]["/api/v1/stations/"]
    assert "post" not in schema["paths"]["/api/v1/stations/"]


def test_schema_documents_the_contract_paths_without_trailing_slash(schema):
    assert {"/api/v1/health", "/api/v1/auth/token"} <= set(schema["paths"])


def test_schema_version_is_the_package_version(schema):
    from importlib.metadata import version

    assert schema["info"]["version"] == version("hibachi-ops")


def test_schema_documents_token_auth_for_the_staff_api(schema):
    staff_get = schema["paths"]["/api/v1/staff/stations/"]["get"]
    schemes = {name for requirement in staff_get["security"] for name in requirement}
    assert "tokenAuth" in schemes


def test_docs_render(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "/api/schema/" in html
    assert "/static/drf_spectacular_sidecar/" in html  # assets from this site, not a CDN


def test_schema_documents_signing_in_and_out(schema):
    token_path = schema["paths"]["/api/v1/auth/token"]
    issued = token_path["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    ref = issued["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"token", "expiry"}
    assert token_path["post"].get("security", [{}]) in ([{}], [])  # no credentials needed

    sign_out = token_path["delete"]
    assert set(sign_out["responses"]) == {"204", "401", "429"}
    assert {name for req in sign_out["security"] for name in req} == {"tokenAuth"}
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")


# --- What the schema says about errors (config.schema) ---------------------------------------

STAFF_PREFIX = "/api/v1/staff/"
METHODS = ("get", "post", "put", "patch", "delete")


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _error_codes(response: dict) -> set[str]:
    """The codes a response's description lists ("* `code`: meaning")."""
    return set(re.findall(r"^\* `([a-z_]+)`", response.get("description", ""), re.MULTILINE))


def test_every_error_answer_is_the_error_shape_with_its_codes(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "detail", "fields"}
    seen = 0
    for path, method, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400 or path == "/api/v1/health":
                continue
            seen += 1
            where = f"{method.upper()} {path} {status}"
            assert set(response["content"]) == {"application/json"}, where
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, where
            codes = _error_codes(response)
            assert codes, where
            assert {ERROR_CODES[code][0] for code in codes} == {int(status)}, where
    assert seen > 100


@pytest.mark.parametrize(("path", "method"), [("/api/v1/health", "get")])
def test_only_health_answers_a_non_error_5xx(schema, path, method):
    statuses = set(schema["paths"][path][method]["responses"])
    assert statuses == {"200", "503"}
    body = schema["paths"][path][method]["responses"]["503"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/Health"


def test_each_operation_documents_the_statuses_its_kind_can_answer(schema):
    for path, method, operation in _operations(schema):
        where = f"{method.upper()} {path}"
        statuses = set(operation["responses"])
        parameters = operation.get("parameters", [])
        if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
            assert "400" in statuses, where
        if "requestBody" in operation:
            assert "415" in statuses, where
        if any(p["in"] == "path" for p in parameters):
            assert "404" in statuses, where
        if path.startswith(STAFF_PREFIX):
            assert {"401", "403", "429"} <= statuses, where
        if path != "/api/v1/health":
            assert "429" in statuses, where
            assert "Retry-After" in operation["responses"]["429"]["headers"], where


def test_public_operations_need_no_credentials_so_answer_no_401(schema):
    for path, method, operation in _operations(schema):
        if {} in operation.get("security", [{}]):
            assert "401" not in operation["responses"], f"{method.upper()} {path}"
            assert "403" not in operation["responses"], f"{method.upper()} {path}"


@pytest.mark.parametrize(
    ("path", "method", "status", "codes"),
    [
        ("/api/v1/bookings/", "post", "409", {"slot_unavailable", "idempotency_in_progress"}),
        ("/api/v1/bookings/", "post", "422", {"idempotency_key_reused"}),
        ("/api/v1/bookings/", "post", "400", {"validation_error", "outside_service_area"}),
        ("/api/v1/quotes/", "post", "400", {"outside_service_area", "parse_error"}),
        ("/api/v1/auth/token", "post", "400", {"invalid_credentials", "validation_error"}),
        ("/api/v1/bookings/{reference}/cancel/", "post", "409", {"event_started"}),
        ("/api/v1/staff/bookings/{id}/confirm/", "post", "409", {"invalid_transition"}),
        ("/api/v1/staff/bookings/{id}/reassign/", "post", "409", {"chef_unavailable"}),
        ("/api/v1/staff/customers/{id}/", "patch", "409", {"conflict"}),
        ("/api/v1/staff/payments/{id}/refund/", "post", "403", {"refund_over_limit"}),
        ("/api/v1/staff/payments/{id}/refund/", "post", "502", {"refund_failed"}),
        ("/api/v1/staff/bookings/", "get", "404", {"not_found"}),  # a page past the last
        ("/api/v1/staff/bookings/", "get", "401", {"not_authenticated"}),
        ("/api/v1/reviews/", "post", "409", {"review_submitted", "idempotency_in_progress"}),
        ("/api/v1/reviews/", "post", "404", {"not_found"}),
        ("/api/v1/staff/reviews/{id}/respond/", "post", "409", {"review_replied"}),
    ],
)
def test_domain_errors_are_documented_where_they_happen(schema, path, method, status, codes):
    assert codes <= _error_codes(schema["paths"][path][method]["responses"][status])


RAISED_CODE = re.compile(r'(?:ApiError|Conflict)\((?:[^()]|\([^()]*\))*?\bcode="([a-z_]+)"', re.S)


def test_every_error_code_the_code_raises_is_in_the_catalogue():
    """A new `code="..."` must be added to config.schema.ERROR_CODES (and so to the schema)."""
    raised = set()
    for app in ("config", "stations", "bookings", "payments", "inbox", "leads", "reviews"):
        for module in (Path(settings.BASE_DIR) / app).rglob("*.py"):
            if "tests" in module.parts or "migrations" in module.parts:
                continue
            raised |= set(RAISED_CODE.findall(module.read_text()))
    assert raised
    assert raised - set(ERROR_CODES) == set()


def test_the_idempotency_key_header_is_documented_where_it_is_honoured(schema):
    header = next(
        p
        for p in schema["paths"]["/api/v1/bookings/"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
    assert header["in"] == "header"
    assert header["schema"]["maxLength"] == 255


# --- What the schema says about requests and times --------------------------------------------


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_nothing_claims_rfc3339_time(schema):
    """Times of day are local wall-clock times ("17:30"), not RFC 3339 full-time ("17:30:00Z")."""
    assert not [node for node in _walk(schema) if node.get("format") == "time"]


def test_times_of_day_have_the_pattern_the_server_writes_and_reads(schema):
    components = schema["components"]["schemas"]
    hh_mm = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
    assert components["Slot"]["properties"]["start"]["pattern"] == hh_mm
    assert components["Slot"]["properties"]["end"]["pattern"] == hh_mm
    for name in ("Booking", "StaffBooking", "BookingRequestRequest", "RescheduleRequestRequest"):
        assert components[name]["properties"]["start_time"]["pattern"] == hh_mm, name
    assert components["Booking"]["properties"]["end_time"]["pattern"] == hh_mm
    station_time = components["StaffStation"]["properties"]["earliest_start"]["pattern"]
    assert re.fullmatch(station_time, "09:00:00")
    assert re.fullmatch(station_time, "09:00")


def test_request_bodies_are_closed(schema):
    components = schema["components"]["schemas"]
    bodies = [
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        for _path, _method, op in _operations(schema)
        if "requestBody" in op
    ]
    assert len(bodies) > 10
    for name in bodies:
        assert components[name]["additionalProperties"] is False, name
    assert components["AddressRequest"]["additionalProperties"] is False  # nested ones too
    assert components["ContactRequest"]["additionalProperties"] is False


def test_free_text_in_a_request_may_not_hold_nul(schema):
    name = schema["components"]["schemas"]["ContactRequest"]["properties"]["name"]
    assert name["pattern"] == NO_NUL
    station = next(
        p
        for p in schema["paths"]["/api/v1/staff/bookings/"]["get"]["parameters"]
        if p["name"] == "station"
    )
    assert station["schema"]["pattern"] == NO_NUL


def test_list_parameters_are_what_the_server_takes(schema):
    parameters = {
        p["name"]: p for p in schema["paths"]["/api/v1/staff/bookings/"]["get"]["parameters"]
    }
    for name in ("page", "page_size"):
        assert parameters[name]["schema"] == {"type": "integer", "minimum": 1}, name
        assert parameters[name]["allowEmptyValue"] is True
    for name in ("chef", "customer"):
        assert parameters[name]["schema"]["type"] == "integer", name
        assert parameters[name]["schema"]["minimum"] == 1
    assert parameters["date_from"]["schema"] == {"type": "string", "format": "date"}


def test_component_descriptions_are_not_the_serializer_bases_docstrings(schema):
    descriptions = [c.get("description", "") for c in schema["components"]["schemas"].values()]
    assert not [d for d in descriptions if "built once" in d or "get_fields" in d]


def test_taking_a_booking_as_staff_answers_what_the_booking_site_gets(schema):
    created = schema["paths"]["/api/v1/staff/bookings/"]["post"]["responses"]["201"]
    ref = created["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/BookingCreated"


def test_the_schemathesis_configuration_names_operations_that_exist(schema):
    """CI's schemathesis run (.ci/schemathesis.sh) excuses a 400 to a schema-valid request only
    for the operations .ci/schemathesis.toml names: each must exist and document its 400s."""
    ci = Path(settings.BASE_DIR) / ".ci"
    config = tomllib.loads((ci / "schemathesis.toml").read_text())
    by_id = {op["operationId"]: op for _path, _method, op in _operations(schema)}
    excused = set()
    for entry in config["operations"]:
        ids = entry["include-operation-id"]
        excused |= {ids} if isinstance(ids, str) else set(ids)
    assert excused
    assert excused <= set(by_id)
    for operation_id in excused:
        assert "400" in by_id[operation_id]["responses"], operation_id
    script = (ci / "schemathesis.sh").read_text()
    named = set(re.findall(r"--(?:in|ex)clude-operation-id (\w+)", script))
    assert named == {"auth_token_destroy", "staff_stations_partial_update"}
    assert named <= set(by_id)
