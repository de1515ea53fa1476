"""
Rate limits, counted in the shared cache (Redis when configured) so every web process agrees.

The client is identified by REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many proxies append
to X-Forwarded-For (DRF's NUM_PROXIES), so a forged header cannot reset a limit. Rates are read
from settings.THROTTLE_RATES at request time, which lets tests and operators change them.
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _ScopedThrottle(SimpleRateThrottle):
    def get_rate(self):
        return settings.THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PublicThrottle(_ScopedThrottle):
    """Anonymous public endpoints (booking site): per client address."""

    scope = "public"


class AuthThrottle(_ScopedThrottle):
    """Credential checks: per client address, tight, against password guessing."""

    scope = "auth"


class StaffThrottle(_ScopedThrottle):
    """Authenticated staff API: per user."""

    scope = "staff"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
