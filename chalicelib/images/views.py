"""An image as the API shows it: one public model for the body and the schema."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.images.model import ImageStatus
from chalicelib.platform.public import PublicModel


class Image(PublicModel):
    image_id: str
    sku: str
    status: ImageStatus
    reason: str | None
    width: int | None = Field(description="upright, after the EXIF orientation")
    height: int | None = Field(description="upright, after the EXIF orientation")
    format: str | None
    bytes: int | None
    thumbnails: dict[str, str] = Field(
        description="thumbnail URL by size; a size is absent when the original is smaller",
        json_schema_extra={"propertyNames": {"enum": ["200", "512", "1024"]}},
    )
    exif: dict[str, Any] | None = Field(description="gps for admins only")
    created_at: str
    updated_at: str
    # Only admins see it: left out of everyone else's body.
    deleted_at: str | None = None
