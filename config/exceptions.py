"""
One error shape for the whole API: {"error": "<code>", "detail": "<human text>", "fields": {...}}.

`api_exception_handler` is DRF's EXCEPTION_HANDLER; `error_response` builds the same body for
Django's own error views (config.errors) and for code that answers errors directly.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApiError(exceptions.APIException):
    """A domain error with a stable code, raised by services and mapped to the error shape."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "The request could not be processed."

    def __init__(self, detail=None, *, code=None, status_code=None, fields=None):
        super().__init__(detail=detail, code=code)
        if status_code is not None:
            self.status_code = status_code
        self.error_code = code or self.default_code
        self.fields = fields or {}


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


# DRF's own exception classes mapped to our stable codes.
_CODES = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    return {"error": code, "detail": detail, "fields": fields or {}}


def error_response(
    code: str, detail: str, status_code: int, fields: dict | None = None
) -> Response:
    return Response(error_body(code, detail, fields), status=status_code)


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(_flatten(item) for item in detail.values())
    return str(detail)


def _validation_body(detail) -> dict:
    if isinstance(detail, dict):
        non_field = detail.get("non_field_errors")
        fields = {key: value for key, value in detail.items() if key != "non_field_errors"}
        message = _flatten(non_field) if non_field else "Some fields are invalid."
        return error_body("validation_error", message, fields)
    return error_body("validation_error", _flatten(detail))


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: Django's 500 handler answers (config.errors)

    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, str(exc.detail), exc.fields)
    elif isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc.detail)
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
        if code is None:
            code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = error_body(code, _flatten(exc.detail))
    return response
