"""What the image use cases need from storage, the role not the technology."""

from __future__ import annotations

from typing import Protocol

from chalicelib.images.model import Image, ImageStatus
from chalicelib.platform.objects import ObjectInfo, ObjectStore

__all__ = ["ImageRepository", "ObjectInfo", "ObjectStore"]


class ImageRepository(Protocol):
    def create(self, image: Image) -> None: ...

    def get(self, image_id: str) -> Image | None: ...

    def save(self, image: Image, expected_sequencer: str | None) -> bool:
        """Replace the record if its sequencer is still ``expected_sequencer``;
        False if another delivery got there first."""

    def list_for_sku(self, sku: str, status: ImageStatus | None = None) -> list[Image]:
        """The sku's images, oldest first (``createdAt#imageId``): those in
        ``status`` (None: every one), removed ones included."""
        ...

    def pending_before(self, before: str, limit: int) -> list[Image]:
        """Up to ``limit`` PENDING slots created before ``before`` (ISO), oldest first."""
        ...
