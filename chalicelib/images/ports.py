"""What the image use cases need from storage, the role not the technology."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.images.model import Image


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str


class ImageRepository(Protocol):
    def create(self, image: Image) -> None: ...

    def get(self, image_id: str) -> Image | None: ...

    def save(self, image: Image, expected_sequencer: str | None) -> bool:
        """Replace the record if its sequencer is still ``expected_sequencer``;
        False if another delivery got there first."""

    def list_for_sku(self, sku: str) -> list[Image]: ...

    def pending_before(self, before: str, limit: int) -> list[Image]:
        """Up to ``limit`` PENDING slots created before ``before`` (ISO), oldest first."""
        ...


class ObjectStore(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None: ...

    def delete(self, keys: list[str]) -> None: ...

    def presigned_post(
        self, key: str, content_type_prefix: str, min_bytes: int, max_bytes: int, expires_in: int
    ) -> dict[str, Any]: ...

    def url(self, key: str, expires_in: int) -> str: ...
