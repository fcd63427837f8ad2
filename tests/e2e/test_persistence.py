"""State that survives a restart: the emulator's write-ahead log and
snapshots (``devstack.persist``) and the stack's state folder
(``devstack.state``), after a clean stop and after ``kill -9`` of the whole
process tree."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from devstack import persist
from devstack.stack import LOCAL_ENV, ROOT
from devstack.testing import running_stack
from tests.support.e2e_shop import TERMINAL, Shop
from tests.support.processes import kill_tree

LISTENING = re.compile(r"emulator listening on [\d.]+:(\d+)")


@contextmanager
def emulator(state: Path) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """``python -m devstack emulator --state`` alone, on a free port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "emulator", "--port", "0", "--state", str(state)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        m = LISTENING.search(line)
        if m:
            break
    else:
        raise AssertionError("".join(lines))
    threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True).start()
    try:
        yield proc, f"http://127.0.0.1:{m.group(1)}", lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def clients(url: str) -> dict[str, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    names = ("dynamodb", "dynamodbstreams", "sqs", "s3", "sns", "events")
    return {n: session.client(n, endpoint_url=url) for n in names}  # type: ignore[call-overload]


def stream_records(c: dict[str, Any], table: str) -> list[str]:
    arn = c["dynamodb"].describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = c["dynamodbstreams"].describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    it = c["dynamodbstreams"].get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = c["dynamodbstreams"].get_records(ShardIterator=it, Limit=1000)["Records"]
    return [f"{r['eventName']} {r['dynamodb']['SequenceNumber']}" for r in records]


def queue_counts(c: dict[str, Any], url: str) -> tuple[int, int, int]:
    a = c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(a["ApproximateNumberOfMessages"]),
        int(a["ApproximateNumberOfMessagesNotVisible"]),
        int(a["ApproximateNumberOfMessagesDelayed"]),
    )


def write_everything(c: dict[str, Any]) -> dict[str, Any]:
    """One of each kind of state, and what a client holds of it."""
    c["dynamodb"].create_table(
        TableName="things",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for i in range(20):
        c["dynamodb"].put_item(TableName="things", Item={"pk": {"S": f"k{i}"}, "n": {"N": "1"}})
    c["dynamodb"].update_item(
        TableName="things",
        Key={"pk": {"S": "k0"}},
        UpdateExpression="SET n = n + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    dlq = c["sqs"].create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = c["sqs"].get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    queue = c["sqs"].create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "300",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    for i in range(4):
        c["sqs"].send_message(QueueUrl=queue, MessageBody=f"m{i}")
    c["sqs"].send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=900)
    received = c["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=2)["Messages"]
    c["sqs"].delete_message(QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"])
    c["s3"].create_bucket(Bucket="kept-bucket")
    c["s3"].put_object(Bucket="kept-bucket", Key="photo.jpg", Body=b"\xff\xd8" + b"x" * 50_000)
    topic = c["sns"].create_topic(Name="news")["TopicArn"]
    c["sns"].subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:work"
    )
    c["events"].create_event_bus(Name="bus")
    c["events"].put_rule(Name="rule", EventBusName="bus", EventPattern='{"source":["x"]}')
    return {
        "queue": queue,
        "held": received[1]["ReceiptHandle"],
        "stream": stream_records(c, "things"),
        "counts": queue_counts(c, queue),
    }


def assert_everything_back(c: dict[str, Any], before: dict[str, Any]) -> None:
    assert c["dynamodb"].scan(TableName="things", Select="COUNT")["Count"] == 20
    item = c["dynamodb"].get_item(TableName="things", Key={"pk": {"S": "k0"}})["Item"]
    assert item["n"] == {"N": "2"}
    # The stream's records, with their sequence numbers: a poller's position
    # kept across the restart still points at the same record.
    assert stream_records(c, "things") == before["stream"]
    queue = c["sqs"].get_queue_url(QueueName="work")["QueueUrl"]
    # 2 visible, 1 in flight, 1 delayed: as they were.
    assert queue_counts(c, queue) == before["counts"] == (2, 1, 1)
    # The receipt handle a consumer got before the stop still deletes its message.
    c["sqs"].delete_message(QueueUrl=queue, ReceiptHandle=before["held"])
    assert queue_counts(c, queue) == (2, 0, 1)
    body = c["s3"].get_object(Bucket="kept-bucket", Key="photo.jpg")["Body"].read()
    assert len(body) == 50_002
    topics = [t["TopicArn"] for t in c["sns"].list_topics()["Topics"]]
    assert [t for t in topics if t.endswith(":news")]
    subs = c["sns"].list_subscriptions()["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == ["arn:aws:sqs:us-east-1:123456789012:work"]
    rules = c["events"].list_rules(EventBusName="bus")["Rules"]
    assert [r["Name"] for r in rules] == ["rule"]


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
def test_every_acknowledged_write_is_back_after_a_restart(tmp_path: Path, stop: str) -> None:
    state = tmp_path / "emulator"
    with emulator(state) as (proc, url, _):
        before = write_everything(clients(url))
        proc.send_signal(signal.SIGKILL if stop == "kill -9" else signal.SIGTERM)
        proc.wait(30)
    if stop == "SIGTERM":  # a clean stop leaves a snapshot and an empty log
        assert (state / persist.SNAPSHOT).exists()
        assert list(persist.records(state)) == []
    else:  # no snapshot at a kill: the last writes are only in the log
        *_, last = persist.records(state)
        assert last.environ["HTTP_X_AMZ_TARGET"] == "AWSEvents.PutRule"
    with emulator(state) as (_, url, lines):
        assert_everything_back(clients(url), before)
        restored = "".join(lines)
        assert "diverged=0" in restored, restored


def test_a_record_cut_short_by_a_crash_is_dropped_and_the_rest_replayed(tmp_path: Path) -> None:
    state = tmp_path / "emulator"
    with emulator(state) as (proc, url, _):
        c = clients(url)
        c["sqs"].create_queue(QueueName="torn")
        proc.kill()
        proc.wait(30)
    (segment,) = state.glob("wal-*.log")
    whole = segment.stat().st_size
    with segment.open("ab") as f:  # half of a record: the write the kill interrupted
        f.write(b"\x00\x00\x10\x00\x12\x34")
    with emulator(state) as (_, url, lines):
        assert clients(url)["sqs"].get_queue_url(QueueName="torn")["QueueUrl"]
        assert "cut short by a crash" in "".join(lines)
    assert segment.stat().st_size >= whole


def test_reads_and_empty_receives_are_not_logged(tmp_path: Path) -> None:
    state = tmp_path / "emulator"
    with emulator(state) as (_, url, _lines):
        c = clients(url)
        queue = c["sqs"].create_queue(QueueName="quiet")["QueueUrl"]
        logged = len(list(persist.records(state)))
        for _ in range(5):
            c["sqs"].receive_message(QueueUrl=queue)
            c["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])
            c["sqs"].list_queues()
        assert len(list(persist.records(state))) == logged
        c["sqs"].send_message(QueueUrl=queue, MessageBody="x")
        c["sqs"].receive_message(QueueUrl=queue)
        assert len(list(persist.records(state))) == logged + 2


def test_state_saved_by_another_moto_is_refused() -> None:
    import pickle

    first = pickle.dumps({"format": persist.FORMAT, "moto": "0.0.1", "backends": {}})
    data = len(first).to_bytes(8, "big") + first
    with pytest.raises(persist.StateMismatch, match=r"moto 0\.0\.1"):
        persist.load_backends(data)


@pytest.mark.parametrize(
    ("method", "target", "body", "changes"),
    [
        ("POST", "DynamoDB_20120810.GetItem", b"{}", False),
        ("POST", "DynamoDB_20120810.Query", b"{}", False),
        ("POST", "DynamoDB_20120810.TransactGetItems", b"{}", False),
        ("POST", "DynamoDB_20120810.PutItem", b"{}", True),
        ("POST", "DynamoDB_20120810.TransactWriteItems", b"{}", True),
        ("POST", "AmazonSQS.ReceiveMessage", b"{}", True),
        ("POST", "AmazonSQS.GetQueueUrl", b"{}", False),
        ("POST", None, b"Action=Publish&TopicArn=x", True),
        ("POST", None, b"Action=ListTopics", False),
        ("GET", None, b"", False),
        ("HEAD", None, b"", False),
        ("PUT", None, b"object bytes", True),
        ("DELETE", None, b"", True),
    ],
)
def test_what_counts_as_a_change(
    method: str, target: str | None, body: bytes, changes: bool
) -> None:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": "/"}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    elif body.startswith(b"Action="):
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    assert persist.changes_state(environ, body) is changes


# --- the whole stack ----------------------------------------------------------


def test_the_saga_goes_on_after_kill_9_of_the_whole_tree_mid_burst(tmp_path: Path) -> None:
    """40 orders by 8 clients; the whole process tree is killed once 15 have
    their 201 (bench/devstack.py runs the 200-order drill); after a restart on
    the same folder every order that got its 201 reaches a terminal state and
    replay-orders finds every order consistent."""
    state = tmp_path / "state"
    acknowledged: list[str] = []
    lock = threading.Lock()
    with running_stack(extra_args=("--state-dir", str(state))) as stack:
        shop = Shop(stack)
        sku = shop.product(stock=1000, price=500)
        killed = threading.Event()

        def place(i: int) -> None:
            if killed.is_set():
                return
            try:
                order = shop.place(f"burst-{i % 8}", [(sku, 1)])
            except (AssertionError, requests.RequestException):
                return  # the stack died under it: never acknowledged
            with lock:
                acknowledged.append(order["orderId"])
                if len(acknowledged) >= 15 and not killed.is_set():
                    killed.set()
                    kill_tree(stack.proc.pid)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(place, range(40)))
        assert killed.is_set()
    assert len(acknowledged) >= 15
    with running_stack(extra_args=("--state-dir", str(state))) as stack:
        log = stack.log_text()
        assert "state: going on from" in log
        assert "emulator state restored" in log
        stack.drain(timeout=180)
        shop = Shop(stack)
        statuses = [o["status"] for o in shop.orders(acknowledged)]
        assert set(statuses) == {"COMPLETED"}, statuses
        # Orders whose 201 the kill cut off are orders all the same (their
        # write was acknowledged to nobody, but made): every one is terminal,
        # and the stock sold is what the completed ones hold.
        stored = stored_statuses(stack)
        assert set(acknowledged) <= set(stored)
        assert set(stored.values()) <= TERMINAL, stored
        completed = sum(1 for s in stored.values() if s == "COMPLETED")
        assert shop.stock(sku) == 1000 - completed
        shop.replay()


def stored_statuses(stack: Any) -> dict[str, str]:
    """Every order record in the orders table, by id: its status."""
    ddb = stack.client("dynamodb")
    (table,) = [t for t in ddb.list_tables()["TableNames"] if t.endswith("-orders")]
    items = [
        item
        for page in ddb.get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
    ]
    return {
        i["pk"]["S"].removeprefix("ORDER#"): i["status"]["S"]
        for i in items
        if i["sk"]["S"] == "ORDER"
    }


def test_catalog_clock_and_positions_survive_a_clean_restart_and_a_new_template_is_refused(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    template = tmp_path / "resources.yaml"
    template.write_text((ROOT / "infra" / "resources.yaml").read_text())
    args = ("--state-dir", str(state), "--template", str(template))
    with running_stack(extra_args=args) as stack:
        shop = Shop(stack)
        sku = shop.product(stock=7, price=250)
        order = shop.place("kept-1", [(sku, 2)])
        stack.drain()
        stack.control.advance_clock(3600)
        positions = json.loads((state / "positions.json").read_text())
        assert positions  # every stream shard a handler finished records with
    assert json.loads((state / "clock.json").read_text()) == {"offset": 3600.0}
    with running_stack(extra_args=args) as stack:
        shop = Shop(stack)
        assert shop.stock(sku) == 5
        assert shop.order(order["orderId"])["status"] == "COMPLETED"
        stack.drain()
        # Nothing delivered again: the stream pollers went on after their
        # positions, the queues' messages were deleted before the stop.
        again = [d for d in stack.control.deliveries() if d["kind"] in ("dynamodb", "sqs")]
        assert again == []
        clock = datetime.fromisoformat(stack.control.status()["clock"])
        assert clock - datetime.now(UTC) > timedelta(seconds=3500)

    # The template changed: its resources would not match the state's.
    template.write_text(template.read_text() + "\n# changed\n")
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "run", *args, "--api-port", "0"],
        cwd=ROOT,
        env={**LOCAL_ENV, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "template or its parameters changed" in done.stdout + done.stderr
    # (--fresh empties the folder first: tests/unit/devstack/test_state.py.)
