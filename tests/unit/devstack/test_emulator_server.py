"""The emulator's own server (``python -m devstack emulator``): connections
kept open between requests (devstack.keepalive), the backlog route the drain
reads (``moto_patches.with_backlog_route``), and the change feed naming the
queue or stream a request put work in (``changes.track_work``)."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devstack.changes import CHANGES_ROUTE, QUEUES, queue_key, stream_key
from devstack.moto_patches import BACKLOG_ROUTE

SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host, Signature=x",
    "Content-Type": "application/x-www-form-urlencoded",
}
S3_AUTH = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=x"
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = re.search(r"listening on [\d.]+:(\d+)", line)
        assert port, line
        yield f"127.0.0.1:{port.group(1)}"
    finally:
        proc.terminate()
        proc.wait(20)


def clients(emulator: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    url = f"http://{emulator}"
    return session.client("sqs", endpoint_url=url), session.client("dynamodb", endpoint_url=url)


def changes(emulator: str, since: int) -> tuple[int, list[str]]:
    conn = http.client.HTTPConnection(emulator, timeout=10)
    conn.request("GET", f"{CHANGES_ROUTE}?since={since}&wait=0")
    answer = json.loads(conn.getresponse().read())
    return int(answer["generation"]), list(answer["kinds"])


def test_one_connection_serves_request_after_request(emulator: str) -> None:
    conn = http.client.HTTPConnection(emulator, timeout=10)
    socks = []
    for _ in range(3):
        conn.request("POST", "/", body="Action=ListQueues", headers=SIGNED)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200 and b"ListQueuesResponse" in body
        assert response.getheader("Connection") is None  # not "close"
        assert response.getheader("Content-Length") == str(len(body))
        socks.append(conn.sock)
    assert socks[0] is not None and socks == [socks[0]] * 3  # never reconnected


def test_expect_continue_head_and_a_chunked_body(emulator: str) -> None:
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=f"http://{emulator}")
    s3.create_bucket(Bucket="keepalive")
    s3.put_object(Bucket="keepalive", Key="k", Body=b"x" * 5000)
    conn = http.client.HTTPConnection(emulator, timeout=10)
    # HEAD: the object's length, no body, and the connection still usable.
    conn.request("HEAD", "/keepalive/k", headers=S3_AUTH)
    head = conn.getresponse()
    assert head.status == 200 and head.getheader("Content-Length") == "5000"
    assert head.read() == b""
    # A body sent after "100 Continue".
    conn.request(
        "PUT",
        "/keepalive/k2",
        body=b"abc",
        headers={**S3_AUTH, "Expect": "100-continue"},
    )
    put = conn.getresponse()
    put.read()
    assert put.status == 200
    assert s3.get_object(Bucket="keepalive", Key="k2")["Body"].read() == b"abc"
    # A chunked body (no AWS SDK sends one): Werkzeug's own path, which
    # closes the connection after it rather than guess where the next request starts.
    chunked = http.client.HTTPConnection(emulator, timeout=10)
    chunked.request(
        "PUT",
        "/keepalive/k3",
        body=iter([b"de", b"f"]),
        headers=S3_AUTH,
        encode_chunked=True,
    )
    response = chunked.getresponse()
    response.read()
    assert response.status == 200 and response.getheader("Connection") == "close"


def test_the_backlog_route_counts_every_queue_and_stream_head(emulator: str) -> None:
    sqs, ddb = clients(emulator)
    url = sqs.create_queue(QueueName="backlog-q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b")
    sqs.send_message(QueueUrl=url, MessageBody="c", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
    for name, spec in [
        (
            "streamed",
            {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}},
        ),
        ("plain", {}),
    ]:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **spec,
        )
    conn = http.client.HTTPConnection(emulator, timeout=10)
    conn.request("GET", BACKLOG_ROUTE)
    before = json.loads(conn.getresponse().read())
    ddb.put_item(TableName="streamed", Item={"pk": {"S": "1"}})
    ddb.put_item(TableName="streamed", Item={"pk": {"S": "2"}})
    conn.request("GET", BACKLOG_ROUTE)
    after = json.loads(conn.getresponse().read())

    account_path = "/".join(url.split("/")[-2:])
    assert after["queues"][account_path] == [1, 1, 1]  # delayed, in flight, visible
    assert "plain" not in after["streams"]
    ((shard, empty),) = before["streams"]["streamed"].items()
    assert empty == -1
    streams = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    ).client("dynamodbstreams", endpoint_url=f"http://{emulator}")
    arn = ddb.describe_table(TableName="streamed")["Table"]["LatestStreamArn"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert after["streams"]["streamed"] == {shard: int(records[-1]["dynamodb"]["SequenceNumber"])}


def test_the_feed_names_the_queue_or_stream_a_write_put_work_in(emulator: str) -> None:
    sqs, ddb = clients(emulator)
    url = sqs.create_queue(QueueName="feed-q")["QueueUrl"]
    for name, spec in [
        (
            "feed-streamed",
            {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}},
        ),
        ("feed-plain", {}),
    ]:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **spec,
        )
    generation, _ = changes(emulator, 0)

    sqs.send_message(QueueUrl=url, MessageBody="a")
    generation, kinds = changes(emulator, generation)
    assert kinds == [queue_key("feed-q")]  # that queue's source only, not every queue's

    ddb.put_item(TableName="feed-streamed", Item={"pk": {"S": "1"}})
    generation, kinds = changes(emulator, generation)
    assert kinds == [stream_key("feed-streamed")]

    ddb.put_item(TableName="feed-plain", Item={"pk": {"S": "1"}})
    assert changes(emulator, generation) == (generation, [])  # no stream: no work for anyone

    # A publish no queue is subscribed to, an event no rule sends on: no work either.
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    sns = session.client("sns", endpoint_url=f"http://{emulator}")
    events = session.client("events", endpoint_url=f"http://{emulator}")
    topic = sns.create_topic(Name="feed-nobody")["TopicArn"]
    generation, _ = changes(emulator, 0)
    sns.publish(TopicArn=topic, Message="hello")
    events.put_events(Entries=[{"Source": "t", "DetailType": "d", "Detail": "{}"}])
    assert changes(emulator, generation) == (generation, [])
    subscribed = sqs.create_queue(QueueName="feed-subscribed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=subscribed, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    generation, _ = changes(emulator, 0)
    sns.publish(TopicArn=topic, Message="hello")
    generation, kinds = changes(emulator, generation)
    assert kinds == [queue_key("feed-subscribed")]

    # A visibility change adds no message, but may release one: every queue's sources.
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert changes(emulator, generation)[1] == [QUEUES]
