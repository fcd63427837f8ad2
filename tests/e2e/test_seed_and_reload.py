"""``make run``'s first screen and its reload on change, on real stacks.

- ``--seed tools.demo:seed`` (what ``make run`` passes unless ``SEED=0``):
  an empty shop gets the demo catalog through its API and upload path, each
  photo ends READY with its thumbnails, and the three commands it prints
  work when pasted into a shell; a shop with products is left alone.
- ``--reload`` on a small app copied to a temporary folder: an edited route
  and handler serve at once on the same ports and wiring, with the
  emulator's state kept; a syntax error is reported in ``GET /status`` and
  in the log while the previous code keeps serving.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.seed import Target
from devstack.stack import ROOT
from devstack.testing import RunningStack, running_stack
from tests.support.e2e_shop import bearer
from tools import demo

# --- the demo seed ----------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded() -> Iterator[RunningStack]:
    with running_stack(extra_args=("--seed", "tools.demo:seed")) as stack:
        stack.wait_for_line(r"devstack (drain|trace)", timeout=180)
        yield stack


def _commands(stack: RunningStack) -> list[str]:
    lines = stack.log_text().splitlines()
    start = lines.index("Place an order and watch it (in another terminal, in this folder):")
    return [line.strip() for line in lines[start + 1 : start + 4]]


def test_an_empty_shop_gets_the_demo_catalog_with_ready_photos(seeded: RunningStack) -> None:
    log = seeded.log_text()
    assert "seeded the demo catalog: 4 products with stock and a photo each" in log
    listed = requests.get(f"{seeded.api_url}/products", params={"limit": 100}, timeout=30).json()
    products = {p["sku"]: p for p in listed["items"]}
    assert set(products) == {p.sku for p in demo.PRODUCTS}
    admin = bearer("admin", "ops-1")
    for p in demo.PRODUCTS:
        product = products[p.sku]
        assert (product["name"], product["priceCents"], product["stock"]) == (
            p.name,
            p.price_cents,
            p.stock,
        )
        assert product["image"] is not None, product  # the primary image, from its events
        image = requests.get(
            f"{seeded.api_url}/images/{product['image']['imageId']}", headers=admin, timeout=30
        ).json()
        assert image["status"] == "READY", image
        assert set(image["thumbnails"]) == {"200", "512", "1024"}
        assert (image["width"], image["height"]) == demo.PHOTO_SIZE
        thumbnail = requests.get(image["thumbnails"]["200"], timeout=30)
        assert thumbnail.status_code == 200
        assert thumbnail.content[:2] == b"\xff\xd8"  # a JPEG
        assert f"{p.sku:<9} {p.name:<8}" in log
    assert log.count("photo READY, thumbnails 200, 512, 1024 px") == len(demo.PRODUCTS)


def test_the_printed_commands_place_an_order_and_show_its_saga(seeded: RunningStack) -> None:
    commands = _commands(seeded)
    assert commands[0].startswith("ME=$(make -s token ROLE=customer")
    assert f"curl -s -X POST {seeded.api_url}/orders" in commands[1]
    assert "python -m devstack trace" in commands[2]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    m = re.fullmatch(r"\d+ deliveries for ([0-9a-f]{32})", first)
    assert m, done.stdout
    order_id = m.group(1)
    for step in ("POST /orders", "relay_order_events", "inventory_step", "payments_step"):
        assert step in done.stdout
    assert "PAID -> COMPLETED" in done.stdout
    order = requests.get(
        f"{seeded.api_url}/orders/{order_id}", headers=bearer("admin", "ops-1"), timeout=30
    ).json()
    assert order["status"] == "COMPLETED"
    assert order["items"] == [
        {"sku": "MUG-1", "quantity": 1, "unitPriceCents": 1250, "lineTotalCents": 1250}
    ]


def unsigned(page: dict[str, Any]) -> dict[str, Any]:
    """A products page with each thumbnail URL's query (its signature) cut off."""
    out: dict[str, Any] = json.loads(json.dumps(page))
    for item in out["items"]:
        thumbnails = (item.get("image") or {}).get("thumbnails") or {}
        for size, url in thumbnails.items():
            thumbnails[size] = url.split("?", 1)[0]
    return out


def test_a_shop_with_products_is_not_seeded_again(seeded: RunningStack) -> None:
    before = requests.get(f"{seeded.api_url}/products", params={"limit": 100}, timeout=30).json()
    said = demo.seed(Target(seeded.api_url, seeded.control.url, seeded.emulator_url, ROOT, "local"))
    assert said.startswith("the catalog has products already: no demo seeded")
    assert "make -s token ROLE=customer" in said
    after = requests.get(f"{seeded.api_url}/products", params={"limit": 100}, timeout=30).json()
    # No product written again (its version and updatedAt would move). The
    # thumbnails' presigned URLs are signed per request (X-Amz-Date, to the
    # second): compared without their signature.
    assert unsigned(after) == unsigned(before)


# --- reload on change -------------------------------------------------------------

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Stage: {Type: String}
Resources:
  Notes:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub reloadme-${Stage}-notes
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub reloadme-${Stage}-work
Outputs:
  NotesTableName: {Value: !Ref Notes}
  WorkQueueName: {Value: !GetAtt Work.QueueName}
"""

APP = """\
import os

import boto3
from chalice.app import Chalice

from chalicelib import greeting

app = Chalice(app_name="reloadme")


@app.route("/hello")
def hello():
    return {"greeting": greeting.TEXT}


@app.on_sqs_message(queue=os.environ["WORK_QUEUE_NAME"])
def work(event):
    table = boto3.resource("dynamodb").Table(os.environ["NOTES_TABLE_NAME"])
    for record in event:
        table.put_item(Item={"id": record.body, "by": greeting.TEXT})
"""


def _project(root: Path) -> Path:
    (root / ".chalice").mkdir()
    (root / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "reloadme", "stages": {"local": {}}})
    )
    (root / "chalicelib").mkdir()
    (root / "chalicelib" / "__init__.py").write_text("")
    (root / "chalicelib" / "greeting.py").write_text('TEXT = "v1"\n')
    (root / "app.py").write_text(APP)
    (root / "resources.yaml").write_text(TEMPLATE)
    return root


def _note(stack: RunningStack, note_id: str) -> dict[str, Any] | None:
    """Send ``note_id`` to the work queue, drain, and read what the handler wrote."""
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName="reloadme-local-work")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=note_id)
    stack.drain()
    return _stored(stack, note_id)


def _stored(stack: RunningStack, note_id: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(
        TableName="reloadme-local-notes", Key={"id": {"S": note_id}}
    )
    return {k: v["S"] for k, v in item["Item"].items()} if "Item" in item else None


def _edit(stack: RunningStack, path: Path, text: str) -> dict[str, Any]:
    """Write ``path`` and wait for the watcher's reload; its status."""
    seen = stack.control.status()["reload"]
    path.write_text(text)
    return stack.control.wait_reload(seen["reloads"] + seen["failed"], timeout=30)


def test_an_edit_reloads_the_code_and_keeps_state_wiring_and_ports(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with running_stack(
        project_dir=project, template=project / "resources.yaml", extra_args=("--reload",)
    ) as stack:
        kept_alive = requests.Session()
        assert kept_alive.get(f"{stack.api_url}/hello", timeout=30).json() == {"greeting": "v1"}
        assert _note(stack, "before") == {"id": "before", "by": "v1"}
        wiring = [(s["kind"], s["handler"]) for s in stack.control.status()["sources"]]
        reload = stack.control.status()["reload"]
        assert (reload["on"], reload["ok"], reload["reloads"], reload["failed"]) == (
            True,
            True,
            0,
            0,
        )

        status = _edit(stack, project / "chalicelib" / "greeting.py", 'TEXT = "v2"\n')
        assert status["ok"], status
        assert status["files"] == ["chalicelib/greeting.py"]
        assert status["restartNeeded"] == []
        # The same port, a new connection and a kept-alive one: the new code.
        assert requests.get(f"{stack.api_url}/hello", timeout=30).json() == {"greeting": "v2"}
        assert kept_alive.get(f"{stack.api_url}/hello", timeout=30).json() == {"greeting": "v2"}
        assert _note(stack, "after") == {"id": "after", "by": "v2"}  # the same queue's wiring
        assert _stored(stack, "before") == {"id": "before", "by": "v1"}  # the emulator's state
        assert [(s["kind"], s["handler"]) for s in stack.control.status()["sources"]] == wiring

        status = _edit(stack, project / "app.py", APP.replace("def hello():", "def hello(:"))
        assert not status["ok"]
        assert status["files"] == ["app.py"]
        assert status["error"].splitlines()[-1].startswith("SyntaxError"), status["error"]
        assert "app.py" in status["error"]
        assert status["at"]
        assert stack.control.status()["reload"]["error"] == status["error"]
        assert "reload failed (app.py); the previous code keeps serving" in stack.log_text()
        assert requests.get(f"{stack.api_url}/hello", timeout=30).json() == {"greeting": "v2"}
        assert _note(stack, "broken") == {"id": "broken", "by": "v2"}

        status = _edit(stack, project / "app.py", APP.replace('"greeting"', '"hello"'))
        assert status["ok"], status
        assert status["error"] is None
        assert requests.get(f"{stack.api_url}/hello", timeout=30).json() == {"hello": "v2"}
