"""devstack.faults: an injected 503 is what the service itself would send, in
its protocol, so a real botocore client parses it and retries it as on AWS.

The clients point at a loopback port nothing listens on: the hook answers
before anything is sent, and a request that slipped through would fail with
EndpointConnectionError, not the ClientError asserted here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
import botocore.retries.standard
import botocore.retryhandler
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.faults import AwsCalls, unavailable

UNREACHABLE = "http://127.0.0.1:9"
REGION = "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:t"

Call = Callable[[Any], Any]

# (service, protocol botocore uses for it, call, error code botocore reports)
CASES: list[tuple[str, str, Call, str]] = [
    (
        "dynamodb",
        "json",
        lambda c: c.get_item(TableName="t", Key={"k": {"S": "v"}}),
        "ServiceUnavailable",
    ),
    ("sqs", "json", lambda c: c.get_queue_url(QueueName="q"), "ServiceUnavailable"),
    ("lambda", "rest-json", lambda c: c.get_function(FunctionName="f"), "ServiceUnavailable"),
    # CloudWatch lists cbor first; botocore prefers json when a service offers both.
    ("cloudwatch", "json", lambda c: c.list_metrics(), "ServiceUnavailable"),
    ("eventbridgev2", "smithy-rpc-v2-cbor", lambda c: c.list_event_buses(), "ServiceUnavailable"),
    (
        "sns",
        "query",
        lambda c: c.publish_batch(
            TopicArn=TOPIC, PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}]
        ),
        "ServiceUnavailable",
    ),
    ("sts", "query", lambda c: c.get_caller_identity(), "ServiceUnavailable"),
    ("s3", "rest-xml", lambda c: c.get_object(Bucket="b", Key="k"), "ServiceUnavailable"),
    (
        "s3",
        "rest-xml",
        lambda c: c.put_object(Bucket="b", Key="k", Body=b"x"),
        "ServiceUnavailable",
    ),
    # A HEAD answer has no body: botocore names the error by its status, as on AWS.
    ("s3", "rest-xml", lambda c: c.head_object(Bucket="b", Key="k"), "503"),
    ("route53", "rest-xml", lambda c: c.list_hosted_zones(), "ServiceUnavailable"),
    ("ec2", "ec2", lambda c: c.describe_instances(), "Unavailable"),
]


def legacy_attempts(service: str) -> int:
    """botocore's legacy retry policy, from its own data (DynamoDB: 10, others 5)."""
    loader = boto3.session.Session()._session.get_component("data_loader")
    policy = loader.load_data("_retry")["retry"]
    default = policy["__default__"]["max_attempts"]
    return int(policy.get(service, {}).get("__default__", {}).get("max_attempts", default))


def standard_attempts(service: str) -> int:
    """botocore's standard retry policy (DynamoDB: 4, others 3)."""
    from botocore.retries import standard

    return int(standard._SERVICE_MAX_ATTEMPTS.get(service, standard.DEFAULT_MAX_ATTEMPTS))


# (retry configuration, the attempts botocore makes with it, by service)
RETRIES = [
    pytest.param({"mode": "legacy"}, legacy_attempts, id="legacy-default"),
    pytest.param({"mode": "standard"}, standard_attempts, id="standard-default"),
    # chalicelib.platform.aws's configuration: max_attempts counts retries, so 6 attempts.
    pytest.param({"mode": "standard", "max_attempts": 5}, lambda _: 6, id="standard-5-retries"),
]


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries happen at once (botocore's backoff delays set to zero) and
    nothing from the environment changes the retry policy."""
    monkeypatch.setattr(botocore.retryhandler, "delay_exponential", lambda **_: 0)
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *_: 0)
    for name in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")


def client(service: str, retries: dict[str, Any] | None = None) -> Any:
    return boto3.session.Session().client(
        service,
        region_name=REGION,
        endpoint_url=UNREACHABLE,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries=retries or {"mode": "standard"}, connect_timeout=1),
    )


@pytest.mark.parametrize("retries,attempts_for", RETRIES)
@pytest.mark.parametrize(
    "service,protocol,call,code", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_an_injected_503_is_retried_then_raised_as_a_client_error(
    service: str,
    protocol: str,
    call: Call,
    code: str,
    retries: dict[str, Any],
    attempts_for: Callable[[str], int],
) -> None:
    attempts = attempts_for(service)
    c = client(service, retries)
    assert c.meta.service_model.resolved_protocol == protocol  # the protocol this case covers
    calls = AwsCalls(error_rate=1.0)
    calls.attach(c)

    with pytest.raises(ClientError) as raised:
        call(c)

    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["RetryAttempts"] == attempts - 1
    assert sum(calls.injected.values()) == attempts
    assert calls.sent == {}
    (operation,) = calls.injected
    service_name, _, name = operation.partition(".")
    assert calls.snapshot()["injectedByService"] == {service_name: {name: attempts}}


def test_sqs_names_the_query_era_code_too() -> None:
    c = client("sqs")
    calls = AwsCalls(error_rate=1.0)
    calls.attach(c)
    with pytest.raises(ClientError) as raised:
        c.get_queue_url(QueueName="q")
    assert raised.value.response["Error"]["Type"] == "Receiver"


def test_every_protocol_botocore_knows_has_a_fault_shape() -> None:
    from botocore.parsers import PROTOCOL_PARSERS

    class Request:
        url = UNREACHABLE
        method = "POST"

    class Model:
        metadata: dict[str, str] = {}

        def __init__(self, protocol: str) -> None:
            self.protocol = protocol

    for protocol in PROTOCOL_PARSERS:
        assert unavailable(Model(protocol), Request()).status_code == 503


# --- targeting -------------------------------------------------------------------


class _Request:
    url = UNREACHABLE
    method = "POST"


@cache
def _model(service: str) -> Any:
    return boto3.session.Session().client(service, region_name=REGION).meta.service_model


def _send(calls: AwsCalls, operation: str) -> bool:
    """True when the fault fired for ``operation`` ("sns.PublishBatch")."""
    model = _model(operation.split(".", 1)[0])
    return calls.before_send(_Request(), f"before-send.{operation}", model) is not None


def test_without_targets_every_service_may_fail() -> None:
    calls = AwsCalls(error_rate=1.0)
    assert _send(calls, "sns.PublishBatch")
    assert _send(calls, "dynamodb.GetItem")


def test_a_service_target_fails_only_that_service() -> None:
    calls = AwsCalls(error_rate=1.0, error_services=["sns"])
    assert _send(calls, "sns.PublishBatch")
    assert _send(calls, "sns.Publish")
    assert not _send(calls, "dynamodb.GetItem")
    snapshot = calls.snapshot()
    assert snapshot["sent"] == {"dynamodb.GetItem": 1}
    assert snapshot["injected"] == {"sns.PublishBatch": 1, "sns.Publish": 1}
    assert snapshot["injectedByService"] == {"sns": {"Publish": 1, "PublishBatch": 1}}


def test_an_operation_target_fails_only_that_operation_and_adds_to_services() -> None:
    calls = AwsCalls(error_rate=1.0, error_operations=["sns.PublishBatch"])
    assert _send(calls, "sns.PublishBatch")
    assert not _send(calls, "sns.Publish")
    calls.set_faults(error_services=["s3"])
    assert _send(calls, "s3.GetObject")
    assert _send(calls, "sns.PublishBatch")
    assert not _send(calls, "sqs.SendMessage")


def test_set_faults_leaves_what_it_is_not_given_and_clears_with_an_empty_list() -> None:
    calls = AwsCalls(error_rate=0.5, error_services=["sns"])
    calls.set_faults(error_rate=2.0)
    assert calls.faults() == {
        "awsErrorRate": 1.0,
        "awsErrorServices": ["sns"],
        "awsErrorOperations": [],
    }
    calls.set_faults(error_services=[])
    assert _send(calls, "dynamodb.GetItem")
    calls.set_faults(error_rate=0.0)
    assert not _send(calls, "dynamodb.GetItem")


def test_reset_clears_the_counts_not_the_faults() -> None:
    calls = AwsCalls(error_rate=1.0, error_services=["sns"])
    _send(calls, "sns.Publish")
    _send(calls, "sqs.SendMessage")
    calls.reset()
    snapshot = calls.snapshot()
    assert (snapshot["sent"], snapshot["injected"], snapshot["injectedByService"]) == ({}, {}, {})
    assert (snapshot["errorRate"], snapshot["errorServices"]) == (1.0, ["sns"])
