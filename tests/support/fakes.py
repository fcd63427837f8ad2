"""In-memory implementations of the ports, named for their technology.

Each fake keeps the semantics of its DynamoDB twin (conditional writes,
idempotency records, stock moves committed with the order's change, the
payment record's states), so
the service and saga tests exercise the real rules without AWS; the contract
tests in ``tests/integration/test_repository_contracts.py`` hold both to the
same behaviour. One lock per fake: the services may be driven from threads.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from chalicelib.catalog.dynamo import ProductPage
from chalicelib.catalog.importing import ImportRecord, ImportStatus
from chalicelib.catalog.model import (
    MAX_STOCK,
    Line,
    Product,
    ProductDetails,
)
from chalicelib.catalog.ports import ImportClaim, ImportProgress, StockChange, StockConflict
from chalicelib.images.model import Image, ImageStatus
from chalicelib.orders import record
from chalicelib.orders.dynamo import IDEMPOTENCY_TTL_SECONDS, IdempotencyRecord, Page
from chalicelib.orders.model import Order, OrderEvent, OrderStatus
from chalicelib.orders.ports import FILTERED_READS, JointRefused
from chalicelib.payments.model import ChargeResult
from chalicelib.payments.ports import ProviderUnavailable
from chalicelib.platform import correlation, errors
from chalicelib.platform.alerts import Alert
from chalicelib.platform.messaging import BusEvent, Message
from chalicelib.platform.objects import ObjectInfo

# --- orders ----------------------------------------------------------------------


class FakeOrderRepository:
    """OrderRepository in memory, keeping the same records as DynamoDB
    (``orders.record``). ``stream()`` is what the table's stream would carry:
    every write, in order, as (eventName, old item, new item)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._records: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[tuple[str, str], tuple[IdempotencyRecord, float]] = {}
        self._notified: set[tuple[str, str]] = set()
        self._stream: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = []
        # (placed, id) of the last order the sweep looked at (every one before it was)
        self.sweep_mark: tuple[str, ...] = ("", "")

    def _live_idempotency(self, customer_id: str, key_hash: str) -> IdempotencyRecord | None:
        found = self._idempotency.get((customer_id, key_hash))
        if found is None:
            return None
        record, expires_at = found
        # An expired record is no record, whether or not TTL has deleted it yet.
        return record if expires_at >= self._clock() else None

    def _write(self, name: str, new: dict[str, Any]) -> None:
        old = self._records.get(new["orderId"])
        self._records[new["orderId"]] = new
        self._stream.append((name, copy.deepcopy(old), copy.deepcopy(new)))

    # -- OrderRepository
    def create(
        self,
        order: Order,
        event: OrderEvent,
        payment_token: str,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        with self._lock:
            if order.orderId in self._records:
                raise errors.Conflict(f"order {order.orderId} exists")
            if idempotency is not None and self._live_idempotency(
                idempotency.customer_id, idempotency.key_hash
            ):
                raise errors.Conflict("idempotency key taken")
            self._write("INSERT", record.new(order, event, payment_token, correlation.current()))
            if idempotency is not None:
                expires_at = self._clock() + IDEMPOTENCY_TTL_SECONDS
                key = (idempotency.customer_id, idempotency.key_hash)
                self._idempotency[key] = (idempotency, expires_at)

    def find_idempotency(self, customer_id: str, key_hash: str) -> IdempotencyRecord | None:
        with self._lock:
            return self._live_idempotency(customer_id, key_hash)

    def get(self, order_id: str) -> Order | None:
        with self._lock:
            found = self._records.get(order_id)
            return record.order_of(found) if found else None

    def payment_token(self, order_id: str) -> str | None:
        with self._lock:
            found = self._records.get(order_id) or {}
            return found.get("paymentToken")

    def events(self, order_id: str) -> list[OrderEvent]:
        with self._lock:
            found = self._records.get(order_id)
            return [event for event, _ in record.history(found)] if found else []

    def append(
        self,
        before: Order,
        after: Order,
        event: OrderEvent,
        payment_token: str | None = None,
        joined: object | None = None,
    ) -> bool:
        return self.append_many(before, [(event, after)], payment_token, joined)

    def append_many(
        self,
        before: Order,
        steps: list[tuple[OrderEvent, Order]],
        payment_token: str | None = None,
        joined: object | None = None,
    ) -> bool:
        """What the DynamoDB update does: on the status and version seen, set
        the state, append the entries (a correlation id on the first when the
        writer's flow is not the record's last), keep the token while
        unsettled; with ``joined`` (a ``FakeJoint``) committed too, or neither."""
        after = steps[-1][1]
        flow = correlation.current()
        if joined is not None and not isinstance(joined, FakeJoint):
            raise TypeError(f"not a change the fakes can join: {type(joined).__name__}")
        with self._lock:
            current = self._records.get(before.orderId)
            if current is None or (current["status"], current["version"]) != (
                str(before.status),
                before.version,
            ):
                return False
            if joined is not None:
                reasons = joined.commit()
                if reasons is not None:
                    raise JointRefused(reasons)
            new_flow = flow is not None and current.get("flow") != flow
            events = [event for event, _ in steps]
            new = record.applied(
                current, record.change(after, events, payment_token, flow, new_flow)
            )
            self._write("MODIFY", new)
            return True

    def list_for_customer(
        self,
        customer_id: str,
        limit: int,
        start: dict[str, Any] | None,
        status: OrderStatus | None = None,
    ) -> Page:
        if status is not None:
            return self._listing(f"customer:{customer_id}", limit, start, status)

        def position(o: Order) -> tuple[str, str]:
            return (o.createdAt, f"ORDER#{o.orderId}")

        with self._lock:
            if start and start.get("customerId") != customer_id:
                raise errors.InvalidInput("cursor is not valid for this listing")
            mine = sorted(
                (record.order_of(r) for r in self._records.values()),
                key=position,
                reverse=True,
            )
        mine = [o for o in mine if o.customerId == customer_id]
        if start:
            mine = [o for o in mine if position(o) < (start["createdAt"], start["pk"])]
        page, more = mine[:limit], len(mine) > limit
        last = page[-1] if more and page else None
        cursor = (
            {"pk": f"ORDER#{last.orderId}", "sk": "ORDER", "customerId": customer_id,
             "createdAt": last.createdAt}
            if last else None
        )  # fmt: skip
        return Page(page, cursor)

    def list_all(
        self, limit: int, start: dict[str, Any] | None, status: OrderStatus | None = None
    ) -> Page:
        return self._listing("all", limit, start, status)

    def _listing(
        self, of: str, limit: int, start: dict[str, Any] | None, status: OrderStatus | None
    ) -> Page:
        """Newest first, the orders of listing ``of`` (every order, or
        ``customer:<id>``) after the cursor's; with ``status``, those in it of
        at most FILTERED_READS orders looked at, as DynamoDB's walk reads."""
        if start is not None and (set(start) != {"of", "after"} or start["of"] != of):
            raise errors.InvalidInput("cursor is not valid for this listing")
        customer = of.removeprefix("customer:") if of != "all" else None
        with self._lock:
            found = sorted(
                (record.order_of(r) for r in self._records.values()),
                key=lambda o: (o.createdAt, o.orderId),
                reverse=True,
            )
        found = [o for o in found if customer in (None, o.customerId)]
        if start is not None:
            found = [o for o in found if (o.createdAt, o.orderId) < tuple(start["after"])]
        looked = found[:FILTERED_READS] if status is not None else found[:limit]
        page = [o for o in looked if status in (None, o.status)][:limit]
        last = page[-1] if len(page) == limit else (looked[-1] if looked else None)
        if last is None or found.index(last) + 1 == len(found):
            return Page(page, None)
        return Page(page, {"of": of, "after": [last.createdAt, last.orderId]})

    def aged(self, before: str, limit: int, start: dict[str, Any] | None) -> Page:
        """As DynamoDB's: the orders placed before ``before`` after the last
        one the sweep looked at (its mark; one, no shards), oldest first; the
        open ones are watched, then the mark moves to the page's last."""
        with self._lock:
            mark = tuple(start["after"]) if start else self.sweep_mark
            found = sorted(
                (record.order_of(r) for r in self._records.values()),
                key=lambda o: (o.createdAt, o.orderId),
            )
            found = [o for o in found if (o.createdAt, o.orderId) > mark and o.createdAt < before]
            page, more = found[:limit], len(found) > limit
            still = [o for o in page if not o.status.terminal]
            for order in still:  # a write with no event, as the table's
                watched = dict(self._records[order.orderId])
                watched["openShard"] = record.open_shard(order.orderId)
                self._write("MODIFY", watched)
            if page:
                self.sweep_mark = max(self.sweep_mark, (page[-1].createdAt, page[-1].orderId))
        if not more:
            return Page(still, None)
        return Page(still, {"after": [page[-1].createdAt, page[-1].orderId]})

    def open_before(self, before: str, limit: int, start: dict[str, Any] | None) -> Page:
        """One page of the watched orders placed before ``before``, oldest
        first (no shards: the cursor is the last one returned)."""
        with self._lock:
            found = sorted(
                (record.order_of(r) for r in self._records.values() if "openShard" in r),
                key=lambda o: (o.createdAt, o.orderId),
            )
        found = [o for o in found if o.createdAt < before]
        if start:
            found = [o for o in found if (o.createdAt, o.orderId) > tuple(start["after"])]
        page = found[:limit]
        more = len(found) > limit
        return Page(page, {"after": [page[-1].createdAt, page[-1].orderId]} if more else None)

    def all_order_ids(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def histories(self) -> Iterator[tuple[Order, Callable[[], list[OrderEvent]]]]:
        with self._lock:
            found = [dict(r) for r in self._records.values()]
        for r in found:
            yield record.order_of(r), partial(_events_of, r)

    def mark_notified(self, order_id: str, event_type: str) -> bool:
        with self._lock:
            if (order_id, event_type) in self._notified:
                return False
            self._notified.add((order_id, event_type))
            return True

    def mark_notified_many(self, order_id: str, event_types: list[str]) -> list[str]:
        return [t for t in dict.fromkeys(event_types) if self.mark_notified(order_id, t)]

    def unmark_notified(self, order_id: str, event_type: str) -> None:
        with self._lock:
            self._notified.discard((order_id, event_type))

    # -- for tests only
    def stream(self) -> list[tuple[str, dict[str, Any] | None, dict[str, Any]]]:
        """Every write so far, as a NEW_AND_OLD_IMAGES stream would show it."""
        with self._lock:
            return list(self._stream)

    def corrupt(self, order_id: str, **changes: Any) -> None:
        """Overwrite the stored state without an event, as a bad write would."""
        with self._lock:
            self._records[order_id] = self._records[order_id] | changes


def _events_of(found: dict[str, Any]) -> list[OrderEvent]:
    return [event for event, _ in record.history(found)]


# --- inventory -------------------------------------------------------------------


def _product_keys(sku: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{sku}", "sk": "PRODUCT", "gsi1pk": "PRODUCT", "gsi1sk": sku}


# ``FakeCatalogRepository.list`` shadows the builtin inside the class body.
Lines = list[Line]


@dataclass(frozen=True)
class FakeJoint:
    """A change the fake catalog makes for the fake orders repository to
    commit with an order's write (``dynamo.Joint``'s twin): ``commit`` checks
    every condition and applies all of it, or nothing and the reasons (one
    per item, as DynamoDB's CancellationReasons)."""

    check: Callable[[], list[str]]
    apply: Callable[[], None]
    lock: Any

    def commit(self) -> list[str] | None:
        with self.lock:
            reasons = self.check()
            if "ConditionalCheckFailed" in reasons:
                return reasons
            self.apply()
            return None


class FakeCatalogRepository:
    """CatalogRepository in memory: ``take`` and ``give_back`` are committed
    with the order's change by the fake orders repository (``FakeJoint``).
    As in DynamoDB, create is conditional on the sku being new, and stock
    moves only by deltas within 0..MAX_STOCK; every change bumps ``version``;
    a give-back past MAX_STOCK is refused, or sets it (``full``)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._products: dict[str, Product] = {}
        self._changes: dict[str, StockChange] = {}
        self._images: dict[str, dict[str, Any]] = {}

    def _move(self, sku: str, delta: int, at: str, **changes: Any) -> Product:
        product = self._products[sku]
        product = product.model_copy(
            update={
                "stock": product.stock + delta,
                "updatedAt": at,
                "version": product.version + 1,
                **changes,
            }
        )
        self._products[sku] = product
        return product

    def create(self, product: Product) -> Product | None:
        with self._lock:
            if product.sku in self._products:
                return None
            self._products[product.sku] = product
            return product

    def image_state(self, sku: str) -> Any:
        from chalicelib.catalog.ports import ImageState

        with self._lock:
            product = self._products.get(sku)
            if product is None:
                return None
            return ImageState(product.version, dict(self._images.get(sku, {})))

    def set_images(
        self, sku: str, expected_version: int, entries: Any, primary: Any, at: str
    ) -> bool:
        with self._lock:
            product = self._products.get(sku)
            if product is None or product.version != expected_version:
                return False
            self._images[sku] = dict(entries)
            self._products[sku] = product.model_copy(
                update={"image": primary, "updatedAt": at, "version": product.version + 1}
            )
            return True

    def update_details(
        self, sku: str, details: ProductDetails, expected_stock: int | None, at: str
    ) -> Product:
        with self._lock:
            product = self._products.get(sku)
            if product is None:
                raise errors.NotFound(f"product {sku} not found")
            if expected_stock is not None and expected_stock != product.stock:
                raise StockConflict(f"the stock of {sku} is {product.stock}", product.stock)
            return self._move(sku, 0, at, **details.model_dump())

    def get(self, sku: str) -> Product | None:
        with self._lock:
            return self._products.get(sku)

    def get_many(self, skus: list[str]) -> dict[str, Product]:
        with self._lock:
            return {s: self._products[s] for s in dict.fromkeys(skus) if s in self._products}

    def list_products(self, limit: int, start: dict[str, Any] | None) -> ProductPage:
        if start and start.get("gsi1pk") != "PRODUCT":
            raise errors.InvalidInput("cursor is not valid for this listing")
        with self._lock:
            skus = sorted(self._products)
            if start:
                skus = [s for s in skus if s > str(start.get("gsi1sk"))]
            page = [self._products[s] for s in skus[:limit]]
        more = len(skus) > limit
        return ProductPage(page, _product_keys(page[-1].sku) if more and page else None)

    def adjust_stock(self, sku: str, delta: int, at: str, change: StockChange) -> Product:
        with self._lock:
            product = self._products.get(sku)
            if product is None:
                raise errors.NotFound(f"product {sku} not found")
            if not 0 <= product.stock + delta <= MAX_STOCK:
                raise StockConflict(f"the stock of {sku} is {product.stock}", product.stock)
            self._changes[sku] = change
            return self._move(sku, delta, at)

    def _codes(self, lines: Lines, wanted: Callable[[Product, Line], bool]) -> list[str]:
        return [
            "None"
            if line.sku in self._products and wanted(self._products[line.sku], line)
            else "ConditionalCheckFailed"
            for line in lines
        ]

    def take(self, lines: Lines, at: str) -> FakeJoint:
        def apply() -> None:
            for line in lines:
                self._move(line.sku, -line.quantity, at)

        return FakeJoint(
            lambda: self._codes(lines, lambda p, line: p.stock >= line.quantity),
            apply,
            self._lock,
        )

    def give_back(self, lines: Lines, at: str, full: frozenset[str] = frozenset()) -> FakeJoint:
        def apply() -> None:
            for line in lines:
                if line.sku in full:
                    self._move(line.sku, MAX_STOCK - self._products[line.sku].stock, at)
                else:
                    self._move(line.sku, line.quantity, at)

        return FakeJoint(
            lambda: self._codes(
                lines,
                lambda p, line: line.sku in full or p.stock + line.quantity <= MAX_STOCK,
            ),
            apply,
            self._lock,
        )

    # -- for tests only
    def put(self, product: Product) -> Product:
        """Seed a product as it is (a fixture writing the table directly)."""
        with self._lock:
            self._products[product.sku] = product
            return product

    def last_stock_change(self, sku: str) -> StockChange | None:
        with self._lock:
            return self._changes.get(sku)


# --- payments --------------------------------------------------------------------


class FakeImportBook:
    """ImportBook in memory, as DynamoImportBook: a claim takes a PENDING
    record whose lease ended (attempts + 1), and every later write must
    present that claim's lease."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.records: dict[str, ImportRecord] = {}
        self.leases: dict[str, tuple[str, str]] = {}  # import id -> (lease, until)
        self.progress: dict[str, ImportProgress] = {}

    def create(self, record: ImportRecord) -> None:
        with self._lock:
            if record.importId in self.records:
                raise errors.Conflict(f"import {record.importId} exists")
            self.records[record.importId] = record

    def get(self, import_id: str) -> ImportRecord | None:
        with self._lock:
            return self.records.get(import_id)

    def _free(self, import_id: str, now: str) -> bool:
        record = self.records.get(import_id)
        held = self.leases.get(import_id)
        return (
            record is not None
            and record.status == ImportStatus.PENDING
            and (held is None or held[1] < now)
        )

    def claim(self, import_id: str, lease: str, now: str, lease_until: str) -> ImportClaim | None:
        with self._lock:
            if not self._free(import_id, now):
                return None
            record = self.records[import_id]
            record = record.model_copy(update={"attempts": record.attempts + 1, "updatedAt": now})
            self.records[import_id] = record
            self.leases[import_id] = (lease, lease_until)
            return ImportClaim(record, lease, self.progress.get(import_id, ImportProgress()))

    def _ours(self, import_id: str, lease: str) -> bool:
        held = self.leases.get(import_id)
        return held is not None and held[0] == lease

    def checkpoint(self, import_id: str, lease: str, progress: ImportProgress, at: str) -> bool:
        with self._lock:
            if not self._ours(import_id, lease):
                return False
            self.progress[import_id] = progress
            self.records[import_id] = self.records[import_id].model_copy(
                update={"created": progress.created, "updated": progress.updated, "updatedAt": at}
            )
            return True

    def finish(self, import_id: str, lease: str, outcome: ImportRecord) -> bool:
        with self._lock:
            if not self._ours(import_id, lease):
                return False
            stored = self.records[import_id]
            self.records[import_id] = stored.model_copy(
                update={
                    "status": outcome.status,
                    "created": outcome.created,
                    "updated": outcome.updated,
                    "errors": list(outcome.errors),
                    "errorCount": outcome.errorCount,
                    "reason": outcome.reason if outcome.reason is not None else stored.reason,
                    "updatedAt": outcome.updatedAt,
                    "lastError": None,
                }
            )
            del self.leases[import_id]
            self.progress.pop(import_id, None)
            return True

    def release(self, import_id: str, lease: str, error: str, at: str) -> None:
        with self._lock:
            if not self._ours(import_id, lease):
                return
            del self.leases[import_id]
            self.records[import_id] = self.records[import_id].model_copy(
                update={"lastError": error, "updatedAt": at}
            )

    def expire(self, import_id: str, reason: str, now: str) -> ImportRecord | None:
        with self._lock:
            if self._free(import_id, now):
                self.records[import_id] = self.records[import_id].model_copy(
                    update={"status": ImportStatus.FAILED, "reason": reason, "updatedAt": now}
                )
            return self.records.get(import_id)


class FakePaymentRepository:
    """PaymentRepository in memory; records look like DynamoPaymentRepository's
    items, with "-" standing for an absent charge id or reason."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}

    def _put_new(self, order_id: str, state: str, amount_cents: int) -> dict[str, Any] | None:
        with self._lock:
            if order_id in self._records:
                return dict(self._records[order_id])
            self._records[order_id] = {
                "pk": f"PAYMENT#{order_id}",
                "state": state,
                "amountCents": amount_cents,
            }
            return None

    def start(
        self, order_id: str, amount_cents: int, attempted_at: float = 0
    ) -> dict[str, Any] | None:
        with self._lock:
            old = self._put_new(order_id, "PENDING", amount_cents)
            record = self._records[order_id]
            if record["state"] == "PENDING":
                record["attemptedAt"] = int(attempted_at)
            return old

    def void_or_get(self, order_id: str) -> dict[str, Any] | None:
        return self._put_new(order_id, "VOIDED", 0)

    def refunded(self, order_id: str) -> bool:
        with self._lock:
            record = self._records.get(order_id)
            if record is None or record["state"] != "PENDING":
                return False
            record["state"] = "REFUNDED"
            return True

    # -- for tests only
    def record(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._records.get(order_id)
            return dict(found) if found else None


@dataclass
class _Charge:
    attempts: int = 0
    result: ChargeResult | None = None
    amount_cents: int = 0
    refunds: int = 0
    pending: bool = False  # tok_pending: waiting for settle()


class FakeProvider:
    """PaymentProvider with SimulatedProvider's token rules: ``tok_ok``
    approves, ``tok_declined`` declines, ``tok_flaky`` is unavailable twice per
    key and then approves, ``tok_unavailable`` never answers, ``tok_pending``
    waits (as a Stripe payment that needs 3-D Secure) until ``settle``,
    anything else declines. Idempotent per key; ``void`` cancels a pending one.

    ``fail_refunds`` makes the next N refunds raise ProviderUnavailable."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._charges: dict[str, _Charge] = {}
        self.charge_calls = 0
        self.fail_refunds = 0
        self.metadata: dict[str, dict[str, str]] = {}  # key -> the last charge's

    def charge(
        self,
        idempotency_key: str,
        amount_cents: int,
        token: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ChargeResult:
        with self._lock:
            self.charge_calls += 1
            self.metadata[idempotency_key] = dict(metadata or {})
            entry = self._charges.setdefault(idempotency_key, _Charge())
            entry.attempts += 1
            if entry.result is not None:
                return entry.result
            if token == "tok_pending" or entry.pending:
                entry.pending = True
                entry.amount_cents = amount_cents
                return ChargeResult(False, charge_id=self.charge_id(idempotency_key), pending=True)
            if token == "tok_ok":
                result = ChargeResult(True)
            elif token == "tok_declined":
                result = ChargeResult(False, reason="card declined")
            elif token == "tok_unavailable":
                raise ProviderUnavailable("fake provider: not answering")
            elif token == "tok_flaky":
                if entry.attempts <= 2:
                    raise ProviderUnavailable("fake provider: temporarily unavailable")
                result = ChargeResult(True)
            else:
                result = ChargeResult(False, reason="payment token not recognised")
            if result.approved:
                result = ChargeResult(True, charge_id=self.charge_id(idempotency_key))
                entry.amount_cents = amount_cents
            entry.result = result
            return result

    @staticmethod
    def charge_id(idempotency_key: str) -> str:
        return "ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]

    def settle(self, idempotency_key: str, succeed: bool) -> None:
        """The provider decides a pending charge (what its webhook then says)."""
        with self._lock:
            entry = self._charges[idempotency_key]
            assert entry.pending and entry.result is None, "nothing pending to settle"
            entry.pending = False
            entry.result = (
                ChargeResult(True, charge_id=self.charge_id(idempotency_key))
                if succeed
                else ChargeResult(False, reason="authentication failed")
            )

    def void(self, idempotency_key: str) -> bool:
        """A pending charge is cancelled for good; otherwise as SimulatedProvider,
        which cannot see an attempt in flight."""
        with self._lock:
            entry = self._charges.get(idempotency_key)
            if entry is None or not entry.pending:
                return False
            entry.pending = False
            entry.result = ChargeResult(False, reason="payment canceled")
            return True

    def refund(self, idempotency_key: str, charge_id: str | None = None) -> bool:
        with self._lock:
            if self.fail_refunds > 0:
                self.fail_refunds -= 1
                raise ProviderUnavailable("fake provider: refund unavailable")
            entry = self._charges.setdefault(idempotency_key, _Charge())
            if not (entry.result and entry.result.approved) or entry.refunds:
                return False
            entry.refunds += 1
            return True

    def captures(self, idempotency_key: str) -> int:
        with self._lock:
            entry = self._charges.get(idempotency_key)
            return 1 if entry and entry.result and entry.result.approved else 0

    def refunds(self, idempotency_key: str) -> int:
        with self._lock:
            entry = self._charges.get(idempotency_key)
            return entry.refunds if entry else 0


# --- publishing ------------------------------------------------------------------


class FakePublisher:
    """Publisher that records what went to which topic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.published: list[tuple[str, Message]] = []

    def publish(self, topic_arn: str, messages: list[Message]) -> None:
        with self._lock:
            self.published.extend((topic_arn, m) for m in messages)

    def messages(self, topic_arn: str | None = None) -> list[Message]:
        with self._lock:
            return [m for t, m in self.published if topic_arn in (None, t)]


class FakeAnalyticsRepository:
    """The analytics store in memory, with the DynamoDB adapter's semantics:
    a fact counts once, whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counted: set[tuple[str, str]] = set()
        self.daily: dict[str, dict[str, int]] = {}
        self.products: dict[str, dict[str, int]] = {}

    def add(self, fact: Any) -> bool:
        from chalicelib.analytics.model import day_change, product_changes

        with self._lock:
            if (fact.order_id, fact.kind) in self.counted:
                return False
            self.counted.add((fact.order_id, fact.kind))
            changes = {("day", fact.day): day_change(fact)}
            changes |= {("product", sku): c for sku, c in product_changes(fact).items()}
            for (kind, key), change in changes.items():
                totals = (self.daily if kind == "day" else self.products).setdefault(key, {})
                for name, n in change.items():
                    totals[name] = totals.get(name, 0) + n
            return True

    def add_many(self, facts: list[Any]) -> list[bool]:
        return [self.add(fact) for fact in facts]

    def days(self, first: str, last: str) -> dict[str, Any]:
        from chalicelib.analytics.model import DayTotals

        with self._lock:
            return {d: DayTotals(d, **v) for d, v in self.daily.items() if first <= d <= last}

    def product(self, sku: str) -> Any:
        from chalicelib.analytics.model import ProductTotals

        with self._lock:
            totals = self.products.get(sku)
            return ProductTotals(sku, **totals) if totals else None

    def every_product(self) -> list[Any]:
        from chalicelib.analytics.model import ProductTotals

        with self._lock:
            return [ProductTotals(sku, **totals) for sku, totals in self.products.items()]


class FakeBus:
    """EventBus that records every event put on it, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[BusEvent] = []

    def put(self, events: list[BusEvent]) -> None:
        with self._lock:
            self.events.extend(events)


class FakeAlerts:
    """AlertRaiser that records every alert as (kind, subject, data), and
    the alerts themselves in ``alerts``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.alerts: list[Alert] = []

    def raise_alert(self, alert: Alert) -> None:
        with self._lock:
            self.sent.append((alert.kind.value, alert.subject, dict(alert.data)))
            self.alerts.append(alert)

    def kinds(self) -> list[str]:
        with self._lock:
            return [kind for kind, _, _ in self.sent]


class FakeAlertLog:
    """AlertLog in memory, with DynamoAlertLog's keys: one record per alert id,
    newest first by (at, alertId), pages ending on the last key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_sk: dict[str, Alert] = {}
        self.ids: set[str] = set()

    def record(self, alert: Alert) -> bool:
        with self._lock:
            if alert.alert_id in self.ids:
                return False
            self.ids.add(alert.alert_id)
            self.by_sk[f"{alert.at}#{alert.alert_id}"] = alert
            return True

    def newest(self, limit: int, start: dict[str, Any] | None) -> Any:
        from chalicelib.ops.alerts import AlertPage

        with self._lock:
            keys = sorted(self.by_sk, reverse=True)
        if start:
            if start.get("pk") != "ALERTS" or not isinstance(start.get("sk"), str):
                raise errors.InvalidInput("cursor is not valid for this listing")
            keys = [k for k in keys if k < start["sk"]]
        page = keys[:limit]
        last = {"pk": "ALERTS", "sk": page[-1]} if len(page) == limit and page else None
        return AlertPage([self.by_sk[k] for k in page], last)


# --- images ----------------------------------------------------------------------


class FakeImageRepository:
    """ImageRepository in memory, with DynamoImageRepository's conditions:
    ``create`` takes a new id only; ``save`` lands only on the record whose
    sequencer is still the expected one (None: one that has none yet), so of
    two deliveries from the same state one wins; ``list_for_sku`` is gsi1's
    order, oldest first (``createdAt#imageId``), filtered by status if asked.
    ``items`` is the table."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.items: dict[str, Image] = {}

    def create(self, image: Image) -> None:
        with self._lock:
            if image.imageId in self.items:
                raise errors.Conflict(f"image {image.imageId} exists")
            self.items[image.imageId] = image

    def get(self, image_id: str) -> Image | None:
        with self._lock:
            return self.items.get(image_id)

    def save(self, image: Image, expected_sequencer: str | None) -> bool:
        with self._lock:
            current = self.items.get(image.imageId)
            if current is None or current.sequencer != expected_sequencer:
                return False
            self.items[image.imageId] = image
            return True

    def list_for_sku(self, sku: str, status: ImageStatus | None = None) -> list[Image]:
        with self._lock:
            mine = [
                i
                for i in self.items.values()
                if i.sku == sku and (status is None or i.status == status)
            ]
        return sorted(mine, key=lambda i: f"{i.createdAt}#{i.imageId}")

    def pending_before(self, before: str, limit: int) -> list[Image]:
        with self._lock:
            open_ = [
                i
                for i in self.items.values()
                if i.status == ImageStatus.PENDING and i.deletedAt is None and i.createdAt < before
            ]
        return sorted(open_, key=lambda i: f"{i.createdAt}#{i.imageId}")[:limit]


class FakeObjectStore:
    """ObjectStore in memory, answering as S3ObjectStore does: ``head`` is None
    for a missing key, else size, content type and S3's ETag (the quoted MD5);
    ``read`` of a missing key is NotFound; ``delete`` ignores missing keys; a
    presigned POST is S3's form (url, key, base64 policy with its conditions);
    a presigned URL is the object's, with a (fake) signature in its query.

    ``objects`` (key -> bytes) is the bucket: a test may put an upload there
    directly, as the browser's POST would. ``reads`` lists the keys read."""

    def __init__(self, bucket: str = "eventshop-test-images") -> None:
        self._lock = threading.RLock()
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.cache_control: dict[str, str] = {}
        self.reads: list[str] = []

    @property
    def _endpoint(self) -> str:
        return f"https://{self.bucket}.s3.amazonaws.com/"

    def head(self, key: str) -> ObjectInfo | None:
        with self._lock:
            data = self.objects.get(key)
            if data is None:
                return None
            # S3's default for an object stored without a type.
            content_type = self.content_types.get(key, "binary/octet-stream")
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return ObjectInfo(len(data), content_type, f'"{etag}"')

    def read(self, key: str) -> bytes:
        with self._lock:
            self.reads.append(key)
            if key not in self.objects:
                raise errors.NotFound("The specified key does not exist.")
            return self.objects[key]

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        with self._lock:
            self.objects[key] = bytes(data)
            self.content_types[key] = content_type
            self.cache_control[key] = cache_control

    def delete(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self.objects.pop(key, None)
                self.content_types.pop(key, None)
                self.cache_control.pop(key, None)

    def presigned_post(
        self,
        key: str,
        content_type_prefix: str | None,
        min_bytes: int,
        max_bytes: int,
        expires_in: int,
    ) -> dict[str, Any]:
        expiration = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)
        conditions: list[Any] = [["content-length-range", min_bytes, max_bytes]]
        if content_type_prefix is not None:
            conditions.append(["starts-with", "$Content-Type", content_type_prefix])
        policy = {
            "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "conditions": [*conditions, {"bucket": self.bucket}, {"key": key}],
        }
        return {
            "url": self._endpoint,
            "fields": {
                "key": key,
                "AWSAccessKeyId": "FAKE",
                "policy": base64.b64encode(json.dumps(policy).encode()).decode(),
                "signature": "fake",
            },
        }

    def url(self, key: str, expires_in: int) -> str:
        return f"{self._endpoint}{quote(key)}?signed"
