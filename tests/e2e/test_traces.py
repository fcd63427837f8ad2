"""The stack's traces and metrics on the running shop: one order's flow, from
the request through every saga step, found by its correlation id; the EMF
metrics the handlers printed, counted; and the ``devstack trace`` timeline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from devstack.testing import RunningStack
from tests.support.e2e_shop import Shop

ROOT = Path(__file__).resolve().parents[2]
SAGA = ["api", "relay_order_events", "inventory_step", "payments_step", "shipping_step"]
HOPS = {*SAGA[1:], "notify_step"}  # the functions an order's events reach
REQUIRED = {"level", "message", "timestamp", "service", "function_name", "correlation_id"}


@pytest.fixture(scope="module")
def shop(app_stack: RunningStack) -> Shop:
    return Shop(app_stack)


def correlated_order(shop: Shop, token: str = "tok_ok") -> tuple[str, str]:
    """Place an order under a correlation id of its own; (id, order id) once
    the saga is done."""
    sku = shop.product(stock=5)
    shop.stack.drain()
    cid = f"t-{uuid.uuid4().hex}"
    order = shop.place(
        f"trace-{uuid.uuid4().hex[:6]}", [(sku, 1)], token=token, headers={"X-Correlation-Id": cid}
    )
    shop.stack.drain(timeout=60)
    assert shop.order(order["orderId"])["status"] == "COMPLETED"
    return cid, str(order["orderId"])


def first(items: list[dict[str, Any]], handler: str) -> int:
    return next(i for i, item in enumerate(items) if item["handler"] == handler)


def test_one_orders_deliveries_are_found_by_its_correlation_id_in_causal_order(
    shop: Shop,
) -> None:
    cid, order_id = correlated_order(shop)
    items = shop.stack.control.traces(cid)

    handlers = [i["handler"] for i in items]
    assert set(handlers) >= {*SAGA, "notify_step"}, handlers
    assert items[0]["handler"] == "api" and items[0]["kind"] == "http"
    assert items[0]["outcome"] == 201 and items[0]["path"] == "/orders"
    assert [first(items, h) for h in SAGA] == sorted(first(items, h) for h in SAGA), handlers
    assert first(items, "notify_step") > first(items, "relay_order_events")
    assert [i["startedAt"] for i in items] == sorted(i["startedAt"] for i in items)
    kinds = {i["handler"]: i["kind"] for i in items}
    assert kinds["relay_order_events"] == "dynamodb" and kinds["payments_step"] == "sqs"
    for item in items:
        assert item["outcome"] in ("ok", 201), item
        for record in item["logs"]:
            assert record["correlation_id"] == cid, (item["handler"], record)
    # The same flow by its order id: the request's response body names it.
    assert {i["handler"] for i in shop.stack.control.traces(order_id)} >= set(SAGA)
    assert shop.stack.control.traces(f"t-{uuid.uuid4().hex}") == []


def test_a_flows_log_records_carry_its_correlation_and_order_ids(shop: Shop) -> None:
    # tok_flaky: the provider fails twice, the payments step logs each failure.
    cid, order_id = correlated_order(shop, token="tok_flaky")
    items = shop.stack.control.traces(cid)
    payments = [i for i in items if i["handler"] == "payments_step"]
    assert [p["outcome"] for p in payments][:2] == ["partial", "partial"], payments
    assert payments[-1]["outcome"] == "ok"
    records = [r for i in items for r in i["logs"]]
    assert len(records) >= 2, items
    for record in records:
        assert record["correlation_id"] == cid, record
        assert record["order_id"] == order_id, record
    failed = [r for p in payments for r in p["logs"] if r["level"] == "ERROR"]
    assert len(failed) >= 2 and all(r.get("exception") for r in failed), failed


def test_metrics_since_a_reset_count_one_completed_order(shop: Shop) -> None:
    shop.stack.drain()
    reset = shop.stack.control.reset_metrics()
    assert reset["metrics"] == {} and reset["records"] == 0
    correlated_order(shop)
    got = shop.stack.control.metrics()
    series = got["metrics"]
    for name in ("OrdersPlaced", "OrdersCompleted"):
        assert (series[name]["count"], series[name]["sum"]) == (1, 1.0), series
    assert got["defaultDimensions"] == {"service": "eventshop", "stage": "local"}
    for step in ("inventory", "payments", "shipping"):
        timing = series[f"SagaStepMs{{step={step}}}"]
        assert timing["count"] == 1 and timing["min"] == timing["max"] > 0
        assert timing["unit"] == "Milliseconds"


def test_the_trace_command_prints_the_flows_timeline(shop: Shop) -> None:
    cid, _ = correlated_order(shop)

    def trace(ident: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-m", "devstack", "trace", ident, "--control", shop.stack.control.url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return out.splitlines()

    lines = trace(cid)
    deliveries = [line for line in lines[1:] if line.startswith("+")]
    assert lines[0] == f"{len(deliveries)} deliveries for {cid}"
    assert len(deliveries) == len(shop.stack.control.traces(cid))
    assert deliveries[0].split()[:5] == ["+0.000s", "api", "http", deliveries[0].split()[3], "201"]
    assert deliveries[0].split()[5:] == ["POST", "/orders"]
    for handler in SAGA[1:]:
        assert any(line.split()[1] == handler for line in deliveries), handler
    offsets = [float(line.split()[0][1:-1]) for line in deliveries]
    assert offsets == sorted(offsets) and offsets[-1] > 0
    unknown = f"t-{uuid.uuid4().hex}"
    assert trace(unknown) == [f"no deliveries for {unknown}"]


def test_under_duplicate_deliveries_and_faults_every_hop_and_retry_carries_the_id(
    shop: Shop,
) -> None:
    """Every message delivered twice and 10% of the app's AWS calls failing:
    each order's records, in every function and every redelivery (tok_flaky:
    the provider fails twice, so the payments step is retried), carry the
    order's correlation id."""
    sku = shop.product(stock=20)
    shop.stack.drain()
    shop.stack.control.reset_aws_calls()
    flows: dict[str, tuple[str, str]] = {}
    shop.stack.control.set_faults(duplicateDeliveries=True, awsErrorRate=0.1)
    try:
        for i, token in enumerate(["tok_ok", "tok_flaky"] * 3):
            cid = f"t-{uuid.uuid4().hex}"
            order = shop.place(
                f"trace-faults-{i}",
                [(sku, 1)],
                token=token,
                key=cid,
                attempts=6,
                headers={"X-Correlation-Id": cid},
            )
            flows[cid] = (str(order["orderId"]), token)
        shop.stack.drain(timeout=240)
        injected = sum(shop.stack.control.aws_calls()["injected"].values())
    finally:
        shop.stack.control.set_faults(duplicateDeliveries=False, awsErrorRate=0)
    assert injected > 0  # the faults really were on
    for cid, (order_id, token) in flows.items():
        assert shop.order(order_id)["status"] == "COMPLETED", order_id
        items = shop.stack.control.traces(cid)
        about = [
            (i["handler"], r) for i in items for r in i["logs"] if r.get("order_id") == order_id
        ]
        assert {h for h, _ in about} >= HOPS, (cid, sorted({h for h, _ in about}))
        assert [r for _, r in about if r["correlation_id"] != cid] == []
        invocations = Counter(i["handler"] for i in items)
        assert all(invocations[h] >= 2 for h in HOPS), invocations  # each delivered twice
        if token == "tok_flaky":
            retried = [i for i in items if i["handler"] == "payments_step" and i["outcome"] != "ok"]
            assert retried, invocations
            # A batch may hold other orders' records: this order's failures.
            failures = [
                r
                for i in retried
                for r in i["logs"]
                if r["level"] == "ERROR" and r.get("order_id") == order_id
            ]
            assert failures and all(r["correlation_id"] == cid for r in failures)


# devstack's own lines: its loggers, the emulator's process, the ready line.
DEVSTACK_LINE = re.compile(r"^(\d\d:\d\d:\d\d devstack[\w.]* |\[emulator\] |eventshop ready )")


def test_every_line_the_functions_printed_is_one_json_object_with_the_flows_keys(
    shop: Shop,
) -> None:
    """The e2e tier's stack shows the functions' raw lines (``--log-format
    json``): every one it printed until now, in every module before this
    one, is a JSON record with the required keys, or an EMF record; every
    other line is devstack's own. (test_secrets_and_calls.py greps the same
    output for secrets.)"""
    problems: list[tuple[str, str]] = []
    records: Counter[str] = Counter()
    emf = 0
    for line in shop.stack.log_text().splitlines():
        if not line.startswith("{"):
            if not DEVSTACK_LINE.match(line):
                problems.append(("not JSON", line[:300]))
            continue
        try:
            value = json.loads(line)
        except ValueError:
            problems.append(("not one JSON object", line[:300]))
            continue
        if "_aws" in value:
            emf += 1
            continue
        if missing := REQUIRED - set(value):
            problems.append((f"without {sorted(missing)}", line[:300]))
        records[str(value.get("function_name"))] += 1
    assert problems == []
    assert emf > 100 and sum(records.values()) > 100, (emf, records)
    names = {name.removeprefix("eventshop-local-") for name in records}
    assert names >= HOPS, records  # each function names itself
