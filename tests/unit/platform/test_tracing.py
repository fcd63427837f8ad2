"""Tracing without the X-Ray SDK (docs/ARCHITECTURE.md, Observability): in a
Lambda function with active tracing, botocore itself sends the invocation's
trace header on every AWS call, so a publish or send continues the trace in
the next function. This pins that behaviour of the botocore we ship."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class Sent(Exception):
    """Raised by the capture: the request goes no further than the wire."""


def headers_of_a_publish() -> dict[str, str]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    sns = session.client("sns", endpoint_url="http://127.0.0.1:9")
    seen: dict[str, str] = {}

    def capture(request: Any, **_: object) -> None:
        for key, value in request.headers.items():
            seen[key] = value.decode() if isinstance(value, bytes) else str(value)
        raise Sent

    sns.meta.events.register("before-send.sns.PublishBatch", capture)
    with pytest.raises(Sent):
        sns.publish_batch(
            TopicArn="arn:aws:sns:eu-west-1:123456789012:t",
            PublishBatchRequestEntries=[{"Id": "0", "Message": "m"}],
        )
    return seen


def test_in_lambda_every_call_carries_the_invocations_trace_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "eventshop-dev-relay_order_events")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    assert headers_of_a_publish()["X-Amzn-Trace-Id"] == TRACE


def test_outside_lambda_no_trace_header_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    assert "X-Amzn-Trace-Id" not in headers_of_a_publish()
