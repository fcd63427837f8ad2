"""The functional tier's shop: the app in ``chalice.test.Client`` over a moto
world deployed from ``infra/resources.yaml`` (see tests/functional/conftest.py),
with small HTTP and AWS helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import jwt
from chalice.test import Client, HTTPResponse

from tests.support.builders import order_body, stripe_signature, unique

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "resources.yaml"
STACK_NAME = "eventshop-test"
STAGE = "test"
REGION = "us-east-1"
# The test stage's Stripe webhook signing secret (its provider stays the
# simulated one; the webhook route still verifies what it is sent).
STRIPE_WEBHOOK_SECRET = "whsec_test_functional"


def stage_secret() -> str:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return str(config["stages"][STAGE]["environment_variables"]["JWT_SECRET"])


@dataclass
class Shop:
    """The app under test, its moto world, and small HTTP/AWS helpers."""

    app: Any
    client: Client
    outputs: dict[str, str]
    secret: str
    session: boto3.session.Session
    _clients: dict[str, Any] = field(default_factory=dict)

    # --- AWS --------------------------------------------------------------
    def aws(self, service: str) -> Any:
        # One client per service: creating one loads its service model (slow).
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    # --- tokens -----------------------------------------------------------
    def token(self, sub: str, role: str = "customer") -> str:
        from chalicelib.identity import auth

        return auth.issue(sub, role, self.secret)

    def auth(self, sub: str, role: str = "customer") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, role)}"}

    def raw_token(self, claims: dict[str, Any], secret: str | None = None) -> str:
        return jwt.encode(claims, secret or self.secret, algorithm="HS256")

    # --- HTTP -------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTTPResponse:
        all_headers = dict(headers or {})
        payload = b""
        if raw is not None:
            payload = raw
            all_headers.setdefault("Content-Type", "application/json")
        elif body is not None:
            payload = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        return self.client.http.request(method, path, headers=all_headers, body=payload)

    def stripe_signature(
        self, payload: bytes, secret: str = STRIPE_WEBHOOK_SECRET, at: int | None = None
    ) -> str:
        """A ``Stripe-Signature`` header for this stage's webhook secret (by default)."""
        return stripe_signature(payload, secret, at)

    def admin(self) -> dict[str, str]:
        return self.auth(unique("ops"), "admin")

    def put_product(
        self, sku: str | None = None, *, price: int = 1250, stock: int = 10, threshold: int = 0
    ) -> dict[str, Any]:
        sku = sku or unique("sku")
        response = self.call(
            "PUT",
            f"/products/{sku}",
            body={
                "name": f"Product {sku}",
                "priceCents": price,
                "stock": stock,
                "lowStockThreshold": threshold,
            },
            headers=self.admin(),
        )
        assert response.status_code == 200, response.body
        return dict(response.json_body)

    def place_order(
        self,
        customer: str,
        items: list[tuple[str, int]],
        *,
        payment_token: str = "tok_ok",
        idempotency_key: str | None = None,
    ) -> HTTPResponse:
        headers = self.auth(customer)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return self.call("POST", "/orders", body=order_body(items, payment_token), headers=headers)

    # --- the orders table -------------------------------------------------
    def order_items(self, order_id: str, prefix: str = "") -> list[dict[str, Any]]:
        """The raw DynamoDB items under ``ORDER#id`` (optionally an sk prefix)."""
        condition, values = "pk = :pk", {":pk": {"S": f"ORDER#{order_id}"}}
        if prefix:
            condition += " AND begins_with(sk, :p)"
            values[":p"] = {"S": prefix}
        return list(
            self.aws("dynamodb").query(
                TableName=self.outputs["OrdersTableName"],
                ConsistentRead=True,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
            )["Items"]
        )

    # --- SNS taps: see what a topic published -----------------------------
    def tap(self, topic_output: str, filter_policy: dict[str, list[str]] | None = None) -> str:
        """A fresh SQS queue subscribed (raw delivery) to a topic; returns its URL."""
        sqs, sns = self.aws("sqs"), self.aws("sns")
        url = sqs.create_queue(QueueName=unique("tap"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes = {"RawMessageDelivery": "true"}
        if filter_policy is not None:
            attributes["FilterPolicy"] = json.dumps(filter_policy)
        sns.subscribe(
            TopicArn=self.outputs[topic_output],
            Protocol="sqs",
            Endpoint=arn,
            Attributes=attributes,
        )
        return str(url)

    def tap_bus(self, pattern: dict[str, Any]) -> str:
        """A fresh SQS queue that a rule on the stage's event bus fills with
        every event matching ``pattern``; returns its URL."""
        sqs, events = self.aws("sqs"), self.aws("events")
        name = unique("tap")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        bus = self.outputs["EventBusName"]
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
        return str(url)

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message now in the queue (moto delivers synchronously)."""
        sqs = self.aws("sqs")
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return out
            out.extend(messages)
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
