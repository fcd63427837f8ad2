"""The composition root: ``build(settings, **overrides)`` wires every service
to its adapters. Nothing is created until first used (a function loads only
the models, services and adapters it uses: the stream relay never loads
images, payments or the catalog), and building creates no AWS client.

The process has one ``Services`` (``services()``), built from the environment
on first use. Tests and tools ``install`` their own, with fakes as overrides:
there is no other cache to reset.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.platform.settings import Settings

if TYPE_CHECKING:
    from chalicelib.analytics.service import AnalyticsService
    from chalicelib.catalog.imports import ImportService
    from chalicelib.catalog.service import CatalogService
    from chalicelib.checkout.shipping import Carrier
    from chalicelib.images.service import ImageService
    from chalicelib.ops.alerts import AlertBook
    from chalicelib.ops.dead_letters import DeadLetterService
    from chalicelib.ops.service import OpsService
    from chalicelib.orders.dynamo import DynamoOrderRepository
    from chalicelib.orders.notifications import CustomerNotifier
    from chalicelib.orders.service import OrderService
    from chalicelib.payments.ports import PaymentProvider
    from chalicelib.payments.service import PaymentService
    from chalicelib.payments.webhooks import StripeWebhooks
    from chalicelib.platform.alerts import AlertRaiser
    from chalicelib.platform.failures import FailureRecorder
    from chalicelib.platform.messaging import EventBus, Publisher
    from chalicelib.platform.metrics import EmfMetrics


class Services:
    """The services of one settings object. ``overrides`` replace any of the
    properties below by name (a fake repository, a fixed clock ...)."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.settings = settings
        unknown = set(overrides) - {
            n for n, v in vars(Services).items() if isinstance(v, cached_property)
        }
        if unknown:
            raise TypeError(f"unknown services: {', '.join(sorted(unknown))}")
        # cached_property reads the instance dict first: an override wins.
        self.__dict__.update(overrides)

    @cached_property
    def publisher(self) -> Publisher:
        from chalicelib.platform.sns import SnsPublisher

        return SnsPublisher()

    @cached_property
    def bus(self) -> EventBus:
        """The domain bus: service-to-service events (EventBridge)."""
        from chalicelib.platform.eventbridge import EventBridgeBus

        return EventBridgeBus(self.settings.event_bus_name)

    @cached_property
    def metrics(self) -> EmfMetrics:
        """The process's metrics (EMF), printed at the end of each invocation."""
        from chalicelib.platform.metrics import EmfMetrics

        return EmfMetrics(self.settings.stage)

    @cached_property
    def alerts(self) -> AlertRaiser:
        from chalicelib.platform.alerts import SnsAlerts

        return SnsAlerts(self.publisher, self.settings.ops_alerts_topic_arn)

    @cached_property
    def catalog(self) -> CatalogService:
        from chalicelib.catalog.dynamo import DynamoCatalogRepository
        from chalicelib.catalog.service import CatalogService

        return CatalogService(
            DynamoCatalogRepository(self.settings.products_table_name),
            self.alerts,
            # Resolved on use: the images service asks the catalog in turn.
            thumbnail_url=lambda key: self.images.thumbnail_url(key),  # noqa: PLW0108
        )

    @cached_property
    def imports(self) -> ImportService:
        from chalicelib.catalog.dynamo import DynamoCatalogRepository, DynamoImportBook
        from chalicelib.catalog.imports import ImportService
        from chalicelib.platform.s3 import S3ObjectStore

        table = self.settings.products_table_name
        return ImportService(
            DynamoImportBook(table),
            DynamoCatalogRepository(table),
            # Import files live under imports/ in the images bucket (its one bucket).
            S3ObjectStore(self.settings.images_bucket_name),
            metrics=self.metrics,
        )

    @cached_property
    def order_repository(self) -> DynamoOrderRepository:
        from chalicelib.orders.dynamo import DynamoOrderRepository

        return DynamoOrderRepository(self.settings.orders_table_name)

    @cached_property
    def orders(self) -> OrderService:
        from chalicelib.orders.service import OrderService

        return OrderService(self.order_repository, self.catalog, metrics=self.metrics)

    @cached_property
    def payment_provider(self) -> PaymentProvider:
        s = self.settings
        if s.payments_via == "stripe":
            from chalicelib.payments.stripe_provider import StripePaymentProvider

            return StripePaymentProvider(
                s.payments_table_name,
                api_key=self.stripe_secret_key,
                currency=s.payment_currency,
                api_base=s.stripe_api_base,
            )
        if s.stage == "prod":
            # Production must never take simulated payments.
            raise RuntimeError("prod takes real payments: PAYMENT_PROVIDER must be stripe")
        from chalicelib.payments.simulated import SimulatedProvider

        return SimulatedProvider(s.payments_table_name)

    def stripe_secret_key(self) -> str:
        """The stage's Stripe secret key: the environment's on the local and
        test stages, the SSM SecureString's on deployed ones (cached)."""
        return self._stripe_secret(
            self.settings.stripe_secret_key, self.settings.stripe_secret_key_parameter
        )

    def stripe_webhook_secret(self) -> str:
        return self._stripe_secret(
            self.settings.stripe_webhook_secret, self.settings.stripe_webhook_secret_parameter
        )

    def _stripe_secret(self, local: str, parameter: str) -> str:
        if self.settings.is_local:
            if not local:
                raise RuntimeError(
                    "PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY and "
                    "STRIPE_WEBHOOK_SECRET on the local and test stages"
                )
            return local
        from chalicelib.platform import secrets

        return secrets.read(parameter)

    @cached_property
    def stripe_webhooks(self) -> StripeWebhooks:
        from chalicelib.payments.stripe_provider import verify_webhook
        from chalicelib.payments.webhooks import StripeWebhooks

        def verify(payload: bytes, signature: str) -> dict[str, Any]:
            s = self.settings
            if s.is_local and not s.stripe_webhook_secret:
                # A stage on the simulated provider has no Stripe account to hear from.
                raise ValueError("this stage takes no Stripe webhooks (no STRIPE_WEBHOOK_SECRET)")
            from chalicelib.platform import errors, secrets

            try:
                secret = self.stripe_webhook_secret()
            except secrets.SecretNotSet as exc:
                # The operator has not filled the parameter yet: Stripe retries
                # a 5xx for three days, so the events land once it is set.
                raise errors.Transient(str(exc)) from None
            return verify_webhook(payload, signature, secret)

        return StripeWebhooks(verify, self.bus)

    @cached_property
    def payments(self) -> PaymentService:
        from chalicelib.payments.dynamo import DynamoPaymentRepository
        from chalicelib.payments.service import PaymentService

        return PaymentService(
            DynamoPaymentRepository(self.settings.payments_table_name), self.payment_provider
        )

    @cached_property
    def carrier(self) -> Carrier:
        from chalicelib.checkout.shipping import SimulatedCarrier

        return SimulatedCarrier()

    @cached_property
    def images(self) -> ImageService:
        from chalicelib.images.dynamo import DynamoImageRepository
        from chalicelib.images.service import ImageLimits, ImageService
        from chalicelib.images.sns import SnsImageEvents
        from chalicelib.platform.s3 import S3ObjectStore

        s = self.settings
        return ImageService(
            DynamoImageRepository(s.images_table_name),
            S3ObjectStore(s.images_bucket_name),
            SnsImageEvents(self.publisher, s.image_events_topic_arn),
            # Images ask the catalog's service, never its table.
            product_exists=self.catalog.exists,
            limits=ImageLimits(max_bytes=s.image_max_bytes, max_pixels=s.image_max_pixels),
            alerts=self.alerts,
            metrics=self.metrics,
        )

    @cached_property
    def analytics(self) -> AnalyticsService:
        from chalicelib.analytics.dynamo import DynamoAnalytics
        from chalicelib.analytics.service import AnalyticsService

        return AnalyticsService(DynamoAnalytics(self.settings.analytics_table_name))

    @cached_property
    def ops(self) -> OpsService:
        from chalicelib.ops.service import OpsService

        return OpsService(
            self.orders, self.alerts, self.settings.saga_timeout_seconds, metrics=self.metrics
        )

    @cached_property
    def dead_letters(self) -> DeadLetterService:
        import time

        from chalicelib.ops.dead_letters import DeadLetterService
        from chalicelib.ops.dynamo import DynamoDepths
        from chalicelib.ops.failures import DynamoFailureLog
        from chalicelib.ops.sqs import SqsDeadLetters

        s = self.settings
        store = SqsDeadLetters(
            [
                s.inventory_queue_name,
                s.payments_queue_name,
                s.shipping_queue_name,
                s.notify_queue_name,
                s.analytics_queue_name,
            ],
            {
                s.stream_failures_queue_name: f"{s.orders_stream_arn},{s.products_stream_arn}",
                s.bus_dlq_name: f"the rules of the event bus {s.event_bus_name}",
            },
        )
        return DeadLetterService(
            store,
            time.time,
            {
                s.stream_failures_queue_name: "it holds stream positions, not events",
                # EventBridge's own dead letters: no queue of ours sent them
                # (the archive has every event, for a replay).
                s.bus_dlq_name: "it holds events the bus's rules could not deliver, "
                "not messages of a queue",
            },
            depths=DynamoDepths(s.ops_table_name),
            alerts=self.alerts,
            reasons=DynamoFailureLog(s.ops_table_name),
            metrics=self.metrics,
        )

    @cached_property
    def failures(self) -> FailureRecorder:
        """Where the queue handlers record why a message failed (the ops table)."""
        from chalicelib.ops.failures import DynamoFailureLog

        return DynamoFailureLog(self.settings.ops_table_name)

    @cached_property
    def alert_book(self) -> AlertBook:
        from chalicelib.ops.alerts import AlertBook
        from chalicelib.ops.dynamo import DynamoAlertLog

        return AlertBook(DynamoAlertLog(self.settings.ops_table_name))

    @cached_property
    def notifier(self) -> CustomerNotifier:
        from chalicelib.orders.notifications import CustomerNotifier
        from chalicelib.orders.sns import SnsCustomerMessages

        return CustomerNotifier(
            self.order_repository,
            SnsCustomerMessages(self.publisher, self.settings.customer_notifications_topic_arn),
        )


def build(settings: Settings | None = None, **overrides: Any) -> Services:
    return Services(settings or Settings.from_env(), **overrides)


_lock = threading.Lock()
_current: Services | None = None


def services() -> Services:
    """This process's services, built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = build()
        return _current


def install(new: Services | None) -> None:
    """Use ``new`` from now on (None: build from the environment again)."""
    global _current
    with _lock:
        _current = new


def settings() -> Settings:
    return services().settings
