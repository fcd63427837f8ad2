"""Deployed stages log one JSON object per line, with the flow's keys, and
secrets stay out of it, exceptions included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from chalicelib.platform import correlation, logs

REQUIRED = {"level", "message", "timestamp", "service", "function_name", "correlation_id"}


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "eventshop-dev-payments_step")
    out = io.StringIO()
    logger = logging.getLogger(f"test-json-{id(out)}")
    logger.propagate = False
    logger.addHandler(logging.StreamHandler(out))
    logger.setLevel(logging.INFO)
    logs.configure([logger], "json")
    yield logger, out
    logger.handlers.clear()


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_the_flows_keys(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    with correlation.use("t-abc", order_id="o-1"):
        logger.info("charged order %s", "o-1")
    logger.warning("outside any flow")
    first, second = records(out)
    assert set(first) >= REQUIRED
    assert (first["level"], first["message"], first["service"]) == (
        "INFO",
        "charged order o-1",
        "eventshop",
    )
    assert (first["correlation_id"], first["order_id"]) == ("t-abc", "o-1")
    assert first["function_name"] == "eventshop-dev-payments_step"
    assert second["correlation_id"] == "-"  # outside any flow (a cold start's own lines)
    assert "order_id" not in second


def test_secrets_are_redacted_in_messages_and_exceptions(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    logger.info('body {"paymentToken": "tok_visa_4242", "n": 1}')
    try:
        raise ValueError("Authorization: Bearer eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln")
    except ValueError:
        logger.exception("failed with tok_live_123")
    text = out.getvalue()
    assert "tok_visa_4242" not in text and "tok_live_123" not in text
    assert "eyJhbGciOi" not in text and "[REDACTED]" in text
    failed = records(out)[1]
    assert "ValueError" in str(failed["exception"]) and failed["exception_name"] == "ValueError"


def test_text_format_keeps_the_handlers_formatter(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    out = io.StringIO()
    logger = logging.getLogger("test-text-format")
    logger.propagate = False
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(correlation_id)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logs.configure([logger], "text")
    with correlation.use("t-text"):
        logger.info("hello tok_abc")
    assert out.getvalue() == "INFO t-text hello [REDACTED]\n"
    logger.handlers.clear()


def test_where_lambdas_environment_names_no_function_the_invocation_does(
    captured: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local stack runs every function in one process: each invocation
    names its own (the middleware sets it from Lambda's context)."""
    logger, out = captured
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    with logs.in_function("eventshop-local-shipping_step"):
        logger.info("inside")
    logger.info("outside")
    inside, outside = records(out)
    assert inside["function_name"] == "eventshop-local-shipping_step"
    assert outside["function_name"] == "local"
