"""Functional tier: ``chalice.test.Client`` -> app.py -> adapters -> moto in-process.

One moto world per test module: ``infra/resources.yaml`` is deployed once with
moto's CloudFormation, its outputs become the app's environment, and ``app`` is
imported fresh against them. Tests share that world, so each one works on its
own skus, customers and orders (see ``unique``); the one test that needs an
empty catalog empties it itself.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from chalice.test import Client, HTTPResponse
from moto import mock_aws

from chalicelib import bootstrap

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "resources.yaml"
STACK_NAME = "eventshop-test"
STAGE = "test"
REGION = "us-east-1"

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


def order_body(items: list[tuple[str, int]], payment_token: str = "tok_ok") -> dict[str, Any]:
    return {
        "items": [{"sku": sku, "quantity": qty} for sku, qty in items],
        "paymentToken": payment_token,
        "shippingAddress": dict(ADDRESS),
    }


def sqs_event(shop: Shop, queue_output: str, bodies: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A Lambda SQS event whose records have distinct message ids (Chalice's
    generator gives every record the same one)."""
    event = shop.client.events.generate_sqs_event(
        message_bodies=bodies, queue_name=shop.outputs[queue_output]
    )
    ids = []
    for record in event["Records"]:
        record["messageId"] = str(uuid.uuid4())
        record["receiptHandle"] = f"rh-{record['messageId']}"
        ids.append(record["messageId"])
    return event, ids


def stream_event(
    shop: Shop, items: list[dict[str, Any]], event_name: str = "INSERT"
) -> dict[str, Any]:
    """A Lambda DynamoDB-stream event carrying ``items`` as new images."""
    records = []
    for n, item in enumerate(items):
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "eventSourceARN": shop.outputs["OrdersStreamArn"],
                "dynamodb": {
                    "ApproximateCreationDateTime": int(time.time()),
                    "Keys": {"pk": item["pk"], "sk": item["sk"]},
                    "NewImage": item,
                    "SequenceNumber": str(n + 1).zfill(21),
                    "SizeBytes": len(json.dumps(item)),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return {"Records": records}


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)

        session = boto3.session.Session(region_name=REGION)
        cfn = session.client("cloudformation")
        with warnings.catch_warnings():
            # moto's CloudFormation skips SNS subscriptions and queue policies;
            # the handlers are invoked directly here, so nothing needs them.
            warnings.simplefilter("ignore")
            cfn.create_stack(
                StackName=STACK_NAME,
                TemplateBody=TEMPLATE.read_text(),
                Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
            )
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack["StackStatus"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        for key in ("InventoryQueueName", "PaymentsQueueName", "ShippingQueueName"):
            # Queue outputs must be plain names (the app resolves URLs by name).
            assert "/" not in outputs[key] and ":" not in outputs[key], outputs[key]

        from chalicelib.platform.settings import output_to_env

        for key, value in outputs.items():
            mp.setenv(output_to_env(key), value)
        secret = stage_secret()
        mp.setenv("STAGE", STAGE)
        mp.setenv("JWT_SECRET", secret)

        # This module's world: services built from its environment. The app
        # is imported once per process; its handlers ask bootstrap for the
        # services at call time, so a new world needs no reload.
        bootstrap.install(bootstrap.build())
        app_module = importlib.import_module("app")

        from devstack.api import patch_authorizer

        patch_authorizer()

        with Client(app_module.app, stage_name=STAGE, project_dir=str(ROOT)) as client:
            yield Shop(
                app=app_module,
                client=client,
                outputs=outputs,
                secret=secret,
                session=session,
            )
        bootstrap.install(None)
