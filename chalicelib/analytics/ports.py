"""What the analytics service needs of its store."""

from __future__ import annotations

from typing import Protocol

from chalicelib.analytics.model import DayTotals, Fact, ProductTotals


class AnalyticsRepository(Protocol):
    def add(self, fact: Fact) -> bool:
        """Count ``fact`` (its day's, and for a completed order its lines'
        products', numbers) unless it was counted already; True if it was
        counted now. One atomic write: a fact counts whole or not at all."""
        ...

    def add_many(self, facts: list[Fact]) -> list[bool]:
        """``add`` for many facts in as few atomic writes as fit (each fact
        still whole or not at all); for each, whether it was counted now (a
        fact twice in ``facts`` counts once)."""
        ...

    def days(self, first: str, last: str) -> dict[str, DayTotals]:
        """The stored totals of the days from ``first`` to ``last`` (days
        without any order are absent)."""
        ...

    def product(self, sku: str) -> ProductTotals | None: ...

    def every_product(self) -> list[ProductTotals]:
        """The totals of every product sold (completed orders), in no given order."""
        ...
