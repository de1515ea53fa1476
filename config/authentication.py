"""
`Authorization: Token <secret>` on the staff API: django-rest-knox tokens, checked on every
request against what revokes them, rather than revoking them wherever a user changes. A token
works only while it has not expired, its digest matches the user's current password
(config.tokens), the user is active, and the user is a superuser or still a member of a station.
So the rule holds however the change is made: admin forms, `manage.py changepassword`,
`set_password(); save()`, a queryset update. The tokens of a user found inactive or without a
station are deleted on the spot, and by the hourly sweep, so they stay dead if the user comes
back. Every refusal is the same 401 "Invalid token.".

Kept apart from the views: DRF imports this module while `rest_framework.views` is loading.
"""

import re
from hmac import compare_digest

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import exceptions

from config import services, tokens
from stations import tenancy
from stations.models import Membership

# What config.tokens.new_secret() makes. Anything else is refused before the database is asked
# (and a NUL or a non-UTF-8 byte cannot reach it).
_SECRET_SHAPE = re.compile(
    re.escape(knox_settings.TOKEN_PREFIX)
    + f"[0-9a-f]{{{knox_settings.AUTH_TOKEN_CHARACTER_LENGTH}}}"
)
_INVALID = "Invalid token."


def may_hold_token(user) -> bool:
    """Whether a token of this user may work: active, and a superuser or a station member."""
    return bool(user.is_active and (user.is_superuser or tenancy.roles_by_station(user)))


def tokens_of_users_who_may_not_hold_one() -> QuerySet[AuthToken]:
    """`may_hold_token` as a query: the hourly sweep revokes these, so a token whose user was
    deactivated (or left every station) stays dead if the user comes back before using it."""
    member = Membership.objects.filter(user_id=OuterRef("user_id"))
    return AuthToken.objects.filter(
        Q(user__is_active=False) | Q(user__is_superuser=False) & ~Exists(member)
    )


class ApiTokenAuthentication(KnoxTokenAuthentication):
    """Knox's header and lookup; the digest, expiry and user checks of the module docstring."""

    def authenticate_credentials(self, token: bytes):
        try:
            secret = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_INVALID) from None
        if not _SECRET_SHAPE.fullmatch(secret):
            raise exceptions.AuthenticationFailed(_INVALID)
        rows = AuthToken.objects.filter(token_key=tokens.lookup_key(secret))
        for row in rows.select_related("user"):
            if any(compare_digest(d, row.digest) for d in tokens.digests_for(secret, row.user)):
                return self._check(row)
        raise exceptions.AuthenticationFailed(_INVALID)

    def _check(self, row: AuthToken):
        if row.expiry is not None and row.expiry <= timezone.now():
            services.api_token_revoke(token=row)
            raise exceptions.AuthenticationFailed(_INVALID)
        if not may_hold_token(row.user):
            services.api_tokens_revoke_for_user(user_id=row.user_id)
            raise exceptions.AuthenticationFailed(_INVALID)
        return row.user, row
