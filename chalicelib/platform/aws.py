"""boto3 clients: created lazily, once per container, shared by every handler.

boto3 and its clients cost ~250 ms to create, so nothing here runs at import
time; a function pays only for the clients it uses. Clients are thread-safe
(resources are not, so none are used). The local stack observes and disturbs
the app's calls from outside (devstack wraps botocore's client creation); the
app knows nothing of it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.platform import errors

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"sqs:GetQueueUrl"})

if TYPE_CHECKING:
    import boto3

_lock = threading.Lock()
_session: boto3.session.Session | None = None

# Standard retry mode: exponential backoff with jitter on throttling and
# transient errors, and a retry quota so a sick dependency is not hammered.
_CONFIG_KW: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 5},
    "connect_timeout": 3,
    "read_timeout": 10,
}


def session() -> boto3.session.Session:
    global _session
    with _lock:
        if _session is None:
            import boto3

            _session = boto3.session.Session()
        return _session


@cache
def client(service: str) -> Any:
    import os

    from botocore.config import Config

    config = Config(**_CONFIG_KW)
    if service == "s3":
        # SigV4 for presigned POSTs; path-style URLs when an endpoint (the local
        # emulator) is set, since bucket.127.0.0.1 does not resolve.
        s3 = {"addressing_style": "path"} if os.environ.get("AWS_ENDPOINT_URL") else {}
        config = config.merge(Config(signature_version="s3v4", s3=s3))
    return session().client(service, config=config)


@cache
def queue_url(name: str) -> str:
    # Resolved by name: CloudFormation outputs carry names, and a URL built by
    # hand would differ between the emulator and AWS.
    with translate():
        return str(client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


_NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
    "404",
    "ParameterNotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NotFound",
}
_CONFLICT = {
    "ConditionalCheckFailedException",
    "TransactionCanceledException",
    "TransactionConflictException",
    "IdempotentParameterMismatchException",
}
_TRANSIENT = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "InternalFailure",
    "SlowDown",
    "RequestTimeout",
    # A HEAD (S3's HeadObject) answers with no body: the status is the code.
    "500",
    "503",
}


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def translate() -> Iterator[None]:
    """Turn botocore errors into domain errors: the one place that does it."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", code))
        if code in _NOT_FOUND:
            raise errors.NotFound(message) from exc
        if code in _CONFLICT:
            raise errors.Conflict(message) from exc
        if code in _TRANSIENT:
            raise errors.Transient(message) from exc
        raise
    except (BotoCoreError, ResponseParserError) as exc:
        # Connection and read timeouts that outlived the retries, and answers
        # botocore cannot parse (a proxy's or load balancer's error page, a
        # truncated body): nothing the request did wrong, so worth retrying.
        raise errors.Transient(str(exc)) from exc
