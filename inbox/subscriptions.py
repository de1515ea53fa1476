"""
RingCentral webhook subscriptions: each RingCentral channel keeps one that delivers its number's
inbound SMS to PUBLIC_BASE_URL + /api/v1/webhooks/ringcentral, with the channel's verification
token.

`subscriptions_renew` (beat: hourly) asks RingCentral about every active RingCentral channel's
subscription, because only asking tells us it was blacklisted (RingCentral stops delivering,
for good, after our endpoint failed it for a while):
- missing (never made, or RingCentral no longer knows it): created;
- Blacklisted: recorded on the channel (state, RingCentral's reason), then replaced by a new
  one (RingCentral's documented fix: a blacklisted subscription cannot be revived); when that
  fails too the channel stays Blacklisted, which /api/v1/health and the admin report;
- expiring within RINGCENTRAL_RENEW_BEFORE_SECONDS, or Suspended: renewed.
A RingCentral error leaves the state "failed" with the error (no secret in it). No network call
runs inside a transaction; each outcome is one UPDATE of the channel row.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from inbox import credentials as channel_credentials
from inbox.models import Channel, ChannelKind, SubscriptionState
from inbox.providers import ringcentral
from inbox.providers.base import ProviderError

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/v1/webhooks/ringcentral"
FAILING_STATES = (SubscriptionState.BLACKLISTED, SubscriptionState.FAILED)


def webhook_address() -> str:
    return settings.PUBLIC_BASE_URL + WEBHOOK_PATH


def blacklisted_channels() -> QuerySet[Channel]:
    """Active RingCentral channels whose subscription RingCentral blacklisted, or that we could
    not renew: their inbound SMS are not arriving."""
    return (
        Channel.objects.select_related("station")
        .filter(
            kind=ChannelKind.SMS_RINGCENTRAL,
            active=True,
            subscription_state__in=FAILING_STATES,
        )
        .order_by("station__slug", "address")
    )


def subscriptions_renew(*, now: datetime | None = None) -> int:
    """Check, renew, create or replace the subscription of every active RingCentral channel with
    credentials. Returns how many channels' subscriptions were made or renewed."""
    now = now or timezone.now()
    changed = 0
    for channel in Channel.objects.filter(kind=ChannelKind.SMS_RINGCENTRAL, active=True):
        if subscription_renew(channel=channel, now=now) in ("created", "renewed", "replaced"):
            changed += 1
    return changed


def subscription_renew(*, channel: Channel, now: datetime) -> str:
    """One channel's subscription (see the module's docstring). Returns what was done."""
    creds = channel_credentials.for_channel(channel)
    if not all(creds.get(name) for name in ("client_id", "client_secret", "jwt")):
        return "offline"  # no credentials: nothing can be asked (the admin says "offline")
    if not creds.get("verification_token"):
        _record_failure(channel, "no verification token (RINGCENTRAL_VERIFICATION_TOKEN)")
        return "failed"
    try:
        current = _current(channel, creds)
        if current is None:
            return _record(channel, _create(creds), "created")
        if current.status == SubscriptionState.BLACKLISTED:
            return _replace_blacklisted(channel, creds, current)
        renew_by = now + timedelta(seconds=settings.RINGCENTRAL_RENEW_BEFORE_SECONDS)
        suspended = current.status == SubscriptionState.SUSPENDED
        if suspended or current.expires_at is None or current.expires_at <= renew_by:
            return _record(channel, ringcentral.subscription_renew(creds, current.id), "renewed")
        return _record(channel, current, "checked")
    except ProviderError as exc:
        _record_failure(channel, str(exc))
        return "failed"


def _current(channel: Channel, creds: dict) -> ringcentral.Subscription | None:
    if not channel.subscription_id:
        return None
    try:
        return ringcentral.subscription_read(creds, channel.subscription_id)
    except ProviderError as exc:
        if exc.code == "not_found":
            return None
        raise


def _create(creds: dict) -> ringcentral.Subscription:
    return ringcentral.subscription_create(
        creds, address=webhook_address(), verification_token=creds["verification_token"]
    )


def _replace_blacklisted(
    channel: Channel, creds: dict, blacklisted: ringcentral.Subscription
) -> str:
    reason = blacklisted.blacklisted_reason or "no reason given"
    _update(
        channel,
        subscription_state=SubscriptionState.BLACKLISTED,
        subscription_error=f"RingCentral blacklisted the subscription: {reason}",
    )
    logger.warning("RingCentral subscription of channel %s blacklisted", channel.pk)
    try:
        fresh = _create(creds)
    except ProviderError as exc:
        _update(
            channel,
            subscription_error=(
                f"RingCentral blacklisted the subscription: {reason}; "
                f"a new one could not be made: {exc}"
            )[:2000],
        )
        return "failed"
    try:
        ringcentral.subscription_delete(creds, blacklisted.id)
    except ProviderError:
        logger.warning("blacklisted RingCentral subscription of channel %s not deleted", channel.pk)
    _record(channel, fresh, "replaced")
    _update(channel, subscription_error=f"replaced a blacklisted subscription ({reason})"[:2000])
    return "replaced"


def _record(channel: Channel, subscription: ringcentral.Subscription, outcome: str) -> str:
    state = (
        subscription.status
        if subscription.status in SubscriptionState.values
        else SubscriptionState.ACTIVE
    )
    fields = {
        "subscription_id": subscription.id,
        "subscription_state": state,
        "subscription_expires_at": subscription.expires_at,
    }
    if state == SubscriptionState.ACTIVE:
        fields["subscription_error"] = ""
    _update(channel, **fields)
    return outcome


def _record_failure(channel: Channel, error: str) -> None:
    """Failed, unless it is known Blacklisted (the stronger news stays)."""
    Channel.objects.filter(pk=channel.pk).filter(
        ~Q(subscription_state=SubscriptionState.BLACKLISTED)
    ).update(subscription_state=SubscriptionState.FAILED)
    _update(channel, subscription_error=error[:2000])
    channel.refresh_from_db(fields=["subscription_state"])


def _update(channel: Channel, **fields) -> None:
    Channel.objects.filter(pk=channel.pk).update(**fields)
    for name, value in fields.items():
        setattr(channel, name, value)
