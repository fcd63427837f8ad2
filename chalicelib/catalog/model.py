"""The catalog: products and their stock. Standard library and pydantic only."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

# No path may take a product's stock above this, nor below 0.
MAX_STOCK = 1_000_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # left out means "not named", not null


class ProductInput(_Strict):
    """The body of ``PUT /products/{sku}``. ``stock`` is the initial stock of
    a new product; a PUT never sets the stock of an existing one (it moves by
    reservations, restocks and adjustments only), so there it may be left out
    or must equal the current stock."""

    name: str = Field(min_length=1, max_length=200)
    priceCents: int = Field(ge=0, le=100_000_000, strict=True)  # noqa: N815
    stock: Annotated[
        int | None, WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_STOCK})
    ] = Field(
        default=None,
        ge=0,
        le=MAX_STOCK,
        strict=True,
        json_schema_extra=_no_default,
        description="required to create a product; on an existing product, "
        "left out or equal to the current stock (409 otherwise)",
    )
    lowStockThreshold: int = Field(default=0, ge=0, le=MAX_STOCK, strict=True)  # noqa: N815

    @field_validator("stock", mode="before")
    @classmethod
    def _stock_is_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be an integer; leave it out to keep the current stock")
        return value


class Restock(_Strict):
    quantity: int = Field(ge=1, le=MAX_STOCK, strict=True)


class StockAdjustment(_Strict):
    """The body of ``POST /products/{sku}/stock-adjustments``: a correction
    (a count, breakage, a return to stock) by a signed delta, with its reason."""

    delta: int = Field(
        ge=-MAX_STOCK, le=MAX_STOCK, strict=True, json_schema_extra={"not": {"const": 0}}
    )
    reason: str = Field(min_length=1, max_length=200)

    @field_validator("delta")
    @classmethod
    def _delta_is_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0")
        return value


class ProductImage(BaseModel):
    """A product's primary image: its newest READY one (see ``primary_image``).
    In the domain ``thumbnails`` maps size to object key; the API answers with
    URLs a browser can load (``CatalogService.view``)."""

    model_config = ConfigDict(frozen=True)

    imageId: str  # noqa: N815
    thumbnails: dict[str, str] = Field(description="size (px, longest side) -> URL")


class ImageEntry(BaseModel):
    """What the catalog last heard of one image of a product: READY (with its
    thumbnails) or GONE (failed or removed), at which ``revision`` of the image."""

    model_config = ConfigDict(frozen=True)

    state: str  # "READY" | "GONE"
    revision: str
    at: str
    thumbnailKeys: dict[str, str] = Field(default_factory=dict)  # noqa: N815


# A GONE entry older than this (before the newest event heard) is forgotten;
# it only guards against a redelivery, and SNS gives up on one within hours.
GONE_KEPT_SECONDS = 7 * 24 * 3600


def primary_image(entries: dict[str, ImageEntry]) -> ProductImage | None:
    """The newest READY image (by the time it became READY, then its id), or None."""
    ready = [(e.at, image_id, e) for image_id, e in entries.items() if e.state == "READY"]
    if not ready:
        return None
    _, image_id, entry = max(ready)
    return ProductImage(imageId=image_id, thumbnails=dict(entry.thumbnailKeys))


class Product(BaseModel):
    # Every field is in every response, defaults included.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    sku: str
    name: str
    priceCents: int  # noqa: N815
    stock: int
    lowStockThreshold: int  # noqa: N815
    updatedAt: str  # noqa: N815
    # 1 on creation, +1 on every change of the item: descriptive updates,
    # restocks, adjustments, reservations and releases, its primary image.
    version: int = 1
    image: ProductImage | None = Field(
        default=None, description="the newest READY image; null until one is READY"
    )


class ProductDetails(BaseModel):
    """What a PUT on an existing product changes: everything but the stock."""

    model_config = ConfigDict(frozen=True)

    name: str
    priceCents: int  # noqa: N815
    lowStockThreshold: int  # noqa: N815


class Line(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int
