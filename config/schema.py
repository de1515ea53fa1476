"""
The OpenAPI schema at /api/schema/ tells the truth: other systems generate clients from it, and
CI checks it against the running API (schemathesis, see `.ci/schemathesis.sh`).

drf-spectacular describes what an operation answers when it succeeds. This module adds the rest,
in one place:
- `Error`, the one error shape (config.exceptions), documented on every operation under each
  status the operation can answer, with the error codes it may carry (ERROR_CODES);
- which statuses those are, read from the operation itself (AutoSchema.error_codes): a body or a
  query string can be invalid (400, and 415 for a body that is not JSON), a staff operation needs
  a token (401) and a role (403), a path names an object that may not exist and a page may be
  past the last (404), a throttled view may say "slow down" (429), an `@idempotent` handler may
  see its key in use (409) or reused for another request (422); plus the domain errors a view
  declares with `errors("slot_unavailable", ...)` in its `extend_schema(responses=...)`;
- request bodies that are closed (`additionalProperties: false`: config.serializers refuses
  unknown fields, and values of another JSON type) and text that cannot hold NUL
  (config.parsers refuses it in a body, Django's forms in a query string).

config/tests/test_schema.py pins these facts.
"""

from collections import defaultdict

from drf_spectacular import openapi
from drf_spectacular.plumbing import get_lib_doc_excludes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import permissions, serializers

from config.serializers import FieldsBuiltOnce, Serializer

# Every error code the API answers, its status, and what it means. The README's list of errors
# is this table in prose.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "validation_error": (400, "some fields are invalid: `fields` says which and why"),
    "parse_error": (
        400,
        "the body is not JSON, holds a NUL character or nests deeper than 32 levels",
    ),
    "bad_request": (400, "the Idempotency-Key header is too long or not printable ASCII"),
    "invalid_credentials": (400, "wrong username or password, or a user who may hold no token"),
    "outside_service_area": (400, "no station zone serves the ZIP code"),
    "empty_reply": (400, "no text to send (an empty body and no template)"),
    "empty_note": (400, "no text in the note"),
    "invalid_assignee": (400, "the assignee is not on the station's staff"),
    "invalid_status": (400, "not a conversation status"),
    "invalid_snooze": (400, "snooze needs a time in the future"),
    "not_authenticated": (401, "no token (or session) was sent"),
    "authentication_failed": (401, "the token is unknown, expired or revoked"),
    "permission_denied": (403, "the user's role at the station does not allow this"),
    "refund_not_allowed": (403, "the user's role issues no refunds"),
    "refund_over_limit": (403, "more than the station lets a manager refund"),
    "not_found": (404, "no such object, or another station's, or a page past the last"),
    "unsupported_media_type": (415, "the body is not `application/json`"),
    "conflict": (409, "the object changed meanwhile, or the request collides with another"),
    "slot_unavailable": (409, "no chef is free for that slot (any more)"),
    "try_again": (409, "the request lost three races in a row; send it again"),
    "chef_unavailable": (409, "that chef is not free then"),
    "invalid_transition": (409, "the booking's status does not allow this"),
    "event_started": (409, "the event has begun: it cannot be cancelled or moved by the customer"),
    "nothing_due": (409, "nothing is owed on this booking"),
    "refund_outside_stripe": (409, "the payment was taken outside Stripe: refund it by hand"),
    "no_price_list": (409, "the station has no price list yet"),
    "send_refused": (409, "the message may not be sent (opt-out, WhatsApp window...): see detail"),
    "no_channel": (409, "the station has no channel to answer this customer on"),
    "draft_superseded": (409, "a person answered the message: the AI draft is not sent"),
    "draft_decided": (409, "the AI draft was approved, rejected or sent before (or is no draft)"),
    "lead_status_conflict": (409, "the lead's status does not allow this move"),
    "lead_converted": (409, "the lead was converted to a booking before"),
    "lead_unrouted": (409, "the lead belongs to no station yet: route it first"),
    "lead_routed": (409, "the lead already belongs to a station"),
    "review_replied": (409, "the review's reply was approved, posted or declined before"),
    "review_submitted": (409, "this review request's token was used before: one review per token"),
    "idempotency_in_progress": (409, "the first request with this Idempotency-Key still runs"),
    "idempotency_key_reused": (422, "this Idempotency-Key came with another request before"),
    "throttled": (429, "too many requests: wait for `Retry-After` seconds"),
    "refund_failed": (502, "Stripe refused the refund"),
    "payment_provider_refused": (502, "Stripe refused to create the payment request"),
    "payment_provider_unavailable": (503, "Stripe did not answer: nothing was created, try again"),
}

# Text of a request (a body's strings, a query string) may not hold NUL: PostgreSQL cannot
# store it, so the API refuses it (400) rather than fail later.
NO_NUL = "^[^\\u0000]*$"


class ErrorSerializer(Serializer):
    """Every error the API answers (DESIGN.md §3)."""

    error = serializers.CharField(help_text="A stable code, listed with each response.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Per invalid field, a list of messages (an object, for a nested one); "
        "empty when no single field is to blame.",
    )


class ErrorResponse(OpenApiResponse):
    """An `Error` answered with one status, carrying one of `codes`."""

    def __init__(self, status: int, codes: list[str]):
        self.status, self.codes = status, codes
        super().__init__(response=ErrorSerializer, description=_describe(codes))


def errors(*codes: str) -> dict[int, ErrorResponse]:
    """The domain errors an operation answers, for `extend_schema(responses={...})`, grouped by
    status: `{201: X, **errors("slot_unavailable", "try_again")}`."""
    by_status = defaultdict(list)
    for code in codes:
        by_status[ERROR_CODES[code][0]].append(code)
    return {status: ErrorResponse(status, names) for status, names in by_status.items()}


def _describe(codes: list[str]) -> str:
    return "Error codes:\n" + "\n".join(f"* `{code}`: {ERROR_CODES[code][1]}" for code in codes)


RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds until the limit resets.",
    }
}

OPEN_PERMISSIONS = (permissions.AllowAny, permissions.IsAuthenticated)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": 255, "pattern": "^[\\x20-\\x7e]*$"},
    OpenApiParameter.HEADER,
    description="Any key of yours (a UUID, say), up to 255 printable ASCII characters: a repeat "
    "with the same body gets the first answer again (`Idempotent-Replayed: true`). Kept 24 hours.",
)


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus every error an operation can answer."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for status, codes in self.error_codes(operation).items():
            responses[str(status)] = self._error_response(status, codes)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def error_codes(self, operation: dict) -> dict[int, list[str]]:
        """The error codes this operation can answer, by status."""
        found: dict[int, list[str]] = defaultdict(list)

        def add(*codes: str) -> None:
            for code in codes:
                status = ERROR_CODES[code][0]
                if code not in found[status]:
                    found[status].append(code)

        parameters = operation.get("parameters", [])
        body = "requestBody" in operation
        if body or any(p["in"] == "query" for p in parameters):
            add("validation_error")
        if body:
            add("parse_error", "unsupported_media_type")
        security = operation.get("security", [])
        if security and {} not in security:
            add("not_authenticated", "authentication_failed")
            if any(not isinstance(p, OPEN_PERMISSIONS) for p in self.view.get_permissions()):
                add("permission_denied")
        if any(p["in"] == "path" for p in parameters) or self._is_paginated():
            add("not_found")
        if self.view.get_throttles():
            add("throttled")
        if getattr(self._handler(), "idempotency_scope", None):
            add("bad_request", "idempotency_in_progress", "idempotency_key_reused")
        declared = self.get_response_serializers()
        if isinstance(declared, dict):
            for response in declared.values():
                if isinstance(response, ErrorResponse):
                    add(*response.codes)
        return dict(sorted(found.items()))

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if getattr(self._handler(), "idempotency_scope", None):
            parameters = [*parameters, IDEMPOTENCY_KEY]
        return parameters

    def _error_response(self, status: int, codes: list[str]) -> dict:
        component = self.resolve_serializer(ErrorSerializer, "response")
        response = {
            "description": _describe(codes),
            "content": {"application/json": {"schema": component.ref}},
        }
        if status == 429:
            response["headers"] = RETRY_AFTER
        return response

    def _handler(self):
        action = getattr(self.view, "action", None) or self.method.lower()
        return getattr(self.view, action, None)

    def _is_paginated(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request":
            for field_schema in schema.get("properties", {}).values():
                _forbid_nul(field_schema)
            if getattr(serializer, "strict_input", False):
                schema["additionalProperties"] = False
        return schema

    def _get_filter_parameters(self):
        # django-filter reads an empty value ("?chef=") as no filter at all (a list of choices
        # excepted: "?status=" names no status, which is a 400).
        parameters = super()._get_filter_parameters()
        for parameter in parameters:
            if parameter.get("schema", {}).get("type") != "array":
                parameter["allowEmptyValue"] = True
        return parameters

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] == "query":
                _forbid_nul(parameter.get("schema", {}))
        return parameters


def _forbid_nul(schema: dict) -> None:
    """A free-text string (no pattern, format or choices of its own) may not hold NUL."""
    for alternative in schema.get("oneOf", ()):
        _forbid_nul(alternative)
    if schema.get("type") == "array":
        _forbid_nul(schema.get("items", {}))
    free_text = not {"pattern", "format", "enum", "readOnly"} & set(schema)
    if schema.get("type") == "string" and free_text and schema.get("maxLength") != 0:
        schema["pattern"] = NO_NUL


def lib_doc_excludes() -> list:
    """Docstrings a schema never shows: the library's (drf-spectacular's default) and our
    serializer bases', which describe plumbing, not the API."""
    return [*get_lib_doc_excludes(), FieldsBuiltOnce]
