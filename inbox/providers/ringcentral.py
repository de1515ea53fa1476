"""
RingCentral: the one module that talks to RingCentral's REST API (DESIGN.md §8.6).

- Auth: the JWT grant (`POST /restapi/oauth/token`, the app's client id and secret as basic
  auth). The access token is kept in Django's cache until a minute before it expires, keyed by
  a hash of the credentials (never the credentials themselves), so the workers share one token
  instead of logging in for every message.
- Sending: `send(outgoing)` posts one SMS (`POST /restapi/v1.0/account/~/extension/~/sms`)
  from the channel's number and returns RingCentral's message id.
- Subscriptions: the webhook subscription that delivers a number's inbound SMS is read,
  created, renewed and deleted here; inbox.subscriptions decides when.

Every request has the timeout INBOX_PROVIDER_TIMEOUT_SECONDS. Errors become ProviderError:
`permanent` for what a retry cannot fix (a number RingCentral refuses, an SMS feature the
extension lacks, credentials it rejects), retryable for the rest (timeouts, 429, 5xx). Their
text names RingCentral's error code, never the recipient.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import httpx
from django.conf import settings
from django.core.cache import cache
from django.utils.dateparse import parse_datetime

from inbox.providers.base import Outgoing, ProviderError, Sent

logger = logging.getLogger(__name__)

TOKEN_PATH = "/restapi/oauth/token"  # noqa: S105 (a path, not a secret)
SMS_PATH = "/restapi/v1.0/account/~/extension/~/sms"
SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The instant message-store event: one notification per inbound SMS, with the message itself.
SMS_EVENT_FILTER = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"
SUBSCRIPTION_SECONDS = 7 * 86_400  # asked for on create and renew; renewed well before
TOKEN_MARGIN_SECONDS = 60  # a cached token is dropped this long before RingCentral's expiry
# RingCentral refuses these for good: a bad number or parameter, a feature the extension lacks.
PERMANENT_STATUSES = frozenset({400, 403, 404, 409, 415, 422})


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription as RingCentral reports it."""

    id: str
    status: str  # Active, Suspended, Blacklisted
    expires_at: datetime | None
    address: str
    blacklisted_reason: str = ""


# --- HTTP ------------------------------------------------------------------------------------


def _client() -> httpx.Client:
    return httpx.Client(
        base_url=settings.RINGCENTRAL_SERVER_URL,
        timeout=settings.INBOX_PROVIDER_TIMEOUT_SECONDS,
        headers={"Accept": "application/json"},
    )


def _error_of(response: httpx.Response) -> str:
    """RingCentral's error code and message (errorCode/message, or OAuth's error)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    code = body.get("errorCode") or body.get("error") or ""
    errors = body.get("errors")
    if not code and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("errorCode", "")
    return f"HTTP {response.status_code} {code}".strip()


def _request(method: str, path: str, *, credentials: dict, json: dict | None = None):
    """One authorised call; a 401 drops the cached token and is tried once with a new one."""
    for attempt in (1, 2):
        token = access_token(credentials)
        try:
            with _client() as client:
                response = client.request(
                    method, path, json=json, headers={"Authorization": f"Bearer {token}"}
                )
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"RingCentral unreachable ({type(exc).__name__})", permanent=False, code="network"
            ) from exc
        if response.status_code == 401 and attempt == 1:
            _forget_token(credentials)
            continue
        return response
    return response


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    status = response.status_code
    permanent = status in PERMANENT_STATUSES
    code = "not_found" if status == 404 else str(status)
    raise ProviderError(
        f"RingCentral {what}: {_error_of(response)}", permanent=permanent, code=code
    )


def _json(response: httpx.Response, what: str) -> dict:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(f"RingCentral {what}: not JSON", permanent=False) from exc
    if not isinstance(body, dict):
        raise ProviderError(f"RingCentral {what}: unexpected answer", permanent=False)
    return body


# --- Auth ------------------------------------------------------------------------------------


def _token_key(credentials: dict) -> str:
    material = "\n".join(
        (settings.RINGCENTRAL_SERVER_URL, credentials.get("client_id", ""), credentials["jwt"])
    )
    return "ringcentral-token:" + hashlib.sha256(material.encode()).hexdigest()[:32]


def _forget_token(credentials: dict) -> None:
    try:
        cache.delete(_token_key(credentials))
    except Exception:  # a cache that is down only costs a login
        logger.warning("RingCentral token not dropped from the cache")


def access_token(credentials: dict) -> str:
    """A bearer token for these credentials: the cached one, else a new JWT-grant login."""
    for name in ("client_id", "client_secret", "jwt"):
        if not credentials.get(name):
            raise ProviderError(
                "RingCentral credentials missing", permanent=True, code="no_credentials"
            )
    key = _token_key(credentials)
    try:
        cached = cache.get(key)
    except Exception:
        cached = None
    if cached:
        return cached
    try:
        with _client() as client:
            response = client.post(
                TOKEN_PATH,
                data={"grant_type": JWT_GRANT, "assertion": credentials["jwt"]},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
    except httpx.HTTPError as exc:
        raise ProviderError(
            f"RingCentral unreachable ({type(exc).__name__})", permanent=False, code="network"
        ) from exc
    if response.status_code in (400, 401, 403):
        # invalid_grant, invalid_client, unauthorized_client: fix the credentials first.
        raise ProviderError(
            f"RingCentral refused the app's credentials: {_error_of(response)}",
            permanent=True,
            code="auth_failed",
        )
    _raise_for(response, "login")
    body = _json(response, "login")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ProviderError("RingCentral login: no access token", permanent=False)
    lifetime = body.get("expires_in")
    lifetime = lifetime if isinstance(lifetime, int) else 3600
    if lifetime > TOKEN_MARGIN_SECONDS:
        try:
            cache.set(key, token, timeout=lifetime - TOKEN_MARGIN_SECONDS)
        except Exception:
            logger.warning("RingCentral token not cached")
    return token


# --- Sending ---------------------------------------------------------------------------------


def send(outgoing: Outgoing) -> Sent:
    """Send one SMS from the channel's number. RingCentral has no idempotency key: the sender
    calls this at most once per claim (inbox.sending)."""
    payload = {
        "from": {"phoneNumber": outgoing.channel.address},
        "to": [{"phoneNumber": outgoing.to}],
        "text": outgoing.body,
    }
    response = _request("POST", SMS_PATH, credentials=outgoing.credentials, json=payload)
    if response.status_code == 429:
        raise ProviderError("RingCentral rate limit (429)", permanent=False, code="429")
    _raise_for(response, "refused the SMS")
    body = _json(response, "SMS")
    message_id = body.get("id")
    if message_id in (None, ""):
        raise ProviderError("RingCentral SMS: no message id", permanent=False)
    return Sent(provider_message_id=str(message_id))


# --- Subscriptions ---------------------------------------------------------------------------


def _subscription(body: dict) -> Subscription:
    blacklisted = body.get("blacklistedData")
    reason = blacklisted.get("reason", "") if isinstance(blacklisted, dict) else ""
    expires = body.get("expirationTime")
    delivery = body.get("deliveryMode") if isinstance(body.get("deliveryMode"), dict) else {}
    return Subscription(
        id=str(body.get("id") or ""),
        status=str(body.get("status") or ""),
        expires_at=parse_datetime(expires) if isinstance(expires, str) else None,
        address=str(delivery.get("address") or ""),
        blacklisted_reason=str(reason)[:500],
    )


def subscription_read(credentials: dict, subscription_id: str) -> Subscription:
    """The subscription as RingCentral has it; ProviderError code "not_found" when it is gone."""
    response = _request("GET", f"{SUBSCRIPTION_PATH}/{subscription_id}", credentials=credentials)
    _raise_for(response, "subscription read")
    return _subscription(_json(response, "subscription read"))


def subscription_create(credentials: dict, *, address: str, verification_token: str):
    """A webhook subscription for the extension's inbound SMS, delivered to `address` with
    `verification_token` (RingCentral first checks the address with a Validation-Token)."""
    payload = {
        "eventFilters": [SMS_EVENT_FILTER],
        "deliveryMode": {
            "transportType": "WebHook",
            "address": address,
            "verificationToken": verification_token,
        },
        "expiresIn": SUBSCRIPTION_SECONDS,
    }
    response = _request("POST", SUBSCRIPTION_PATH, credentials=credentials, json=payload)
    _raise_for(response, "subscription create")
    return _subscription(_json(response, "subscription create"))


def subscription_renew(credentials: dict, subscription_id: str) -> Subscription:
    response = _request(
        "POST", f"{SUBSCRIPTION_PATH}/{subscription_id}/renew", credentials=credentials
    )
    _raise_for(response, "subscription renew")
    return _subscription(_json(response, "subscription renew"))


def subscription_delete(credentials: dict, subscription_id: str) -> None:
    """Delete a subscription (gone already counts as deleted)."""
    response = _request("DELETE", f"{SUBSCRIPTION_PATH}/{subscription_id}", credentials=credentials)
    if response.status_code != 404:
        _raise_for(response, "subscription delete")
