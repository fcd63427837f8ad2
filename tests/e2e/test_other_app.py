"""devstack runs a Chalice app that is not eventshop: tests/e2e/other_app (the
"ledger" app, its own template, one handler of every kind Chalice has, and a
``chalicelib`` whose ``platform`` module shares its name with eventshop's
package). Each handler leaves a mark in the app's table; after a drain the
test reads them, and every one was made by the ledger's own chalicelib. Its
REST API answers as API Gateway does (docs/DEVSTACK.md)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.testing import RunningStack, running_stack

LEDGER = Path(__file__).parent / "other_app"
ORIGIN = str(LEDGER.resolve() / "chalicelib" / "platform.py")
API_KEY = "ledger-test-key"
TOKEN = {"Authorization": "Bearer let-me-in"}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"  # what the app's /blob returns


@pytest.fixture(scope="module")
def ledger() -> Iterator[RunningStack]:
    with running_stack(
        project_dir=LEDGER,
        template=LEDGER / "resources.yaml",
        env={"DEVSTACK_API_KEYS": API_KEY},
    ) as stack:
        yield stack


def marks(stack: RunningStack) -> list[dict[str, str]]:
    items = stack.client("dynamodb").scan(TableName="ledger-local-marks", ConsistentRead=True)
    return [{k: v["S"] for k, v in item.items()} for item in items["Items"]]


def test_every_kind_of_handler_runs_the_apps_own_code(ledger: RunningStack) -> None:
    uid = uuid.uuid4().hex[:8]
    account = ledger.client("sts").get_caller_identity()["Account"]
    ledger.client("sqs").send_message(
        QueueUrl=ledger.client("sqs").get_queue_url(QueueName="ledger-local-jobs")["QueueUrl"],
        MessageBody=f"job-{uid}",
    )
    sns = ledger.client("sns")
    sns.publish(
        TopicArn=sns.create_topic(Name="ledger-local-news")["TopicArn"], Message=f"news-{uid}"
    )
    ledger.client("s3").put_object(
        Bucket=f"ledger-local-drops-{account}", Key=f"drop-{uid}.txt", Body=b"x"
    )
    ledger.client("dynamodb").put_item(
        TableName="ledger-local-entries", Item={"id": {"S": f"entry-{uid}"}}
    )
    ledger.client("events").put_events(
        Entries=[
            {"Source": "ledger.tests", "DetailType": "Ping", "Detail": json.dumps({"id": uid})}
        ]
    )
    ledger.control.advance_clock(3600)  # the hourly schedule is due
    whoami = requests.get(f"{ledger.api_url}/whoami", headers=TOKEN, timeout=10)
    assert whoami.json() == {"principal": "tester", "origin": ORIGIN}
    tally = requests.post(f"{ledger.api_url}/tally", json={"numbers": [2, 3]}, timeout=10)
    assert tally.json() == {"status": 200, "error": None, "result": {"total": 5}}
    queued = requests.post(
        f"{ledger.api_url}/tally", json={"numbers": [40, 2], "async": True}, timeout=10
    )
    assert queued.json() == {"status": 202, "error": None, "result": None}
    failed = requests.post(f"{ledger.api_url}/tally", json={"numbers": ["x"]}, timeout=10).json()
    assert (failed["status"], failed["error"]) == (200, "Unhandled")
    assert failed["result"]["errorMessage"] == "numbers only"

    ledger.drain()

    seen = marks(ledger)
    assert {m["origin"] for m in seen} == {ORIGIN}  # never eventshop's chalicelib

    def of(kind: str, key: str) -> list[str]:
        return [m[key] for m in seen if m["kind"] == kind]

    assert f"job-{uid}" in of("sqs", "body")
    assert f"news-{uid}" in of("sns", "message")
    assert f"drop-{uid}.txt" in of("s3", "key")
    assert f"entry-{uid}" in of("dynamodb", "key")
    assert uid in of("eventbridge", "id")
    assert of("schedule", "time")
    assert "tester" in of("authorizer", "principal") and "tester" in of("route", "principal")
    assert {"5", "42"} <= set(of("lambda", "total"))
    assert set(of("lambda", "function")) == {"ledger-local-tally"}  # as chalice deploy names it
    assert ledger.control.status()["failures"] == []


def test_the_api_answers_as_api_gateway(ledger: RunningStack) -> None:
    url = ledger.api_url

    def get(path: str, **headers: str) -> Any:
        return requests.get(f"{url}{path}", headers=headers, timeout=10)

    # api_key_required=True: only a key of DEVSTACK_API_KEYS passes.
    for headers in ({}, {"x-api-key": "not-this-one"}):
        r = get("/keyed", **headers)
        assert (r.status_code, r.content) == (403, b'{"message":"Forbidden"}')
        assert r.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert get("/keyed", **{"x-api-key": API_KEY}).json() == {"keyed": True}
    # Binary: decoded for a first Accept type that is binary, else the base64 text.
    assert get("/blob", Accept="image/png").content == PNG
    assert get("/blob", Accept="text/html, image/png").content == base64.b64encode(PNG)
    # A method the route does not define, or a path no route has.
    for r in (requests.post(f"{url}/keyed", timeout=10), get("/nowhere")):
        assert (r.status_code, r.json()) == (403, {"message": "Missing Authentication Token"})
        assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    # The app's authorizer, with API Gateway's contract for Exception("Unauthorized").
    assert get("/whoami").status_code == 401
    assert get("/whoami", Authorization="Bearer wrong").status_code == 401
