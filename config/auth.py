"""Where staff sign in and out: POST /api/v1/auth/token (a token for the staff API), DELETE on
the same path (sign that token out), and the admin's login page. Signing in by the API and by
the admin's page counts attempts against the same per-address limit (THROTTLE_AUTH_RATE).

Tokens are django-rest-knox tokens: a digest at rest bound to the password (config.tokens), an
expiry; config.authentication checks them, and what revokes them, on every request.
"""

import math

from django.contrib import admin, messages
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from knox.settings import knox_settings
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config import services
from config.authentication import ApiTokenAuthentication, may_hold_token
from config.exceptions import ApiError
from config.schema import errors
from config.serializers import Serializer
from config.throttling import AuthThrottle, StaffThrottle


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of the staff API: `Authorization: Token <token>`."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=knox_settings.AUTH_HEADER_PREFIX
        )


@extend_schema_serializer(component_name="AuthToken")  # the name clients were generated with
class SignInSerializer(Serializer, AuthTokenSerializer):
    """DRF's username and password check, refusing fields it does not know (config.serializers)."""


TokenIssued = inline_serializer(
    "Token",
    {
        "token": serializers.CharField(help_text="Send as `Authorization: Token <token>`."),
        "expiry": serializers.DateTimeField(help_text="When the token stops working (UTC)."),
    },
)


class ObtainTokenView(APIView):
    """POST: a username and password → a new token. DELETE, sent with a token: signs it out."""

    def _is_sign_out(self) -> bool:
        # Django's View.setup() has set self.request by the time DRF asks for these.
        return getattr(getattr(self, "request", None), "method", "") == "DELETE"

    def get_authenticators(self):
        return [ApiTokenAuthentication()] if self._is_sign_out() else []

    def get_permissions(self):
        return [IsAuthenticated()] if self._is_sign_out() else [AllowAny()]

    def get_throttles(self):
        return [StaffThrottle()] if self._is_sign_out() else [AuthThrottle()]

    @extend_schema(
        request=SignInSerializer,
        responses={200: TokenIssued, **errors("invalid_credentials")},
        auth=[],
    )
    def post(self, request):
        serializer = SignInSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            if set(serializer.errors) - {"non_field_errors"}:
                serializer.is_valid(raise_exception=True)  # missing fields: validation_error
            raise _invalid_credentials()
        user = serializer.validated_data["user"]
        if not may_hold_token(user):  # a token it could not use: answered like a wrong password
            raise _invalid_credentials()
        token, secret = services.api_token_issue(user=user)
        expiry = serializers.DateTimeField().to_representation(token.expiry)
        return Response({"token": secret, "expiry": expiry})

    @extend_schema(request=None, responses={204: None}, auth=[{"tokenAuth": []}])
    def delete(self, request):
        services.api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _invalid_credentials() -> ApiError:
    return ApiError("Unable to log in with these credentials.", code="invalid_credentials")


def admin_login(request, extra_context=None):
    """The admin's login page, with the API's limit on password guessing: past THROTTLE_AUTH_RATE
    attempts from one address, the form comes back (429, Retry-After) without a check."""
    if request.method == "POST":
        throttle = AuthThrottle()
        if not throttle.allow_request(request, None):
            wait = max(1, math.ceil(throttle.wait()))
            messages.error(
                request,
                f"Too many sign-in attempts from your address. Try again in {wait} seconds.",
            )
            request.method = "GET"  # show the form again; the password is not looked at
            response = admin.site.login(request, extra_context)
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
    return admin.site.login(request, extra_context)
