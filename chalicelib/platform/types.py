"""Value types every context shares. Standard library and pydantic only."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from chalicelib.platform import errors

SKU_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
# A product's stock keeping unit: the one definition of what a sku may be.
Sku = Annotated[str, Field(pattern=SKU_PATTERN)]
_SKU = re.compile(SKU_PATTERN)


def check_sku(sku: str) -> str:
    """A sku from a path or a key, or a 400 that names it."""
    if not _SKU.match(sku):
        raise errors.InvalidInput(
            f"sku must match {SKU_PATTERN}", [{"loc": ["path", "sku"], "msg": "invalid sku"}]
        )
    return sku
