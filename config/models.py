"""Project-wide plumbing tables."""

from django.db import models
from knox.models import AuthToken


class IdempotencyKey(models.Model):
    """
    The first answer to a public POST sent with an `Idempotency-Key` header (config.idempotency).
    Claimed before the work starts (response_status null), completed with the answer after.

    Nothing here opens anything without the client's key: `key_hash` is an HMAC of the key,
    `request_hash` an HMAC of the request under a key derived from it, and `response_sealed`
    the answer encrypted (AES-256-GCM: nonce, then ciphertext and tag) under another.
    """

    scope = models.CharField(max_length=60)
    key_hash = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_sealed = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key_hash"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key_hash[:12]}"


class ApiToken(AuthToken):
    """Staff API tokens as the admin lists them (django-rest-knox's table; config.tokens)."""

    class Meta:
        proxy = True
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"API token of {self.user} (created {self.created:%Y-%m-%d %H:%M})"
