"""Order use cases: place, read, list, cancel, record saga steps, replay.

No boto3, no chalice: the repository and the price lookup come in as
parameters, so the same code runs on DynamoDB and on in-memory fakes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.orders import model
from chalicelib.orders.events import DomainEvent, OrderCancelled, OrderPlaced
from chalicelib.orders.model import (
    EventType,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PlaceOrder,
    ShippingAddress,
)
from chalicelib.orders.ports import IdempotencyRecord, OrderRepository, Page
from chalicelib.platform import correlation, errors
from chalicelib.platform.clock import now_iso
from chalicelib.platform.metrics import MetricSink, NoMetrics
from chalicelib.platform.validation import parse

log = logging.getLogger("eventshop.orders")

MAX_IDEMPOTENCY_KEY = 255
# How often a status change re-reads and retries when the order moved on
# between the read and the conditional write.
MAX_WRITE_ATTEMPTS = 5


class PriceLookup(Protocol):
    def prices(self, skus: list[str]) -> dict[str, int]:
        """Unit prices in cents of the skus that exist (unknown ones absent)."""


class Principal(Protocol):
    @property
    def sub(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...


@dataclass(frozen=True)
class Mismatch:
    order_id: str
    field: str
    stored: Any
    replayed: Any


class OrderService:
    def __init__(
        self,
        repo: OrderRepository,
        catalog: PriceLookup,
        clock: Callable[[], str] = now_iso,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        metrics: MetricSink | None = None,
    ) -> None:
        self.repo = repo
        self.catalog = catalog
        self.clock = clock
        self.new_id = new_id
        self.metrics: MetricSink = metrics or NoMetrics()

    def _observe(self, before: Order, after: Order, types: list[EventType]) -> None:
        """The log line and metrics of one written change: a terminal status
        reached (with the order's lead time, placed to terminal) and declined
        payments."""
        why = f": {after.reason}" if after.reason and after.reason != before.reason else ""
        log.info(
            "order %s v%d %s -> %s by %s%s",
            after.orderId,
            after.version,
            before.status,
            after.status,
            "+".join(types),
            why,
        )
        if EventType.PAYMENT_DECLINED in types:
            self.metrics.count("PaymentsDeclined")
        name = _TERMINAL_METRICS.get(after.status)
        if name is None or before.status == after.status:
            return
        self.metrics.count(name)
        try:
            lead = _epoch_ms(after.updatedAt) - _epoch_ms(after.createdAt)
        except ValueError:
            return
        self.metrics.ms("OrderLeadTimeMs", max(0.0, lead))

    def _after(self, order: Order) -> str:
        """The time of an event that follows ``order``'s last: now, or that
        last time if a clock is behind it (another function's, or the local
        stack's, which the saga-timeout sweep runs ahead), so an order's
        history never goes back in time and its ``updatedAt`` is its last
        change's, as the sweep reads it."""
        return max(self.clock(), order.updatedAt)

    # --- commands from the API -------------------------------------------
    def place(
        self, customer_id: str, body: Any, idempotency_key: str | None = None
    ) -> tuple[Order, bool]:
        """PlaceOrder. Returns the order and whether this call created it."""
        cmd: PlaceOrder = parse(PlaceOrder, body)
        idem: IdempotencyRecord | None = None
        if idempotency_key is not None:
            idem = self._idempotency(customer_id, idempotency_key, cmd)
            replayed = self._replay_idempotent(customer_id, idem.key_hash, idem.request_hash)
            if replayed is not None:
                return replayed, False
        lines = self._priced_lines(cmd)
        order_id = idem.order_id if idem else self.new_id()
        placed = OrderPlaced(
            orderId=order_id,
            customerId=customer_id,
            items=lines,
            totalCents=sum(line.lineTotalCents for line in lines),
            # A copy with every field set, so the event keeps line2 even when null.
            shippingAddress=ShippingAddress.model_validate(cmd.shippingAddress.model_dump()),
        )
        event = OrderEvent(version=1, type=placed.TYPE, at=self.clock(), data=placed.data())
        order = model.initial(event)
        try:
            self.repo.create(order, event, cmd.paymentToken, idem)
        except errors.Conflict:
            if idem is None:
                raise
            # Another request with the same key won the race.
            replayed = self._replay_idempotent(customer_id, idem.key_hash, idem.request_hash)
            if replayed is None:
                raise
            return replayed, False
        self.metrics.count("OrdersPlaced")
        correlation.about(order_id=order_id)  # the request's records name it from here on
        log.info(
            "order %s placed by %s: %d line(s), %d cents",
            order_id,
            customer_id,
            len(lines),
            placed.totalCents,
        )
        return order, True

    def _idempotency(self, customer_id: str, key: str, cmd: PlaceOrder) -> IdempotencyRecord:
        """The record an Idempotency-Key makes: the key and the request, hashed."""
        if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY) or not key.isprintable():
            raise errors.InvalidInput(
                f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters"
            )
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        request_hash = hashlib.sha256(
            json.dumps(cmd.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()
        return IdempotencyRecord(customer_id, key_hash, request_hash, self.new_id())

    def _priced_lines(self, cmd: PlaceOrder) -> list[OrderLine]:
        """The order's lines at the catalog's prices (never the client's)."""
        skus = [line.sku for line in cmd.items]
        prices = self.catalog.prices(skus)
        unknown = [(i, s) for i, s in enumerate(skus) if s not in prices]
        if unknown:
            raise errors.InvalidInput(
                "unknown sku: " + ", ".join(s for _, s in unknown),
                [{"loc": ["items", i, "sku"], "msg": f"unknown sku {s}"} for i, s in unknown],
            )
        return [
            OrderLine(
                sku=line.sku,
                quantity=line.quantity,
                unitPriceCents=prices[line.sku],
                lineTotalCents=prices[line.sku] * line.quantity,
            )
            for line in cmd.items
        ]

    def _replay_idempotent(
        self, customer_id: str, key_hash: str, request_hash: str
    ) -> Order | None:
        record = self.repo.find_idempotency(customer_id, key_hash)
        if record is None:
            return None
        if record.request_hash != request_hash:
            raise errors.Conflict("this Idempotency-Key was used with a different request body")
        order = self.repo.get(record.order_id)
        if order is None:  # pragma: no cover - written in one transaction
            raise errors.Transient("idempotent order not readable yet")
        return order

    def get(self, order_id: str, principal: Principal) -> Order:
        order = self.repo.get(order_id) if _plausible_id(order_id) else None
        if order is None or not (principal.is_admin or order.customerId == principal.sub):
            raise errors.NotFound(f"order {order_id} not found")
        return order

    def events(self, order_id: str, principal: Principal) -> list[OrderEvent]:
        self.get(order_id, principal)
        return sorted(self.repo.events(order_id), key=lambda e: e.version)

    def list_orders(
        self,
        principal: Principal,
        customer_id: str | None,
        limit: int,
        start: dict[str, Any] | None,
        status: OrderStatus | None = None,
    ) -> Page:
        """A page of orders, newest first: an admin's without ``customer_id``
        every order, anyone's with it that customer's (only admins may name
        another), a customer's without it their own; ``status``: only those
        in it (a page may then be short, with a cursor for more)."""
        if customer_id is None and principal.is_admin:
            return self.repo.list_all(limit, start, status)
        if customer_id is not None and customer_id != principal.sub and not principal.is_admin:
            raise errors.Forbidden("only admins may list another customer's orders")
        return self.repo.list_for_customer(customer_id or principal.sub, limit, start, status)

    def cancel(self, order_id: str, principal: Principal) -> Order:
        order = self.get(order_id, principal)
        who = (
            "an admin"
            if principal.is_admin and order.customerId != principal.sub
            else "the customer"
        )
        for _ in range(MAX_WRITE_ATTEMPTS):
            if order.status not in model.CANCELLABLE:
                raise errors.Conflict(f"order {order_id} is {order.status} and cannot be cancelled")
            after, applied = self.record(order, OrderCancelled(reason=f"cancelled by {who}"))
            if applied:
                return after
            order = after
        raise errors.Transient("the order kept changing; try again")

    # --- operations -----------------------------------------------------
    def stuck(self, before: str, limit: int = 100, start: dict[str, Any] | None = None) -> Page:
        """A page of the orders not terminal that have not changed since
        ``before`` (ISO): first those the sweep watches (still open when it
        last looked), then those that reached that age since it last looked
        (which it watches from then on: an order whose saga ends in time is
        looked at once and never watched). ``last_key`` goes on (None: the end)."""
        start = start or {"watched": None}
        if "watched" in start:
            page = self.repo.open_before(before, limit, start["watched"])
            after: dict[str, Any] = (
                {"watched": page.last_key} if page.last_key is not None else {"aged": None}
            )
        else:
            page = self.repo.aged(before, limit, start["aged"])
            after = {"aged": page.last_key} if page.last_key is not None else {}
        still = [o for o in page.orders if not o.status.terminal and o.updatedAt < before]
        return Page(still, after or None)

    def time_out(self, seen: Order, at: str) -> Order | None:
        """Cancel ``seen`` because its saga stopped moving: the compensation a
        failure at its status would start (OrderCancelled: release what is
        reserved, settle the payment). Conditional on the version seen: if
        the order moved meanwhile (a late step, another sweep), nothing is
        written and None is returned."""
        if seen.status not in model.CANCELLABLE:
            return None
        happened = OrderCancelled(reason=f"timed out in {seen.status}")
        event = OrderEvent(
            version=seen.version + 1,
            type=happened.TYPE,
            at=max(at, seen.updatedAt),
            data=happened.data(),
        )
        after = model.apply(seen, event)
        if not self.repo.append(seen, after, event):
            return None
        self._observe(seen, after, [event.type])
        return after

    # --- saga steps -----------------------------------------------------
    def record(
        self,
        known: Order,
        happened: DomainEvent,
        payment_token: str | None = None,
        joined: object | None = None,
    ) -> tuple[Order, bool]:
        """Append the event ``happened`` to the order last seen as ``known``.

        Conditional on status and version: if the order moved on meanwhile,
        re-read it and apply the event only if it still may follow. Returns
        the current order and whether this call changed it, so a duplicate or
        out-of-order delivery is a harmless no-op. ``joined``: another
        context's change (from its service) written with the event or not at
        all, so it happens exactly when the event does; ``JointRefused`` if
        its conditions fail (nothing is written).
        """
        order = known
        for _ in range(MAX_WRITE_ATTEMPTS):
            if not model.can_apply(order, happened.TYPE):
                return order, False
            event = OrderEvent(
                version=order.version + 1,
                type=happened.TYPE,
                at=self._after(order),
                data=happened.data(),
            )
            after = model.apply(order, event)
            if self.repo.append(order, after, event, payment_token, joined):
                self._observe(order, after, [event.type])
                return after, True
            current = self.repo.get(order.orderId)
            if current is None:
                raise errors.NotFound(f"order {order.orderId} not found")
            order = current
        raise errors.Transient(f"order {known.orderId} kept changing")

    def record_many(
        self, known: Order, changes: list[DomainEvent], joined: object | None = None
    ) -> tuple[Order, bool]:
        """Several consecutive status changes in ONE conditional write (each
        still appends its own event). All or nothing: if the order moved on
        so that the first no longer applies, nothing is written, ``joined``
        (see ``record``) neither: it goes with the first change."""
        order = known
        for _ in range(MAX_WRITE_ATTEMPTS):
            steps: list[tuple[OrderEvent, Order]] = []
            state = order
            for happened in changes:
                if not model.can_apply(state, happened.TYPE):
                    break
                event = OrderEvent(
                    version=state.version + 1,
                    type=happened.TYPE,
                    at=self._after(state),
                    data=happened.data(),
                )
                state = model.apply(state, event)
                steps.append((event, state))
            if not steps:
                return order, False
            if self.repo.append_many(order, steps, joined=joined):
                self._observe(order, state, [e.type for e, _ in steps])
                return state, True
            current = self.repo.get(order.orderId)
            if current is None:
                raise errors.NotFound(f"order {order.orderId} not found")
            order = current
        raise errors.Transient(f"order {known.orderId} kept changing")

    def current(self, order_id: str) -> Order:
        order = self.repo.get(order_id)
        if order is None:
            raise errors.NotFound(f"order {order_id} not found")
        return order

    # --- replay -----------------------------------------------------------
    def replay(self, order_id: str) -> list[Mismatch]:
        """Rebuild the order from its history and compare with what is stored."""
        return _compare(self.current(order_id), lambda: self.repo.events(order_id))

    def replay_all(self) -> tuple[int, list[Mismatch]]:
        """Every order replayed, read in one pass over the store."""
        checked = 0
        mismatches: list[Mismatch] = []
        for stored, events in self.repo.histories():
            checked += 1
            mismatches.extend(_compare(stored, events))
        return checked, mismatches


def _compare(stored: Order, events: Callable[[], list[OrderEvent]]) -> list[Mismatch]:
    try:
        rebuilt = model.replay(events())
    except (ValueError, model.InvalidTransition) as exc:
        return [Mismatch(stored.orderId, "history", "valid", str(exc))]
    a, b = stored.model_dump(mode="json"), rebuilt.model_dump(mode="json")
    return [Mismatch(stored.orderId, k, a[k], b.get(k)) for k in a if a[k] != b.get(k)]


_TERMINAL_METRICS = {
    OrderStatus.COMPLETED: "OrdersCompleted",
    OrderStatus.REJECTED: "OrdersRejected",
    OrderStatus.CANCELLED: "OrdersCancelled",
}


def _epoch_ms(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000


def parse_status(raw: str | None) -> OrderStatus | None:
    """A listing's ``?status=``: None when absent; InvalidInput naming
    ``status`` for anything but an order status."""
    if raw is None:
        return None
    try:
        return OrderStatus(raw)
    except ValueError:
        allowed = ", ".join(OrderStatus)
        raise errors.InvalidInput(
            f"status must be one of {allowed}",
            [{"loc": ["query", "status"], "msg": f"one of {allowed}"}],
        ) from None


def _plausible_id(order_id: str) -> bool:
    return 0 < len(order_id) <= 64 and order_id.isalnum()


def order_from_snapshot(snapshot: dict[str, Any]) -> tuple[Order, str | None]:
    """The order as an event message carried it, and its payment token if any."""
    data = dict(snapshot)
    token = data.pop("paymentToken", None)
    return Order.model_validate(data), token
