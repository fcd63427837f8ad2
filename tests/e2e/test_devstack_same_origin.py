"""The local stack's own endpoints on the API's origin (devstack.same_origin),
on the running shop: ``/_devstack/status`` is the control endpoint's status,
``/_devstack/trace/{orderId}`` the order's deliveries as ``devstack trace``
has them, both without a token, neither a part of any trace."""

from __future__ import annotations

import uuid

import pytest
import requests

from devstack.testing import RunningStack
from tests.support.e2e_shop import Shop

SAGA = ["api", "relay_order_events", "inventory_step", "payments_step", "shipping_step"]


@pytest.fixture(scope="module")
def shop(app_stack: RunningStack) -> Shop:
    return Shop(app_stack)


def test_status_is_the_control_endpoints_on_the_apis_origin(shop: Shop) -> None:
    shop.stack.drain()
    response = requests.get(f"{shop.api}/_devstack/status", timeout=30)
    control = shop.stack.control.status()

    assert response.status_code == 200, response.text
    local = response.json()
    assert set(local) == set(control)
    for part in ("rules", "faults"):
        assert local[part] == control[part], part
    # The same sources with the same fields; their counters (cycles, lastStart)
    # move between the two reads, since pollers keep polling.
    assert [(s["kind"], s["handler"], sorted(s)) for s in local["sources"]] == [
        (s["kind"], s["handler"], sorted(s)) for s in control["sources"]
    ]
    assert {s["kind"] for s in local["sources"]} >= {"sqs", "dynamodb"}


def test_an_orders_trace_is_its_deliveries_in_order(shop: Shop) -> None:
    sku = shop.product(stock=5)
    order_id = shop.place(f"same-origin-{uuid.uuid4().hex[:6]}", [(sku, 1)])["orderId"]
    shop.stack.drain(timeout=60)
    assert shop.order(order_id)["status"] == "COMPLETED"

    response = requests.get(f"{shop.api}/_devstack/trace/{order_id}", timeout=30)
    assert response.status_code == 200, response.text
    trace = response.json()
    again = requests.get(f"{shop.api}/_devstack/trace/{order_id}", timeout=30).json()

    assert trace["orderId"] == order_id
    deliveries = trace["deliveries"]
    # The same invocations as the control endpoint's traces, in the same order,
    # and reading them added none (no GET /_devstack/... among them).
    kept = shop.stack.control.traces(order_id)
    assert [d["handler"] for d in deliveries] == [k["handler"] for k in kept]
    assert again == trace
    handlers = [d["handler"] for d in deliveries]
    assert set(handlers) >= {*SAGA, "notify_step"}, handlers
    assert (deliveries[0]["source"], deliveries[0]["outcome"]) == ("POST /orders", "201")
    assert [d["at"] for d in deliveries] == sorted(d["at"] for d in deliveries)
    relay = deliveries[handlers.index("relay_order_events")]
    assert (relay["source"], relay["outcome"]) == ("dynamodb", "ok")
    assert all(isinstance(d["durationMs"], float | int) for d in deliveries)
    logs = [line for d in deliveries for line in d["logs"]]
    assert all(isinstance(line, str) for line in logs)
    assert any(order_id in line and line.startswith("INFO") for line in logs), logs


def test_they_need_no_token_and_refuse_everything_else(shop: Shop) -> None:
    unknown = requests.get(f"{shop.api}/_devstack/trace/{uuid.uuid4().hex}", timeout=30)
    assert unknown.status_code == 200 and unknown.json()["deliveries"] == []
    assert requests.post(f"{shop.api}/_devstack/status", timeout=30).status_code == 405
    assert requests.get(f"{shop.api}/_devstack/drain", timeout=30).status_code == 404
