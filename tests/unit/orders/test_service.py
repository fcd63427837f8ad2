"""OrderService over the in-memory repositories: the real rules, no AWS."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.catalog.model import Product
from chalicelib.catalog.service import CatalogService
from chalicelib.orders.events import typed
from chalicelib.orders.model import EventType, Order, OrderEvent, OrderStatus
from chalicelib.orders.service import OrderService, parse_status
from chalicelib.platform import errors
from tests.support.fakes import FakeAlerts, FakeCatalogRepository, FakeOrderRepository

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}
PRICES = {"A": 150, "B": 999, "C": 1}


@dataclass(frozen=True)
class Who:
    sub: str
    is_admin: bool = False


ADA, BOB, ADMIN = Who("ada"), Who("bob"), Who("ops-1", is_admin=True)


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "items": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}],
        "paymentToken": "tok_ok",
        "shippingAddress": dict(ADDRESS),
    } | overrides


class Clock:
    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> str:
        n = next(self._ticks)
        return f"2025-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z"


@pytest.fixture
def repo() -> FakeOrderRepository:
    return FakeOrderRepository()


@pytest.fixture
def service(repo: FakeOrderRepository) -> OrderService:
    products = FakeCatalogRepository()
    for sku, price in PRICES.items():
        products.put(
            Product(
                sku=sku,
                name=sku,
                priceCents=price,
                stock=100,
                lowStockThreshold=0,
                updatedAt="2025-01-01T00:00:00.000Z",
            )
        )
    ids = (f"order{n}" for n in itertools.count(1))
    return OrderService(
        repo, CatalogService(products, FakeAlerts()), clock=Clock(), new_id=lambda: next(ids)
    )


def invalid(service: OrderService, payload: Any, key: str | None = None) -> errors.InvalidInput:
    with pytest.raises(errors.InvalidInput) as caught:
        service.place("ada", payload, key)
    return caught.value


# --- place ---------------------------------------------------------------------


def test_place_prices_lines_from_the_catalog(
    service: OrderService, repo: FakeOrderRepository
) -> None:
    order, created = service.place("ada", body())

    assert created is True
    assert order.status is OrderStatus.PLACED
    assert order.customerId == "ada"
    assert [(i.sku, i.quantity, i.unitPriceCents, i.lineTotalCents) for i in order.items] == [
        ("A", 2, 150, 300),
        ("B", 1, 999, 999),
    ]
    assert order.totalCents == 1299
    assert repo.get(order.orderId) == order
    assert repo.payment_token(order.orderId) == "tok_ok"
    assert [e.type for e in repo.events(order.orderId)] == [EventType.ORDER_PLACED]


def test_a_client_sent_price_is_an_unknown_field(service: OrderService) -> None:
    payload = body(items=[{"sku": "A", "quantity": 1, "unitPriceCents": 1}])
    err = invalid(service, payload)
    assert "items.0.unitPriceCents" in err.message
    assert err.errors[0]["loc"] == ["items", 0, "unitPriceCents"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(coupon="FREE"), "coupon"),
        (body(shippingAddress=ADDRESS | {"floor": 3}), "shippingAddress.floor"),
        (body(items=[{"sku": "A", "quantity": 0}]), "items.0.quantity"),
        (body(items=[{"sku": "A", "quantity": 1001}]), "items.0.quantity"),
        (body(items=[{"sku": "A", "quantity": 1.5}]), "items.0.quantity"),
        (body(items=[{"sku": "A", "quantity": "2"}]), "items.0.quantity"),
        (body(items=[{"sku": "A", "quantity": True}]), "items.0.quantity"),
        (body(items=[{"sku": "A"}]), "items.0.quantity"),
        (body(items=[{"sku": "A B", "quantity": 1}]), "items.0.sku"),
        (body(items=[]), "items"),
        (body(items=[{"sku": f"S{i}", "quantity": 1} for i in range(51)]), "items"),
        (body(shippingAddress=ADDRESS | {"country": "Germany"}), "shippingAddress.country"),
        (body(shippingAddress=ADDRESS | {"country": "de"}), "shippingAddress.country"),
        (body(shippingAddress=ADDRESS | {"city": ""}), "shippingAddress.city"),
        (body(paymentToken=""), "paymentToken"),
        ({"items": [{"sku": "A", "quantity": 1}], "shippingAddress": ADDRESS}, "paymentToken"),
    ],
)
def test_invalid_order_names_the_field(
    service: OrderService, payload: dict[str, Any], field: str
) -> None:
    err = invalid(service, payload)
    assert err.message.startswith(f"{field}: ")
    assert ".".join(str(p) for p in err.errors[0]["loc"]) == field


def test_duplicate_skus_are_named(service: OrderService) -> None:
    err = invalid(service, body(items=[{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]))
    assert "sku A appears more than once" in err.message


@pytest.mark.parametrize("payload", [None, [], "order", 3])
def test_a_body_that_is_not_an_object_is_invalid(service: OrderService, payload: Any) -> None:
    assert "JSON object" in invalid(service, payload).message


def test_fifty_items_pass_validation(service: OrderService) -> None:
    items = [{"sku": "A", "quantity": 1}] + [{"sku": f"X{i}", "quantity": 1} for i in range(49)]
    err = invalid(service, body(items=items))
    # Past validation: the only complaint is that X0..X48 are not in the catalog.
    assert err.message.startswith("unknown sku: X0, X1")
    assert len(err.errors) == 49


def test_unknown_skus_are_named_with_their_position(
    service: OrderService, repo: FakeOrderRepository
) -> None:
    payload = body(
        items=[
            {"sku": "A", "quantity": 1},
            {"sku": "NOPE", "quantity": 1},
            {"sku": "B", "quantity": 1},
            {"sku": "GONE", "quantity": 2},
        ]
    )
    err = invalid(service, payload)

    assert err.message == "unknown sku: NOPE, GONE"
    assert [e["loc"] for e in err.errors] == [["items", 1, "sku"], ["items", 3, "sku"]]
    assert repo.all_order_ids() == []


# --- idempotency -------------------------------------------------------------------


def test_same_key_and_body_returns_the_same_order(
    service: OrderService, repo: FakeOrderRepository
) -> None:
    first, created = service.place("ada", body(), "key-1")
    again, created_again = service.place("ada", body(), "key-1")

    assert (created, created_again) == (True, False)
    assert again == first
    assert repo.all_order_ids() == [first.orderId]


def test_same_key_other_body_conflicts(service: OrderService, repo: FakeOrderRepository) -> None:
    service.place("ada", body(), "key-1")
    with pytest.raises(errors.Conflict, match="different request body"):
        service.place("ada", body(paymentToken="tok_declined"), "key-1")
    assert len(repo.all_order_ids()) == 1


def test_idempotency_keys_are_scoped_per_customer(service: OrderService) -> None:
    ada_order, _ = service.place("ada", body(), "shared-key")
    bob_order, bob_created = service.place("bob", body(), "shared-key")

    assert bob_created is True
    assert bob_order.orderId != ada_order.orderId
    assert bob_order.customerId == "bob"


def test_without_a_key_every_call_creates_an_order(service: OrderService) -> None:
    first, _ = service.place("ada", body())
    second, created = service.place("ada", body())
    assert created is True
    assert second.orderId != first.orderId


@pytest.mark.parametrize("key", ["", "k" * 256, "line\nbreak", "tab\there", "\x00"])
def test_bad_idempotency_keys_are_invalid(service: OrderService, key: str) -> None:
    assert "Idempotency-Key" in invalid(service, body(), key).message


def test_longest_idempotency_key_is_accepted(service: OrderService) -> None:
    _, created = service.place("ada", body(), "k" * 255)
    assert created is True


def test_an_expired_idempotency_key_starts_a_new_order() -> None:
    now = [1_700_000_000.0]
    repo = FakeOrderRepository(clock=lambda: now[0])
    products = FakeCatalogRepository()
    products.put(
        Product(
            sku="A",
            name="A",
            priceCents=150,
            stock=1,
            lowStockThreshold=0,
            updatedAt="2025-01-01T00:00:00.000Z",
        )
    )
    service = OrderService(repo, CatalogService(products, FakeAlerts()))
    first, _ = service.place("ada", body(items=[{"sku": "A", "quantity": 1}]), "key")

    now[0] += 25 * 3600
    second, created = service.place("ada", body(items=[{"sku": "A", "quantity": 1}]), "key")

    assert created is True
    assert second.orderId != first.orderId


# --- reading -------------------------------------------------------------------------


def test_get_and_events_are_visible_to_the_owner_and_admins(service: OrderService) -> None:
    order, _ = service.place("ada", body())

    assert service.get(order.orderId, ADA) == order
    assert service.get(order.orderId, ADMIN) == order
    assert [e.version for e in service.events(order.orderId, ADMIN)] == [1]
    assert [e.type for e in service.events(order.orderId, ADA)] == [EventType.ORDER_PLACED]


def test_other_customers_get_not_found(service: OrderService) -> None:
    order, _ = service.place("ada", body())

    with pytest.raises(errors.NotFound):
        service.get(order.orderId, BOB)
    with pytest.raises(errors.NotFound):
        service.events(order.orderId, BOB)
    with pytest.raises(errors.NotFound):
        service.cancel(order.orderId, BOB)
    assert service.get(order.orderId, ADA).status is OrderStatus.PLACED


@pytest.mark.parametrize("order_id", ["missing", "", "x" * 65, "../etc", "a-b"])
def test_unknown_or_implausible_ids_are_not_found(service: OrderService, order_id: str) -> None:
    with pytest.raises(errors.NotFound):
        service.get(order_id, ADMIN)


def test_events_come_in_version_order(service: OrderService) -> None:
    order, _ = service.place("ada", body())
    reserved, _ = service.record(order, typed(EventType.STOCK_RESERVED, {}))
    service.record(reserved, typed(EventType.PAYMENT_CAPTURED, {"chargeId": "ch_1"}))

    events = service.events(order.orderId, ADA)
    assert [(e.version, e.type) for e in events] == [
        (1, EventType.ORDER_PLACED),
        (2, EventType.STOCK_RESERVED),
        (3, EventType.PAYMENT_CAPTURED),
    ]
    assert events[2].data == {"chargeId": "ch_1"}


def test_list_is_newest_first_and_pages(service: OrderService) -> None:
    ids = [service.place("ada", body())[0].orderId for _ in range(5)]
    service.place("bob", body())

    first = service.list_orders(ADA, None, 2, None)
    second = service.list_orders(ADA, "ada", 2, first.last_key)
    third = service.list_orders(ADA, None, 2, second.last_key)

    listed = [o.orderId for page in (first, second, third) for o in page.orders]
    assert listed == list(reversed(ids))
    assert first.last_key is not None
    assert set(first.last_key) == {"pk", "sk", "customerId", "createdAt"}
    assert third.last_key is None


def test_a_customer_cannot_list_another_customers_orders(service: OrderService) -> None:
    service.place("bob", body())
    with pytest.raises(errors.Forbidden):
        service.list_orders(ADA, "bob", 10, None)


def test_an_admin_lists_any_customer(service: OrderService) -> None:
    order, _ = service.place("bob", body())
    assert [o.orderId for o in service.list_orders(ADMIN, "bob", 10, None).orders] == [
        order.orderId
    ]
    assert service.list_orders(ADMIN, "ops-1", 10, None).orders == []


def test_an_admin_without_a_customer_lists_every_order_newest_first(
    service: OrderService,
) -> None:
    ids = [service.place(who, body())[0].orderId for who in ("ada", "bob", "ada")]
    listed = service.list_orders(ADMIN, None, 10, None)
    assert [o.orderId for o in listed.orders] == list(reversed(ids))
    # A customer without a customer id still lists their own only.
    assert [o.orderId for o in service.list_orders(ADA, None, 10, None).orders] == [
        ids[2],
        ids[0],
    ]


def test_a_listing_by_status_keeps_only_that_status(service: OrderService) -> None:
    kept, _ = service.place("ada", body())
    cancelled, _ = service.place("ada", body())
    service.cancel(cancelled.orderId, ADA)
    service.place("bob", body())

    def ids(who: Who, customer: str | None, status: OrderStatus) -> list[str]:
        return [o.orderId for o in service.list_orders(who, customer, 10, None, status).orders]

    assert ids(ADA, None, OrderStatus.CANCELLING) == [cancelled.orderId]
    assert ids(ADA, None, OrderStatus.PLACED) == [kept.orderId]
    assert ids(ADMIN, "ada", OrderStatus.PLACED) == [kept.orderId]
    assert len(ids(ADMIN, None, OrderStatus.PLACED)) == 2
    assert ids(ADMIN, None, OrderStatus.COMPLETED) == []
    with pytest.raises(errors.Forbidden):
        service.list_orders(BOB, "ada", 10, None, OrderStatus.PLACED)


@pytest.mark.parametrize("raw", ["", "placed", "DONE", "PLACED "])
def test_an_unknown_status_is_refused_naming_the_parameter(raw: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        parse_status(raw)
    assert caught.value.errors == [
        {"loc": ["query", "status"], "msg": f"one of {', '.join(OrderStatus)}"}
    ]


def test_a_known_status_or_none_parses() -> None:
    assert parse_status(None) is None
    assert [parse_status(s) for s in OrderStatus] == list(OrderStatus)


def test_a_cursor_from_another_customer_is_invalid(service: OrderService) -> None:
    for _ in range(3):
        service.place("bob", body())
    bobs_cursor = service.list_orders(BOB, None, 1, None).last_key
    with pytest.raises(errors.InvalidInput):
        service.list_orders(ADA, None, 1, bobs_cursor)


# --- cancel --------------------------------------------------------------------------


# What each event must carry (its class says so) when a test records it bare.
STEP_DATA: dict[EventType, dict[str, str]] = {
    EventType.ORDER_SHIPPED: {"trackingNumber": "TRK-1"},
    EventType.ORDER_CANCELLED: {"reason": "cancelled in a test"},
    EventType.ORDER_REJECTED: {"reason": "rejected in a test"},
    EventType.PAYMENT_DECLINED: {"reason": "declined in a test"},
}


def advance(service: OrderService, order: Order, *steps: EventType) -> Order:
    for step in steps:
        order, applied = service.record(
            order,
            typed(step, STEP_DATA.get(step, {})),
        )
        assert applied
    return order


CANCELLABLE_PATHS = {
    OrderStatus.PLACED: (),
    OrderStatus.RESERVED: (EventType.STOCK_RESERVED,),
    OrderStatus.PAID: (EventType.STOCK_RESERVED, EventType.PAYMENT_CAPTURED),
}
FINAL_PATHS = {
    OrderStatus.SHIPPED: (
        EventType.STOCK_RESERVED,
        EventType.PAYMENT_CAPTURED,
        EventType.ORDER_SHIPPED,
    ),
    OrderStatus.COMPLETED: (
        EventType.STOCK_RESERVED,
        EventType.PAYMENT_CAPTURED,
        EventType.ORDER_SHIPPED,
        EventType.ORDER_COMPLETED,
    ),
    OrderStatus.REJECTED: (EventType.ORDER_REJECTED,),
    OrderStatus.CANCELLING: (EventType.ORDER_CANCELLED,),
    OrderStatus.CANCELLED: (
        EventType.ORDER_CANCELLED,
        EventType.STOCK_RELEASED,
        EventType.CANCELLATION_COMPLETED,
    ),
}


@pytest.mark.parametrize("status", list(CANCELLABLE_PATHS))
def test_cancel_before_shipping(service: OrderService, status: OrderStatus) -> None:
    order = advance(service, service.place("ada", body())[0], *CANCELLABLE_PATHS[status])

    cancelled = service.cancel(order.orderId, ADA)

    # Accepted, not done: CANCELLED once the stock is back and the payment settled.
    assert cancelled.status is OrderStatus.CANCELLING
    assert cancelled.reason == "cancelled by the customer"
    assert cancelled.version == order.version + 1
    assert service.events(order.orderId, ADA)[-1].type is EventType.ORDER_CANCELLED


def test_an_admin_cancelling_says_so(service: OrderService) -> None:
    order, _ = service.place("ada", body())
    assert service.cancel(order.orderId, ADMIN).reason == "cancelled by an admin"


# CANCELLING is not terminal, but a cancel is already under way: a second one conflicts.
@pytest.mark.parametrize("status", list(FINAL_PATHS))
def test_cancel_after_shipping_or_at_the_end_conflicts(
    service: OrderService, status: OrderStatus
) -> None:
    order = advance(service, service.place("ada", body())[0], *FINAL_PATHS[status])

    with pytest.raises(errors.Conflict, match=str(status)):
        service.cancel(order.orderId, ADA)
    assert service.get(order.orderId, ADA).version == order.version


# --- record ----------------------------------------------------------------------------


def test_a_duplicate_event_is_a_no_op(service: OrderService, repo: FakeOrderRepository) -> None:
    order, _ = service.place("ada", body())
    reserved, applied = service.record(order, typed(EventType.STOCK_RESERVED, {}))
    again, applied_again = service.record(order, typed(EventType.STOCK_RESERVED, {}))

    assert (applied, applied_again) == (True, False)
    assert again == reserved
    assert len(repo.events(order.orderId)) == 2


def test_an_event_that_may_not_follow_is_a_no_op(
    service: OrderService, repo: FakeOrderRepository
) -> None:
    order, _ = service.place("ada", body())
    same, applied = service.record(order, typed(EventType.ORDER_SHIPPED, {"trackingNumber": "T"}))

    assert applied is False
    assert same == order
    assert len(repo.events(order.orderId)) == 1


def test_a_stale_snapshot_rereads_and_applies_if_still_valid(service: OrderService) -> None:
    placed, _ = service.place("ada", body())
    service.record(placed, typed(EventType.STOCK_RESERVED, {}))

    cancelled, applied = service.record(
        placed, typed(EventType.ORDER_CANCELLED, {"reason": "late"})
    )

    assert applied is True
    assert (cancelled.status, cancelled.version, cancelled.reason) == (
        OrderStatus.CANCELLING,
        3,
        "late",
    )


def test_a_stale_snapshot_is_a_no_op_when_the_event_no_longer_fits(service: OrderService) -> None:
    reserved, _ = service.record(
        service.place("ada", body())[0], typed(EventType.STOCK_RESERVED, {})
    )
    service.record(reserved, typed(EventType.PAYMENT_DECLINED, {"reason": "declined"}))

    current, applied = service.record(reserved, typed(EventType.PAYMENT_CAPTURED, {}))

    assert applied is False
    assert current.status is OrderStatus.CANCELLING


def test_record_keeps_the_payment_token_only_while_unsettled(
    service: OrderService, repo: FakeOrderRepository
) -> None:
    order, _ = service.place("ada", body())
    reserved, _ = service.record(order, typed(EventType.STOCK_RESERVED, {}), payment_token="tok_ok")
    assert repo.payment_token(order.orderId) == "tok_ok"
    service.record(reserved, typed(EventType.PAYMENT_CAPTURED, {}), payment_token="tok_ok")
    assert repo.payment_token(order.orderId) is None


def test_record_on_a_vanished_order_is_not_found(service: OrderService) -> None:
    order, _ = service.place("ada", body())
    ghost = order.model_copy(update={"orderId": "ghost"})
    with pytest.raises(errors.NotFound):
        service.record(ghost, typed(EventType.STOCK_RESERVED, {}))


# --- replay ----------------------------------------------------------------------------


def test_record_many_completes_a_cancellation_only_with_its_last_compensation(
    service: OrderService, repo: FakeOrderRepository
) -> None:
    order = advance(
        service,
        service.place("ada", body())[0],
        EventType.STOCK_RESERVED,
        EventType.ORDER_CANCELLED,
    )
    completed = typed(EventType.CANCELLATION_COMPLETED, {})

    released, applied = service.record_many(
        order, [typed(EventType.STOCK_RELEASED, {"lines": []}), completed]
    )
    assert applied and released.status is OrderStatus.CANCELLING  # the payment is still open
    # From the stale snapshot: re-read, then both the settlement and the completion fit.
    done, applied = service.record_many(order, [typed(EventType.PAYMENT_VOIDED, {}), completed])
    again, applied_again = service.record_many(
        done, [typed(EventType.PAYMENT_VOIDED, {}), completed]
    )

    assert applied and done.status is OrderStatus.CANCELLED
    assert (applied_again, again) == (False, done)
    assert [e.type for e in repo.events(order.orderId)][-3:] == [
        EventType.STOCK_RELEASED,
        EventType.PAYMENT_VOIDED,
        EventType.CANCELLATION_COMPLETED,
    ]
    assert service.replay(order.orderId) == []


def test_replay_finds_nothing_wrong_with_consistent_orders(service: OrderService) -> None:
    order = advance(service, service.place("ada", body())[0], *FINAL_PATHS[OrderStatus.COMPLETED])
    service.place("bob", body())

    assert service.replay(order.orderId) == []
    assert service.replay_all() == (2, [])


def test_replay_detects_a_tampered_order(service: OrderService, repo: FakeOrderRepository) -> None:
    order, _ = service.place("ada", body())
    advance(service, order, EventType.STOCK_RESERVED)
    repo.corrupt(order.orderId, status=OrderStatus.PAID, totalCents=1)

    mismatches = service.replay(order.orderId)

    # The total is one of the placed fields: its event's digest no longer matches.
    assert [(m.field, m.stored) for m in mismatches] == [("history", "valid")]
    assert "differ from its OrderPlaced event" in str(mismatches[0].replayed)
    assert all(m.order_id == order.orderId for m in mismatches)
    assert service.replay_all()[1] == mismatches

    repo.corrupt(order.orderId, totalCents=1299)  # the placed fields back: the status differs
    assert {(m.field, m.stored, m.replayed) for m in service.replay(order.orderId)} == {
        ("status", "PAID", "RESERVED"),
    }


def test_replay_reports_an_unfoldable_history(
    service: OrderService, repo: FakeOrderRepository
) -> None:
    order, _ = service.place("ada", body())
    # A buggy writer skipped versions 2 and 3, then appended a shipment.
    repo.corrupt(order.orderId, version=3)
    corrupt = order.model_copy(update={"version": 3})
    repo.append(
        corrupt,
        corrupt.model_copy(update={"version": 4}),
        OrderEvent(version=4, type=EventType.ORDER_SHIPPED, at="t"),
    )

    mismatches = service.replay(order.orderId)
    assert [m.field for m in mismatches] == ["history"]
    assert "OrderShipped cannot follow PLACED" in str(mismatches[0].replayed)


def test_replay_of_an_unknown_order_is_not_found(service: OrderService) -> None:
    with pytest.raises(errors.NotFound):
        service.replay("nope")


def test_an_event_never_goes_back_in_time_when_a_clock_is_behind(repo: FakeOrderRepository) -> None:
    """A sweep ahead of the steps' clocks (the local stack's, moved forward)
    cancels an order; the step that records the next change has a clock
    behind that cancel: its event takes the cancel's time, so the order's
    history stays in time order and its updatedAt is its last change's."""
    now = ["2025-01-01T00:00:00.000Z"]
    products = FakeCatalogRepository()
    products.put(
        Product(sku="A", name="A", priceCents=1, stock=9, lowStockThreshold=0, updatedAt=now[0])
    )
    service = OrderService(repo, CatalogService(products, FakeAlerts()), clock=lambda: now[0])
    order, _ = service.place("ada", body(items=[{"sku": "A", "quantity": 1}]))
    ahead = "2025-01-01T00:30:00.000Z"
    cancelled = service.time_out(order, ahead)
    assert cancelled is not None and cancelled.updatedAt == ahead

    now[0] = "2025-01-01T00:00:05.000Z"  # the step's clock: behind the sweep's
    released, applied = service.record(cancelled, typed(EventType.STOCK_RELEASED, {}))

    assert applied and released.updatedAt == ahead
    assert [e.at for e in service.events(order.orderId, ADA)] == [
        "2025-01-01T00:00:00.000Z",
        ahead,
        ahead,
    ]
    now[0] = "2025-01-01T01:00:00.000Z"  # and a clock ahead of it is taken as it is
    done, _ = service.record(released, typed(EventType.CANCELLATION_COMPLETED, {}))
    assert done.updatedAt == now[0]
