"""The analytics use cases: apply an order event; read days and products."""

from __future__ import annotations

import logging

from chalicelib.analytics.model import DayTotals, ProductTotals, day_range, fact_of
from chalicelib.analytics.ports import AnalyticsRepository
from chalicelib.orders.events import OrderEventMessage
from chalicelib.platform import errors
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
