"""The order benchmark's arithmetic: percentiles, the reference model, the cost
estimate and the flagging of unexplained requests. No stack is started."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import orders  # noqa: E402

# What the counting phase measured for 1 line per order (12 orders).
SAMPLE_COUNTS = {
    "dynamodb.BatchGetItem": 12,
    "dynamodb.TransactWriteItems": 72,
    "dynamodb.PutItem": 60,
    "dynamodb.UpdateItem": 36,
    "sns.PublishBatch": 81,
}


# --- percentile -------------------------------------------------------------------
def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]  # unsorted on purpose
    assert orders.percentile(values, 0) == 10
    assert orders.percentile(values, 100) == 40
    assert orders.percentile(values, 50) == pytest.approx(25)
    assert orders.percentile(values, 95) == pytest.approx(38.5)
    assert orders.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)


def test_percentile_of_one_value_and_bad_input() -> None:
    assert orders.percentile([7.0], 95) == 7
    with pytest.raises(ValueError, match="no values"):
        orders.percentile([], 50)
    with pytest.raises(ValueError, match="0-100"):
        orders.percentile([1.0], 101)


# --- requests per order and their reasons ---------------------------------------
def test_per_order_divides_and_drops_zero_counts() -> None:
    ops = orders.per_order({**SAMPLE_COUNTS, "dynamodb.GetItem": 0}, 12)
    assert ops == {
        "dynamodb.BatchGetItem": 1,
        "dynamodb.PutItem": 5,
        "dynamodb.TransactWriteItems": 6,
        "dynamodb.UpdateItem": 3,
        "sns.PublishBatch": 6.75,
    }
    assert orders.total(ops) == pytest.approx(21.75)
    with pytest.raises(ValueError):
        orders.per_order(SAMPLE_COUNTS, 0)


def test_every_operation_without_a_reason_is_flagged() -> None:
    counts = {
        **SAMPLE_COUNTS,
        "dynamodb.Scan": 3,
        "sqs.SendMessage": 1,
        "ssm.GetParameter": 2,
        "dynamodb.GetItem": 0,
    }
    assert orders.unexplained(counts) == ["dynamodb.Scan", "sqs.SendMessage", "ssm.GetParameter"]
    assert orders.unexplained(SAMPLE_COUNTS) == []
    # An empty reason explains nothing.
    assert orders.unexplained({"dynamodb.PutItem": 1}, {"dynamodb.PutItem": ""}) == [
        "dynamodb.PutItem"
    ]


def test_the_reasons_name_the_counts_the_code_implies() -> None:
    assert "= 1-2" in orders.REASONS["dynamodb.TransactWriteItems"]
    assert "(1)" in orders.REASONS["dynamodb.PutItem"]
    assert "= 5-8 whatever the lines" in orders.REASONS["dynamodb.UpdateItem"]
    assert "= 1;" in orders.REASONS["dynamodb.GetItem"]


# --- the reference design ---------------------------------------------------------
@pytest.mark.parametrize(("lines", "gets", "puts", "updates"), [(1, 1, 7, 5), (3, 3, 7, 7)])
def test_reference_model_per_order(lines: int, gets: int, puts: int, updates: int) -> None:
    ops = orders.reference_per_order(lines, {"sns.PublishBatch": 6.75})
    assert ops == {
        "dynamodb.GetItem": gets,
        "dynamodb.PutItem": puts,
        "dynamodb.UpdateItem": updates,
        "sns.PublishBatch": 6.75,
    }
    # POST: a GetItem per line + the order; reserve: an update per line + status;
    # payment: the charge + status; ship: 2 statuses; 5 history events.
    assert orders.total(ops) - 6.75 == lines + 1 + lines + 1 + 2 + 2 + 5


def test_reference_steps_scale_with_lines_only_where_described() -> None:
    one = {step: n for step, _, n in orders.reference_steps(1)}
    three = {step: n for step, _, n in orders.reference_steps(3)}
    changed = {step for step in one if one[step] != three[step]}
    assert changed == {"POST: price of each line", "reserve: stock of each line"}
    with pytest.raises(ValueError):
        orders.reference_steps(0)


# --- cost -----------------------------------------------------------------------------
def test_transaction_items_come_from_the_code() -> None:
    # reserve (1 + lines) + analytics 2 and (2 + lines), over 3 calls
    assert orders.transact_items_per_call(1) == pytest.approx(7 / 3)
    assert orders.transact_items_per_call(3) == pytest.approx(11 / 3)
    wru, rru = orders.capacity_per_call("dynamodb.TransactWriteItems", 1) or (0.0, 0.0)
    assert wru == pytest.approx(14 / 3)
    assert rru == 0
    assert orders.capacity_per_call("dynamodb.BatchGetItem", 3) == (0, 3)
    assert orders.capacity_per_call("dynamodb.PutItem", 3) == (1, 0)
    assert orders.capacity_per_call("dynamodb.Scan", 1) is None


def test_cost_of_our_measured_counts() -> None:
    ops = orders.per_order(SAMPLE_COUNTS, 12)
    cost = orders.cost_per_million(ops, lines=1, sns_messages=9)
    # 6 transactions x 7/3 items x 2 WRU + 5 puts + 3 updates; 1 batch-get of 1 item
    wru = 6 * 2 * (7 / 3) + 5 + 3
    assert cost.wru == pytest.approx(wru)
    assert cost.rru == pytest.approx(1)
    assert cost.dynamodb_usd == pytest.approx(wru * 0.625 + 1 * 0.125)
    assert cost.sns_usd == pytest.approx(9 * 0.50)  # messages, not PublishBatch calls
    assert cost.sqs_usd == 0
    assert cost.total_usd == pytest.approx(wru * 0.625 + 0.125 + 4.5)
    assert cost.unpriced == []


def test_cost_of_the_reference_model_and_unpriced_operations() -> None:
    ref = orders.reference_per_order(3, {"sns.PublishBatch": 7})
    cost = orders.cost_per_million(
        {**ref, "sqs.SendMessage": 2, "dynamodb.Scan": 1, "ssm.GetParameter": 1},
        lines=3,
        sns_messages=9,
    )
    assert cost.wru == pytest.approx(7 + 7)  # every put and update: 1 WRU
    assert cost.rru == pytest.approx(3)
    assert cost.sqs_requests == 2
    assert cost.sqs_usd == pytest.approx(2 * 0.40)
    assert cost.total_usd == pytest.approx(14 * 0.625 + 3 * 0.125 + 9 * 0.5 + 0.8)
    assert cost.unpriced == ["dynamodb.Scan", "ssm.GetParameter"]


def test_sns_messages_are_the_notifications_and_each_event_is_one_on_the_bus() -> None:
    milestones = ["OrderPlaced", "PaymentCaptured", "OrderShipped", "OrderCompleted"]
    assert orders.sns_messages_per_order(orders.HAPPY_PATH_EVENTS, milestones) == 4
    assert orders.bus_events_per_order(orders.HAPPY_PATH_EVENTS) == 5


def test_bus_events_are_priced_per_event_not_per_put_events_call() -> None:
    cost = orders.cost_per_million(
        {"eventbridge.PutEvents": 2.5, "sns.PublishBatch": 1},
        lines=1,
        sns_messages=4,
        bus_events=5,
    )
    assert cost.unpriced == []
    assert cost.bus_usd == pytest.approx(5 * 1.00)
    assert cost.sns_usd == pytest.approx(4 * 0.50)
    assert cost.total_usd == pytest.approx(5 + 2)


# --- helpers --------------------------------------------------------------------------
def test_item_size_follows_dynamodb_rules() -> None:
    item = {
        "pk": {"S": "ORDER#abc"},
        "n": {"N": "12345"},
        "ok": {"BOOL": True},
        "m": {"M": {"a": {"S": "xy"}}},
        "l": {"L": [{"S": "z"}]},
    }
    assert orders.item_size(item) == (2 + 9) + (1 + 4) + (2 + 1) + (1 + 3 + 1 + 2 + 1) + (
        1 + 3 + 1 + 1
    )


def test_order_body_uses_distinct_skus_per_order() -> None:
    body = orders.order_body(["a", "b", "c", "d"], 3, 3)
    assert [i["sku"] for i in body["items"]] == ["d", "a", "b"]
    assert body["paymentToken"] == "tok_ok"


def test_table_formatting() -> None:
    text = orders.format_table(["op", "n"], [["x", 1.5], ["longer", 10]], right=[1])
    lines = text.splitlines()
    assert lines[0] == "op     |   n"
    assert lines[2] == "x      | 1.5"
    assert len(lines) == 4


# --- the whole bill -------------------------------------------------------------------
def test_memory_sizes_come_from_the_stage_then_the_top_level() -> None:
    config = {
        "lambda_memory_size": 512,
        "stages": {
            "prod": {"lambda_functions": {"image_uploaded": {"lambda_memory_size": 1536}}},
            "dev": {"lambda_memory_size": 256},
        },
    }
    assert orders.memory_sizes(config) == {"*": 512, "image_uploaded": 1536}
    assert orders.memory_sizes(config, "dev") == {"*": 256}
    assert orders.memory_sizes({}) == {"*": orders.MEMORY_DEFAULT_MB}


def usage(**changes: object) -> orders.Usage:
    base = orders.Usage(
        wru=10,
        rru=2,
        invocations={"api_handler": 1, "payments_step": 2},
        duration_ms={"api_handler": 100, "payments_step": 50},
        api_requests=1,
        sqs_requests=12,
        sns_messages=4,
        bus_events=5,
        bus_event_bytes=2000,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_gb_seconds_weigh_each_function_by_its_memory() -> None:
    memory = {"*": 512, "payments_step": 1024}
    # api: 1 x 0.1 s x 0.5 GB; payments: 2 x 0.05 s x 1 GB
    assert orders.gb_seconds(usage(), memory) == pytest.approx(0.05 + 0.1)


def test_the_bill_has_a_line_per_item_and_their_total() -> None:
    lines = orders.bill(usage(), {"*": 512})
    by_item = {item: usd for item, _, usd in lines}
    assert by_item["DynamoDB write units"] == pytest.approx(10 * 0.625)
    assert by_item["DynamoDB read units"] == pytest.approx(2 * 0.125)
    assert by_item["Lambda invocations"] == pytest.approx(3 * 0.20)
    assert by_item["Lambda duration (estimate)"] == pytest.approx(
        (0.05 + 0.05) * 0.0000166667 * 1e6
    )
    assert by_item["API Gateway requests"] == pytest.approx(3.50)
    assert by_item["SQS requests"] == pytest.approx(12 * 0.40)
    assert by_item["SNS messages"] == pytest.approx(4 * 0.50)
    assert by_item["EventBridge events"] == pytest.approx(5 * 1.00)
    assert by_item["EventBridge archive"] == pytest.approx(5 * 2000 / 1e9 * 0.10 * 1e6)
    assert lines[-1][0] == "total"
    assert lines[-1][2] == pytest.approx(sum(usd for _, _, usd in lines[:-1]))


def test_the_reference_design_is_billed_on_the_measured_item_sizes() -> None:
    small = orders.ItemSizes(order=600, event=400, product=150)
    # order put + 1 stock update + 4 status updates + charge + 5 events; 1 price read
    assert orders.reference_capacity(1, small) == (1 + 1 + 4 + 1 + 5, 1)
    big = orders.ItemSizes(order=1500, event=1100, product=150)
    assert orders.reference_capacity(3, big) == (2 + 3 + 4 * 2 + 1 + 5 * 2, 3)


def test_measured_usage_counts_invocations_polls_and_capacity_per_order() -> None:
    deliveries = [
        {"kind": "sqs", "handler": "payments_step", "ms": 40.0},
        {"kind": "sqs", "handler": "payments_step", "ms": 60.0},
        {"kind": "dynamodb", "handler": "relay_order_events", "ms": 10.0},
    ]
    got = orders.measured_usage(
        2,
        {"t-orders": {"wru": 30, "rru": 4}, "t-products": {"wru": 6, "rru": 2}},
        deliveries,
        [100.0, 300.0],
        rule_sends=8,
        app_sqs=2,
        sns_messages=4,
        bus_events=5,
    )
    assert (got.wru, got.rru) == (18, 3)
    assert got.invocations == {
        "api_handler": 1,
        "jwt_auth": 1,
        "payments_step": 1,
        "relay_order_events": 0.5,
    }
    assert got.duration_ms["payments_step"] == 50 and got.duration_ms["api_handler"] == 200
    # 8 sends + 2 polls x (receive + delete) + 2 of the app's own, over 2 orders
    assert got.sqs_requests == pytest.approx((8 + 4 + 2) / 2)
    with pytest.raises(ValueError):
        orders.measured_usage(0, {}, [], [], rule_sends=0, app_sqs=0, sns_messages=0, bus_events=0)
