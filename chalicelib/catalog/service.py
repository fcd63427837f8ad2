"""Catalog and stock use cases. The repository and the alert publisher come
in as parameters (no boto3, no chalice here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from chalicelib.catalog.model import (
    Line,
    Product,
    ProductInput,
    ReservationOutcome,
    Restock,
)
from chalicelib.catalog.ports import CatalogRepository, ProductPage
from chalicelib.platform import errors
from chalicelib.platform.clock import now_iso
from chalicelib.platform.types import check_sku
from chalicelib.platform.validation import parse


class AlertPublisher(Protocol):
    def alert(self, kind: str, subject: str, detail: dict[str, Any]) -> None: ...


class CatalogService:
    def __init__(
        self, repo: CatalogRepository, alerts: AlertPublisher, clock: Callable[[], str] = now_iso
    ) -> None:
        self.repo = repo
        self.alerts = alerts
        self.clock = clock

    # --- catalog --------------------------------------------------------
    def put_product(self, sku: str, body: Any) -> Product:
        data: ProductInput = parse(ProductInput, body)
        return self.repo.put(
            Product(sku=check_sku(sku), updatedAt=self.clock(), **data.model_dump())
        )

    def restock(self, sku: str, body: Any) -> Product:
        data: Restock = parse(Restock, body)
        return self.repo.add_stock(check_sku(sku), data.quantity, self.clock())

    def get(self, sku: str) -> Product:
        product = self.repo.get(check_sku(sku))
        if product is None:
            raise errors.NotFound(f"product {sku} not found")
        return product

    def exists(self, sku: str) -> bool:
        return self.repo.get(sku) is not None

    def list_products(self, limit: int, start: dict[str, Any] | None) -> ProductPage:
        return self.repo.list_products(limit, start)

    def prices(self, skus: list[str]) -> dict[str, int]:
        return {sku: p.priceCents for sku, p in self.repo.get_many(skus).items()}

    # --- stock ----------------------------------------------------------
    def reserve(self, order_id: str, lines: list[Line]) -> ReservationOutcome:
        """All lines in one transaction, or none."""
        return self.repo.reserve(order_id, lines, self.clock())

    def release(self, order_id: str) -> list[Line] | None:
        """Give back what the order holds, exactly once."""
        return self.repo.release(order_id, self.clock())

    def alert_shortage(self, order_id: str, skus: list[str]) -> None:
        self.alerts.alert(
            "OrderRejectedForShortage",
            f"order {order_id} rejected: out of stock",
            {"orderId": order_id, "skus": skus},
        )

    def alert_crossings(
        self, changes: Sequence[tuple[dict[str, Any] | None, dict[str, Any] | None]]
    ) -> int:
        """Low-stock alerts from product (old, new) images: one per crossing
        below the threshold, whatever number of orders caused it."""
        sent = 0
        for old, new in changes:
            if not new or not str(new.get("pk", "")).startswith("PRODUCT#"):
                continue
            threshold = int(new.get("lowStockThreshold", 0))
            was = int(old["stock"]) if old and "stock" in old else None
            now = int(new["stock"])
            if now < threshold and (was is None or was >= threshold):
                self.alerts.alert(
                    "LowStock",
                    f"{new['sku']} is low on stock ({now} left)",
                    {"sku": new["sku"], "stock": now, "lowStockThreshold": threshold},
                )
                sent += 1
        return sent
