"""StripePaymentProvider: the real ``stripe`` library over HTTP to devstack's
Stripe-compatible server (pointed at it by its API base only, nothing
patched), its ledger in a moto payments table.

What the saga relies on: at most one PaymentIntent per order however often
a step runs, Stripe's decline message as the reason, pending payments left to
the webhook, transient failures raised as ProviderUnavailable (so SQS
retries), a bad key as ProviderMisconfigured, one refund per captured order.
Counted on the server, not inferred from return values.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.payments.ports import ProviderUnavailable
from chalicelib.payments.stripe_provider import (
    ProviderMisconfigured,
    StripePaymentProvider,
    verify_webhook,
)
from devstack.stripe_server import StripeServer

REGION = "us-east-1"

API_KEY = "sk_test_integration"
SECRET = "whsec_integration"
TABLE = "eventshop-test-payments"


class Webhooks:
    """Where the server sends its webhooks: verified with the provider's own
    ``verify_webhook``, as POST /webhooks/stripe does."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.events.append(
                    verify_webhook(body, self.headers.get("Stripe-Signature", ""), SECRET)
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}/webhooks/stripe"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def types(self) -> list[str]:
        return [str(e["type"]) for e in self.events]


@pytest.fixture
def webhooks() -> Iterator[Webhooks]:
    hooks = Webhooks()
    yield hooks
    hooks.http.shutdown()


@pytest.fixture
def server(webhooks: Webhooks) -> Iterator[StripeServer]:
    with StripeServer(API_KEY, SECRET, webhooks.url) as running:
        yield running


def payments_table() -> Any:
    """The payments table as the template makes it (inside mock_aws): the ledger's home."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return ddb


@pytest.fixture
def provider(server: StripeServer, fake_aws_env: None) -> Iterator[StripePaymentProvider]:
    with mock_aws():
        ddb = payments_table()
        yield StripePaymentProvider(
            TABLE, api_key=lambda: API_KEY, currency="EUR", api_base=server.url, client=ddb
        )


META = {"customer_id": "cust-1", "correlation_id": "corr-1"}


def test_a_charge_is_one_confirmed_payment_intent_with_the_order_on_it(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    result = provider.charge("order-1", 2599, "pm_card_visa", META)

    assert result.approved and result.charge_id and result.charge_id.startswith("pi_")
    (intent,) = server.intents(order_id="order-1")
    assert intent["id"] == result.charge_id
    assert intent["status"] == "succeeded"
    assert (intent["amount"], intent["amount_received"], intent["currency"]) == (2599, 2599, "eur")
    assert intent["metadata"] == {"order_id": "order-1", **META}
    assert intent["payment_method"] == "pm_card_visa"
    assert provider.intent_of("order-1") == result.charge_id
    assert server.idle(10)


def test_a_step_run_again_finds_the_same_payment_intent(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    first = provider.charge("order-2", 1000, "pm_card_visa", META)
    again = provider.charge("order-2", 1000, "pm_card_visa", META)
    # A second container with no ledger entry yet: Stripe's idempotent replay of the create.
    other = StripePaymentProvider(
        TABLE, api_key=lambda: API_KEY, api_base=server.url, client=provider.ddb
    )
    provider.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "STRIPE#order-2"}})
    third = other.charge("order-2", 1000, "pm_card_visa", META)

    assert first.approved and again.approved and third.approved
    assert first.charge_id == again.charge_id == third.charge_id
    assert len(server.intents(order_id="order-2")) == 1
    assert server.stats()["succeeded"] == 1


def test_a_declined_card_declines_with_stripes_message(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    result = provider.charge("order-3", 1000, "pm_card_chargeDeclined", META)
    again = provider.charge("order-3", 1000, "pm_card_chargeDeclined", META)

    assert not result.approved and not result.pending
    assert result.reason == "Your card was declined."
    assert not again.approved and again.reason == "Your card was declined."
    (intent,) = server.intents(order_id="order-3")
    assert intent["status"] == "requires_payment_method"
    assert server.stats()["succeeded"] == 0


def test_an_unknown_payment_method_declines_and_creates_nothing(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    result = provider.charge("order-4", 1000, "pm_card_nonsense", META)

    assert not result.approved and not result.pending
    assert result.reason and result.reason.startswith("payment method refused")
    assert server.intents(order_id="order-4") == []


def test_a_payment_that_needs_action_waits_for_the_webhook(
    provider: StripePaymentProvider, server: StripeServer, webhooks: Webhooks
) -> None:
    result = provider.charge("order-5", 4200, "pm_card_authenticationRequired", META)

    assert result.pending and not result.approved and result.charge_id
    assert provider.charge("order-5", 4200, "pm_card_authenticationRequired", META).pending
    assert server.idle(10) and "payment_intent.succeeded" not in webhooks.types()

    server.authenticate(result.charge_id, succeed=True)  # the customer passes 3-D Secure
    assert server.idle(10)
    (succeeded,) = [e for e in webhooks.events if e["type"] == "payment_intent.succeeded"]
    assert succeeded["data"]["object"]["id"] == result.charge_id
    assert succeeded["data"]["object"]["metadata"]["order_id"] == "order-5"
    # A late redelivery of the step now reads the outcome.
    assert provider.charge("order-5", 4200, "pm_card_authenticationRequired", META).approved
    assert len(server.intents(order_id="order-5")) == 1


def test_a_failed_authentication_arrives_as_payment_failed(
    provider: StripePaymentProvider, server: StripeServer, webhooks: Webhooks
) -> None:
    result = provider.charge("order-6", 4200, "pm_card_authenticationRequired", META)
    assert result.pending and result.charge_id

    server.authenticate(result.charge_id, succeed=False)
    assert server.idle(10)

    assert "payment_intent.payment_failed" in webhooks.types()
    assert not provider.charge("order-6", 4200, "pm_card_authenticationRequired", META).approved


def test_a_rate_limit_is_transient_and_the_retry_charges_once(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    server.set_faults(rate_limit=1)
    with pytest.raises(ProviderUnavailable, match="RateLimitError"):
        provider.charge("order-7", 1000, "pm_card_visa", META)

    result = provider.charge("order-7", 1000, "pm_card_visa", META)  # SQS redelivers

    assert result.approved
    assert len(server.intents(order_id="order-7")) == 1
    assert server.stats()["succeeded"] == 1


def test_a_failure_between_create_and_confirm_resumes_the_same_intent(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    class FailingConfirm:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def confirm(self, *args: Any, **kwargs: Any) -> Any:
            server.set_faults(server_error=1)  # the next request (this one) answers 500
            return self.real.confirm(*args, **kwargs)

    real_intents = provider.stripe.v1.payment_intents
    provider.stripe.v1.payment_intents = FailingConfirm(real_intents)
    with pytest.raises(ProviderUnavailable, match="500"):
        provider.charge("order-8", 1000, "pm_card_visa", META)
    provider.stripe.v1.payment_intents = real_intents
    (intent,) = server.intents(order_id="order-8")
    assert intent["status"] == "requires_confirmation"  # created and remembered, not confirmed

    result = provider.charge("order-8", 1000, "pm_card_visa", META)

    assert result.approved and result.charge_id == intent["id"]
    assert len(server.intents(order_id="order-8")) == 1


def test_a_server_that_always_fails_is_transient_and_takes_nothing(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    server.set_faults(server_error_forever=True)
    for _ in range(3):  # SQS's receives until the DLQ
        with pytest.raises(ProviderUnavailable):
            provider.charge("order-9", 1000, "pm_card_visa", META)

    # The saga timeout cancels the order: nothing was captured, nothing to refund.
    assert provider.refund("order-9") is False
    assert provider.void("order-9") is False
    assert server.stats()["succeeded"] == 0 and server.stats()["refunds"] == 0


def test_a_wrong_api_key_is_loud_not_a_decline(server: StripeServer, fake_aws_env: None) -> None:
    with mock_aws():
        ddb = payments_table()
        wrong = StripePaymentProvider(
            TABLE, api_key=lambda: "sk_test_wrong", api_base=server.url, client=ddb
        )
        with pytest.raises(ProviderMisconfigured, match="API key"):
            wrong.charge("order-10", 1000, "pm_card_visa", META)


def test_a_captured_order_is_refunded_once_however_often_it_is_cancelled(
    provider: StripePaymentProvider, server: StripeServer, webhooks: Webhooks
) -> None:
    charged = provider.charge("order-11", 3100, "pm_card_visa", META)

    assert provider.refund("order-11", charged.charge_id) is True
    assert provider.refund("order-11") is True  # a redelivered cancellation: the same refund

    (intent,) = server.intents(order_id="order-11")
    (refund,) = intent["refunds"]
    assert refund["amount"] == 3100
    assert refund["metadata"]["order_id"] == "order-11"
    assert server.stats()["refunds"] == 1
    assert server.idle(10) and webhooks.types().count("charge.refunded") == 1


def test_a_pending_payment_is_voided_not_refunded(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    pending = provider.charge("order-12", 1000, "pm_card_authenticationRequired", META)
    assert pending.pending

    assert provider.refund("order-12") is False  # nothing was captured
    assert provider.void("order-12") is True
    assert provider.void("order-12") is True  # again: still cancelled

    (intent,) = server.intents(order_id="order-12")
    assert intent["status"] == "canceled"
    # A step redelivered after the cancel cannot take the money.
    late = provider.charge("order-12", 1000, "pm_card_authenticationRequired", META)
    assert not late.approved and not late.pending
    assert server.stats()["succeeded"] == 0


def test_a_captured_payment_cannot_be_voided(
    provider: StripePaymentProvider, server: StripeServer
) -> None:
    provider.charge("order-13", 1000, "pm_card_visa", META)

    assert provider.void("order-13") is False
    assert server.intents(order_id="order-13")[0]["status"] == "succeeded"


# --- webhook verification (what POST /webhooks/stripe relies on) ---


def _event() -> bytes:
    return json.dumps({"id": "evt_1", "type": "payment_intent.succeeded", "data": {}}).encode()


def test_a_signed_webhook_verifies(server: StripeServer) -> None:
    body = _event()
    event = verify_webhook(body, server.signature(body.decode()), SECRET)
    assert event["id"] == "evt_1"


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "stale", "garbage signature", "not json"],
)
def test_a_bad_webhook_is_refused(server: StripeServer, tamper: str) -> None:
    body = _event()
    signature = server.signature(body.decode())
    secret = SECRET
    if tamper == "body":
        body = body.replace(b"evt_1", b"evt_2")
    elif tamper == "secret":
        secret = "whsec_other"
    elif tamper == "stale":
        signature = server.signature(body.decode(), timestamp=int(time.time()) - 301)
    elif tamper == "garbage signature":
        signature = "v1=deadbeef"
    else:
        body = b"{not json"
        signature = server.signature(body.decode())

    with pytest.raises(ValueError):
        verify_webhook(body, signature, secret)
