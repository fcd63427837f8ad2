"""Request bodies and ids the HTTP-level tests build orders from."""

from __future__ import annotations

import uuid
from typing import Any

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical Way",
    "city": "London",
    "postalCode": "N1 1AA",
    "country": "GB",
}


def unique(prefix: str) -> str:
    """An id no other test uses: letters, digits and '-' only (a valid sku)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def order_body(items: list[tuple[str, int]], payment_token: str = "tok_ok") -> dict[str, Any]:
    return {
        "items": [{"sku": sku, "quantity": qty} for sku, qty in items],
        "paymentToken": payment_token,
        "shippingAddress": dict(ADDRESS),
    }
