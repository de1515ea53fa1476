"""Idempotency rows keep an HMAC of the key and the answer sealed (config.idempotency), no longer
the key and the answer in clear. Existing rows are dropped: they live 24 hours, and a replay of
one of them would need the key, which the new rows cannot be made from."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0002_api_token_proxy"),
    ]

    operations = [
        migrations.RunSQL("DELETE FROM config_idempotencykey", migrations.RunSQL.noop),
        migrations.RemoveConstraint(model_name="idempotencykey", name="idempotency_key_unique"),
        migrations.RemoveField(model_name="idempotencykey", name="key"),
        migrations.RemoveField(model_name="idempotencykey", name="response_body"),
        migrations.AddField(
            model_name="idempotencykey",
            name="key_hash",
            field=models.CharField(max_length=64, default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="response_sealed",
            field=models.BinaryField(null=True),
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(
                fields=("scope", "key_hash"), name="idempotency_key_unique"
            ),
        ),
    ]
