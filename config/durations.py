"""How long ago, as people say it (admin lists: how long a customer has waited, how long ago a
lead came in). Nothing here queries the database."""

from datetime import datetime, timedelta

from django.utils import timezone


def elapsed(since: datetime | None, now: datetime | None = None) -> str:
    """ "-" (never), "just now", "12 min", "3 h 5 min", "3 h", "1 day", "2 days"."""
    if since is None:
        return "-"
    delta = max((now or timezone.now()) - since, timedelta(0))
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days = hours // 24
    return "1 day" if days == 1 else f"{days} days"
