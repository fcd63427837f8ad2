"""One frozen settings object, read from the environment once per container.

Resource names come from the CloudFormation outputs of ``infra/resources.yaml``:
an output key ``OrdersTableName`` arrives as the variable ``ORDERS_TABLE_NAME``
(``devstack`` sets them locally, ``make deploy`` writes them into the stage's
``environment_variables``). The names are needed at import time because
Chalice's event decorators take queue, topic, bucket and stream names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields

LOCAL_STAGES = frozenset({"local", "test"})


def output_to_env(output_key: str) -> str:
    """``OrdersTableName`` -> ``ORDERS_TABLE_NAME``: the one naming rule."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", output_key).upper()


class SettingsError(RuntimeError):
    """The environment lacks a variable the app cannot run without."""


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    orders_table_name: str
    orders_stream_arn: str
    products_table_name: str
    products_stream_arn: str
    payments_table_name: str
    images_table_name: str
    ops_table_name: str
    analytics_table_name: str
    images_bucket_name: str
    event_bus_name: str
    customer_notifications_topic_arn: str
    ops_alerts_topic_arn: str
    image_events_topic_arn: str
    inventory_queue_name: str
    payments_queue_name: str
    shipping_queue_name: str
    notify_queue_name: str
    analytics_queue_name: str
    stream_failures_queue_name: str
    bus_dlq_name: str
    jwt_secret_parameter: str
    # SSM SecureStrings of deployed stages that take real payments (Stripe):
    # `make deploy` creates them as placeholders the operator fills.
    stripe_secret_key_parameter: str
    stripe_webhook_secret_parameter: str
    # Local and test stages take the secret from the environment; deployed
    # stages read ``jwt_secret_parameter`` from SSM (see chalicelib.identity.auth).
    jwt_secret: str = ""
    jwt_leeway_seconds: int = 30
    # Optional RS256 tokens from an identity provider (a Cognito user pool):
    # its JWKS URL, the issuer its tokens must name and, optionally, the app
    # client id they must be for ('aud' in ID tokens, 'client_id' in access
    # tokens). Empty: only the app's own HS256 tokens are accepted.
    jwt_jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    # Upload limits: S3 enforces the size range in the presigned POST; the
    # handler checks both again (an emulator may not enforce POST policies).
    image_max_bytes: int = 20 * 1024 * 1024
    image_max_pixels: int = 100_000_000
    log_level: str = "INFO"
    # "json" (Powertools' formatter: what CloudWatch Logs Insights queries) or
    # "text" (the local and test stages: people read those).
    log_format: str = "json"
    # "simulated" or "stripe"; empty: the stage's default (simulated on the
    # local and test stages, Stripe on dev and prod; prod refuses simulated).
    payment_provider: str = ""
    payment_currency: str = "eur"
    # Stripe: the API's base URL (empty: Stripe's own; devstack points it at
    # its Stripe-compatible server), and, on the local and test stages only,
    # the keys themselves (deployed stages read the parameters above).
    stripe_api_base: str = ""
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    # An order unchanged this long in PLACED/RESERVED/PAID is compensated by
    # the saga-timeout sweep (SHIPPED and CANCELLING ones raise an alert).
    saga_timeout_seconds: int = 900

    @property
    def is_local(self) -> bool:
        return self.stage in LOCAL_STAGES

    @property
    def payments_via(self) -> str:
        """The payment provider this stage uses: ``simulated`` or ``stripe``."""
        chosen = self.payment_provider.strip().lower()
        if not chosen:
            return "simulated" if self.is_local else "stripe"
        if chosen not in ("simulated", "stripe"):
            raise SettingsError(f"PAYMENT_PROVIDER must be simulated or stripe, not {chosen!r}")
        return chosen

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", ""),
        }
        missing = [] if values["region"] else ["AWS_REGION"]
        for f in fields(cls):
            key = f.name.upper()
            if f.name in values:
                continue
            if env.get(key):
                values[f.name] = int(env[key]) if f.type == "int" else env[key]
            elif f.default is MISSING:
                missing.append(key)
        if missing:
            raise SettingsError(
                "missing environment variables: "
                + ", ".join(sorted(missing))
                + " (deploy infra/resources.yaml and export its outputs; "
                "`python -m devstack run` does this locally)"
            )
        return cls(**values)  # type: ignore[arg-type]
