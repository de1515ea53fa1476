"""Where staff sign in: POST /api/v1/auth/token (a token for the staff API) and the admin's login
page. Both count attempts against the same per-address limit (THROTTLE_AUTH_RATE)."""

import math

from django.contrib import admin, messages
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.exceptions import ApiError
from config.throttling import AuthThrottle


class ObtainTokenView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthThrottle]

    @extend_schema(
        request=AuthTokenSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request):
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            if set(serializer.errors) - {"non_field_errors"}:
                serializer.is_valid(raise_exception=True)  # missing fields: validation_error
            raise ApiError("Unable to log in with these credentials.", code="invalid_credentials")
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


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
