"""The Stripe payment provider (the official ``stripe`` library), behind
``PaymentProvider``, and the verification of Stripe's webhooks.

A charge is a PaymentIntent for the order's total in the stage's currency,
with the customer's payment token as its payment method, in two steps:

1. create it unconfirmed (idempotency key ``<orderId>:create``) and keep its
   id in the payments table (``STRIPE#<orderId>``) before any money can move;
2. confirm it (``<orderId>:confirm``).

So a redelivered or retried step finds the same PaymentIntent (by the
ledger, or by Stripe's idempotent replay of the create) and can never charge
twice, and a refund always finds the PaymentIntent a capture belongs to: no
PaymentIntent is confirmed before its id is stored. A refund is idempotent on
the order id (``<orderId>:refund``). Amounts, currency and metadata (order,
customer and correlation ids) are on every object.

What Stripe says maps to the saga as: ``succeeded`` approves; a card error
declines, with Stripe's message as the reason; ``requires_action`` and
``processing`` are pending (the webhook decides); rate limits, connection
errors and 5xx are transient (``ProviderUnavailable``: SQS retries, the DLQ
and the saga timeout take over); authentication and permission errors are
``ProviderMisconfigured``, loud and never treated as a decline.

``stripe`` is imported only when a charge, a refund or a webhook needs it, so
no other function pays for it at cold start.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from chalicelib.payments.model import ChargeResult
from chalicelib.payments.ports import ProviderUnavailable
from chalicelib.platform import aws, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam): its ledger.
AWS_CALLS = frozenset({"dynamodb:GetItem", "dynamodb:PutItem"})

log = logging.getLogger("eventshop.payments.stripe")

LEDGER_KEPT_SECONDS = 90 * 24 * 3600
# The statuses in which Stripe still waits for the customer or the bank.
_PENDING = frozenset({"requires_action", "processing"})
_CANCELLABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
HTTP_TIMEOUT_SECONDS = 20  # below the payments function's 60 s


class ProviderMisconfigured(RuntimeError):
    """Stripe refused our credentials (or our request): retrying cannot help."""


def _client(api_key: str, api_base: str) -> Any:
    import stripe

    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else {},
        # No retries in-process: the step fails and SQS redelivers it, with the
        # same idempotency keys (so a retry never charges twice).
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=HTTP_TIMEOUT_SECONDS),
    )


class StripePaymentProvider(dynamo.DynamoTable):
    def __init__(
        self,
        table: str,
        api_key: Callable[[], str],
        currency: str = "eur",
        api_base: str = "",
        client: Any | None = None,
        stripe_client: Any | None = None,
    ) -> None:
        super().__init__(table, client)
        self._api_key = api_key
        self.currency = currency.lower()
        self.api_base = api_base
        self._stripe = stripe_client

    @property
    def stripe(self) -> Any:
        if self._stripe is None:
            self._stripe = _client(self._api_key(), self.api_base)
        return self._stripe

    # --- the ledger: order id -> PaymentIntent id --------------------------
    def _key(self, order_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"STRIPE#{order_id}"}}

    def intent_of(self, order_id: str) -> str | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=self._key(order_id), ConsistentRead=True
            ).get("Item")
        return str(item["intentId"]["S"]) if item else None

    def _remember(self, order_id: str, intent_id: str) -> None:
        try:
            with aws.translate():
                self.ddb.put_item(
                    TableName=self.table,
                    Item={
                        **self._key(order_id),
                        "intentId": {"S": intent_id},
                        "expiresAt": {"N": str(int(time.time()) + LEDGER_KEPT_SECONDS)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR intentId = :i",
                    ExpressionAttributeValues={":i": {"S": intent_id}},
                )
        except errors.Conflict:
            raise ProviderMisconfigured(
                f"order {order_id} already has another PaymentIntent than {intent_id}"
            ) from None

    # --- PaymentProvider -----------------------------------------------------
    def charge(
        self,
        idempotency_key: str,
        amount_cents: int,
        token: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ChargeResult:
        import stripe

        order_id = idempotency_key
        with _translated():
            intent_id = self.intent_of(order_id)
            if intent_id is None:
                try:
                    intent = self.stripe.v1.payment_intents.create(
                        params={
                            "amount": amount_cents,
                            "currency": self.currency,
                            "payment_method": token,
                            "payment_method_types": ["card"],
                            "confirm": False,
                            "description": f"eventshop order {order_id}",
                            "metadata": {"order_id": order_id, **dict(metadata or {})},
                        },
                        options={"idempotency_key": f"{order_id}:create"},
                    )
                except stripe.InvalidRequestError as exc:
                    if exc.param != "payment_method":
                        raise
                    return ChargeResult(False, reason=f"payment method refused: {exc.user_message}")
                self._remember(order_id, intent.id)  # before any money can move
            else:
                intent = self.stripe.v1.payment_intents.retrieve(intent_id)
            if intent.status == "requires_confirmation":
                try:
                    intent = self.stripe.v1.payment_intents.confirm(
                        intent.id, options={"idempotency_key": f"{order_id}:confirm"}
                    )
                except stripe.CardError as exc:
                    return ChargeResult(False, intent.id, reason=exc.user_message or "declined")
                except stripe.InvalidRequestError as exc:
                    if exc.code != "payment_intent_unexpected_state":
                        raise
                    # A cancel voided it meanwhile (or a twin confirmed it): as it is now.
                    intent = self.stripe.v1.payment_intents.retrieve(intent.id)
        return _result(intent)

    def refund(self, idempotency_key: str, charge_id: str | None = None) -> bool:
        order_id = idempotency_key
        with _translated():
            intent_id = charge_id if charge_id and charge_id.startswith("pi_") else None
            intent_id = intent_id or self.intent_of(order_id)
            if intent_id is None:
                return False  # never created: nothing can have been captured
            intent = self.stripe.v1.payment_intents.retrieve(intent_id)
            if intent.status in _CANCELLABLE:
                return False  # not captured (``void`` cancels it)
            if intent.status == "processing":
                raise ProviderUnavailable(f"{intent.id} is still processing: the refund waits")
            if intent.status != "succeeded":
                return False  # canceled: nothing was taken
            self.stripe.v1.refunds.create(
                params={
                    "payment_intent": intent.id,
                    "metadata": intent.metadata.to_dict() if intent.metadata else {},
                },
                options={"idempotency_key": f"{order_id}:refund"},
            )
        log.info(
            "refunded %s (%s %s) for order %s", intent.id, intent.amount, intent.currency, order_id
        )
        return True

    def void(self, idempotency_key: str) -> bool:
        order_id = idempotency_key
        with _translated():
            intent_id = self.intent_of(order_id)
            if intent_id is None:
                return False  # an attempt may be about to create one
            intent = self.stripe.v1.payment_intents.retrieve(intent_id)
            if intent.status in _CANCELLABLE:
                intent = self.stripe.v1.payment_intents.cancel(
                    intent.id, options={"idempotency_key": f"{order_id}:cancel"}
                )
        # Cancelled, it can never succeed: nothing was or will be taken.
        return bool(intent.status == "canceled")


def _result(intent: Any) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult(True, intent.id)
    if intent.status in _PENDING:
        log.info("%s is %s: the webhook decides", intent.id, intent.status)
        return ChargeResult(False, intent.id, pending=True)
    error = intent.last_payment_error
    reason = (error.message if error else None) or f"payment {intent.status}"
    return ChargeResult(False, intent.id, reason=reason)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Stripe's errors as the saga understands them (see the module doc)."""
    import stripe

    try:
        yield
    except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
        raise ProviderUnavailable(f"Stripe: {type(exc).__name__}: {exc.user_message}") from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise ProviderMisconfigured(f"Stripe refused the API key: {exc.user_message}") from exc
    except stripe.APIError as exc:
        raise ProviderUnavailable(f"Stripe: {exc.http_status}: {exc.user_message}") from exc
    except stripe.StripeError as exc:
        # An invalid request or an idempotency error: our bug, not the card's.
        raise ProviderMisconfigured(f"Stripe: {type(exc).__name__}: {exc.user_message}") from exc


def verify_webhook(payload: bytes, signature: str, secret: str) -> dict[str, Any]:
    """The event a Stripe webhook carries, once its signature (HMAC of the raw
    body, within Stripe's default tolerance of 300 s) is verified; ValueError
    for an unsigned, mis-signed, stale or malformed one."""
    import stripe

    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise ValueError(f"signature: {exc.user_message}") from None
    return dict(event.to_dict())
