"""What the inventory use cases need from storage: the role, not the technology."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.catalog.importing import ImportRecord, RowError
from chalicelib.catalog.model import (
    ImageEntry,
    Line,
    Product,
    ProductDetails,
    ProductImage,
)
from chalicelib.platform import errors


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class ImageState:
    """A product's image entries as read, with the version a write must find."""

    version: int
    entries: dict[str, ImageEntry]


@dataclass(frozen=True)
class StockChange:
    """Why the stock moved by hand (a restock or an adjustment), kept on the
    product item so the products stream carries it with the change."""

    reason: str
    by: str | None = None


class StockConflict(errors.Conflict):
    """A condition on the stock failed; ``current`` is the stock it found."""

    def __init__(self, message: str, current: int) -> None:
        super().__init__(message)
        self.current = current


class CatalogRepository(Protocol):
    """Stock moves only by deltas under conditions (never by a whole-item
    write): reservations and releases, ``adjust_stock``, and a product's
    initial stock in ``create``.

    A reservation and its release are not written here: each is a change
    (``take``, ``give_back``) the orders context commits with the order's
    own status change, all or nothing, so the order's conditional write (its
    status and version) is what makes each happen once. The change is
    opaque outside the adapters of one store."""

    def create(self, product: Product) -> Product | None:
        """Store a new product; None (and nothing written) if the sku exists."""

    def update_details(
        self, sku: str, details: ProductDetails, expected_stock: int | None, at: str
    ) -> Product:
        """Change everything but the stock. NotFound if there is no such
        product; StockConflict if ``expected_stock`` is given and is not the
        current stock."""

    def get(self, sku: str) -> Product | None: ...

    def get_many(self, skus: list[str]) -> dict[str, Product]: ...

    def list_products(self, limit: int, start: dict[str, Any] | None) -> ProductPage: ...

    def adjust_stock(self, sku: str, delta: int, at: str, change: StockChange) -> Product:
        """Add ``delta`` (non-zero, may be negative). NotFound if there is no
        such product; StockConflict if the stock would leave 0..MAX_STOCK."""

    def take(self, lines: list[Line], at: str) -> object:
        """The change that takes every line's quantity, each only if that
        much is in stock (a reservation). Refused, its reasons are one per
        line, in order (``"ConditionalCheckFailed"`` for a short one)."""

    def give_back(self, lines: list[Line], at: str, full: frozenset[str] = frozenset()) -> object:
        """The change that returns every line's quantity to the stock (a
        release of what a reservation took), each only if the stock stays
        within MAX_STOCK (refused, its reasons are one per line, in order,
        ``"ConditionalCheckFailed"`` for one that would pass it); the lines
        of the skus in ``full`` set the stock to MAX_STOCK instead."""

    def image_state(self, sku: str) -> ImageState | None:
        """The product's image entries (None: no such product)."""
        ...

    def set_images(
        self,
        sku: str,
        expected_version: int,
        entries: dict[str, ImageEntry],
        primary: ProductImage | None,
        at: str,
    ) -> bool:
        """Store the entries and the primary image if the product is still at
        ``expected_version`` (+1 on it); False if it changed meanwhile."""
        ...


@dataclass(frozen=True)
class ImportProgress:
    """How far an import's file has been applied: the next row to apply (by
    its index among the file's valid rows), the counts so far, and the rows
    applying refused (a new product without stock: the first ones, and how many)."""

    next_row: int = 0
    created: int = 0
    updated: int = 0
    refused: tuple[RowError, ...] = ()
    refused_count: int = 0


@dataclass(frozen=True)
class ImportClaim:
    """A delivery's hold on an import while it applies the file: ``lease``
    is the token every write of that delivery must present."""

    record: ImportRecord
    lease: str
    progress: ImportProgress


class ImportBook(Protocol):
    """Where import records live. Writes after ``claim`` are conditional on
    the claim's lease, so two deliveries of one file never both apply it."""

    def create(self, record: ImportRecord) -> None: ...

    def get(self, import_id: str) -> ImportRecord | None: ...

    def claim(self, import_id: str, lease: str, now: str, lease_until: str) -> ImportClaim | None:
        """Take a PENDING import whose last lease (if any) ended before
        ``now``: attempts + 1, leased to ``lease`` until ``lease_until``.
        None if it is not PENDING or another delivery holds it."""

    def checkpoint(self, import_id: str, lease: str, progress: ImportProgress, at: str) -> bool:
        """Keep ``progress``; False if the lease is no longer ours."""

    def finish(self, import_id: str, lease: str, outcome: ImportRecord) -> bool:
        """Store the outcome (DONE or FAILED, counts, errors, reason) and end
        the lease; False if the lease is no longer ours."""

    def release(self, import_id: str, lease: str, error: str, at: str) -> None:
        """End the lease after a failed attempt, keeping its error."""

    def expire(self, import_id: str, reason: str, now: str) -> ImportRecord | None:
        """FAILED with ``reason`` if still PENDING and not leased at ``now``;
        the stored record (whatever its status), or None if there is none."""
