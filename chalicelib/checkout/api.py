"""The checkout saga's step handlers: one SQS queue each, partial batch responses."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap

bp = Blueprint(__name__)
settings = bootstrap.settings()


@bp.on_sqs_message(queue=settings.inventory_queue_name, batch_size=10)
def inventory_step(event: Any) -> dict[str, Any]:
    from chalicelib.checkout import saga
    from chalicelib.orders.consuming import sqs_batch

    s = bootstrap.services()
    return sqs_batch(
        event,
        lambda m: saga.reserve_or_release(m, s.orders, s.catalog),
        s.failures,
        s.metrics,
        "inventory",
    )


@bp.on_sqs_message(queue=settings.payments_queue_name, batch_size=10)
def payments_step(event: Any) -> dict[str, Any]:
    """The order events the payments step acts on, and the payment provider's
    own (its webhooks, put on the bus by ``POST /webhooks/stripe``)."""
    from chalicelib.checkout import saga
    from chalicelib.orders.consuming import sqs_batch

    s = bootstrap.services()
    return sqs_batch(
        event,
        lambda m: saga.payments_step(m, s.orders, s.payments),
        s.failures,
        s.metrics,
        "payments",
        read=saga.read_payments,
    )


@bp.on_sqs_message(queue=settings.shipping_queue_name, batch_size=10)
def shipping_step(event: Any) -> dict[str, Any]:
    from chalicelib.checkout import saga
    from chalicelib.orders.consuming import sqs_batch

    s = bootstrap.services()
    return sqs_batch(
        event,
        lambda m: saga.ship(m, s.orders, s.carrier),
        s.failures,
        s.metrics,
        "shipping",
    )
