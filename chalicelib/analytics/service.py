"""The analytics use cases: count order events (one, or an SQS batch of
them in one write); read days and products."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from chalicelib.analytics.model import DayTotals, ProductTotals, day_range, fact_of
from chalicelib.analytics.ports import AnalyticsRepository
from chalicelib.orders.consuming import whole_batch
from chalicelib.orders.events import OrderEventMessage
from chalicelib.platform import correlation, errors
from chalicelib.platform.failures import FailureRecorder
from chalicelib.platform.types import check_sku

log = logging.getLogger("eventshop.analytics")


class AnalyticsService:
    def __init__(self, repo: AnalyticsRepository) -> None:
        self.repo = repo

    def apply(self, message: OrderEventMessage) -> bool:
        """Count what ``message`` says, once; True if it changed the numbers
        (a redelivery, or an event analytics ignores, changes nothing)."""
        fact = fact_of(message)
        if fact is None:
            return False
        counted = self.repo.add(fact)
        log.info(
            "analytics: %s of order %s on %s %s",
            fact.kind,
            fact.order_id,
            fact.day,
            "counted" if counted else "was counted already",
        )
        return counted

    def apply_many(self, messages: list[OrderEventMessage]) -> list[bool]:
        """``apply`` for many events in one write; for each, whether it
        changed the numbers. ValueError (naming the order) if one's
        snapshot lacks what its fact needs: then nothing is written."""
        facts = [fact_of(m) for m in messages]
        wanted = [f for f in facts if f is not None]
        counted = iter(self.repo.add_many(wanted) if wanted else [])
        out = [next(counted) if f is not None else False for f in facts]
        for message, fact, now in zip(messages, facts, out, strict=True):
            if fact is not None:
                with correlation.use(message.correlationId, order_id=message.orderId):
                    log.info(
                        "analytics: %s of order %s on %s %s",
                        fact.kind,
                        fact.order_id,
                        fact.day,
                        "counted" if now else "was counted already",
                    )
        return out

    def daily(self, first: str | None, last: str | None) -> list[DayTotals]:
        """Every day of the range, in order, zeros where nothing was placed."""
        try:
            days = day_range(first, last)
        except ValueError as exc:
            field, _, why = str(exc).partition(": ")
            raise errors.InvalidInput(str(exc), [{"loc": ["query", field], "msg": why}]) from None
        stored = self.repo.days(days[0], days[-1])
        return [stored.get(day, DayTotals(day)) for day in days]

    def product(self, sku: str) -> ProductTotals:
        """A product's sales (completed orders); zeros for one never sold."""
        sku = check_sku(sku)
        return self.repo.product(sku) or ProductTotals(sku)

    def top_products(self, limit: int) -> list[ProductTotals]:
        """The ``limit`` best-selling products of the completed orders,
        highest revenue first (then most units, then by sku)."""
        ranked = sorted(
            self.repo.every_product(), key=lambda p: (-p.revenueCents, -p.unitsSold, p.sku)
        )
        return ranked[:limit]


def count_batch(
    records: Iterable[Any],
    service: AnalyticsService,
    failures_log: FailureRecorder | None = None,
) -> dict[str, list[dict[str, str]]]:
    """The analytics step for a whole SQS batch: one write for all of it.
    A record that is not an order event, or whose snapshot cannot make its
    fact, fails alone; a failed write fails the others (counted facts have
    their markers, so the redelivery counts each once). Each failure's
    reason goes to ``failures_log``."""
    return whole_batch(records, service.apply_many, failures_log, name="analytics", check=fact_of)
