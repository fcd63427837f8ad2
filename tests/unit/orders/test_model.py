"""The order state machine: transitions, the fold, and replay."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.orders import model
from chalicelib.orders.model import (
    TRANSITIONS,
    EventType,
    InvalidTransition,
    Order,
    OrderEvent,
    OrderStatus,
)

AT = "2025-01-01T00:00:00.000Z"
ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}

# The shortest history that leads to each status.
PATH: dict[OrderStatus, list[EventType]] = {
    OrderStatus.PLACED: [],
    OrderStatus.RESERVED: [EventType.STOCK_RESERVED],
    OrderStatus.PAID: [EventType.STOCK_RESERVED, EventType.PAYMENT_CAPTURED],
    OrderStatus.SHIPPED: [
        EventType.STOCK_RESERVED,
        EventType.PAYMENT_CAPTURED,
        EventType.ORDER_SHIPPED,
    ],
    OrderStatus.COMPLETED: [
        EventType.STOCK_RESERVED,
        EventType.PAYMENT_CAPTURED,
        EventType.ORDER_SHIPPED,
        EventType.ORDER_COMPLETED,
    ],
    OrderStatus.REJECTED: [EventType.ORDER_REJECTED],
    OrderStatus.CANCELLING: [EventType.ORDER_CANCELLED],
    OrderStatus.CANCELLED: [
        EventType.ORDER_CANCELLED,
        EventType.STOCK_RELEASED,
        EventType.CANCELLATION_COMPLETED,
    ],
}
# A CANCELLING order in which an event that needs more than the status (GUARDS) may follow.
GUARDED_PATH: dict[EventType, list[EventType]] = {
    EventType.PAYMENT_REFUNDED: [EventType.STOCK_RESERVED, EventType.ORDER_CANCELLED],
    EventType.PAYMENT_VOIDED: [EventType.STOCK_RESERVED, EventType.ORDER_CANCELLED],
    EventType.CANCELLATION_COMPLETED: [EventType.ORDER_CANCELLED, EventType.STOCK_RELEASED],
}


def placed_event(**overrides: Any) -> OrderEvent:
    data = {
        "orderId": "o1",
        "customerId": "c1",
        "items": [{"sku": "A", "quantity": 2, "unitPriceCents": 150, "lineTotalCents": 300}],
        "totalCents": 300,
        "shippingAddress": ADDRESS,
    }
    return OrderEvent(version=1, type=EventType.ORDER_PLACED, at=AT, data=data, **overrides)


def event(
    order: Order, type_: EventType, data: dict[str, Any] | None = None, version: int | None = None
) -> OrderEvent:
    return OrderEvent(
        version=order.version + 1 if version is None else version,
        type=type_,
        at=f"2025-01-01T00:00:{order.version:02d}.000Z",
        data=data or {},
    )


def order_in(status: OrderStatus, path: list[EventType] | None = None) -> Order:
    order = model.initial(placed_event())
    for type_ in PATH[status] if path is None else path:
        order = model.apply(order, event(order, type_))
    assert order.status is status
    return order


def order_after(*path: EventType) -> Order:
    order = model.initial(placed_event())
    for type_ in path:
        order = model.apply(order, event(order, type_))
    return order


def history_to(status: OrderStatus) -> list[OrderEvent]:
    events = [placed_event()]
    order = model.initial(events[0])
    for type_ in PATH[status]:
        events.append(event(order, type_))
        order = model.apply(order, events[-1])
    return events


# sorted: the same order in every xdist worker (a frozenset's order is per process)
ALLOWED = [(t, s) for t, (froms, _) in TRANSITIONS.items() for s in sorted(froms)]
FORBIDDEN = [(t, s) for t, (froms, _) in TRANSITIONS.items() for s in OrderStatus if s not in froms]


def test_every_event_but_order_placed_has_a_transition() -> None:
    assert set(TRANSITIONS) == set(EventType) - {EventType.ORDER_PLACED}


@pytest.mark.parametrize(("type_", "status"), ALLOWED, ids=str)
def test_allowed_transition_leads_to_its_target(type_: EventType, status: OrderStatus) -> None:
    before = order_in(status, GUARDED_PATH.get(type_))
    after = model.apply(before, event(before, type_))

    _, target = TRANSITIONS[type_]
    assert model.can_apply(before, type_)
    assert after.status is (target or status)
    assert after.version == before.version + 1
    assert after.updatedAt == f"2025-01-01T00:00:{before.version:02d}.000Z"
    assert after.createdAt == before.createdAt


@pytest.mark.parametrize(("type_", "status"), FORBIDDEN, ids=str)
def test_forbidden_transition_raises(type_: EventType, status: OrderStatus) -> None:
    before = order_in(status)

    assert not model.can_apply(before, type_)
    with pytest.raises(InvalidTransition) as caught:
        model.apply(before, event(before, type_))
    assert caught.value.order == before
    assert caught.value.event is type_


@pytest.mark.parametrize("status", sorted(model.TERMINAL))
def test_terminal_statuses_change_status_no_more(status: OrderStatus) -> None:
    order = order_in(status)
    status_changers = [t for t, (_, target) in TRANSITIONS.items() if target is not None]
    assert status.terminal
    assert not any(model.can_apply(order, t) for t in status_changers)


def test_only_cancellable_statuses_accept_order_cancelled() -> None:
    accepting = {s for s in OrderStatus if model.can_apply(order_in(s), EventType.ORDER_CANCELLED)}
    assert accepting == {OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.PAID}


def test_cancelling_is_not_terminal_and_cancelled_is() -> None:
    assert not OrderStatus.CANCELLING.terminal
    assert OrderStatus.CANCELLED.terminal
    assert {OrderStatus.COMPLETED, OrderStatus.REJECTED, OrderStatus.CANCELLED} == model.TERMINAL


@pytest.mark.parametrize(
    ("before", "opens"),
    [
        ([], None),  # PLACED: no StockReserved, so no charge can ever start
        ([EventType.STOCK_RESERVED], model.OpenPayment.CHARGE),
        ([EventType.STOCK_RESERVED, EventType.PAYMENT_CAPTURED], model.OpenPayment.CAPTURE),
    ],
)
def test_a_cancel_leaves_open_the_payment_it_may_have_taken(
    before: list[EventType], opens: model.OpenPayment | None
) -> None:
    order = order_after(*before)
    cancelling = model.apply(order, event(order, EventType.ORDER_CANCELLED, {"reason": "r"}))

    assert cancelling.status is OrderStatus.CANCELLING
    assert cancelling.openPayment is opens
    assert cancelling.stockReleased is False
    assert not model.can_apply(cancelling, EventType.CANCELLATION_COMPLETED)


def test_a_declined_payment_leaves_only_the_stock_to_release() -> None:
    declined = order_after(EventType.STOCK_RESERVED, EventType.PAYMENT_DECLINED)

    assert (declined.status, declined.openPayment) == (OrderStatus.CANCELLING, None)
    assert not model.can_apply(declined, EventType.PAYMENT_REFUNDED)
    assert not model.can_apply(declined, EventType.PAYMENT_VOIDED)
    assert not model.can_apply(declined, EventType.CANCELLATION_COMPLETED)
    released = order_after(
        EventType.STOCK_RESERVED, EventType.PAYMENT_DECLINED, EventType.STOCK_RELEASED
    )
    assert model.can_apply(released, EventType.CANCELLATION_COMPLETED)


@pytest.mark.parametrize(
    "compensation",
    [
        [EventType.STOCK_RELEASED, EventType.PAYMENT_VOIDED],
        [EventType.PAYMENT_VOIDED, EventType.STOCK_RELEASED],
        [EventType.STOCK_RELEASED, EventType.PAYMENT_REFUNDED],
        [EventType.PAYMENT_REFUNDED, EventType.STOCK_RELEASED],
    ],
    ids=str,
)
def test_cancelled_at_reserved_completes_only_after_stock_and_payment(
    compensation: list[EventType],
) -> None:
    order = order_after(EventType.STOCK_RESERVED, EventType.ORDER_CANCELLED)
    for type_ in compensation:
        assert not model.can_apply(order, EventType.CANCELLATION_COMPLETED)
        order = model.apply(order, event(order, type_))
        assert order.status is OrderStatus.CANCELLING
    done = model.apply(order, event(order, EventType.CANCELLATION_COMPLETED))

    assert done.status is OrderStatus.CANCELLED
    assert (done.stockReleased, done.openPayment) == (True, None)
    assert not any(model.can_apply(done, t) for t in TRANSITIONS)


def test_a_recorded_capture_is_settled_only_by_a_refund() -> None:
    order = order_after(
        EventType.STOCK_RESERVED, EventType.PAYMENT_CAPTURED, EventType.ORDER_CANCELLED
    )

    assert not model.can_apply(order, EventType.PAYMENT_VOIDED)
    refunded = model.apply(order, event(order, EventType.PAYMENT_REFUNDED))
    assert refunded.openPayment is None
    assert not model.can_apply(refunded, EventType.PAYMENT_REFUNDED)  # once


def test_compensation_events_keep_the_reason_of_the_cancel() -> None:
    order = order_after(EventType.STOCK_RESERVED)
    order = model.apply(order, event(order, EventType.ORDER_CANCELLED, {"reason": "by ada"}))
    for type_ in (
        EventType.STOCK_RELEASED,
        EventType.PAYMENT_REFUNDED,
        EventType.CANCELLATION_COMPLETED,
    ):
        order = model.apply(order, event(order, type_))

    assert (order.status, order.reason) == (OrderStatus.CANCELLED, "by ada")


@pytest.mark.parametrize("gap", [0, 2, -1])
def test_versions_must_be_consecutive(gap: int) -> None:
    order = order_in(OrderStatus.PLACED)
    with pytest.raises(ValueError, match="does not follow"):
        model.apply(order, event(order, EventType.STOCK_RESERVED, version=order.version + gap))


def test_stock_released_only_when_cancelling_and_only_once() -> None:
    cancelling = order_in(OrderStatus.CANCELLING)
    released = model.apply(cancelling, event(cancelling, EventType.STOCK_RELEASED))

    assert released.status is OrderStatus.CANCELLING
    assert released.stockReleased is True
    assert not model.can_apply(released, EventType.STOCK_RELEASED)
    with pytest.raises(InvalidTransition):
        model.apply(released, event(released, EventType.STOCK_RELEASED))
    for status in set(OrderStatus) - {OrderStatus.CANCELLING}:
        assert not model.can_apply(order_in(status), EventType.STOCK_RELEASED)


def test_reason_and_tracking_number_come_from_event_data() -> None:
    reserved = order_in(OrderStatus.RESERVED)
    declined = model.apply(
        reserved, event(reserved, EventType.PAYMENT_DECLINED, {"reason": "card declined"})
    )
    paid = order_in(OrderStatus.PAID)
    shipped = model.apply(
        paid, event(paid, EventType.ORDER_SHIPPED, {"trackingNumber": "TRK-0000000001"})
    )

    assert (declined.status, declined.reason) == (OrderStatus.CANCELLING, "card declined")
    assert (shipped.trackingNumber, shipped.reason) == ("TRK-0000000001", None)


def test_initial_builds_a_placed_order_from_order_placed() -> None:
    order = model.initial(placed_event())

    assert order.status is OrderStatus.PLACED
    assert (order.orderId, order.customerId, order.version) == ("o1", "c1", 1)
    assert order.items[0].lineTotalCents == 300
    assert order.totalCents == 300
    assert order.shippingAddress.country == "DE"
    assert order.createdAt == order.updatedAt == AT
    assert (order.reason, order.trackingNumber, order.stockReleased) == (None, None, False)
    assert order.openPayment is None


def test_initial_rejects_other_events_and_versions() -> None:
    with pytest.raises(ValueError, match="starts with OrderPlaced"):
        model.initial(placed_event().model_copy(update={"version": 2}))
    with pytest.raises(ValueError, match="starts with OrderPlaced"):
        model.initial(placed_event().model_copy(update={"type": EventType.STOCK_RESERVED}))


@pytest.mark.parametrize("status", list(OrderStatus))
def test_replay_folds_history_to_the_same_order(status: OrderStatus) -> None:
    assert model.replay(history_to(status)) == order_in(status)


def test_replay_orders_events_by_version() -> None:
    events = history_to(OrderStatus.COMPLETED)
    assert model.replay(list(reversed(events))) == order_in(OrderStatus.COMPLETED)


def test_replay_rejects_gaps_empty_histories_and_bad_sequences() -> None:
    events = history_to(OrderStatus.SHIPPED)
    with pytest.raises(ValueError, match="does not follow"):
        model.replay([events[0], *events[2:]])
    with pytest.raises(ValueError, match="no events"):
        model.replay([])
    with pytest.raises(ValueError, match="starts with OrderPlaced"):
        model.replay(events[1:])
    bad = [events[0], OrderEvent(version=2, type=EventType.ORDER_SHIPPED, at=AT)]
    with pytest.raises(InvalidTransition):
        model.replay(bad)


@pytest.mark.parametrize(
    "path",
    [
        [EventType.STOCK_RESERVED, EventType.PAYMENT_DECLINED, EventType.STOCK_RELEASED],
        [EventType.STOCK_RESERVED, EventType.ORDER_CANCELLED, EventType.PAYMENT_VOIDED],
        [
            EventType.STOCK_RESERVED,
            EventType.PAYMENT_CAPTURED,
            EventType.ORDER_CANCELLED,
            EventType.PAYMENT_REFUNDED,
            EventType.STOCK_RELEASED,
            EventType.CANCELLATION_COMPLETED,
        ],
    ],
    ids="-".join,
)
def test_replay_folds_compensation_to_the_same_order(path: list[EventType]) -> None:
    events = [placed_event()]
    order = model.initial(events[0])
    for type_ in path:
        events.append(event(order, type_))
        order = model.apply(order, events[-1])

    assert model.replay(list(reversed(events))) == order


def test_public_view_hides_stock_released() -> None:
    from chalicelib.orders.views import public

    body = public(order_in(OrderStatus.PLACED))
    assert "stockReleased" not in body
    assert "openPayment" not in body
    assert body["status"] == "PLACED"
    assert body["items"][0]["unitPriceCents"] == 150
