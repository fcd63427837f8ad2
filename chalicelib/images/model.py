"""Product images: the record behind each upload. Standard library and pydantic only."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.platform.types import SKU_PATTERN

THUMBNAIL_SIZES = (1024, 512, 200)
UPLOAD_PREFIX = "uploads/"
THUMBNAIL_PREFIX = "thumbnails/"
_UPLOAD_KEY = re.compile(r"^uploads/(" + SKU_PATTERN.strip("^$") + r")/([0-9a-f]{32})$")


class ImageStatus(StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


class Image(BaseModel):
    model_config = ConfigDict(frozen=True)

    imageId: str  # noqa: N815
    sku: str
    status: ImageStatus
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    bytes: int | None = None
    # size -> object key; the API turns keys into URLs a browser can load
    thumbnailKeys: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    exif: dict[str, Any] | None = None
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
    deletedAt: str | None = None  # noqa: N815
    # The S3 sequencer of the upload last processed: S3 events for one key
    # are ordered by it, so a redelivery or a stale event changes nothing.
    sequencer: str | None = None
    published: bool = False
    # The flow that made the upload slot (platform.correlation): its S3
    # handling and image events carry it.
    correlationId: str | None = None  # noqa: N815


def upload_key(sku: str, image_id: str) -> str:
    return f"{UPLOAD_PREFIX}{sku}/{image_id}"


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """(sku, imageId) of an upload key, or None for anything else."""
    m = _UPLOAD_KEY.match(key)
    return (m.group(1), m.group(2)) if m else None


def thumbnail_key(sku: str, image_id: str, size: int) -> str:
    return f"{THUMBNAIL_PREFIX}{sku}/{image_id}/{size}.jpg"


def newer(sequencer: str, than: str | None) -> bool:
    """S3 sequencers compare as hex of varying length: pad, then compare."""
    if than is None:
        return True
    width = max(len(sequencer), len(than))
    return sequencer.upper().rjust(width, "0") > than.upper().rjust(width, "0")


REVISION_WIDTH = 64


def revision(sequencer: str | None) -> str:
    """The sequencer as a string that compares like ``newer``: "" before any upload."""
    return "" if sequencer is None else sequencer.upper().rjust(REVISION_WIDTH, "0")
