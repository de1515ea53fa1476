"""
Rate limits, counted in the shared cache (Redis when configured) so every web process agrees.

Fixed-window counters: one atomic INCR per request whatever the rate (DRF's default throttle
keeps a list of every request time in the window and rewrites it on each request, which costs
O(rate) and is what slowed high-rate endpoints). A client may burst up to twice the rate across
a window boundary; that is the accepted trade-off of fixed windows.

The client is identified by REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many proxies append
to X-Forwarded-For (DRF's NUM_PROXIES), so a forged header cannot reset a limit. Rates are read
from settings.THROTTLE_RATES at request time, which lets tests and operators change them.

With the cache unreachable the limits fall back to a count per process (see _local_count).
"""

import threading

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from config.cache import fail_soft

# While the cache is unreachable (config.cache.fail_soft), each process counts in its own
# memory: every limit still holds per process (so at most processes x rate in all), rather than
# none holding or every request failing.
_local_counts: dict[str, tuple[int, int]] = {}  # key with window -> (window, count)
_local_lock = threading.Lock()
_LOCAL_MAX_KEYS = 10_000


def _local_count(key: str, window: int) -> int:
    with _local_lock:
        if len(_local_counts) >= _LOCAL_MAX_KEYS:  # drop the windows that are over
            for old in [k for k, (w, _n) in _local_counts.items() if w < window]:
                del _local_counts[old]
            if len(_local_counts) >= _LOCAL_MAX_KEYS:
                _local_counts.clear()
        _window, count = _local_counts.get(key, (window, 0))
        _local_counts[key] = (window, count + 1)
        return count + 1


class _ScopedThrottle(SimpleRateThrottle):
    def get_rate(self):
        return settings.THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        key = f"{self.key}:{window}"
        try:
            count = fail_soft.incr(key)
        except ValueError:  # first request of this window
            fail_soft.add(key, 0, self.duration + 1)
            try:
                count = fail_soft.incr(key)
            except ValueError:  # evicted at once, or the cache lost it: count it here
                count = None
        if count is None:  # the cache is unreachable: this process counts on its own
            count = _local_count(key, window)
        return count <= self.num_requests

    def wait(self):
        return max(0.0, self.window_ends - self.now)


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


class ContactThrottle(_ScopedThrottle):
    """The public contact form: per client address, tighter than the booking site's reads (a
    person writes a few messages; a script writing hundreds fills the inbox)."""

    scope = "contact"
    default_rate = "10/min"  # until settings.THROTTLE_RATES names the scope (THROTTLE_CONTACT_RATE)

    def get_rate(self):
        return settings.THROTTLE_RATES.get(self.scope, self.default_rate)
