"""
Twilio Programmable Messaging: one SMS by `POST {TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/
Messages.json` (form: From, To, Body, StatusCallback; basic auth with the account SID and auth
token), with a timeout of INBOX_PROVIDER_TIMEOUT_SECONDS.

The status callback URL carries our message id (`?m=<id>`), so a delivery status finds the
message even when the send's answer was never recorded (inbox.sending: delivery unknown).

Errors (https://www.twilio.com/docs/api/errors), mapped to ProviderError without the number:
- permanent: 21211 invalid 'To' number, 21610 the recipient replied STOP to this number (code
  "unsubscribed": the sender opts the number out too), 21614 not a mobile number, 21612 and
  21408 not routable from this number or region, 21606 the 'From' number cannot send SMS,
  20003 authentication (the credentials are wrong: sending again cannot help), other 4xx;
- retryable: 429 and 20429 (too many requests), 5xx, and no answer (timeout, connection).
"""

import httpx
from django.conf import settings

from inbox.providers.base import Outgoing, ProviderError, Sent

STATUS_CALLBACK_PATH = "/api/v1/webhooks/twilio/status"

PERMANENT = {
    21211: "the 'To' number is not a valid phone number",
    21408: "Twilio may not send to this region from this account",
    21606: "the 'From' number cannot send SMS",
    21610: "the recipient replied STOP to this number (unsubscribed at Twilio)",
    21612: "Twilio cannot route a message from this number to the recipient",
    21614: "the 'To' number is not a mobile number",
    20003: "Twilio refused the credentials (check the account SID and auth token)",
}
RETRYABLE_CODES = {20429}
UNSUBSCRIBED = 21610


def status_callback_url(message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}{STATUS_CALLBACK_PATH}?m={message_id}"


def send(outgoing: Outgoing) -> Sent:
    sid = outgoing.credentials["account_sid"]
    token = outgoing.credentials["auth_token"]
    timeout = settings.INBOX_PROVIDER_TIMEOUT_SECONDS
    try:
        response = httpx.post(
            f"{settings.TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/Messages.json",
            data={
                "From": outgoing.channel.address,
                "To": outgoing.to,
                "Body": outgoing.body,
                "StatusCallback": status_callback_url(outgoing.message_id),
            },
            auth=(sid, token),
            timeout=timeout,
        )
    except httpx.TimeoutException:
        raise ProviderError(
            f"Twilio did not answer within {timeout:g} s", permanent=False, code="timeout"
        ) from None
    except httpx.TransportError as exc:
        raise ProviderError(
            f"Twilio unreachable ({type(exc).__name__})", permanent=False, code="unreachable"
        ) from None
    if response.status_code in (200, 201):
        return Sent(provider_message_id=_json(response).get("sid") or "")
    raise error_of(response)


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_of(response: httpx.Response) -> ProviderError:
    """Twilio's error answer as a ProviderError. Twilio's own message often names the number,
    so the text is ours, by code."""
    status = response.status_code
    code = _json(response).get("code")
    label = f"Twilio {code}" if code else f"Twilio HTTP {status}"
    if code == UNSUBSCRIBED:
        return ProviderError(f"{label}: {PERMANENT[code]}", permanent=True, code="unsubscribed")
    if code in PERMANENT:
        return ProviderError(f"{label}: {PERMANENT[code]}", permanent=True, code=str(code))
    if status == 429 or status >= 500 or code in RETRYABLE_CODES:
        return ProviderError(
            f"{label} (HTTP {status}): try again later", permanent=False, code=str(code or status)
        )
    return ProviderError(
        f"{label} (HTTP {status}): refused", permanent=True, code=str(code or status)
    )
