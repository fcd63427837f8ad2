"""POST /webhooks/stripe through the app: no JWT; the Stripe-Signature header
verified against the raw body; what verifies goes on the bus for the payments
rule (the saga's own path), everything else is a 400 logged without its body.
Never a 5xx."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from tests.support.builders import unique
from tests.support.functional_shop import Shop

PAYMENTS = {"source": ["eventshop.payments"], "detail-type": ["PaymentProviderEvent"]}
SECRET_MARK = "card-holder-secret-marker"  # must never reach a log


def stripe_event(
    order_id: str, kind: str = "payment_intent.succeeded", event_id: str | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "pi_" + unique("x").replace("-", "")[:24],
        "object": "payment_intent",
        "amount": 2500,
        "amount_received": 2500 if kind == "payment_intent.succeeded" else 0,
        "currency": "eur",
        "status": "succeeded" if kind == "payment_intent.succeeded" else "requires_payment_method",
        "description": SECRET_MARK,
        "metadata": {"order_id": order_id, "customer_id": "c1", "correlation_id": "corr-1"},
    }
    if kind == "payment_intent.payment_failed":
        obj["last_payment_error"] = {"message": "Your card was declined."}
    if kind == "charge.refunded":
        obj = {**obj, "object": "charge", "payment_intent": obj["id"], "amount_refunded": 2500}
    return {
        "id": event_id or "evt_" + unique("e").replace("-", "")[:24],
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def post(shop: Shop, payload: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return shop.call("POST", "/webhooks/stripe", raw=payload, headers=headers)


@pytest.fixture
def tap(shop: Shop) -> str:
    return shop.tap_bus(PAYMENTS)


def details(shop: Shop, tap: str) -> list[dict[str, Any]]:
    return [json.loads(m["Body"])["detail"] for m in shop.drain(tap)]


@pytest.mark.parametrize(
    ("kind", "heard"),
    [
        ("payment_intent.succeeded", "SUCCEEDED"),
        ("payment_intent.payment_failed", "FAILED"),
        ("charge.refunded", "REFUNDED"),
    ],
)
def test_a_signed_event_is_acknowledged_and_put_on_the_bus(
    shop: Shop, tap: str, kind: str, heard: str
) -> None:
    event = stripe_event("order-1", kind)
    payload = json.dumps(event).encode()

    response = post(shop, payload, shop.stripe_signature(payload))

    assert response.status_code == 200, response.body
    assert response.json_body == {"received": True, "eventId": event["id"], "forwarded": True}
    (detail,) = details(shop, tap)
    assert detail["provider"] == "stripe"
    assert (detail["eventId"], detail["kind"], detail["orderId"]) == (event["id"], heard, "order-1")
    assert detail["correlationId"] == "corr-1"
    intent = event["data"]["object"]
    assert detail["chargeId"] == intent.get("payment_intent", intent["id"])
    if heard == "FAILED":
        assert detail["reason"] == "Your card was declined."
    assert SECRET_MARK not in json.dumps(detail)  # only what the saga needs travels


def test_the_same_event_twice_is_acknowledged_twice(shop: Shop, tap: str) -> None:
    """Stripe sends again whatever it did not see acknowledged; the payments
    step's state guards make the second one change nothing (test_saga)."""
    payload = json.dumps(stripe_event("order-2", event_id="evt_twice")).encode()
    first = post(shop, payload, shop.stripe_signature(payload))
    second = post(shop, payload, shop.stripe_signature(payload))

    assert (first.status_code, second.status_code) == (200, 200)
    assert [d["eventId"] for d in details(shop, tap)] == ["evt_twice", "evt_twice"]


def test_an_event_for_an_unknown_order_is_acknowledged(shop: Shop, tap: str) -> None:
    """The payments step logs and drops it (test_saga): Stripe must not retry it for days."""
    payload = json.dumps(stripe_event("no-such-order")).encode()
    response = post(shop, payload, shop.stripe_signature(payload))

    assert response.status_code == 200
    assert [d["orderId"] for d in details(shop, tap)] == ["no-such-order"]


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}},
        # A payment that is not the shop's (no order id in its metadata).
        {
            "id": "evt_foreign",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_1", "metadata": {}}},
        },
    ],
    ids=["another event type", "another system's payment"],
)
def test_an_event_the_saga_does_not_need_is_acknowledged_and_dropped(
    shop: Shop, tap: str, event: dict[str, Any]
) -> None:
    payload = json.dumps(event).encode()
    response = post(shop, payload, shop.stripe_signature(payload))

    assert response.status_code == 200
    assert response.json_body["forwarded"] is False
    assert details(shop, tap) == []


def _bad(shop: Shop, case: str) -> tuple[bytes, str | None]:
    payload = json.dumps(stripe_event("order-3")).encode()
    if case == "tampered body":
        signature = shop.stripe_signature(payload)
        return payload.replace(b"2500", b"1"), signature
    if case == "wrong secret":
        return payload, shop.stripe_signature(payload, secret="whsec_someone_else")
    if case == "too old":
        return payload, shop.stripe_signature(payload, at=int(time.time()) - 301)
    if case == "empty body":
        return b"", shop.stripe_signature(b"")
    if case == "signed garbage":
        return b"{not json", shop.stripe_signature(b"{not json")
    if case == "no signature":
        return payload, None
    if case == "malformed signature":
        return payload, "v1=,t=yesterday"
    raise AssertionError(case)


BAD = [
    "tampered body",
    "wrong secret",
    "too old",
    "empty body",
    "signed garbage",
    "no signature",
    "malformed signature",
]


@pytest.mark.parametrize("case", BAD)
def test_anything_unsigned_mis_signed_old_or_malformed_is_a_400_logged_without_its_body(
    shop: Shop, tap: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload, signature = _bad(shop, case)
    with caplog.at_level(logging.INFO):
        response = post(shop, payload, signature)

    assert response.status_code == 400, response.body
    assert response.json_body["Code"] == "BadRequestError"
    assert "Stripe" in response.json_body["Message"]
    assert details(shop, tap) == []
    assert "refused a Stripe webhook" in caplog.text
    assert SECRET_MARK not in caplog.text


def test_a_token_changes_nothing(shop: Shop) -> None:
    """The route has no authorizer: a JWT neither opens nor closes it."""
    payload = json.dumps(stripe_event("order-4")).encode()
    headers = {**shop.admin(), "Content-Type": "application/json"}
    response = shop.call("POST", "/webhooks/stripe", raw=payload, headers=headers)
    assert response.status_code == 400  # still unsigned
