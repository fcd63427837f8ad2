"""Catalog and stock use cases. The repository and the alert publisher come
in as parameters (no boto3, no chalice here)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.catalog.model import (
    GONE_KEPT_SECONDS,
    MAX_STOCK,
    ImageEntry,
    Line,
    Product,
    ProductDetails,
    ProductInput,
    Restock,
    StockAdjustment,
    primary_image,
)
from chalicelib.catalog.ports import CatalogRepository, ProductPage, StockChange, StockConflict
from chalicelib.platform import errors
from chalicelib.platform.alerts import Alert, AlertKind, AlertRaiser
from chalicelib.platform.clock import now_iso
from chalicelib.platform.types import check_sku
from chalicelib.platform.validation import parse

log = logging.getLogger("eventshop.catalog")

# Image events that make an image the product's (READY) or take it away.
IMAGE_STATES = {"ImageProcessed": "READY", "ImageFailed": "GONE", "ImageRemoved": "GONE"}
IMAGE_WRITE_ATTEMPTS = 5


class CatalogService:
    def __init__(
        self,
        repo: CatalogRepository,
        alerts: AlertRaiser,
        clock: Callable[[], str] = now_iso,
        thumbnail_url: Callable[[str], str] | None = None,
    ) -> None:
        self.repo = repo
        self.alerts = alerts
        self.clock = clock
        # Object key -> URL, from the images context (the catalog never signs).
        self.thumbnail_url = thumbnail_url

    def view(self, product: Product) -> dict[str, Any]:
        """The API's body for ``product``: its primary image's thumbnails as URLs."""
        body = product.model_dump()
        if product.image is not None and self.thumbnail_url is not None:
            body["image"]["thumbnails"] = {
                size: self.thumbnail_url(key) for size, key in product.image.thumbnails.items()
            }
        return body

    # --- catalog --------------------------------------------------------
    def put_product(self, sku: str, body: Any) -> Product:
        """Create a product with its initial stock, or change an existing
        one's name, price and threshold. A PUT never sets the stock of an
        existing product: a ``stock`` that is not the current one is a 409,
        so a stale read written back cannot undo reservations."""
        data: ProductInput = parse(ProductInput, body)
        sku = check_sku(sku)
        at = self.clock()
        details = ProductDetails(
            name=data.name, priceCents=data.priceCents, lowStockThreshold=data.lowStockThreshold
        )
        if data.stock is not None:
            new = Product(sku=sku, stock=data.stock, updatedAt=at, **details.model_dump())
            created = self.repo.create(new)  # conditional: only one create sets the stock
            if created is not None:
                return created
        try:
            return self.repo.update_details(sku, details, data.stock, at)
        except StockConflict as exc:
            raise errors.Conflict(
                f"the stock of {sku} is {exc.current}, not {data.stock}: a PUT does not change "
                f"stock (leave it out); use POST /products/{sku}/restock or "
                f"POST /products/{sku}/stock-adjustments"
            ) from None
        except errors.NotFound:
            if data.stock is None:
                raise errors.InvalidInput(
                    f"stock: required to create product {sku}",
                    [{"loc": ["stock"], "msg": "required to create a product"}],
                ) from None
            # It existed a moment ago; products are never deleted.
            raise errors.Transient(f"product {sku} changed concurrently; retry") from None

    def restock(self, sku: str, body: Any, by: str | None = None) -> Product:
        data: Restock = parse(Restock, body)
        return self._adjust(check_sku(sku), data.quantity, StockChange("restock", by))

    def adjust_stock(self, sku: str, body: Any, by: str | None = None) -> Product:
        """An explicit correction by a signed delta, with its reason. Never
        clamped: a delta that would leave 0..MAX_STOCK is a 409."""
        data: StockAdjustment = parse(StockAdjustment, body)
        return self._adjust(check_sku(sku), data.delta, StockChange(data.reason, by))

    def _adjust(self, sku: str, delta: int, change: StockChange) -> Product:
        try:
            return self.repo.adjust_stock(sku, delta, self.clock(), change)
        except StockConflict as exc:
            if delta > 0:
                why = f"adding {delta} would exceed the maximum stock of {MAX_STOCK}"
            else:
                why = f"removing {-delta} would take it below 0"
            raise errors.Conflict(f"the stock of {sku} is {exc.current}: {why}") from None

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
    # ``taking`` and ``giving_back`` are changes for the orders context to
    # write with the order's own event, all or nothing (orders.service
    # ``joined``): that conditional write makes each happen exactly once.
    def taking(self, lines: list[Line]) -> object:
        """A reservation: every line taken, or none (StockReserved's)."""
        return self.repo.take(lines, self.clock())

    def giving_back(self, lines: list[Line], full: frozenset[str] = frozenset()) -> object:
        """A release of what a reservation took (StockReleased's), each line
        only if its stock stays within MAX_STOCK; the skus in ``full``
        (those that refused it: ``shortage``) are set to MAX_STOCK instead."""
        return self.repo.give_back(lines, self.clock(), full)

    @staticmethod
    def shortage(lines: list[Line], reasons: list[str]) -> list[str]:
        """The skus that refused ``taking(lines)``: its refusal's reasons are
        one per line, in order (orders.ports.JointRefused)."""
        return [
            line.sku
            for line, code in zip(lines, reasons, strict=False)
            if code == "ConditionalCheckFailed"
        ]

    def alert_shortage(self, order_id: str, skus: list[str]) -> None:
        self.alerts.raise_alert(
            Alert(
                AlertKind.LOW_STOCK,
                f"order {order_id} rejected: out of stock",
                {"orderId": order_id, "skus": skus},
                alert_id=f"LOW_STOCK#order#{order_id}",
            )
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
                self.alerts.raise_alert(
                    Alert(
                        AlertKind.LOW_STOCK,
                        f"{new['sku']} is low on stock ({now} left)",
                        {"sku": new["sku"], "stock": now, "lowStockThreshold": threshold},
                        # One crossing, one alert, however often the record is redelivered.
                        alert_id=f"LOW_STOCK#{new['sku']}#{new.get('version', '')}",
                    )
                )
                sent += 1
        return sent

    # --- images -----------------------------------------------------------
    def hear_image(self, event: dict[str, Any]) -> str:
        """An image event (the images context's ``ImageProcessed``, ``ImageFailed``
        or ``ImageRemoved``): keep what it says of its image and make the newest
        READY image the product's. Idempotent and order-independent: an event
        no newer (by ``revision``) than what was heard of its image changes
        nothing, so a redelivered READY never brings back a removed image."""
        try:
            state = IMAGE_STATES[event["type"]]
            sku, image_id = check_sku(event["sku"]), str(event["imageId"])
            entry = ImageEntry(
                state=state,
                revision=str(event.get("revision") or ""),
                at=str(event["at"]),
                thumbnailKeys=(event.get("thumbnailKeys") or {}) if state == "READY" else {},
            )
        except (KeyError, TypeError, ValueError, errors.InvalidInput) as exc:
            log.warning("ignored an image event that is not one: %s", exc)
            return "ignored"
        for _ in range(IMAGE_WRITE_ATTEMPTS):
            current = self.repo.image_state(sku)
            if current is None:
                return "no product"
            known = current.entries.get(image_id)
            if known is not None and known.revision >= entry.revision:
                return "stale"
            entries = _forget_old_tombstones({**current.entries, image_id: entry}, entry.at)
            if self.repo.set_images(
                sku, current.version, entries, primary_image(entries), self.clock()
            ):
                return state.lower()
        raise errors.Transient(f"product {sku} kept changing; the event is retried")


def _forget_old_tombstones(entries: dict[str, ImageEntry], now: str) -> dict[str, ImageEntry]:
    try:
        horizon = datetime.fromisoformat(now.replace("Z", "+00:00")) - timedelta(
            seconds=GONE_KEPT_SECONDS
        )
    except ValueError:
        return entries
    keep: dict[str, ImageEntry] = {}
    for image_id, e in entries.items():
        try:
            old = datetime.fromisoformat(e.at.replace("Z", "+00:00")) < horizon
        except ValueError:
            old = False
        if e.state == "READY" or not old:
            keep[image_id] = e
    return keep
