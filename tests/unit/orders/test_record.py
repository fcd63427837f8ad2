"""The order's stored record (chalicelib.orders.record): its history, the
flows of its events, the digest of its placed fields, the events a write
appended, and its size."""

from __future__ import annotations

from typing import Any

import pytest
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from chalicelib.orders import model, record
from chalicelib.orders.model import EventType, Order, OrderEvent
from chalicelib.platform import dynamo
from tests.support.builders import ADDRESS

LINE = {"sku": "MUG-1", "quantity": 2, "unitPriceCents": 1250, "lineTotalCents": 2500}


def placed(lines: int = 1, address: dict[str, Any] | None = None) -> tuple[Order, OrderEvent]:
    items = [LINE | {"sku": f"SKU-{n:04d}"} for n in range(lines)]
    event = OrderEvent(
        version=1,
        type=EventType.ORDER_PLACED,
        at="2026-12-04T21:50:00.123Z",
        data={
            "orderId": "0b7e5a56f1f44d7c9c2f0e6f4f0c2d11",
            "customerId": "cust-ada",
            "items": items,
            "totalCents": 2500 * lines,
            "shippingAddress": (address or ADDRESS) | {"line2": None},
        },
    )
    return model.initial(event), event


def append(
    rec: dict[str, Any], order: Order, changes: list[tuple[EventType, dict[str, Any]]], flow: str
) -> tuple[dict[str, Any], Order]:
    """What a status change does to a record, for these tests."""
    events = []
    for type_, data in changes:
        event = OrderEvent(version=order.version + 1, type=type_, at=order.updatedAt, data=data)
        order = model.apply(order, event)
        events.append(event)
    done = record.change(order, events, "tok_ok", flow, new_flow=rec.get("flow") != flow)
    return record.applied(rec, done), order


HAPPY: list[list[tuple[EventType, dict[str, Any]]]] = [
    [(EventType.STOCK_RESERVED, {})],
    [
        (
            EventType.PAYMENT_CAPTURED,
            {"chargeId": "ch_3Pq0f2Lk9sX8aB1c2D3e4F5g", "amountCents": 2500},
        )
    ],
    [
        (EventType.ORDER_SHIPPED, {"trackingNumber": "TRK-0B7E5A56F1F4"}),
        (EventType.ORDER_COMPLETED, {}),
    ],
]


def completed(lines: int = 1, address: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every record a one-flow happy order goes through, placed to completed."""
    order, event = placed(lines, address)
    rec = record.new(order, event, "tok_ok", "f" * 32)
    out = [rec]
    for changes in HAPPY:
        rec, order = append(rec, order, changes, "f" * 32)
        out.append(rec)
    return out


def size(rec: dict[str, Any]) -> int:
    item = dynamo.to_item(rec)
    return int(Item(DynamoType(item["pk"]), DynamoType(item["sk"]), item).size())


def test_a_new_record_reads_back_as_its_order_and_event() -> None:
    order, event = placed()
    rec = record.new(order, event, "tok_ok", "flow-a")
    assert record.order_of(rec) == order
    # A null field is left out of what is stored, as DynamoDB items leave it.
    stored = event.model_copy(update={"data": event.data | {"shippingAddress": ADDRESS}})
    assert record.history(rec) == [(stored, "flow-a")]
    # Not in the sweep's watched index: only an order still open at the
    # timeout's age gets there (the sweep puts it there).
    assert "openShard" not in rec
    assert rec["paymentToken"] == "tok_ok"


def test_the_every_order_index_key_is_written_once_and_no_change_touches_it() -> None:
    records = completed()
    shard = record.all_shard(records[0]["orderId"])
    assert shard.startswith("ALL#") and int(shard[4:]) < record.ALL_SHARDS
    assert [r["allShard"] for r in records] == [shard] * len(records)
    # What each status change writes (its UpdateItem) neither sets nor removes
    # it, so gsi3 is written at placement only; no change writes gsi2's key.
    order, event = placed()
    rec = record.new(order, event, "tok_ok", None)
    for changes in HAPPY:
        events = []
        for type_, data in changes:
            step = OrderEvent(version=order.version + 1, type=type_, at=order.updatedAt, data=data)
            order = model.apply(order, step)
            events.append(step)
        done = record.change(order, events, "tok_ok", None, new_flow=False)
        assert "allShard" not in done.sets and "allShard" not in done.removes
        rec = record.applied(rec, done)
    assert "openShard" not in rec and "allShard" in rec
    assert "allShard" not in record.order_of(rec).model_dump()


def test_events_of_one_flow_carry_it_once_and_a_new_flow_starts_where_it_writes() -> None:
    order, event = placed()
    rec = record.new(order, event, "tok_ok", "flow-a")
    rec, order = append(rec, order, [(EventType.STOCK_RESERVED, {})], "flow-a")
    rec, order = append(rec, order, [(EventType.ORDER_CANCELLED, {"reason": "by ada"})], "flow-b")
    rec, order = append(rec, order, [(EventType.STOCK_RELEASED, {})], "flow-b")

    assert [flow for _, flow in record.history(rec)] == ["flow-a", "flow-a", "flow-b", "flow-b"]
    assert ["c" in e for e in rec["history"]] == [True, False, True, False]
    assert [m.correlationId for m in record.appended(None, rec)] == [
        "flow-a",
        "flow-a",
        "flow-b",
        "flow-b",
    ]


def test_a_write_of_two_events_relays_both_each_with_the_order_after_it() -> None:
    records = completed()
    paid, done = records[2], records[3]

    messages = record.appended(paid, done)

    assert [(m.type, m.version, m.order["status"]) for m in messages] == [
        ("OrderShipped", 4, "SHIPPED"),
        ("OrderCompleted", 5, "COMPLETED"),
    ]
    assert messages[0].data == {"trackingNumber": "TRK-0B7E5A56F1F4"}
    assert all("paymentToken" not in m.order for m in messages)
    assert record.appended(done, done) == []  # a write that appended nothing


def test_the_token_rides_the_snapshots_until_the_payment_is_settled() -> None:
    records = completed()
    tokens = [[m.order.get("paymentToken") for m in record.appended(None, r)] for r in records]
    assert tokens[1] == ["tok_ok", "tok_ok"]  # PLACED, RESERVED
    assert "paymentToken" not in records[2]  # PAID: gone from the record too


def test_the_placed_event_is_the_records_fields_and_a_change_to_them_shows() -> None:
    order, event = placed()
    rec = record.new(order, event, "tok_ok", None)
    ((read, _),) = record.history(rec)
    assert read == event.model_copy(
        update={"data": event.data | {"shippingAddress": ADDRESS}}  # no null line2
    )

    rec["totalCents"] = 1
    with pytest.raises(ValueError, match="differ from its OrderPlaced event"):
        record.history(rec)
    # The relay still publishes it: a hand-edited record must not hold its shard.
    assert [m.type for m in record.appended(None, rec)] == ["OrderPlaced"]


@pytest.mark.parametrize("lines", [1, 3])
def test_a_completed_order_stays_under_one_write_unit(lines: int) -> None:
    # The longest address a customer is likely to type, not the model's limits.
    long_address = {
        "name": "Augusta Ada King, Countess of Lovelace",
        "line1": "Flat 12, Babbage House, 1 Analytical Engine Way",
        "city": "Kirkby in Ashfield",
        "postalCode": "NG17 7QP",
        "country": "GB",
    }
    assert max(size(r) for r in completed(lines, long_address)) < 1024
