"""chalicelib.platform.aws.translate: botocore errors -> domain errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.parsers import ResponseParserError

from chalicelib.platform import aws, errors


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, "Op")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (client_error("ConditionalCheckFailedException"), errors.Conflict),
        (client_error("ResourceNotFoundException"), errors.NotFound),
        (client_error("ThrottlingException"), errors.Transient),
        (client_error("ServiceUnavailable"), errors.Transient),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), errors.Transient),
        # What botocore raises for a body it cannot parse (an XML service
        # answered with JSON, a proxy's HTML error page): transient, not a crash.
        (ResponseParserError("Unable to parse response (syntax error)"), errors.Transient),
    ],
)
def test_botocore_errors_become_domain_errors(
    raised: Exception, expected: type[errors.DomainError]
) -> None:
    with pytest.raises(expected), aws.translate():
        raise raised


def test_an_unknown_client_error_stays_a_client_error() -> None:
    with pytest.raises(ClientError), aws.translate():
        raise client_error("ValidationException")


def test_a_head_503_without_a_body_is_transient() -> None:
    # S3 HeadObject has no error body: botocore's code is the status.
    with pytest.raises(errors.Transient), aws.translate():
        raise client_error("503")
