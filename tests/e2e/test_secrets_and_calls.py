"""On the running stack: every AWS call the app makes is declared (and so,
by tests/unit/test_policies.py, granted), and no secret reaches its output.

One workload runs once per module: orders paid with ``tok_ok`` and
``tok_flaky`` (two transient failures, logged), an image through the
presigned POST, and error paths that log (rejected tokens, a 503 from a route
whose AWS calls all fail, unreadable saga messages carrying a payment token).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devstack.testing import RunningStack
from tests.support import images as fx
from tests.support.e2e_shop import ADDRESS, Shop
from tests.support.iam_policies import allows, policy
from tools import iam

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Workload:
    log: str
    sent: dict[str, int]
    secrets: dict[str, str] = field(default_factory=dict)


def _secret_of_stage() -> str:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return str(config["stages"]["local"]["environment_variables"]["JWT_SECRET"])


def _signatures(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query).get("X-Amz-Signature", [])


POISON_MARK = "leak-check-poison"


def _poison(shop: Shop, queue: str, token: str) -> None:
    """A message the saga cannot read, carrying a payment token: pydantic's
    error repeats the input, truncated in the middle, and the saga logs it.
    Snapshots carry the token last, so it survives the truncation."""
    sqs = shop.stack.client("sqs")
    url = sqs.get_queue_url(QueueName=f"eventshop-local-{queue}")["QueueUrl"]
    body = {"type": "StockReserved", "order": {"note": POISON_MARK, "paymentToken": token}}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))


def _remove_poison_from_dlq(shop: Shop, queue: str) -> int:
    """Other tests assert what the DLQs hold: take back what we put there."""
    sqs = shop.stack.client("sqs")
    url = sqs.get_queue_url(QueueName=f"eventshop-local-{queue}-dlq")["QueueUrl"]
    removed, kept = 0, []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in got:
            if POISON_MARK in m["Body"]:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                removed += 1
            else:
                kept.append(m["ReceiptHandle"])
        if len(kept) >= 100:
            break
    for handle in kept:  # visible again at once, for whoever looks next
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return removed


@pytest.fixture(scope="module")
def workload(app_stack: RunningStack) -> Workload:
    shop = Shop(app_stack)
    secrets: dict[str, str] = {"JWT secret": _secret_of_stage()}
    secrets["admin JWT"] = shop.admin["Authorization"].split()[1]

    # Orders, through the whole saga.
    sku = shop.product(stock=10, price=1250)
    alice, bob = (f"leak-{uuid.uuid4().hex[:8]}" for _ in range(2))
    ok = shop.place(alice, [(sku, 1)], token="tok_ok")
    flaky = shop.place(bob, [(sku, 2)], token="tok_flaky")
    for sub in (alice, bob):
        secrets[f"customer JWT {sub}"] = shop.customer(sub)["Authorization"].split()[1]

    # An image through the presigned POST; its thumbnails as presigned GETs.
    r = shop.http.post(f"{shop.api}/products/{sku}/images", headers=shop.admin, timeout=30)
    assert r.status_code == 201, r.text
    slot = r.json()
    fields = slot["upload"]["fields"]
    secrets["POST x-amz-signature"] = fields["x-amz-signature"]
    secrets["POST policy"] = fields["policy"]
    up = requests.post(
        slot["upload"]["url"],
        data={**fields, "Content-Type": "image/jpeg"},
        files={"file": ("photo.jpg", fx.photo_jpeg(800, 600), "image/jpeg")},
        timeout=60,
    )
    assert up.status_code in (200, 201, 204), up.text

    # Error paths that log. Rejected tokens: forged, malformed, foreign scheme.
    forged = secrets[f"customer JWT {alice}"][:-6] + "AAAAAA"
    for header in (f"Bearer {forged}", "Bearer tok_ok", "Basic dG9rX29rOnNlY3JldA=="):
        r = shop.http.get(f"{shop.api}/orders", headers={"Authorization": header}, timeout=30)
        assert r.status_code == 401, r.text
    secrets["forged JWT"] = forged
    # Unreadable saga messages with a payment token (any format) inside.
    _poison(shop, "payments", "tok_ok")
    _poison(shop, "notify", "pm_live_poison_5f3a9c")
    secrets["foreign payment token"] = "pm_live_poison_5f3a9c"
    shop.stack.drain(timeout=90)
    assert _remove_poison_from_dlq(shop, "payments") == 1
    assert _remove_poison_from_dlq(shop, "notify") == 1

    # A route whose AWS calls all fail: 503, logged with its traceback.
    app_stack.control.set_faults(awsErrorRate=1.0)
    try:
        r = requests.post(
            f"{shop.api}/orders",
            json={
                "items": [{"sku": sku, "quantity": 1}],
                "paymentToken": "tok_ok",
                "shippingAddress": ADDRESS,
            },
            headers={**shop.customer(alice), "Idempotency-Key": uuid.uuid4().hex},
            timeout=120,
        )
    finally:
        app_stack.control.set_faults(awsErrorRate=0.0)
    assert r.status_code == 503, r.text

    # What the finished work looks like (and the presigned GETs it hands out).
    assert shop.order(ok["orderId"])["status"] == "COMPLETED"
    assert shop.order(flaky["orderId"])["status"] == "COMPLETED"
    r = shop.http.get(f"{shop.api}/images/{slot['imageId']}", headers=shop.admin, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "READY", r.text
    for size, url in r.json()["thumbnails"].items():
        for i, sig in enumerate(_signatures(url)):
            secrets[f"thumbnail {size} X-Amz-Signature {i}"] = sig
    shop.stack.drain(timeout=60)
    return Workload(app_stack.log_text(), dict(app_stack.control.aws_calls()["sent"]), secrets)


# --- observed <= declared <= granted -------------------------------------------


def test_the_workload_made_the_calls_it_should(workload: Workload) -> None:
    for op in (
        "dynamodb.TransactWriteItems",
        "eventbridge.PutEvents",
        "sns.PublishBatch",
        "s3.HeadObject",
        "s3.PutObject",
    ):
        assert workload.sent.get(op), f"{op} not observed: {sorted(workload.sent)}"


def test_every_observed_call_is_declared_and_granted(workload: Workload) -> None:
    docs = {stage: policy(stage) for stage in ("dev", "prod")}
    problems = []
    for op in sorted(workload.sent):
        actions = iam.actions_for(op)
        declared = actions & iam.DECLARED
        ok = bool(declared) if op in iam.PER_ITEM else declared == actions
        if not ok:
            problems.append(f"{op} -> {sorted(actions)}: not declared in any AWS_CALLS")
            continue
        for stage, doc in docs.items():
            problems += [
                f"{op} -> {a}: not granted by policy-{stage}.json"
                for a in declared
                if not any(allows(doc, a, r) for r in _any_target(a, stage))
            ]
    assert problems == []


def _any_target(action: str, stage: str) -> list[str]:
    return [
        arn
        for module, actions in iam.BY_MODULE.items()
        if action in actions
        for arn in iam.targets(module, action, stage)
    ]


# --- no secret in the output -----------------------------------------------------


def test_the_error_paths_ran_and_logged(workload: Workload) -> None:
    log = workload.log
    assert "token rejected" in log
    assert "request failed" in log  # the 503: app.log.exception in app.route
    assert "unreadable message" in log  # the poison messages
    assert "temporarily unavailable" in log  # tok_flaky's transient failures


def test_no_secret_reaches_the_output(workload: Workload) -> None:
    log = workload.log
    leaked = sorted(name for name, value in workload.secrets.items() if value and value in log)
    assert leaked == [], f"in the stack's output: {leaked} (is chalicelib.platform.logs installed?)"
    for token in ("tok_ok", "tok_flaky"):
        assert token not in log, f"payment token {token} in the stack's output"
    # The output holds JSON records too: a quote inside a message is \" there.
    q = r"""\\?["']?"""
    shapes = {
        "a bearer credential": r"(?i)bearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/-]{8,}",
        "a JWT": r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
        "a presigned signature": rf"(?i)x-amz-signature{q}\s*[=:]\s*{q}(?!\[REDACTED\])\w",
        "a payment token": rf"paymentToken{q}\s*[=:]\s*{q}(?!\[REDACTED\])\w",
    }
    found = {name: re.findall(p, log)[:3] for name, p in shapes.items() if re.search(p, log)}
    assert found == {}
