"""Watching and disturbing the app's AWS calls (a botocore ``before-send`` hook
on each of the app's clients; see ``devstack.hooks``).

- counts every request the app sends, by service and operation, for the
  benchmarks (devstack's own clients carry no hook: not counted);
- fails a chosen fraction of them, optionally only some services or
  operations, before they leave, with the 503 that service would send: the
  error shape of its protocol (json, rest-json, smithy-rpc-v2-cbor, query,
  rest-xml, ec2), so botocore parses it and retries it as it would on AWS.
  A fault botocore cannot parse would instead raise ``ResponseParserError``
  after one attempt, which no AWS outage does.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse

MESSAGE = "Service unavailable (injected by devstack)"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    n = len(data)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 0x100:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    return head + data


def _cbor_map(items: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949): all an error body needs."""
    assert len(items) < 24
    out = bytes([0xA0 | len(items)])
    for key, value in items.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def _query_error(namespace: str | None, code: str, request_id: str) -> bytes:
    xmlns = f' xmlns="{escape(namespace)}"' if namespace else ""
    return (
        f"<ErrorResponse{xmlns}><Error><Type>Receiver</Type><Code>{code}</Code>"
        f"<Message>{escape(MESSAGE)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


_CODE = "ServiceUnavailable"


def _json_error(protocol: str, metadata: dict[str, Any], headers: dict[str, str]) -> bytes | None:
    """The body (and headers) of a JSON-family 503; None for another protocol."""
    code = _CODE
    if protocol == "json":
        # DynamoDB, SQS, SSM, EventBridge, Kinesis, CloudWatch Logs, ...
        headers["Content-Type"] = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
        if "awsQueryCompatible" in metadata:
            # Services that moved from query (SQS) also name the query-era code.
            headers["x-amzn-query-error"] = f"{code};Receiver"
        return json.dumps({"__type": code, "message": MESSAGE}).encode()
    if protocol == "rest-json":
        # Lambda, API Gateway, ...: the code travels in a header.
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = code
        return json.dumps({"message": MESSAGE}).encode()
    if protocol == "smithy-rpc-v2-cbor":
        # Services that speak only CBOR (EventBridge v2, ...).
        headers["Content-Type"] = "application/cbor"
        headers["smithy-protocol"] = "rpc-v2-cbor"
        if "awsQueryCompatible" in metadata:
            headers["x-amzn-query-error"] = f"{code};Receiver"
        return _cbor_map({"__type": code, "message": MESSAGE})
    return None


def _xml_error(
    protocol: str, metadata: dict[str, Any], headers: dict[str, str], request_id: str
) -> tuple[dict[str, str], bytes]:
    """The headers and body of an XML-family 503."""
    code = _CODE
    if protocol == "query":
        # SNS, STS, CloudFormation, ...
        headers["Content-Type"] = "text/xml"
        return headers, _query_error(metadata.get("xmlNamespace"), code, request_id)
    if protocol == "ec2":
        headers["Content-Type"] = "text/xml;charset=UTF-8"
        code = "Unavailable"  # EC2's own 503 code
        return headers, (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(MESSAGE)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
    if protocol == "rest-xml" and metadata.get("endpointPrefix") in {"s3", "s3-control"}:
        host_id = uuid.uuid4().hex
        s3_headers = {
            "Content-Type": "application/xml",
            "x-amz-request-id": request_id,
            "x-amz-id-2": host_id,
        }
        return s3_headers, (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{escape(MESSAGE)}</Message><RequestId>{request_id}</RequestId>"
            f"<HostId>{host_id}</HostId></Error>"
        ).encode()
    if protocol == "rest-xml":
        # Route 53, CloudFront: the query-style envelope.
        headers["Content-Type"] = "text/xml"
        return headers, _query_error(None, code, request_id)
    raise ValueError(f"no 503 shape for protocol {protocol!r}")


def unavailable(service_model: Any, request: Any) -> AWSResponse:
    """The HTTP 503 ``service_model``'s service answers when it is unavailable,
    in its own protocol (the code its documentation lists for a 503)."""
    # The protocol the client speaks: botocore picks it from the service's
    # ``protocols`` (CloudWatch lists cbor first, botocore 1.4x speaks json to it).
    protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
    metadata = service_model.metadata
    request_id = str(uuid.uuid4())
    headers: dict[str, str] = {"x-amzn-RequestId": request_id}
    body = _json_error(protocol, metadata, headers)
    if body is None:
        headers, body = _xml_error(protocol, metadata, headers, request_id)
    if getattr(request, "method", "") == "HEAD":
        body = b""  # a HEAD answer has no body, errors included (botocore uses the status)
    headers["Content-Length"] = str(len(body))
    return AWSResponse(request.url, 503, headers, _Raw(body))


def _names(value: Iterable[str] | None) -> frozenset[str]:
    return frozenset(value or ())


class AwsCalls:
    """Counts, and optionally fails, the requests of the clients it is attached to.

    A request is a candidate for a fault when no target is set, or its service
    is in ``error_services`` (botocore's event name for it: ``sns``, ``s3``,
    ``dynamodb``), or its operation in ``error_operations`` (``sns.PublishBatch``);
    a candidate fails with probability ``error_rate``.
    """

    def __init__(
        self,
        error_rate: float = 0.0,
        seed: int | None = None,
        error_services: Iterable[str] | None = None,
        error_operations: Iterable[str] | None = None,
    ) -> None:
        self.error_rate = error_rate
        self.error_services = _names(error_services)
        self.error_operations = _names(error_operations)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.sent: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        """Count (and disturb) every request ``client`` sends from now on."""
        model = client.meta.service_model

        def before_send(request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
            return self.before_send(request, event_name, model)

        client.meta.events.register(
            "before-send", before_send, unique_id=f"devstack-aws-calls-{id(self)}"
        )

    def targets(self, operation: str) -> bool:
        if not (self.error_services or self.error_operations):
            return True
        service = operation.split(".", 1)[0]
        return service in self.error_services or operation in self.error_operations

    def before_send(self, request: Any, event_name: str, service_model: Any) -> AWSResponse | None:
        # event_name: before-send.<service>.<Operation>
        operation = event_name.split(".", 1)[-1]
        with self._lock:
            fail = (
                self.error_rate > 0
                and self.targets(operation)
                and self._rng.random() < self.error_rate
            )
            (self.injected if fail else self.sent)[operation] += 1
        return unavailable(service_model, request) if fail else None

    def set_faults(
        self,
        error_rate: float | None = None,
        error_services: Iterable[str] | None = None,
        error_operations: Iterable[str] | None = None,
    ) -> None:
        with self._lock:
            if error_rate is not None:
                self.error_rate = min(1.0, max(0.0, error_rate))
            if error_services is not None:
                self.error_services = _names(error_services)
            if error_operations is not None:
                self.error_operations = _names(error_operations)

    def faults(self) -> dict[str, Any]:
        return {
            "awsErrorRate": self.error_rate,
            "awsErrorServices": sorted(self.error_services),
            "awsErrorOperations": sorted(self.error_operations),
        }

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_service: dict[str, dict[str, int]] = {}
            for operation, count in sorted(self.injected.items()):
                service, _, name = operation.partition(".")
                by_service.setdefault(service, {})[name] = count
            return {
                "errorRate": self.error_rate,
                "errorServices": sorted(self.error_services),
                "errorOperations": sorted(self.error_operations),
                "sent": dict(self.sent),
                "injected": dict(self.injected),
                "injectedByService": by_service,
            }

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self.injected.clear()
