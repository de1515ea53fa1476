"""The OpenAPI schema at /api/schema/ is valid and documents the public contract; docs render."""

import pytest
from openapi_spec_validator import validate
from rest_framework.test import APIClient


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
    assert set(sign_out["responses"]) == {"204"}
    assert {name for req in sign_out["security"] for name in req} == {"tokenAuth"}
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
