"""A small client of the running shop for the e2e tests and drills."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from devstack.testing import RunningStack

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}
TERMINAL = {"COMPLETED", "REJECTED", "CANCELLED"}


def token(role: str, sub: str) -> str:
    return subprocess.check_output(
        [sys.executable, "-m", "tools", "token", "--role", role, "--sub", sub], text=True
    ).strip()


def bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, sub)}"}


class Shop:
    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.api = stack.api_url
        self.admin = bearer("admin", "ops-1")
        self._customers: dict[str, dict[str, str]] = {}
        self.http = requests.Session()
        self.placed: list[str] = []  # every order this shop placed, in order, once each

    def replay(self) -> str:
        """``python -m tools replay-orders`` against this stack: every order
        rebuilt from its history and compared with its stored state. Fails
        (with the tool's output) unless every order is consistent; returns
        the summary line."""
        done = subprocess.run(
            [sys.executable, "-m", "tools", "replay-orders", "--endpoint", self.stack.emulator_url],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (summary,) = [line for line in done.stdout.splitlines() if line.startswith("replayed ")]
        assert summary.endswith(", 0 differ"), done.stdout
        return summary

    def customer(self, sub: str) -> dict[str, str]:
        if sub not in self._customers:
            self._customers[sub] = bearer("customer", sub)
        return self._customers[sub]

    def product(
        self, stock: int, price: int = 1000, threshold: int = 0, sku: str | None = None
    ) -> str:
        sku = sku or f"SKU-{uuid.uuid4().hex[:10]}"
        r = self.http.put(
            f"{self.api}/products/{sku}",
            headers=self.admin,
            timeout=30,
            json={
                "name": f"Product {sku}",
                "priceCents": price,
                "stock": stock,
                "lowStockThreshold": threshold,
            },
        )
        assert r.status_code == 200, r.text
        return sku

    def place(
        self,
        sub: str,
        lines: list[tuple[str, int]],
        token: str = "tok_ok",
        key: str | None = None,
        attempts: int = 1,
        postal_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """``postal_code`` "00000": an address the simulated carrier never answers for;
        ``headers``: sent besides the customer's token (``X-Correlation-Id``)."""
        headers = {**self.customer(sub), **(headers or {})}
        if key:
            headers["Idempotency-Key"] = key
        address = {**ADDRESS, "postalCode": postal_code} if postal_code else ADDRESS
        body: dict[str, Any] = {
            "items": [{"sku": s, "quantity": q} for s, q in lines],
            "paymentToken": token,
            "shippingAddress": address,
        }
        for attempt in range(attempts):
            r = requests.post(f"{self.api}/orders", json=body, headers=headers, timeout=60)
            if r.status_code in (200, 201) or attempt == attempts - 1:
                break
        assert r.status_code in (200, 201), r.text
        order = dict(r.json())
        if order["orderId"] not in self.placed:
            self.placed.append(order["orderId"])
        return order

    def order(self, order_id: str, sub: str | None = None) -> dict[str, Any]:
        headers = self.customer(sub) if sub else self.admin
        r = self.http.get(f"{self.api}/orders/{order_id}", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def events(self, order_id: str) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.api}/orders/{order_id}/events", headers=self.admin, timeout=30)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    def stock(self, sku: str) -> int:
        return int(self.http.get(f"{self.api}/products/{sku}", timeout=30).json()["stock"])

    def orders(self, ids: list[str]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(self.order, ids))

    def histories(self, ids: list[str]) -> list[list[dict[str, Any]]]:
        """Each order's events, in the order of ``ids`` (eight at a time)."""
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(self.events, ids))

    def listen(self, topic_suffix: str) -> str:
        """An SQS queue subscribed (raw) to one of the app's topics."""
        sqs, sns = self.stack.client("sqs"), self.stack.client("sns")
        url = sqs.create_queue(QueueName=f"listen-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        topic = next(
            t["TopicArn"]
            for t in sns.list_topics()["Topics"]
            if t["TopicArn"].endswith(topic_suffix)
        )
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
        )
        return str(url)

    def heard(self, url: str) -> list[dict[str, Any]]:
        sqs = self.stack.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append(
                    {
                        "body": json.loads(m["Body"]),
                        "attributes": {
                            k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()
                        },
                    }
                )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def _simulated_charge(self, order_id: str) -> dict[str, Any]:
        """The simulated provider's record of the order's charge ({} if none)."""
        item = (
            self.stack.client("dynamodb")
            .get_item(
                TableName="eventshop-local-payments",
                Key={"pk": {"S": f"SIMULATED#{order_id}"}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return dict(item or {})

    def refunded(self, order_id: str) -> bool:
        """Whether the simulated provider gave the order's capture back."""
        return bool(self._simulated_charge(order_id).get("refunded", {}).get("BOOL"))

    def alerts(self, kind: str | None = None) -> list[dict[str, Any]]:
        """GET /ops/alerts, every page, newest first (``kind``: only those)."""
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            r = self.http.get(
                f"{self.api}/ops/alerts?limit=100{cursor}", headers=self.admin, timeout=30
            )
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            if not r.json()["nextCursor"]:
                return [a for a in items if kind in (None, a["kind"])]
            cursor = f"&cursor={r.json()['nextCursor']}"

    def captures(self, order_id: str) -> int:
        item = self._simulated_charge(order_id)
        return int(item["captures"]["N"]) if "captures" in item else 0
