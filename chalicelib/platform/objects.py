"""What a context needs from an object store (the role, not S3): the images'
uploads and thumbnails, the catalog's import files. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str


class ObjectStore(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None: ...

    def delete(self, keys: list[str]) -> None: ...

    def presigned_post(
        self,
        key: str,
        content_type_prefix: str | None,
        min_bytes: int,
        max_bytes: int,
        expires_in: int,
    ) -> dict[str, Any]:
        """A browser form that uploads one object to ``key``, of
        ``min_bytes``..``max_bytes``, with a Content-Type starting with
        ``content_type_prefix`` (None: any), for ``expires_in`` seconds."""
        ...

    def url(self, key: str, expires_in: int) -> str: ...
