"""tools.demo, the demo catalog ``make run`` seeds: its photos, the commands it
prints, and the Makefile's switch (``SEED=0``). The seed against a running
shop is tests/e2e/test_seed_and_reload.py."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from devstack.seed import Target
from tools import demo

ROOT = Path(__file__).resolve().parents[2]


def _target(control: str = demo.DEFAULT_CONTROL) -> Target:
    return Target("http://127.0.0.1:8000", control, "http://127.0.0.1:4566", ROOT, "local")


def test_each_photo_is_a_jpeg_large_enough_for_every_thumbnail() -> None:
    photos = [demo.photo(p) for p in demo.PRODUCTS]
    for data in photos:
        img = Image.open(io.BytesIO(data))
        assert (img.format, img.size, img.mode) == ("JPEG", demo.PHOTO_SIZE, "RGB")
        assert max(img.size) >= 1024  # the largest thumbnail size
    assert len(set(photos)) == len(photos)  # one of its own per product


def test_the_demo_products_are_valid_product_inputs() -> None:
    from chalicelib.catalog.model import ProductInput

    for p in demo.PRODUCTS:
        ProductInput.model_validate(
            {
                "name": p.name,
                "priceCents": p.price_cents,
                "stock": p.stock,
                "lowStockThreshold": p.low_stock_threshold,
            }
        )


def _order_body(commands: str) -> dict[str, object]:
    curl = shlex.split(commands.splitlines()[2].strip().removeprefix("ORDER=$(").split(" | ")[0])
    return dict(json.loads(curl[curl.index("-d") + 1]))


def test_the_commands_order_the_product_as_a_customer_and_trace_it() -> None:
    commands = demo.commands(_target(), "MUG-1")
    lines = [line.strip() for line in commands.splitlines()]
    assert lines[1] == "ME=$(make -s token ROLE=customer SUB=alice)"
    assert lines[2].startswith("ORDER=$(curl -s -X POST http://127.0.0.1:8000/orders ")
    assert lines[3] == (
        ".venv/bin/python -m devstack drain >/dev/null && .venv/bin/python -m devstack trace $ORDER"
    )
    body = _order_body(commands)
    assert body["items"] == [{"sku": "MUG-1", "quantity": 1}]
    assert body["paymentToken"] == "tok_ok"
    from chalicelib.orders.model import PlaceOrder

    PlaceOrder.model_validate(body)


def test_a_control_endpoint_elsewhere_is_named_in_the_commands() -> None:
    commands = demo.commands(_target("http://127.0.0.1:39001"), "MUG-1")
    assert commands.splitlines()[3].strip() == (
        ".venv/bin/python -m devstack drain --control http://127.0.0.1:39001 >/dev/null"
        " && .venv/bin/python -m devstack trace --control http://127.0.0.1:39001 $ORDER"
    )


def test_on_stripe_the_order_pays_with_a_test_payment_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_PROVIDER", "stripe")
    assert _order_body(demo.commands(_target(), "MUG-1"))["paymentToken"] == "pm_card_visa"


def _make_run(*variables: str) -> str:
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_make_run_reloads_and_seeds_unless_told_not_to() -> None:
    assert "--reload" in _make_run()
    assert "--seed tools.demo:seed" in _make_run()
    assert "--seed" not in _make_run("SEED=0")
    assert "--reload" in _make_run("SEED=0")
