"""One contract per repository role, run against the in-memory fake and against
the DynamoDB implementation on moto (tables deployed from infra/resources.yaml),
so the fakes the unit tests rely on behave like the real thing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.catalog.dynamo import DynamoCatalogRepository, DynamoImportBook
from chalicelib.catalog.importing import ImportRecord, RowError
from chalicelib.catalog.model import MAX_STOCK, Line, Product, ProductDetails
from chalicelib.catalog.ports import ImportProgress, StockChange, StockConflict
from chalicelib.catalog.service import CatalogService
from chalicelib.orders import dynamo as order_repository
from chalicelib.orders import model, record
from chalicelib.orders.dynamo import DynamoOrderRepository, IdempotencyRecord
from chalicelib.orders.model import EventType, Order, OrderEvent, OrderStatus
from chalicelib.orders.ports import JointRefused, Page
from chalicelib.orders.relay import order_bus_events
from chalicelib.payments.dynamo import DynamoPaymentRepository
from chalicelib.payments.ports import ProviderUnavailable
from chalicelib.payments.simulated import SimulatedProvider
from chalicelib.platform import dynamo, errors
from tests.support.fakes import (
    FakeAlerts,
    FakeCatalogRepository,
    FakeImportBook,
    FakeJoint,
    FakeOrderRepository,
    FakePaymentRepository,
    FakeProvider,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "resources.yaml"
REGION = "us-east-1"
ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}
DAY = 24 * 3600

# moto's CloudFormation skips AWS::SNS::Subscription and AWS::SQS::QueuePolicy,
# which these tests do not need.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse AWS:UserWarning", "ignore:No Moto CloudFormation support:UserWarning"
)


@dataclass(frozen=True)
class Stack:
    outputs: dict[str, str]
    ddb: Any


@pytest.fixture(scope="module")
def deployed() -> Iterator[Stack]:
    """The stack, deployed once for this module: a deployment costs far more
    than emptying its tables before each test."""
    with pytest.MonkeyPatch.context() as mp:
        # Clients resolve their endpoint when created: no override may leak in.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        with mock_aws():
            cfn = session.client("cloudformation")
            cfn.create_stack(
                StackName="eventshop-test",
                TemplateBody=TEMPLATE.read_text(),
                Parameters=[{"ParameterKey": "Stage", "ParameterValue": "test"}],
            )
            described = cfn.describe_stacks(StackName="eventshop-test")["Stacks"][0]
            outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
            yield Stack(outputs, session.client("dynamodb"))


def _empty(ddb: Any, table: str) -> None:
    keys = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
    for page in ddb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression=", ".join(keys)
    ):
        for item in page["Items"]:
            ddb.delete_item(TableName=table, Key=item)


def _forget_stream_records(table: str) -> None:
    # moto deep-copies a table, its stream records included, on every
    # transaction: records piling up over the module would slow each one down.
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    found = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.get(table)
    shard = getattr(found, "stream_shard", None)
    if shard is not None:
        shard.items.clear()


@pytest.fixture
def stack(deployed: Stack, fake_aws_env: None) -> Stack:
    for name in ("OrdersTableName", "ProductsTableName", "PaymentsTableName"):
        _empty(deployed.ddb, deployed.outputs[name])
        _forget_stream_records(deployed.outputs[name])
    return deployed


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


# ==================================================================== orders


def placed(
    order_id: str = "o1", customer: str = "ada", at: str = "2025-01-01T00:00:00.000Z"
) -> tuple[Order, OrderEvent]:
    event = OrderEvent(
        version=1,
        type=EventType.ORDER_PLACED,
        at=at,
        data={
            "orderId": order_id,
            "customerId": customer,
            "items": [{"sku": "A", "quantity": 2, "unitPriceCents": 150, "lineTotalCents": 300}],
            "totalCents": 300,
            "shippingAddress": ADDRESS,
        },
    )
    return model.initial(event), event


def step(
    order: Order,
    type_: EventType,
    data: dict[str, Any] | None = None,
) -> tuple[Order, OrderEvent]:
    event = OrderEvent(
        version=order.version + 1,
        type=type_,
        at=f"2025-01-02T00:00:{order.version:02d}.000Z",
        data=data or {},
    )
    return model.apply(order, event), event


def idem(
    order_id: str, customer: str = "ada", key: str = "key-1", body: str = "body"
) -> IdempotencyRecord:
    return IdempotencyRecord(
        customer,
        hashlib.sha256(key.encode()).hexdigest(),
        hashlib.sha256(body.encode()).hexdigest(),
        order_id,
    )


class OrderRepositoryContract:
    """Subclasses provide ``repo`` (on ``clock``) and ``snapshots(order_id)``:
    the order snapshot each stored event carries, in version order."""

    def create(
        self,
        repo: Any,
        order_id: str = "o1",
        customer: str = "ada",
        at: str = "2025-01-01T00:00:00.000Z",
        record: IdempotencyRecord | None = None,
    ) -> Order:
        order, event = placed(order_id, customer, at)
        repo.create(order, event, "tok_ok", record)
        return order

    # -- create and read
    def test_create_then_read(self, repo: Any) -> None:
        order, event = placed()
        repo.create(order, event, "tok_ok", None)

        assert repo.get("o1") == order
        assert repo.events("o1") == [event]
        assert repo.payment_token("o1") == "tok_ok"

    def test_unknown_orders_read_as_nothing(self, repo: Any) -> None:
        assert repo.get("nope") is None
        assert repo.events("nope") == []
        assert repo.payment_token("nope") is None

    def test_creating_an_existing_order_conflicts(self, repo: Any) -> None:
        original = self.create(repo)
        with pytest.raises(errors.Conflict):
            self.create(repo, at="2025-06-01T00:00:00.000Z")
        assert repo.get("o1") == original
        assert len(repo.events("o1")) == 1

    # -- idempotency
    def test_an_idempotency_record_is_found_by_its_customer_only(self, repo: Any) -> None:
        record = idem("o1")
        self.create(repo, record=record)

        assert repo.find_idempotency("ada", record.key_hash) == record
        assert repo.find_idempotency("bob", record.key_hash) is None
        assert repo.find_idempotency("ada", idem("x", key="other").key_hash) is None

    def test_a_taken_idempotency_key_conflicts_and_writes_nothing(self, repo: Any) -> None:
        self.create(repo, record=idem("o1"))

        with pytest.raises(errors.Conflict):
            self.create(repo, "o2", record=idem("o2"))

        assert repo.get("o2") is None
        assert repo.events("o2") == []
        assert repo.all_order_ids() == ["o1"]

    def test_the_same_key_for_another_customer_is_free(self, repo: Any) -> None:
        self.create(repo, record=idem("o1"))
        self.create(repo, "o2", customer="bob", record=idem("o2", customer="bob"))
        assert repo.find_idempotency("bob", idem("o2").key_hash) == idem("o2", customer="bob")

    def test_an_expired_idempotency_record_is_no_record(self, repo: Any, clock: Clock) -> None:
        record = idem("o1")
        self.create(repo, record=record)
        clock.now += DAY - 60
        assert repo.find_idempotency("ada", record.key_hash) == record

        clock.now += 120
        assert repo.find_idempotency("ada", record.key_hash) is None

    def test_an_expired_idempotency_key_can_be_used_again(self, repo: Any, clock: Clock) -> None:
        self.create(repo, record=idem("o1"))
        clock.now += DAY + 60

        # TTL deletes lazily; until then the old record must not block the key.
        self.create(repo, "o2", record=idem("o2", body="another body"))

        assert repo.find_idempotency("ada", idem("o2").key_hash) == idem("o2", body="another body")
        assert repo.get("o2") is not None

    # -- append
    def test_append_writes_the_state_and_its_event(self, repo: Any) -> None:
        order = self.create(repo)
        reserved, event = step(order, EventType.STOCK_RESERVED)

        assert repo.append(order, reserved, event, "tok_ok") is True
        assert repo.get("o1") == reserved
        assert [(e.version, e.type) for e in repo.events("o1")] == [
            (1, EventType.ORDER_PLACED),
            (2, EventType.STOCK_RESERVED),
        ]

    def test_append_keeps_event_data(self, repo: Any) -> None:
        order = self.create(repo)
        rejected, event = step(
            order, EventType.ORDER_REJECTED, {"reason": "insufficient stock: A", "skus": ["A"]}
        )
        repo.append(order, rejected, event)

        assert repo.get("o1").reason == "insufficient stock: A"
        assert repo.events("o1")[-1].data == {"reason": "insufficient stock: A", "skus": ["A"]}

    def test_append_from_a_stale_version_is_refused(self, repo: Any) -> None:
        order = self.create(repo)
        reserved, event = step(order, EventType.STOCK_RESERVED)
        repo.append(order, reserved, event)

        cancelled, late = step(order, EventType.ORDER_CANCELLED, {"reason": "late"})
        assert repo.append(order, cancelled, late) is False
        assert repo.get("o1") == reserved
        assert [e.type for e in repo.events("o1")] == [
            EventType.ORDER_PLACED,
            EventType.STOCK_RESERVED,
        ]

    def test_append_from_another_status_is_refused(self, repo: Any) -> None:
        order = self.create(repo)
        pretend = order.model_copy(update={"status": OrderStatus.RESERVED})
        paid, event = step(pretend, EventType.PAYMENT_CAPTURED)

        assert repo.append(pretend, paid, event) is False
        assert repo.get("o1") == order
        assert len(repo.events("o1")) == 1

    def test_append_to_a_missing_order_is_refused(self, repo: Any) -> None:
        order, _ = placed("ghost")
        reserved, event = step(order, EventType.STOCK_RESERVED)
        assert repo.append(order, reserved, event) is False
        assert repo.get("ghost") is None

    def test_the_payment_token_is_kept_only_while_unsettled(self, repo: Any) -> None:
        order = self.create(repo)
        reserved, event = step(order, EventType.STOCK_RESERVED)
        repo.append(order, reserved, event, "tok_ok")
        assert repo.payment_token("o1") == "tok_ok"

        paid, event = step(reserved, EventType.PAYMENT_CAPTURED, {"chargeId": "ch_1"})
        repo.append(reserved, paid, event, "tok_ok")
        assert repo.payment_token("o1") is None

    def test_event_snapshots_carry_the_order_and_the_token_until_settled(
        self, repo: Any, snapshots: Callable[[str], list[dict[str, Any]]]
    ) -> None:
        order = self.create(repo)
        reserved, event = step(order, EventType.STOCK_RESERVED)
        repo.append(order, reserved, event, "tok_ok")
        paid, event = step(reserved, EventType.PAYMENT_CAPTURED, {"chargeId": "ch_1"})
        repo.append(reserved, paid, event, "tok_ok")

        taken = snapshots("o1")

        assert [s.get("paymentToken") for s in taken] == ["tok_ok", "tok_ok", None]
        for snapshot, expected in zip(taken, (order, reserved, paid), strict=True):
            snapshot.pop("paymentToken", None)
            assert Order.model_validate(snapshot) == expected

    # -- listing
    def test_list_is_newest_first_across_pages(self, repo: Any) -> None:
        for n in range(5):
            self.create(repo, f"o{n}", at=f"2025-01-0{n + 1}T00:00:00.000Z")
        self.create(repo, "b1", customer="bob", at="2025-01-09T00:00:00.000Z")

        first = repo.list_for_customer("ada", 2, None)
        second = repo.list_for_customer("ada", 2, first.last_key)
        third = repo.list_for_customer("ada", 2, second.last_key)

        pages = [[o.orderId for o in p.orders] for p in (first, second, third)]
        assert pages == [["o4", "o3"], ["o2", "o1"], ["o0"]]
        assert first.last_key == {
            "pk": "ORDER#o3",
            "sk": "ORDER",
            "customerId": "ada",
            "createdAt": "2025-01-04T00:00:00.000Z",
        }
        assert third.last_key is None

    # -- the sweep: each order looked at once as it ages, the open ones watched
    @staticmethod
    def sweep_pages(call: Callable[..., Page], before: str, limit: int = 2) -> list[str]:
        seen: list[str] = []
        start = None
        for _ in range(40):
            page = call(before, limit, start)
            seen += [o.orderId for o in page.orders]
            start = page.last_key
            if start is None:
                return seen
        raise AssertionError("the pages did not end")

    def test_the_sweep_looks_at_each_order_once_and_watches_the_open_ones(self, repo: Any) -> None:
        for n in range(7):
            self.create(repo, f"o{n}", at=f"2025-01-0{n + 1}T00:00:00.000Z")
        done = repo.get("o2")
        rejected, event = step(done, EventType.ORDER_REJECTED, {"reason": "short"})
        assert repo.append(done, rejected, event) is True
        # Placed orders are not watched: nothing in the watched index yet.
        assert self.sweep_pages(repo.open_before, "2025-01-09T00:00:00.000Z") == []

        # The look: the open ones placed before the age (o5, o6 are younger).
        seen = self.sweep_pages(repo.aged, "2025-01-06T00:00:00.000Z")
        assert sorted(seen) == ["o0", "o1", "o3", "o4"]
        assert len(seen) == len(set(seen))
        # Looked at once: the next look has only what aged since.
        assert self.sweep_pages(repo.aged, "2025-01-06T00:00:00.000Z") == []
        assert self.sweep_pages(repo.aged, "2025-01-07T00:00:00.000Z") == ["o5"]
        # And what it found open is watched until it is terminal.
        watched = self.sweep_pages(repo.open_before, "2025-01-09T00:00:00.000Z")
        assert sorted(watched) == ["o0", "o1", "o3", "o4", "o5"]
        o1 = repo.get("o1")
        rejected, event = step(o1, EventType.ORDER_REJECTED, {"reason": "short"})
        assert repo.append(o1, rejected, event) is True
        watched = self.sweep_pages(repo.open_before, "2025-01-09T00:00:00.000Z")
        assert sorted(watched) == ["o0", "o3", "o4", "o5"]
        # A look with an earlier clock than the last one finds nothing new.
        assert self.sweep_pages(repo.aged, "2025-01-03T00:00:00.000Z") == []
        # Watching is not an event: the order reads as it did.
        assert (repo.get("o0").status, repo.get("o0").version) == (OrderStatus.PLACED, 1)

    # -- flows (correlation ids) in the history
    def test_each_event_keeps_the_flow_that_appended_it(
        self, repo: Any, snapshots: Callable[[str], list[dict[str, Any]]]
    ) -> None:
        from chalicelib.platform import correlation

        with correlation.use("flow-a"):
            order = self.create(repo)
            reserved, event = step(order, EventType.STOCK_RESERVED)
            assert repo.append(order, reserved, event, "tok_ok") is True
        with correlation.use("flow-b"):
            cancelled, event = step(reserved, EventType.ORDER_CANCELLED, {"reason": "by ada"})
            assert repo.append(reserved, cancelled, event) is True
            released, event = step(cancelled, EventType.STOCK_RELEASED)
            assert repo.append(cancelled, released, event) is True

        assert [e.type for e in repo.events("o1")] == [
            EventType.ORDER_PLACED,
            EventType.STOCK_RESERVED,
            EventType.ORDER_CANCELLED,
            EventType.STOCK_RELEASED,
        ]
        assert repo.get("o1") == released
        assert len(snapshots("o1")) == 4

    def test_a_stale_write_from_another_flow_is_refused(self, repo: Any) -> None:
        from chalicelib.platform import correlation

        with correlation.use("flow-a"):
            order = self.create(repo)
            reserved, event = step(order, EventType.STOCK_RESERVED)
            assert repo.append(order, reserved, event, "tok_ok") is True
        with correlation.use("flow-b"):
            # Written from a view of the order before the reservation.
            cancelled, event = step(order, EventType.ORDER_CANCELLED, {"reason": "late"})
            assert repo.append(order, cancelled, event) is False
        assert repo.get("o1") == reserved

    def test_list_shows_the_current_state(self, repo: Any) -> None:
        order = self.create(repo)
        reserved, event = step(order, EventType.STOCK_RESERVED)
        repo.append(order, reserved, event)
        assert repo.list_for_customer("ada", 10, None).orders == [reserved]

    def test_list_of_a_customer_without_orders_is_empty(self, repo: Any) -> None:
        self.create(repo)
        page = repo.list_for_customer("bob", 10, None)
        assert (page.orders, page.last_key) == ([], None)

    def test_list_rejects_another_customers_cursor(self, repo: Any) -> None:
        for n in range(3):
            self.create(repo, f"b{n}", customer="bob", at=f"2025-01-0{n + 1}T00:00:00.000Z")
        bobs = repo.list_for_customer("bob", 1, None).last_key
        with pytest.raises(errors.InvalidInput):
            repo.list_for_customer("ada", 1, bobs)

    # -- the admins' listing: every order, newest first, by status
    def pages(self, listing: Callable[[Any], Any], limit: int) -> list[list[str]]:
        """Every page of ``listing(start)`` (each at most ``limit`` orders)."""
        out: list[list[str]] = []
        start = None
        for _ in range(200):
            page = listing(start)
            assert len(page.orders) <= limit
            out.append([o.orderId for o in page.orders])
            start = page.last_key
            if start is None:
                return out
        raise AssertionError("the listing never ended")

    def some_orders(self, repo: Any) -> dict[str, list[str]]:
        """Eight orders of three customers placed a day apart (o7 newest), in
        four statuses; the ids in each status, newest first."""
        for n in range(8):
            customer = ("ada", "bob", "cy")[n % 3]
            self.create(repo, f"o{n}", customer=customer, at=f"2025-01-0{n + 1}T00:00:00.000Z")
        for order_id in ("o1", "o6"):
            done = repo.get(order_id)
            rejected, event = step(done, EventType.ORDER_REJECTED, {"reason": "short"})
            assert repo.append(done, rejected, event) is True
        done = repo.get("o3")
        reserved, event = step(done, EventType.STOCK_RESERVED)
        assert repo.append(done, reserved, event, "tok_ok") is True
        return {
            "PLACED": ["o7", "o5", "o4", "o2", "o0"],
            "REJECTED": ["o6", "o1"],
            "RESERVED": ["o3"],
            "COMPLETED": [],
        }

    def test_every_order_is_listed_newest_first_across_pages(self, repo: Any) -> None:
        self.some_orders(repo)
        pages = self.pages(lambda start: repo.list_all(3, start), 3)
        assert [i for p in pages for i in p] == [f"o{n}" for n in range(7, -1, -1)]
        assert pages[0] == ["o7", "o6", "o5"]  # a full page while more remain
        assert repo.list_all(10, None).orders[1] == repo.get("o6")  # the current state

    def test_a_status_keeps_only_its_orders_across_pages(self, repo: Any) -> None:
        wanted = self.some_orders(repo)
        for name, ids in wanted.items():
            status = OrderStatus(name)
            pages = self.pages(partial(repo.list_all, 2, status=status), 2)
            assert [i for p in pages for i in p] == ids, status
        page = repo.list_all(10, None, OrderStatus.REJECTED)
        assert page.orders == [repo.get("o6"), repo.get("o1")]

    def test_a_customers_orders_by_status(self, repo: Any) -> None:
        self.some_orders(repo)  # ada: o0, o3 (RESERVED), o6 (REJECTED)
        by_status = {
            status: [
                i
                for p in self.pages(partial(repo.list_for_customer, "ada", 1, status=status), 1)
                for i in p
            ]
            for status in (OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.REJECTED)
        }
        assert by_status == {
            OrderStatus.PLACED: ["o0"],
            OrderStatus.RESERVED: ["o3"],
            OrderStatus.REJECTED: ["o6"],
        }

    def test_a_filtered_page_reads_a_bounded_number_of_orders(self, repo: Any) -> None:
        from chalicelib.orders.ports import FILTERED_READS

        self.create(repo, "old", at="2024-12-31T00:00:00.000Z")
        done = repo.get("old")
        rejected, event = step(done, EventType.ORDER_REJECTED, {"reason": "short"})
        assert repo.append(done, rejected, event) is True
        for n in range(FILTERED_READS):
            self.create(repo, f"n{n:03d}", at=f"2025-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z")

        first = repo.list_all(10, None, OrderStatus.REJECTED)
        # The newest FILTERED_READS orders are all PLACED: an empty page, more to come.
        assert (first.orders, first.last_key is None) == ([], False)
        second = repo.list_all(10, first.last_key, OrderStatus.REJECTED)
        assert [o.orderId for o in second.orders] == ["old"]

    def test_a_listing_refuses_another_listings_cursor(self, repo: Any) -> None:
        self.some_orders(repo)
        every = repo.list_all(1, None).last_key
        adas = repo.list_for_customer("ada", 1, None).last_key
        bobs_placed = repo.list_for_customer("bob", 1, None, OrderStatus.PLACED).last_key
        assert None not in (every, adas, bobs_placed)
        with pytest.raises(errors.InvalidInput):
            repo.list_all(1, adas)
        with pytest.raises(errors.InvalidInput):
            repo.list_for_customer("ada", 1, every, OrderStatus.PLACED)
        with pytest.raises(errors.InvalidInput):
            repo.list_for_customer("ada", 1, bobs_placed, OrderStatus.PLACED)
        with pytest.raises(errors.InvalidInput):
            repo.list_all(1, {"of": "anything", "walk": []})

    def test_all_order_ids_lists_orders_only(self, repo: Any) -> None:
        self.create(repo, "o1", record=idem("o1"))
        self.create(repo, "o2", customer="bob")
        repo.mark_notified("o1", "OrderPlaced")
        assert sorted(repo.all_order_ids()) == ["o1", "o2"]

    def test_histories_walk_every_order_with_its_events_and_nothing_else(self, repo: Any) -> None:
        self.create(repo, "o1", record=idem("o1"))
        self.create(repo, "o2", customer="bob")
        repo.mark_notified("o1", "OrderPlaced")

        found = {order.orderId: (order, events()) for order, events in repo.histories()}

        assert sorted(found) == ["o1", "o2"]
        for order_id, (order, events) in found.items():
            assert order == repo.get(order_id)
            assert events == repo.events(order_id) and events[0].type == "OrderPlaced"

    # -- notification markers
    def test_a_notification_is_marked_once_per_type(self, repo: Any) -> None:
        self.create(repo)
        assert repo.mark_notified("o1", "OrderPlaced") is True
        assert repo.mark_notified("o1", "OrderPlaced") is False
        assert repo.mark_notified("o1", "OrderShipped") is True
        assert repo.mark_notified("o2", "OrderPlaced") is True

    def test_an_orders_milestones_are_marked_together_each_once(self, repo: Any) -> None:
        assert repo.mark_notified("o1", "OrderPlaced") is True
        marked = repo.mark_notified_many("o1", ["OrderShipped", "OrderPlaced", "OrderCompleted"])
        assert marked == ["OrderShipped", "OrderCompleted"]
        assert repo.mark_notified_many("o1", ["OrderCompleted", "OrderShipped"]) == []
        assert repo.mark_notified_many("o2", ["OrderPlaced", "OrderPlaced"]) == ["OrderPlaced"]

    def test_unmarking_allows_marking_again(self, repo: Any) -> None:
        repo.mark_notified("o1", "OrderPlaced")
        repo.unmark_notified("o1", "OrderPlaced")
        repo.unmark_notified("o1", "never-marked")
        assert repo.mark_notified("o1", "OrderPlaced") is True
        assert repo.get("o1") is None  # markers are not orders


class TestFakeOrderRepository(OrderRepositoryContract):
    @pytest.fixture
    def repo(self, clock: Clock) -> FakeOrderRepository:
        return FakeOrderRepository(clock=clock)

    @pytest.fixture
    def snapshots(self, repo: FakeOrderRepository) -> Callable[[str], list[dict[str, Any]]]:
        def read(order_id: str) -> list[dict[str, Any]]:
            return [
                dict(message.order)
                for _, old, new in repo.stream()
                if new.get("orderId") == order_id
                for message in record.appended(old, new)
            ]

        return read


class TestDynamoOrderRepository(OrderRepositoryContract):
    @pytest.fixture
    def repo(
        self, stack: Stack, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> DynamoOrderRepository:
        monkeypatch.setattr(order_repository, "time", SimpleNamespace(time=clock))
        return DynamoOrderRepository(stack.outputs["OrdersTableName"], client=stack.ddb)

    @pytest.fixture
    def snapshots(self, stack: Stack) -> Callable[[str], list[dict[str, Any]]]:
        """What the relay reads from the table's stream (moto's records)."""

        def read(order_id: str) -> list[dict[str, Any]]:
            from moto.core.models import DEFAULT_ACCOUNT_ID
            from moto.dynamodb.models import dynamodb_backends

            table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[
                stack.outputs["OrdersTableName"]
            ]
            shard = table.stream_shard
            assert shard is not None
            records = [json.loads(json.dumps(r.to_json(), default=str)) for r in shard.items]
            return [
                dict(message.order)
                for _, message in order_bus_events(records)
                if message.orderId == order_id
            ]

        return read

    def test_a_notification_marker_expires_by_the_tables_ttl(
        self, repo: DynamoOrderRepository, stack: Stack, clock: Clock
    ) -> None:
        assert repo.mark_notified("o-ttl", "OrderPlaced") is True
        item = stack.ddb.get_item(
            TableName=stack.outputs["OrdersTableName"],
            Key={"pk": {"S": "ORDER#o-ttl"}, "sk": {"S": "NOTIFIED"}},
        )["Item"]
        # expiresAt: the orders table's TTL attribute (infra/resources.yaml).
        assert int(item["expiresAt"]["N"]) == int(clock()) + 30 * 24 * 3600


# ================================================================= inventory

T0, T1, T2 = "2025-01-01T00:00:00.000Z", "2025-01-01T00:00:01.000Z", "2025-01-01T00:00:02.000Z"
RESTOCK = StockChange("restock", "ops-1")
COUNTED = StockChange("counted on the shelf", "ops-2")


def product(sku: str, stock: int = 10, price: int = 100) -> Product:
    return Product(
        sku=sku,
        name=f"Product {sku}",
        priceCents=price,
        stock=stock,
        lowStockThreshold=2,
        updatedAt=T0,
    )


class CatalogRepositoryContract:
    """Subclasses provide ``repo`` and ``commit``: a stock change written on
    its own (None), or refused (its reasons, nothing written)."""

    def stocks(self, repo: Any, *skus: str) -> list[int]:
        return [repo.get(s).stock for s in skus]

    def commit(self, change: object) -> list[str] | None:
        raise NotImplementedError

    # -- catalog
    def test_create_then_get_and_a_second_create_writes_nothing(self, repo: Any) -> None:
        assert repo.create(product("A")) == product("A")
        assert repo.get("A") == product("A")
        # Two creates cannot both set the stock: the second finds the sku taken.
        assert repo.create(product("A", stock=3, price=250)) is None
        assert repo.get("A") == product("A")
        assert repo.get("B") is None

    def test_update_details_changes_everything_but_the_stock(self, repo: Any) -> None:
        repo.create(product("A", stock=7))
        details = ProductDetails(name="Renamed", priceCents=999, lowStockThreshold=4)

        updated = repo.update_details("A", details, None, T1)

        assert updated == Product(
            sku="A",
            name="Renamed",
            priceCents=999,
            stock=7,
            lowStockThreshold=4,
            updatedAt=T1,
            version=2,
        )
        assert repo.get("A") == updated
        assert repo.update_details("A", details, 7, T2).version == 3  # the current stock

    def test_update_details_naming_another_stock_conflicts_and_writes_nothing(
        self, repo: Any
    ) -> None:
        repo.create(product("A", stock=7))
        details = ProductDetails(name="Renamed", priceCents=999, lowStockThreshold=4)

        with pytest.raises(StockConflict) as caught:
            repo.update_details("A", details, 10, T1)

        assert caught.value.current == 7
        assert repo.get("A") == product("A", stock=7)

    def test_update_details_of_an_unknown_product_is_not_found(self, repo: Any) -> None:
        details = ProductDetails(name="Ghost", priceCents=1, lowStockThreshold=0)
        for expected in (None, 3):
            with pytest.raises(errors.NotFound):
                repo.update_details("NOPE", details, expected, T1)
        assert repo.get("NOPE") is None

    def test_get_many_returns_the_known_skus(self, repo: Any) -> None:
        for sku in ("A", "B"):
            repo.create(product(sku))
        assert repo.get_many(["A", "Z", "B", "A"]) == {"A": product("A"), "B": product("B")}
        assert repo.get_many([]) == {}

    def test_get_many_beyond_one_batch(self, repo: Any) -> None:
        skus = [f"P{n:03d}" for n in range(101)]
        for sku in skus:
            repo.create(product(sku))
        assert sorted(repo.get_many(skus)) == skus

    def test_list_pages_in_sku_order(self, repo: Any) -> None:
        for sku in ("C", "A", "E", "B", "D"):
            repo.create(product(sku))

        first = repo.list_products(2, None)
        second = repo.list_products(2, first.last_key)
        third = repo.list_products(2, second.last_key)

        pages = [[p.sku for p in page.products] for page in (first, second, third)]
        assert pages == [["A", "B"], ["C", "D"], ["E"]]
        assert first.last_key == {
            "pk": "PRODUCT#B",
            "sk": "PRODUCT",
            "gsi1pk": "PRODUCT",
            "gsi1sk": "B",
        }
        assert third.last_key is None

    def test_list_rejects_a_foreign_cursor(self, repo: Any) -> None:
        repo.create(product("A"))
        with pytest.raises(errors.InvalidInput):
            repo.list_products(
                1, {"pk": "ORDER#o1", "sk": "ORDER", "gsi1pk": "CUSTOMER#ada", "gsi1sk": "x"}
            )

    def test_add_stock(self, repo: Any) -> None:
        repo.create(product("A", stock=1))
        added = repo.adjust_stock("A", 4, T1, RESTOCK)
        assert (added.stock, added.updatedAt) == (5, T1)
        assert repo.get("A") == added
        assert added.version == 2

    def test_add_stock_to_an_unknown_product_is_not_found(self, repo: Any) -> None:
        for delta in (1, -1):
            with pytest.raises(errors.NotFound):
                repo.adjust_stock("NOPE", delta, T1, RESTOCK)
        assert repo.get("NOPE") is None

    def test_remove_stock_down_to_zero_and_not_below(self, repo: Any) -> None:
        repo.create(product("A", stock=5))

        assert repo.adjust_stock("A", -2, T1, COUNTED).stock == 3
        with pytest.raises(StockConflict) as caught:
            repo.adjust_stock("A", -4, T2, COUNTED)  # no clamp to 0
        assert caught.value.current == 3
        assert repo.get("A").updatedAt == T1
        assert repo.adjust_stock("A", -3, T2, COUNTED).stock == 0
        assert self.stocks(repo, "A") == [0]

    def test_add_stock_up_to_the_maximum_and_not_beyond(self, repo: Any) -> None:
        repo.create(product("A", stock=MAX_STOCK - 5))

        with pytest.raises(StockConflict) as caught:
            repo.adjust_stock("A", 6, T1, RESTOCK)
        assert caught.value.current == MAX_STOCK - 5
        assert repo.get("A") == product("A", stock=MAX_STOCK - 5)
        assert repo.adjust_stock("A", 5, T1, RESTOCK).stock == MAX_STOCK
        with pytest.raises(StockConflict):
            repo.adjust_stock("A", 1, T2, RESTOCK)
        assert self.stocks(repo, "A") == [MAX_STOCK]

    def test_restocking_the_maximum_onto_the_maximum_conflicts(self, repo: Any) -> None:
        repo.create(product("A", stock=MAX_STOCK))
        with pytest.raises(StockConflict):
            repo.adjust_stock("A", MAX_STOCK, T1, RESTOCK)
        assert self.stocks(repo, "A") == [MAX_STOCK]

    def test_a_release_past_the_cap_is_refused_or_sets_the_maximum(self, repo: Any) -> None:
        """Restock to the cap while 5 units are reserved, then cancel: the
        release must not take the stock above MAX_STOCK (it used to). Its
        give-back is refused for that line; with ``full`` it sets the maximum."""
        repo.create(product("A", stock=10))
        repo.create(product("B", stock=10))
        lines = [Line(sku="A", quantity=5), Line(sku="B", quantity=2)]
        assert self.commit(repo.take(lines, T1)) is None
        assert repo.adjust_stock("A", MAX_STOCK - 7, T1, RESTOCK).stock == MAX_STOCK - 2
        with pytest.raises(StockConflict):
            repo.adjust_stock("A", 3, T1, RESTOCK)

        assert self.commit(repo.give_back(lines, T2)) == ["ConditionalCheckFailed", "None"]
        assert self.stocks(repo, "A", "B") == [MAX_STOCK - 2, 8]  # all or nothing

        assert self.commit(repo.give_back(lines, T2, frozenset({"A"}))) is None
        assert self.stocks(repo, "A", "B") == [MAX_STOCK, 10]
        with pytest.raises(StockConflict):
            repo.adjust_stock("A", 1, T2, RESTOCK)

    def test_a_release_within_the_cap_adds_the_units_back(self, repo: Any) -> None:
        repo.create(product("A", stock=MAX_STOCK))
        lines = [Line(sku="A", quantity=7)]
        assert self.commit(repo.take(lines, T1)) is None
        assert self.commit(repo.give_back(lines, T2)) is None
        assert self.stocks(repo, "A") == [MAX_STOCK]
        assert repo.get("A").version == 3

    def test_every_change_bumps_the_version(self, repo: Any) -> None:
        repo.create(product("A", stock=5))
        details = ProductDetails(name="Renamed", priceCents=1, lowStockThreshold=0)
        versions = [repo.get("A").version]

        self.commit(repo.take([Line(sku="A", quantity=2)], T1))
        versions.append(repo.get("A").version)
        self.commit(repo.give_back([Line(sku="A", quantity=2)], T1))
        versions.append(repo.get("A").version)
        versions.append(repo.adjust_stock("A", 3, T1, RESTOCK).version)
        versions.append(repo.update_details("A", details, None, T2).version)
        assert self.commit(repo.take([Line(sku="A", quantity=99)], T2))  # short: no change
        versions.append(repo.get("A").version)

        assert versions == [1, 2, 3, 4, 5, 5]

    # -- the catalog service over this repository
    def test_a_put_while_reserved_then_a_cancel_leaves_the_admins_stock(self, repo: Any) -> None:
        """Set 10, one order of 5 reserved, PUT naming stock 10, cancel: the
        stock is 10 (it was 15 when a PUT wrote the whole item)."""
        service = CatalogService(repo, FakeAlerts(), clock=lambda: T1)
        body = {"name": "Mug", "priceCents": 500, "stock": 10, "lowStockThreshold": 2}
        service.put_product("A", body)
        lines = [Line(sku="A", quantity=5)]
        assert self.commit(service.taking(lines)) is None

        with pytest.raises(errors.Conflict) as caught:
            service.put_product("A", body)  # a stale stock
        renamed = service.put_product("A", body | {"name": "Big mug", "stock": 5})
        unnamed = service.put_product("A", {k: v for k, v in body.items() if k != "stock"})
        assert self.commit(service.giving_back(lines)) is None

        assert "the stock of A is 5, not 10" in caught.value.message
        assert (renamed.name, renamed.stock, unnamed.name, unnamed.stock) == (
            "Big mug",
            5,
            "Mug",
            5,
        )
        assert self.stocks(repo, "A") == [10]

    # -- the stock an order takes or gives back (committed alone here; with
    # the order's write in OrderStockContract)
    def test_take_takes_every_line(self, repo: Any) -> None:
        repo.create(product("A", stock=5))
        repo.create(product("B", stock=2))

        assert (
            self.commit(repo.take([Line(sku="A", quantity=5), Line(sku="B", quantity=1)], T1))
            is None
        )

        assert self.stocks(repo, "A", "B") == [0, 1]
        assert repo.get("A").updatedAt == T1

    def test_a_short_take_names_the_short_skus_and_takes_nothing(self, repo: Any) -> None:
        repo.create(product("A", stock=5))
        repo.create(product("B", stock=1))
        repo.create(product("C", stock=3))
        lines = [
            Line(sku="A", quantity=2),
            Line(sku="B", quantity=2),
            Line(sku="C", quantity=3),
            Line(sku="GONE", quantity=1),
        ]

        reasons = self.commit(repo.take(lines, T1))

        assert reasons is not None
        assert CatalogService.shortage(lines, reasons) == ["B", "GONE"]
        assert self.stocks(repo, "A", "B", "C") == [5, 1, 3]
        assert repo.get("A").updatedAt == T0

    def test_give_back_returns_every_line(self, repo: Any) -> None:
        repo.create(product("A", stock=5))
        repo.create(product("B", stock=5))
        lines = [Line(sku="A", quantity=2), Line(sku="B", quantity=5)]
        assert self.commit(repo.take(lines, T1)) is None

        assert self.commit(repo.give_back(lines, T2)) is None

        assert self.stocks(repo, "A", "B") == [5, 5]
        assert repo.get("B").updatedAt == T2

    # -- images
    def test_image_entries_and_the_primary_image_are_kept_on_the_product(self, repo: Any) -> None:
        from chalicelib.catalog.model import ImageEntry, ProductImage

        repo.create(product("A", stock=5))
        state = repo.image_state("A")
        assert state.entries == {} and repo.get("A").image is None
        entry = ImageEntry(state="READY", revision="01", at=T1, thumbnailKeys={"200": "k/200"})
        primary = ProductImage(imageId="i1", thumbnails={"200": "k/200"})
        assert repo.set_images("A", state.version, {"i1": entry}, primary, T1) is True
        after = repo.image_state("A")
        assert after.entries == {"i1": entry} and after.version == state.version + 1
        got = repo.get("A")
        assert got.image == primary and got.stock == 5 and got.updatedAt == T1
        # From a stale version: refused, nothing written.
        assert repo.set_images("A", state.version, {}, None, T2) is False
        assert repo.get("A").image == primary
        # Cleared.
        assert repo.set_images("A", after.version, {"i1": entry}, None, T2) is True
        assert repo.get("A").image is None and repo.get("A").stock == 5

    def test_a_reservation_between_read_and_write_refuses_the_write(self, repo: Any) -> None:
        repo.create(product("A", stock=5))
        state = repo.image_state("A")
        assert self.commit(repo.take([Line(sku="A", quantity=2)], T1)) is None
        assert repo.set_images("A", state.version, {}, None, T2) is False
        assert self.stocks(repo, "A") == [3]

    def test_an_unknown_product_has_no_image_state(self, repo: Any) -> None:
        assert repo.image_state("NOPE-1") is None
        assert repo.set_images("NOPE-1", 0, {}, None, T1) is False


class TestFakeCatalogRepository(CatalogRepositoryContract):
    @pytest.fixture
    def repo(self) -> FakeCatalogRepository:
        return FakeCatalogRepository()

    def commit(self, change: object) -> list[str] | None:
        assert isinstance(change, FakeJoint)
        return change.commit()

    def test_a_stock_change_keeps_its_reason(self, repo: FakeCatalogRepository) -> None:
        repo.create(product("A"))
        repo.adjust_stock("A", -1, T1, COUNTED)
        assert repo.last_stock_change("A") == COUNTED


class TestDynamoCatalogRepository(CatalogRepositoryContract):
    @pytest.fixture
    def repo(self, stack: Stack) -> DynamoCatalogRepository:
        self.ddb = stack.ddb
        return DynamoCatalogRepository(stack.outputs["ProductsTableName"], client=stack.ddb)

    def commit(self, change: object) -> list[str] | None:
        assert isinstance(change, dynamo.Joint)
        try:
            self.ddb.transact_write_items(TransactItems=list(change.items))
        except self.ddb.exceptions.TransactionCanceledException as exc:
            return dynamo.cancellation_codes(exc)
        return None

    def item(self, stack: Stack, sku: str) -> dict[str, Any]:
        return dynamo.from_item(
            stack.ddb.get_item(
                TableName=stack.outputs["ProductsTableName"],
                Key={"pk": {"S": f"PRODUCT#{sku}"}, "sk": {"S": "PRODUCT"}},
                ConsistentRead=True,
            )["Item"]
        )

    def test_a_stock_change_keeps_its_reason_on_the_item(
        self, repo: DynamoCatalogRepository, stack: Stack
    ) -> None:
        repo.create(product("A"))
        repo.adjust_stock("A", -1, T1, COUNTED)
        assert self.item(stack, "A")["lastStockChange"] == {
            "delta": -1,
            "reason": "counted on the shelf",
            "by": "ops-2",
            "at": T1,
        }

    def test_a_product_stored_before_versions_reads_as_version_0(
        self, repo: DynamoCatalogRepository, stack: Stack
    ) -> None:
        legacy = {**product("A").model_dump(), "pk": "PRODUCT#A", "sk": "PRODUCT"}
        del legacy["version"]
        stack.ddb.put_item(
            TableName=stack.outputs["ProductsTableName"], Item=dynamo.to_item(legacy)
        )

        stored = repo.get("A")
        assert stored is not None and stored.version == 0
        assert repo.adjust_stock("A", 1, T1, RESTOCK).version == 1


# ============================================================ order + stock


LINES = [Line(sku="A", quantity=2)]  # what ``placed()`` orders


class OrderStockContract:
    """The stock an order takes and gives back, committed with the order's
    own event in one write (``joined``), or not at all. Subclasses provide
    ``orders`` and ``catalog`` of one store."""

    def reserve(self, orders: Any, catalog: Any, order: Order) -> tuple[Order, bool]:
        after, event = step(order, EventType.STOCK_RESERVED)
        return after, orders.append(order, after, event, "tok_ok", catalog.take(LINES, T1))

    def test_stock_reserved_takes_the_stock_in_the_same_write(
        self, orders: Any, catalog: Any
    ) -> None:
        catalog.create(product("A", stock=5))
        order, event = placed()
        orders.create(order, event, "tok_ok", None)

        after, written = self.reserve(orders, catalog, order)

        assert written is True
        assert orders.get("o1") == after and after.stockHeld
        assert catalog.get("A").stock == 3

    def test_a_short_take_writes_neither_the_order_nor_the_stock(
        self, orders: Any, catalog: Any
    ) -> None:
        catalog.create(product("A", stock=1))
        order, event = placed()
        orders.create(order, event, "tok_ok", None)

        with pytest.raises(JointRefused) as refused:
            self.reserve(orders, catalog, order)

        assert CatalogService.shortage(LINES, refused.value.reasons) == ["A"]
        assert orders.get("o1") == order
        assert catalog.get("A").stock == 1

    def test_a_second_reservation_of_the_order_takes_nothing(
        self, orders: Any, catalog: Any
    ) -> None:
        catalog.create(product("A", stock=5))
        order, event = placed()
        orders.create(order, event, "tok_ok", None)
        after, _ = self.reserve(orders, catalog, order)

        again = self.reserve(orders, catalog, order)  # a redelivered OrderPlaced

        assert again[1] is False
        assert (orders.get("o1"), catalog.get("A").stock) == (after, 3)

    def test_a_cancel_that_comes_first_leaves_the_reservation_nothing_to_take(
        self, orders: Any, catalog: Any
    ) -> None:
        catalog.create(product("A", stock=5))
        order, event = placed()
        orders.create(order, event, "tok_ok", None)
        cancelled, cancel = step(order, EventType.ORDER_CANCELLED, {"reason": "by ada"})
        assert orders.append(order, cancelled, cancel)

        assert self.reserve(orders, catalog, order)[1] is False
        assert (orders.get("o1"), catalog.get("A").stock) == (cancelled, 5)

    def test_the_release_gives_the_stock_back_once(self, orders: Any, catalog: Any) -> None:
        catalog.create(product("A", stock=5))
        order, event = placed()
        orders.create(order, event, "tok_ok", None)
        reserved, _ = self.reserve(orders, catalog, order)
        cancelled, cancel = step(reserved, EventType.ORDER_CANCELLED, {"reason": "by ada"})
        assert orders.append(reserved, cancelled, cancel)
        released, release = step(cancelled, EventType.STOCK_RELEASED, {"lines": []})

        for _ in range(2):  # the second from the stale view: refused, nothing given
            orders.append(cancelled, released, release, None, catalog.give_back(LINES, T2))

        assert orders.get("o1") == released and not released.stockHeld
        assert catalog.get("A").stock == 5


class TestFakeOrderStock(OrderStockContract):
    @pytest.fixture
    def orders(self) -> FakeOrderRepository:
        return FakeOrderRepository()

    @pytest.fixture
    def catalog(self) -> FakeCatalogRepository:
        return FakeCatalogRepository()


class TestDynamoOrderStock(OrderStockContract):
    @pytest.fixture
    def orders(self, stack: Stack) -> DynamoOrderRepository:
        return DynamoOrderRepository(stack.outputs["OrdersTableName"], client=stack.ddb)

    @pytest.fixture
    def catalog(self, stack: Stack) -> DynamoCatalogRepository:
        return DynamoCatalogRepository(stack.outputs["ProductsTableName"], client=stack.ddb)


# ================================================================== payments


class ImportBookContract:
    """Subclasses provide ``book``."""

    ID = "0123456789abcdef0123456789abcdef"

    def record(self, **fields: Any) -> ImportRecord:
        return ImportRecord.model_validate(
            {
                "importId": self.ID,
                "status": "PENDING",
                "createdAt": T1,
                "updatedAt": T1,
                "uploadExpiresAt": "2025-01-01T00:15:00.000Z",
                "correlationId": "c-1",
                **fields,
            }
        )

    def test_a_record_reads_back_and_is_created_once(self, book: Any) -> None:
        book.create(self.record())
        assert book.get(self.ID) == self.record()
        with pytest.raises(errors.Conflict):
            book.create(self.record())
        assert book.get("f" * 32) is None

    def test_one_claim_at_a_time_until_its_lease_ends(self, book: Any) -> None:
        book.create(self.record())
        claim = book.claim(self.ID, "L1", T1, "2025-01-01T00:05:00.000Z")
        assert claim is not None and claim.lease == "L1"
        assert (claim.record.attempts, claim.progress) == (1, ImportProgress())
        assert (
            book.claim(self.ID, "L2", "2025-01-01T00:04:00.000Z", "2025-01-01T00:09:00.000Z")
            is None
        )
        later = book.claim(self.ID, "L3", "2025-01-01T00:06:00.000Z", "2025-01-01T00:11:00.000Z")
        assert later is not None and later.record.attempts == 2
        assert not book.checkpoint(self.ID, "L1", ImportProgress(next_row=1), T1)  # L1 lost it

    def test_progress_survives_a_released_attempt(self, book: Any) -> None:
        book.create(self.record())
        claim = book.claim(self.ID, "L1", T1, "2025-01-01T00:05:00.000Z")
        refused = (RowError(line=7, message="stock: required to create a product"),)
        progress = ImportProgress(
            next_row=200, created=150, updated=50, refused=refused, refused_count=1
        )
        assert book.checkpoint(self.ID, claim.lease, progress, T1)
        book.release(self.ID, claim.lease, "Transient: throttled", T1)
        assert book.get(self.ID).lastError == "Transient: throttled"
        again = book.claim(self.ID, "L2", T1, "2025-01-01T00:05:00.000Z")
        assert again is not None and again.progress == progress

    def test_finishing_ends_the_lease_and_no_claim_takes_a_finished_import(self, book: Any) -> None:
        book.create(self.record())
        claim = book.claim(self.ID, "L1", T1, "2025-01-01T00:05:00.000Z")
        errors_ = [RowError(line=3, message="sku: bad")]
        outcome = claim.record.model_copy(
            update={
                "status": "DONE",
                "created": 4,
                "updated": 1,
                "errors": errors_,
                "errorCount": 1,
                "updatedAt": T2,
            }
        )
        assert not book.finish(self.ID, "other", outcome)
        assert book.finish(self.ID, "L1", outcome)
        stored = book.get(self.ID)
        assert (stored.status, stored.created, stored.updated, stored.errors) == (
            "DONE",
            4,
            1,
            errors_,
        )
        assert (stored.errorCount, stored.updatedAt, stored.attempts) == (1, T2, 1)
        assert (
            book.claim(self.ID, "L2", "2030-01-01T00:00:00.000Z", "2030-01-01T00:05:00.000Z")
            is None
        )
        assert book.expire(self.ID, "stale", "2030-01-01T00:00:00.000Z") == stored

    def test_expiring_fails_a_free_pending_import_only(self, book: Any) -> None:
        book.create(self.record())
        book.claim(self.ID, "L1", T1, "2025-01-01T00:05:00.000Z")
        held = book.expire(self.ID, "stale", "2025-01-01T00:04:00.000Z")
        assert held is not None and held.status == "PENDING"
        gone = book.expire(self.ID, "stale", "2025-01-01T00:06:00.000Z")
        assert gone is not None and (gone.status, gone.reason) == ("FAILED", "stale")
        assert book.expire("f" * 32, "stale", T1) is None


class TestFakeImportBook(ImportBookContract):
    @pytest.fixture
    def book(self) -> FakeImportBook:
        return FakeImportBook()


class TestDynamoImportBook(ImportBookContract):
    @pytest.fixture
    def book(self, stack: Stack) -> DynamoImportBook:
        return DynamoImportBook(stack.outputs["ProductsTableName"], client=stack.ddb)

    def test_a_record_expires_30_days_after_it_began(self, book: Any, stack: Stack) -> None:
        book.create(self.record())
        item = stack.ddb.get_item(
            TableName=stack.outputs["ProductsTableName"],
            Key={"pk": {"S": f"IMPORT#{self.ID}"}, "sk": {"S": "IMPORT"}},
        )["Item"]
        began = datetime.fromisoformat(T1.replace("Z", "+00:00")).timestamp()
        assert int(item["expiresAt"]["N"]) == int(began) + 30 * 24 * 3600


class PaymentRepositoryContract:
    """Subclasses provide ``repo``."""

    def test_start_claims_the_payment_once(self, repo: Any) -> None:
        assert repo.start("o1", 1299) is None
        existing = repo.start("o1", 1299)
        assert existing is not None
        assert (existing["state"], existing["amountCents"]) == ("PENDING", 1299)

    def test_void_before_any_charge(self, repo: Any) -> None:
        assert repo.void_or_get("o1") is None
        record = repo.start("o1", 500)
        assert record is not None
        assert (record["state"], record["amountCents"]) == ("VOIDED", 0)
        assert repo.void_or_get("o1")["state"] == "VOIDED"

    def test_void_or_get_returns_an_existing_claim_untouched(self, repo: Any) -> None:
        repo.start("o1", 500)
        record = repo.void_or_get("o1")
        assert (record["state"], record["amountCents"]) == ("PENDING", 500)
        assert repo.start("o1", 500)["state"] == "PENDING"

    def test_refunded_flips_a_claim_once(self, repo: Any) -> None:
        repo.start("o1", 500)

        assert repo.refunded("o1") is True
        assert repo.refunded("o1") is False
        assert repo.void_or_get("o1")["state"] == "REFUNDED"

    def test_only_claims_are_marked_refunded(self, repo: Any) -> None:
        repo.void_or_get("voided")
        assert [repo.refunded(o) for o in ("voided", "missing")] == [False, False]
        assert repo.start("voided", 1)["state"] == "VOIDED"


class TestFakePaymentRepository(PaymentRepositoryContract):
    @pytest.fixture
    def repo(self) -> FakePaymentRepository:
        return FakePaymentRepository()


class TestDynamoPaymentRepository(PaymentRepositoryContract):
    @pytest.fixture
    def repo(self, stack: Stack) -> DynamoPaymentRepository:
        return DynamoPaymentRepository(stack.outputs["PaymentsTableName"], client=stack.ddb)

    def test_every_claim_carries_the_tables_ttl_set_once(
        self, repo: DynamoPaymentRepository, stack: Stack
    ) -> None:
        import time

        from chalicelib.payments.dynamo import CLAIM_TTL_SECONDS

        def expires(order_id: str) -> int:
            item = stack.ddb.get_item(
                TableName=stack.outputs["PaymentsTableName"],
                Key={"pk": {"S": f"PAYMENT#{order_id}"}},
                ConsistentRead=True,
            )["Item"]
            return int(item["expiresAt"]["N"])

        repo.start("o1", 300, 1)
        repo.void_or_get("o2")
        first = expires("o1")
        assert abs(first - (time.time() + CLAIM_TTL_SECONDS)) < 60
        assert abs(expires("o2") - (time.time() + CLAIM_TTL_SECONDS)) < 60
        stack.ddb.update_item(
            TableName=stack.outputs["PaymentsTableName"],
            Key={"pk": {"S": "PAYMENT#o1"}},
            UpdateExpression="SET expiresAt = :e",
            ExpressionAttributeValues={":e": {"N": "123"}},
        )
        repo.start("o1", 300, 2)  # a re-claim keeps the claim's first expiry
        assert expires("o1") == 123


# ================================================================== provider


class PaymentProviderContract:
    """The simulated provider's token rules (API.md). Subclasses provide ``provider``."""

    def test_tok_ok_approves_once_per_key(self, provider: Any) -> None:
        first = provider.charge("o1", 500, "tok_ok")
        again = provider.charge("o1", 500, "tok_ok")

        expected = "ch_" + hashlib.sha256(b"o1").hexdigest()[:16]
        assert (first.approved, first.charge_id, first.reason) == (True, expected, None)
        assert again == first
        assert provider.captures("o1") == 1

    @pytest.mark.parametrize(
        ("token", "reason"),
        [("tok_declined", "card declined"), ("tok_whatever", "payment token not recognised")],
    )
    def test_other_tokens_decline(self, provider: Any, token: str, reason: str) -> None:
        first = provider.charge("o1", 500, token)
        assert (first.approved, first.charge_id, first.reason) == (False, None, reason)
        assert provider.charge("o1", 500, "tok_ok") == first  # the key's answer is final
        assert provider.captures("o1") == 0

    def test_tok_flaky_fails_twice_per_key_then_approves(self, provider: Any) -> None:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                provider.charge("o1", 500, "tok_flaky")
        with pytest.raises(ProviderUnavailable):
            provider.charge("o2", 500, "tok_flaky")

        approved = provider.charge("o1", 500, "tok_flaky")

        assert approved.approved
        assert provider.charge("o1", 500, "tok_flaky") == approved
        assert (provider.captures("o1"), provider.captures("o2")) == (1, 0)

    def test_a_refund_leaves_the_charge_answered(self, provider: Any) -> None:
        charged = provider.charge("o1", 500, "tok_ok")
        provider.refund("o1", charged.charge_id)
        assert provider.charge("o1", 500, "tok_ok") == charged
        assert provider.captures("o1") == 1

    def test_refund_returns_a_capture_once_and_nothing_else(self, provider: Any) -> None:
        provider.charge("ok", 500, "tok_ok")
        provider.charge("no", 500, "tok_declined")
        assert provider.refund("ok") is True
        assert provider.refund("ok") is False
        assert provider.refund("no") is False
        assert provider.refund("never-charged") is False


class TestFakeProvider(PaymentProviderContract):
    @pytest.fixture
    def provider(self) -> FakeProvider:
        return FakeProvider()


class TestSimulatedProvider(PaymentProviderContract):
    @pytest.fixture
    def provider(self, stack: Stack) -> SimulatedProvider:
        return SimulatedProvider(stack.outputs["PaymentsTableName"], client=stack.ddb)


# ================================================================= ops


def test_the_watchers_depths_swap_atomically_on_dynamodb(stack: Stack) -> None:
    from chalicelib.ops.dynamo import DynamoDepths

    _empty(stack.ddb, stack.outputs["OpsTableName"])
    depths = DynamoDepths(stack.outputs["OpsTableName"], client=stack.ddb)

    assert depths.swap("q-dlq", 2, "t1") == 0  # first run: nothing seen before
    assert depths.swap("q-dlq", 5, "t2") == 2
    assert depths.swap("other-dlq", 1, "t2") == 0
    assert depths.swap("q-dlq", 0, "t3") == 5
    assert depths.swap("q-dlq", 0, "t4") == 0
    assert depths.swap("q-dlq", 3, "t5") == 0
    assert depths.swap("q-dlq", 3, "t6") == 3  # unchanged: still reported


def _alert(alert_id: str, at: str, kind: str = "SAGA_TIMEOUT") -> Any:
    from chalicelib.platform.alerts import Alert, AlertKind

    return Alert(AlertKind(kind), f"subject {alert_id}", {"n": 1.5, "id": alert_id}, alert_id, at)


class AlertLogContract:
    def test_an_alert_is_recorded_once_per_id(self, log: Any) -> None:
        assert log.record(_alert("a1", "2026-01-01T00:00:00.000Z")) is True
        # The same cause again, later (a re-raised alert): still one record.
        assert log.record(_alert("a1", "2026-01-01T00:05:00.000Z")) is False
        page = log.newest(10, None)
        assert [(a.alert_id, a.at) for a in page.alerts] == [("a1", "2026-01-01T00:00:00.000Z")]
        assert page.alerts[0].data == {"n": 1.5, "id": "a1"}
        assert page.alerts[0].kind == "SAGA_TIMEOUT"

    def test_newest_first_across_pages(self, log: Any) -> None:
        for i, at in enumerate(["02", "01", "04", "03", "05"]):
            log.record(_alert(f"a{i}", f"2026-01-{at}T00:00:00.000Z", "LOW_STOCK"))
        first = log.newest(2, None)
        second = log.newest(2, first.last_key)
        third = log.newest(2, second.last_key)
        ats = [a.at[8:10] for p in (first, second, third) for a in p.alerts]
        assert ats == ["05", "04", "03", "02", "01"]
        assert third.last_key is None

    def test_a_key_of_another_partition_is_refused(self, log: Any) -> None:
        with pytest.raises(errors.InvalidInput):
            log.newest(2, {"pk": "DLQ#x", "sk": "DEPTH"})


class TestFakeAlertLog(AlertLogContract):
    @pytest.fixture
    def log(self) -> Any:
        from tests.support.fakes import FakeAlertLog

        return FakeAlertLog()


class TestDynamoAlertLog(AlertLogContract):
    @pytest.fixture
    def log(self, stack: Stack) -> Any:
        from chalicelib.ops.dynamo import DynamoAlertLog

        _empty(stack.ddb, stack.outputs["OpsTableName"])
        return DynamoAlertLog(stack.outputs["OpsTableName"], client=stack.ddb)

    def test_both_items_carry_the_tables_ttl(self, log: Any, stack: Stack) -> None:
        import time

        from chalicelib.ops.dynamo import ALERT_TTL_SECONDS

        log.record(_alert("a1", "2026-01-01T00:00:00.000Z"))
        items = stack.ddb.scan(TableName=stack.outputs["OpsTableName"])["Items"]
        assert len(items) == 2
        for item in items:
            assert abs(int(item["expiresAt"]["N"]) - (time.time() + ALERT_TTL_SECONDS)) < 60


def test_failure_reasons_are_kept_by_message_id_the_last_one_wins(stack: Stack) -> None:
    import time

    from chalicelib.ops.failures import FAILURE_TTL_SECONDS, DynamoFailureLog

    _empty(stack.ddb, stack.outputs["OpsTableName"])
    log = DynamoFailureLog(stack.outputs["OpsTableName"], client=stack.ddb)
    log.record("m-1", "q", "Transient: first")
    log.record("m-1", "q", "Transient: second")
    for n in range(150):  # more than one BatchGetItem takes
        log.record(f"n-{n}", "q", f"r{n}")
    ids = ["m-1", "unknown", *(f"n-{n}" for n in range(150))]
    found = log.reasons(ids)
    assert found["m-1"] == "Transient: second" and "unknown" not in found
    assert [found[f"n-{n}"] for n in range(150)] == [f"r{n}" for n in range(150)]
    item = stack.ddb.get_item(
        TableName=stack.outputs["OpsTableName"],
        Key={"pk": {"S": "FAILURE#m-1"}, "sk": {"S": "REASON"}},
    )["Item"]
    assert abs(int(item["expiresAt"]["N"]) - (time.time() + FAILURE_TTL_SECONDS)) < 60


# --- analytics ------------------------------------------------------------------------


def _fact(order_id: str, kind: str, day: str = "2026-03-01") -> Any:
    from chalicelib.analytics.model import Fact, Line

    lines = (Line("A", 2, 500), Line("B", 1, 200), Line("A", 1, 250))
    return Fact(order_id, kind, day, units=4, cents=950, lines=lines)


class AnalyticsRepositoryContract:
    def test_a_fact_counts_once_and_whole(self, repo: Any) -> None:
        assert repo.add(_fact("o1", "placed")) is True
        assert repo.add(_fact("o1", "placed")) is False  # redelivered
        assert repo.add(_fact("o1", "completed")) is True
        assert repo.add(_fact("o2", "placed", day="2026-03-03")) is True
        assert repo.add(_fact("o2", "rejected", day="2026-03-03")) is True
        days = repo.days("2026-03-01", "2026-03-02")
        assert list(days) == ["2026-03-01"]
        first = days["2026-03-01"]
        assert (first.orders, first.units, first.completed, first.revenueCents) == (1, 4, 1, 950)
        assert repo.days("2026-03-03", "2026-03-03")["2026-03-03"].rejected == 1
        a = repo.product("A")  # two lines of one product: one order, both lines' units
        assert (a.unitsSold, a.revenueCents, a.orders) == (3, 750, 1)
        assert repo.product("B").unitsSold == 1
        assert repo.product("C") is None

    def test_every_product_sold_is_listed_with_its_totals(self, repo: Any) -> None:
        from chalicelib.analytics.model import ProductTotals

        assert repo.every_product() == []
        repo.add(_fact("o1", "completed"))
        repo.add(_fact("o2", "placed"))  # not completed: no product's sales
        repo.add_many([_fact("o3", "completed"), _fact("o1", "completed")])
        products = sorted(repo.every_product(), key=lambda p: p.sku)
        assert products == [ProductTotals("A", 6, 1500, 2), ProductTotals("B", 2, 400, 2)]
        assert products[0] == repo.product("A")


class TestFakeAnalyticsRepository(AnalyticsRepositoryContract):
    @pytest.fixture
    def repo(self) -> Any:
        from tests.support.fakes import FakeAnalyticsRepository

        return FakeAnalyticsRepository()


class TestDynamoAnalytics(AnalyticsRepositoryContract):
    @pytest.fixture
    def repo(self, stack: Stack) -> Any:
        from chalicelib.analytics.dynamo import DynamoAnalytics

        _empty(stack.ddb, stack.outputs["AnalyticsTableName"])
        return DynamoAnalytics(stack.outputs["AnalyticsTableName"], client=stack.ddb)
