"""Project-wide plumbing tables."""

from django.db import models
from knox.models import AuthToken


class IdempotencyKey(models.Model):
    """
    The first answer to a public POST sent with an `Idempotency-Key` header (config.idempotency).
    Claimed before the work starts (response_status null), completed with the answer after.
    """

    scope = models.CharField(max_length=60)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class ApiToken(AuthToken):
    """Staff API tokens as the admin lists them (django-rest-knox's table; config.tokens)."""

    class Meta:
        proxy = True
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"API token of {self.user} (created {self.created:%Y-%m-%d %H:%M})"
