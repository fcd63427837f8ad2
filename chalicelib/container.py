"""The composition root: services wired to their adapters, built lazily and
once per container. Building them creates no AWS client; the first call does.

Imports happen inside each factory: every Lambda function imports app.py, and
a function must load only the models, services and adapters it uses (the
stream relay never loads images, payments or inventory).
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.events import Publisher
    from chalicelib.images.service import ImageService
    from chalicelib.inventory.service import InventoryService
    from chalicelib.orders.notifications import CustomerNotifier
    from chalicelib.orders.repository import DynamoOrderRepository
    from chalicelib.orders.service import OrderService
    from chalicelib.payments.provider import PaymentProvider
    from chalicelib.payments.service import PaymentService
    from chalicelib.shipping import Carrier


@cache
def publisher() -> Publisher:
    from chalicelib.publishing import SnsPublisher

    return SnsPublisher()


class _Alerts:
    def alert(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        from chalicelib.events import alert_message

        publisher().publish(
            get_settings().inventory_alerts_topic_arn, [alert_message(kind, subject, detail)]
        )


@cache
def inventory() -> InventoryService:
    from chalicelib.inventory.repository import DynamoInventoryRepository
    from chalicelib.inventory.service import InventoryService

    return InventoryService(
        DynamoInventoryRepository(get_settings().products_table_name), _Alerts()
    )


@cache
def order_repository() -> DynamoOrderRepository:
    from chalicelib.orders.repository import DynamoOrderRepository

    return DynamoOrderRepository(get_settings().orders_table_name)


@cache
def orders() -> OrderService:
    from chalicelib.orders.service import OrderService

    return OrderService(order_repository(), inventory())


@cache
def payment_provider() -> PaymentProvider:
    from chalicelib.payments.simulated import SimulatedProvider

    settings = get_settings()
    if settings.stage == "prod":
        # Production needs a real provider adapter behind PaymentProvider;
        # none is chosen yet, and prod must never take simulated payments.
        raise RuntimeError("no payment provider is configured for prod")
    return SimulatedProvider(settings.payments_table_name)


@cache
def payments() -> PaymentService:
    from chalicelib.payments.repository import DynamoPaymentRepository
    from chalicelib.payments.service import PaymentService

    return PaymentService(
        DynamoPaymentRepository(get_settings().payments_table_name), payment_provider()
    )


@cache
def carrier() -> Carrier:
    from chalicelib.shipping import SimulatedCarrier

    return SimulatedCarrier()


def _send_customer_notifications(messages: list[tuple[str, str, dict[str, str]]]) -> None:
    from chalicelib.events import Message

    publisher().publish(
        get_settings().customer_notifications_topic_arn,
        [
            Message(body=body, attributes=attributes, subject=subject)
            for subject, body, attributes in messages
        ],
    )


@cache
def images() -> ImageService:
    from chalicelib.events import Message
    from chalicelib.images.repository import DynamoImageRepository
    from chalicelib.images.service import ImageLimits, ImageService
    from chalicelib.images.storage import S3ObjectStore

    settings = get_settings()

    def publish(kind: str, detail: dict[str, Any]) -> None:
        publisher().publish(
            settings.image_events_topic_arn,
            [Message(body=json.dumps({"type": kind, **detail}), attributes={"type": kind})],
        )

    return ImageService(
        DynamoImageRepository(settings.images_table_name),
        S3ObjectStore(settings.images_bucket_name),
        publish,
        product_exists=lambda sku: inventory().repo.get(sku) is not None,
        limits=ImageLimits(
            max_bytes=settings.image_max_bytes, max_pixels=settings.image_max_pixels
        ),
    )


@cache
def notifier() -> CustomerNotifier:
    from chalicelib.orders.notifications import CustomerNotifier

    return CustomerNotifier(order_repository(), _send_customer_notifications)
