"""
Meta's Graph API: WhatsApp Cloud API, Messenger and Instagram, with the channel's access token
as a bearer token and a timeout of INBOX_PROVIDER_TIMEOUT_SECONDS.

- WhatsApp: `POST {META_GRAPH_API_BASE}/{phone-number-id}/messages` (the channel's address is
  its phone-number id) with `{"messaging_product": "whatsapp", "to": <wa id>, "type": "text" |
  "template", ...}` and `biz_opaque_callback_data` = our message id, which Meta echoes in the
  message's status webhooks (so a status finds a message whose send was never recorded).
  A template is sent by its registered name and language.
- Messenger and Instagram: `POST {META_GRAPH_API_BASE}/me/messages` with `recipient.id` (the
  page- or Instagram-scoped id) and `messaging_type: RESPONSE` (an answer inside the 24-hour
  window, the only kind inbox.compliance lets through).

Graph errors (`{"error": {"code", "error_subcode", "message"}}`), mapped without contact data:
- permanent: 131047 re-engagement (outside the 24-hour window), 131026 undeliverable,
  131051 unsupported message type, 132000-132015 template problems, 10 / 200 / 551 and
  2018278 (Messenger: no permission, or outside the window), 190 (the access token is invalid),
  other 4xx;
- retryable: 4, 17, 32, 613, 80007, 130429, 131056 (rate limits), 1, 2, 131000, 131016
  (temporary errors), any 5xx, and no answer (timeout, connection).
"""

import httpx
from django.conf import settings

from inbox.models import ChannelKind
from inbox.providers.base import Outgoing, ProviderError, Sent

PERMANENT = {
    131047: "outside WhatsApp's 24-hour window: only an approved template can be sent",
    131026: "WhatsApp could not deliver to this recipient (not on WhatsApp, or blocked)",
    131051: "WhatsApp does not support this message type",
    132000: "the template's parameters do not match its registration",
    132001: "the template does not exist in this language",
    132015: "the template is paused",
    10: "the page has no permission to message this person",
    200: "the page has no permission to message this person",
    551: "this person is not available to message",
    2018278: "outside the 24-hour window for this person",
    190: "Meta refused the access token (check the channel's credentials)",
}
RETRYABLE = {4, 17, 32, 613, 80007, 130429, 131056, 1, 2, 131000, 131016}


def send(outgoing: Outgoing) -> Sent:
    if outgoing.channel.kind == ChannelKind.WHATSAPP:
        data = _post(f"{outgoing.channel.address}/messages", _whatsapp_payload(outgoing), outgoing)
        messages = data.get("messages") or [{}]
        return Sent(provider_message_id=messages[0].get("id") or "")
    payload = {
        "recipient": {"id": outgoing.to},
        "messaging_type": "RESPONSE",
        "message": {"text": outgoing.body},
    }
    data = _post("me/messages", payload, outgoing)
    return Sent(provider_message_id=data.get("message_id") or "")


def _whatsapp_payload(outgoing: Outgoing) -> dict:
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": outgoing.to,
        "biz_opaque_callback_data": str(outgoing.message_id),
    }
    template = outgoing.template
    if template is not None:
        payload["type"] = "template"
        payload["template"] = {
            "name": template.name,
            "language": {"code": template.language or "en_US"},
        }
    else:
        payload["type"] = "text"
        payload["text"] = {"preview_url": False, "body": outgoing.body}
    return payload


def _post(path: str, payload: dict, outgoing: Outgoing) -> dict:
    timeout = settings.INBOX_PROVIDER_TIMEOUT_SECONDS
    try:
        response = httpx.post(
            f"{settings.META_GRAPH_API_BASE}/{path}",
            json=payload,
            headers={"Authorization": f"Bearer {outgoing.credentials['access_token']}"},
            timeout=timeout,
        )
    except httpx.TimeoutException:
        raise ProviderError(
            f"Meta did not answer within {timeout:g} s", permanent=False, code="timeout"
        ) from None
    except httpx.TransportError as exc:
        raise ProviderError(
            f"Meta unreachable ({type(exc).__name__})", permanent=False, code="unreachable"
        ) from None
    data = _json(response)
    if response.status_code == 200 and "error" not in data:
        return data
    raise error_of(response.status_code, data)


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_of(status: int, data: dict) -> ProviderError:
    """A Graph error as a ProviderError (Meta's own message may quote the recipient: the text
    is ours, by code)."""
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    code = error.get("code")
    subcode = error.get("error_subcode")
    label = f"Meta error {code}" if code is not None else f"Meta HTTP {status}"
    if subcode in PERMANENT:
        return ProviderError(f"{label}: {PERMANENT[subcode]}", permanent=True, code=str(subcode))
    if code in PERMANENT:
        return ProviderError(f"{label}: {PERMANENT[code]}", permanent=True, code=str(code))
    if code in RETRYABLE or status == 429 or status >= 500:
        return ProviderError(
            f"{label} (HTTP {status}): rate limited or temporarily unavailable, try again later",
            permanent=False,
            code=str(code if code is not None else status),
        )
    if isinstance(code, int) and 132000 <= code <= 132099:
        return ProviderError(f"{label}: the template was refused", permanent=True, code=str(code))
    return ProviderError(
        f"{label} (HTTP {status}): refused",
        permanent=True,
        code=str(code if code is not None else status),
    )
