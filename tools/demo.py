"""The demo catalog ``make run`` seeds on an empty stack (``SEED=0``: not):
``python -m devstack run --seed tools.demo:seed``.

It goes through the running shop as an admin would: the catalog's listing
first (a stack that has products, one kept from an earlier run, is left as
it is), then ``PUT /products/{sku}`` with each product's stock, and a photo
for each through the presigned POST that ``POST /products/{sku}/images``
hands out; the bucket's event runs the image pipeline. It drains the stack,
so every photo has become thumbnails (or failed, said with its reason)
before it answers, and ends with three commands to paste into another
terminal: a customer's token, an order of the first product, and its
timeline once the saga is done. The photos are drawn here (Pillow), so no
binary is kept in the repository.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Any

import requests

from devstack.client import StackControl
from devstack.seed import Target
from tools.issue_token import issue

TIMEOUT = 30
DRAIN_TIMEOUT = 120
DEFAULT_CONTROL = "http://127.0.0.1:4567"  # what `python -m devstack` talks to unless told
ADDRESS = {
    "name": "Alice",
    "line1": "1 Main St",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    name: str
    price_cents: int
    stock: int
    low_stock_threshold: int
    colour: tuple[int, int, int]


PRODUCTS = (
    DemoProduct("MUG-1", "Mug", 1250, 25, 3, (200, 70, 50)),
    DemoProduct("TEE-1", "T-shirt", 2200, 40, 5, (40, 110, 190)),
    DemoProduct("CAP-1", "Cap", 1800, 15, 2, (60, 150, 80)),
    DemoProduct("POSTER-1", "Poster", 900, 60, 0, (230, 170, 40)),
)
PHOTO_SIZE = (1200, 900)  # over 1024 px wide: every thumbnail size is made


class SeedFailed(RuntimeError):
    """The shop refused a step of the seed (its status and answer)."""


def photo(product: DemoProduct) -> bytes:
    """A JPEG of the product: its colour, a simple shape and its name."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = PHOTO_SIZE
    img = Image.new("RGB", PHOTO_SIZE, tuple(c // 3 + 170 for c in product.colour))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        (width // 4, height // 5, width * 3 // 4, height * 3 // 4), radius=60, fill=product.colour
    )
    draw.ellipse(
        (width // 2 - 90, height // 2 - 90, width // 2 + 90, height // 2 + 90), fill="white"
    )
    font = ImageFont.load_default(size=72)
    draw.text((width // 2, height * 7 // 8), product.name, fill="black", font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def _checked(response: requests.Response, *ok: int) -> Any:
    if response.status_code not in ok:
        request = response.request
        raise SeedFailed(
            f"{request.method} {request.path_url}: {response.status_code} {response.text[:500]}"
        )
    return response.json() if response.content else None


def commands(target: Target, sku: str) -> str:
    """What to paste (from the project's folder) to place an order of ``sku``
    as a customer and see its saga, delivery by delivery."""
    control = "" if target.control_url == DEFAULT_CONTROL else f" --control {target.control_url}"
    stripe = os.environ.get("PAYMENT_PROVIDER") == "stripe"
    body = json.dumps(
        {
            "items": [{"sku": sku, "quantity": 1}],
            "paymentToken": "pm_card_visa" if stripe else "tok_ok",
            "shippingAddress": ADDRESS,
        }
    )
    order_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"orderId\"])'"
    return "\n".join(
        [
            "Place an order and watch it (in another terminal, in this folder):",
            "  ME=$(make -s token ROLE=customer SUB=alice)",
            f'  ORDER=$(curl -s -X POST {target.api_url}/orders -H "Authorization: Bearer $ME"'
            f" -H 'Content-Type: application/json' -d '{body}' | {order_id})",
            f"  .venv/bin/python -m devstack drain{control} >/dev/null"
            f" && .venv/bin/python -m devstack trace{control} $ORDER",
        ]
    )


def _upload(http: requests.Session, target: Target, admin: dict[str, str], p: DemoProduct) -> str:
    slot = _checked(
        http.post(f"{target.api_url}/products/{p.sku}/images", headers=admin, timeout=TIMEOUT), 201
    )
    form = {**slot["upload"]["fields"], "Content-Type": "image/jpeg"}
    _checked(
        http.post(
            slot["upload"]["url"],
            data=form,
            files={"file": (f"{p.sku}.jpg", photo(p), "image/jpeg")},
            timeout=TIMEOUT,
        ),
        200,
        201,
        204,
    )
    return str(slot["imageId"])


def seed(target: Target) -> str:
    """Seed the demo catalog unless the shop has products; say what it did."""
    http = requests.Session()
    listed = _checked(
        http.get(f"{target.api_url}/products", params={"limit": 1}, timeout=TIMEOUT), 200
    )
    if listed["items"]:
        return "the catalog has products already: no demo seeded\n" + commands(
            target, listed["items"][0]["sku"]
        )
    token = issue("admin", "demo-seed", target.stage, 900, target.project_dir)
    if token is None:
        raise SeedFailed(f"stage {target.stage!r} has no JWT_SECRET: cannot act as an admin")
    admin = {"Authorization": f"Bearer {token}"}
    images: dict[str, str] = {}
    for p in PRODUCTS:
        _checked(
            http.put(
                f"{target.api_url}/products/{p.sku}",
                headers=admin,
                timeout=TIMEOUT,
                json={
                    "name": p.name,
                    "priceCents": p.price_cents,
                    "stock": p.stock,
                    "lowStockThreshold": p.low_stock_threshold,
                },
            ),
            200,
            201,
        )
        images[p.sku] = _upload(http, target, admin, p)
    StackControl(target.control_url).drain(DRAIN_TIMEOUT)
    lines = []
    for p in PRODUCTS:
        image = _checked(
            http.get(f"{target.api_url}/images/{images[p.sku]}", headers=admin, timeout=TIMEOUT),
            200,
        )
        shown = (
            f"photo READY, thumbnails {', '.join(sorted(image['thumbnails'], key=int))} px"
            if image["status"] == "READY"
            else f"photo {image['status']}: {image.get('reason')}"
        )
        lines.append(
            f"  {p.sku:<9} {p.name:<8} {p.price_cents / 100:>6.2f}  stock {p.stock:<3} {shown}"
        )
    return "\n".join(
        [
            f"seeded the demo catalog: {len(PRODUCTS)} products with stock and a photo each "
            "(make run SEED=0 does not)",
            *lines,
            commands(target, PRODUCTS[0].sku),
        ]
    )
