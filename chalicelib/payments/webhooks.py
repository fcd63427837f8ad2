"""Stripe's webhooks: verified, reduced to what the saga needs, and put on the
domain bus, where the payments rule takes them to the payments step (the
saga's own path). The request does nothing else, so it answers fast, and a
webhook Stripe sends again is just another delivery the saga's state guards
ignore. No boto3, no chalice: the verifier and the bus come in as parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.payments import events
from chalicelib.payments.events import PaymentProviderEvent, ProviderEventKind
from chalicelib.platform import errors
from chalicelib.platform.clock import iso
from chalicelib.platform.messaging import BusEvent, EventBus

log = logging.getLogger("eventshop.payments.webhooks")

KINDS = {
    "payment_intent.succeeded": ProviderEventKind.SUCCEEDED,
    "payment_intent.payment_failed": ProviderEventKind.FAILED,
    "charge.refunded": ProviderEventKind.REFUNDED,
}


class StripeWebhooks:
    def __init__(self, verify: Callable[[bytes, str], dict[str, Any]], bus: EventBus) -> None:
        self.verify = verify  # (raw body, Stripe-Signature) -> the event, or ValueError
        self.bus = bus

    def receive(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """Verify and forward one webhook; InvalidInput (400) for anything
        unsigned, mis-signed, too old or malformed. Never logs the body."""
        if not signature:
            log.warning("refused a Stripe webhook: no Stripe-Signature header")
            raise errors.InvalidInput("missing Stripe-Signature header")
        try:
            event = self.verify(payload, signature)
        except ValueError as exc:
            log.warning("refused a Stripe webhook (%d bytes): %s", len(payload), exc)
            raise errors.InvalidInput(f"not a valid Stripe webhook: {exc}") from None
        event_id, kind = str(event.get("id") or ""), str(event.get("type") or "")
        heard = self._translate(event)
        if heard is None:
            log.info("Stripe event %s (%s): nothing for the saga", event_id, kind)
            return {"received": True, "eventId": event_id, "forwarded": False}
        self.bus.put(
            [BusEvent(events.SOURCE, events.DETAIL_TYPE, heard.model_dump_json(exclude_none=True))]
        )
        log.info("Stripe event %s (%s) for order %s: on the bus", event_id, kind, heard.orderId)
        return {"received": True, "eventId": event_id, "forwarded": True}

    @staticmethod
    def _translate(event: dict[str, Any]) -> PaymentProviderEvent | None:
        kind = KINDS.get(str(event.get("type")))
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if kind is None or not isinstance(obj, dict):
            return None
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        order_id = metadata.get("order_id") if isinstance(metadata, dict) else None
        if not order_id:
            return None  # not one of the shop's payments
        if kind is ProviderEventKind.REFUNDED:
            charge_id, amount = obj.get("payment_intent"), obj.get("amount_refunded")
        else:
            charge_id, amount = obj.get("id"), obj.get("amount_received") or obj.get("amount")
        error = obj.get("last_payment_error")
        reason = error.get("message") if isinstance(error, dict) else None
        created = event.get("created")
        at = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else datetime.now(UTC)
        try:
            return PaymentProviderEvent(
                provider="stripe",
                eventId=str(event.get("id")),
                kind=kind,
                orderId=str(order_id),
                chargeId=str(charge_id),
                amountCents=amount if isinstance(amount, int) else None,
                reason=reason,
                correlationId=metadata.get("correlation_id")
                if isinstance(metadata, dict)
                else None,
                at=iso(at),
            )
        except ValueError:
            return None
