"""Request bodies and ids the HTTP-level tests build orders from."""

from __future__ import annotations

import hashlib
import hmac
import time
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


def stripe_signature(payload: bytes, secret: str, at: int | None = None) -> str:
    """A ``Stripe-Signature`` header as Stripe computes it: HMAC-SHA256 of
    ``"<t>.<raw body>"`` with the endpoint's signing secret (``at``: t, default now)."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


IMPORT_HEADER = "sku,name,priceCents,stock,lowStockThreshold"


def catalog_csv(prefix: str, good: int = 500) -> tuple[bytes, list[str], dict[int, str]]:
    """A catalog import file: ``good`` valid rows (skus ``<prefix>-0000`` ...)
    and the seven bad rows of the import drill, spread among them. Returns the
    file, the good skus, and line -> a phrase the bad row's error must hold
    (lines as a spreadsheet shows them: the header is line 1)."""
    skus = [f"{prefix}-{i:04d}" for i in range(good)]
    rows = [
        f'{sku},"Product {i}, imported",{100 + i},{i % 50},{i % 7}' for i, sku in enumerate(skus)
    ]
    bad = [
        (f"{prefix}-neg,Negative,-5,1,0", "priceCents"),
        ("bad sku!,Bad sku,100,1,0", "sku"),
        (f"{prefix}-short,Missing a column,100,1", "expected 5 columns"),
        (f"{prefix}-stock,Stock is not an integer,100,ten,0", "stock"),
        (f"{skus[0]},Duplicate of the first,100,1,0", "appears again"),
        (f"{prefix}-huge,{'x' * 100_000},100,1,0", "characters long"),
        ("", "empty"),
    ]
    lines = [IMPORT_HEADER]
    expected: dict[int, str] = {}
    step = max(len(rows) // (len(bad) + 1), 1)
    for n, row in enumerate(rows):
        lines.append(row)
        if n % step == step - 1 and len(expected) < len(bad):
            text, phrase = bad[len(expected)]
            lines.append(text)
            expected[len(lines)] = phrase
    for text, phrase in bad[len(expected) :]:
        lines.append(text)
        expected[len(lines)] = phrase
    return ("\r\n".join(lines) + "\r\n").encode(), skus, expected
