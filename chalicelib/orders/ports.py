"""What the order use cases need from storage: the role, not the technology."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.orders.model import Order, OrderEvent, OrderStatus
from chalicelib.platform import errors

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# A notification marker only stops duplicate deliveries of one event; none
# arrives this late (a DLQ keeps messages 14 days), so DynamoDB's TTL drops it.
NOTIFIED_TTL_SECONDS = 30 * 24 * 3600
# How many orders a status-filtered listing page reads at most: such a page
# may be short, or empty, with a cursor for more.
FILTERED_READS = 100


class JointRefused(errors.Conflict):
    """The change of another context joined to an order's write (``joined``)
    was refused while the order's own condition held: nothing was written.
    ``reasons``: one per item of the joined change, in its order,
    ``"ConditionalCheckFailed"`` where its condition failed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("a change joined to the order's write was refused")
        self.reasons = reasons


@dataclass(frozen=True)
class IdempotencyRecord:
    customer_id: str
    key_hash: str
    request_hash: str
    order_id: str


@dataclass(frozen=True)
class Page:
    orders: list[Order]
    last_key: dict[str, Any] | None


class OrderRepository(Protocol):
    def create(
        self,
        order: Order,
        event: OrderEvent,
        payment_token: str,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        """Store a new order; Conflict if the idempotency key is taken."""

    def find_idempotency(self, customer_id: str, key_hash: str) -> IdempotencyRecord | None: ...

    def get(self, order_id: str) -> Order | None: ...

    def payment_token(self, order_id: str) -> str | None: ...

    def events(self, order_id: str) -> list[OrderEvent]: ...

    def append(
        self,
        before: Order,
        after: Order,
        event: OrderEvent,
        payment_token: str | None = None,
        joined: object | None = None,
    ) -> bool:
        """Write ``after`` and ``event`` if the order is still ``before``
        (status and version); False if it changed meanwhile. The token is
        kept only while the payment is unsettled.

        ``joined``: another context's change that commits with this write or
        not at all (the stock StockReserved takes), made by that context's
        adapter for the same store and opaque here. JointRefused if its
        conditions fail while the order's hold; Transient if a concurrent
        transaction got in the way."""

    def append_many(
        self,
        before: Order,
        steps: list[tuple[OrderEvent, Order]],
        payment_token: str | None = None,
        joined: object | None = None,
    ) -> bool:
        """Several consecutive events (each with the order after it) in one
        conditional write of the order's record (``joined``: see ``append``)."""

    def list_for_customer(
        self,
        customer_id: str,
        limit: int,
        start: dict[str, Any] | None,
        status: OrderStatus | None = None,
    ) -> Page:
        """A page of the customer's orders, newest first (``status``: only
        those in it; see ``list_all``). InvalidInput for another listing's
        ``start``."""

    def list_all(
        self, limit: int, start: dict[str, Any] | None, status: OrderStatus | None = None
    ) -> Page:
        """A page of every order, newest first; ``start``: the previous
        page's ``last_key`` (None: the first; another listing's: InvalidInput).
        With ``status``, only the orders in it: such a page reads at most
        ``FILTERED_READS`` orders, so it may be short, or empty, with more to
        come. The end is a ``last_key`` of None."""

    def aged(self, before: str, limit: int, start: dict[str, Any] | None) -> Page:
        """The sweep's look at the orders as they reach its age: a page of
        those placed before ``before`` (ISO time) that it has not looked at
        yet, the ones not terminal; each of them is watched (``open_before``
        finds it until it is terminal) before the store remembers that it
        was looked at, so no order is missed or looked at twice for long.
        ``start`` and the end as for ``open_before``."""

    def open_before(self, before: str, limit: int, start: dict[str, Any] | None) -> Page:
        """A page of the watched orders (still open when ``aged`` looked at
        them) placed before ``before`` (ISO time), the ones not terminal;
        ``start``: the previous page's ``last_key`` (None: the first).
        A page may be short, or empty, with more to come: the end is a
        ``last_key`` of None."""

    def all_order_ids(self) -> list[str]: ...

    def histories(self) -> Iterator[tuple[Order, Callable[[], list[OrderEvent]]]]:
        """Every order as stored, with a function that reads its history
        (ValueError if the history no longer matches the order's placed
        fields): what ``replay_all`` walks, in one pass over the store."""
        ...

    def mark_notified(self, order_id: str, event_type: str) -> bool:
        """Record that a notification went out; False if it already had."""

    def mark_notified_many(self, order_id: str, event_types: list[str]) -> list[str]:
        """Record that these notifications of one order went out, in one
        write where it can; the ones not marked before."""

    def unmark_notified(self, order_id: str, event_type: str) -> None: ...
