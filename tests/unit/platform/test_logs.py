"""chalicelib.platform.logs: secrets are redacted from every part of a log record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from chalicelib.identity import auth
from chalicelib.orders.events import OrderEventMessage
from chalicelib.platform import logs

SECRET = "unit-test-secret-0123456789abcdef0123456789"
JWT = auth.issue("cust-1", "customer", SECRET)
SIG = "4d9c2f0e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d"
POLICY = "eyJleHBpcmF0aW9uIjogIjIwMjYtMDEtMDFUMDA6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbXX0="
SESSION = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"


def test_plain_text_is_left_alone() -> None:
    for text in (
        "deliver sqs eventshop-local-payments count=1 outcome=ok",
        "chalicelib.orders.dynamo line 12",
        "order 01J0ABCDEF placed for cust-1: 2 lines, 2500 cents",
        "upload uploads/SKU-1/img.jpg: READY",
        "token rejected: Authorization header is not 'Bearer <token>'",
        "token rejected: Signature verification failed",
    ):
        assert logs.redact(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (f"{{'authorization': 'Bearer {JWT}'}}", JWT),
        (f"bearer {JWT[:20]}", JWT[:20]),
        (f"token {JWT} rejected", JWT),
        ("not three parts: abcdefghijklmnopq.rstuvwxyzABCDEFGH.IJKLMNOPQRSTUVWXYZ", "rstuvwxyz"),
        ("charge with tok_ok for order 1", "tok_ok"),
        ("tokens tok_flaky,tok_declined_2", "tok_"),
        ('{"paymentToken": "pm_live_abc123", "items": []}', "pm_live_abc123"),
        ("{'paymentToken': 'pm_live_abc123'}", "pm_live_abc123"),
        ("payment_token=pm_live_abc123 order=1", "pm_live_abc123"),
        (f"GET /t.jpg?X-Amz-Algorithm=AWS4&X-Amz-Signature={SIG}&x=1", SIG),
        (f"url?X-Amz-Security-Token={SESSION}&X-Amz-Expires=900", SESSION),
        (f"{{'policy': '{POLICY}', 'x-amz-signature': '{SIG}'}}", POLICY),
        (f'{{"x-amz-signature": "{SIG}", "key": "uploads/a"}}', SIG),
        (f'{{"x-amz-security-token": "{SESSION}"}}', SESSION),
        (f'Content-Disposition: form-data; name="policy"\r\n\r\n{POLICY}\r\n', POLICY),
        (f"policy={POLICY}&x-amz-signature={SIG}", SIG),
    ],
)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    out = logs.redact(text)
    assert secret not in out, out
    assert logs.REDACTED in out
    assert logs.redact(out) == out  # idempotent


def test_pydantic_errors_lose_their_input_values() -> None:
    # pydantic truncates long input reprs mid-key, so "paymentToken" may be cut
    # off while the token stays: the whole input_value goes.
    body = {"type": "StockReserved", "order": {"notes": "x" * 40, "paymentToken": "pm_9f8e7d"}}
    with pytest.raises(ValidationError) as info:
        OrderEventMessage.model_validate(body)
    text = str(info.value)
    assert "pm_9f8e7d" in text
    assert "pm_9f8e7d" not in logs.redact(text)
    assert "orderId" in logs.redact(text)  # which fields failed is still there


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    parent = logging.getLogger("test_logs_app")
    parent.handlers[:] = [handler]
    parent.propagate = False
    parent.setLevel(logging.DEBUG)
    logs.install(parent)
    yield parent, stream
    parent.handlers.clear()
    parent.filters.clear()


def test_install_covers_args_child_loggers_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    parent, stream = captured
    child = logging.getLogger("test_logs_app.saga")  # propagates: the handler's filter
    parent.info("token rejected: %s", f"bad {JWT}")
    parent.info("order %s: %d cents", "o-1", 2500)
    child.info("body %s", json.dumps({"paymentToken": "tok_ok", "n": 1}))
    child.info('"paymentToken": "%s"', "pm_live_xyz")  # secret split over msg and arg
    child.info({"Authorization": f"Bearer {JWT}"})  # a non-str msg
    child.info("mapping %(sig)s", {"sig": f"X-Amz-Signature={SIG}"})
    try:
        raise ValueError(f"charge failed for tok_flaky with {JWT}")
    except ValueError:
        child.exception("step failed")
    child.info("stack", stack_info=True, extra={"unused": "tok_ok"})
    out = stream.getvalue()
    for secret in (JWT, "tok_ok", "tok_flaky", "pm_live_xyz", SIG):
        assert secret not in out, out
    assert "order o-1: 2500 cents" in out
    assert "Traceback" in out and "ValueError: charge failed for [REDACTED]" in out
    assert out.count("test_logs_app") == 8


def test_install_is_idempotent_and_defaults_to_root() -> None:
    root = logging.getLogger()
    before = list(root.filters)
    try:
        f = logs.install()
        logs.install()
        assert root.filters.count(f) == 1
        assert all(h.filters.count(f) == 1 for h in root.handlers)
    finally:
        root.filters[:] = before
        for h in root.handlers:
            if f in h.filters:
                h.removeFilter(f)


def test_a_record_that_cannot_be_redacted_is_still_logged_safely(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    parent, stream = captured

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    parent.info("value %s tok_ok", Hostile())
    assert "tok_ok" not in stream.getvalue()
    assert logs.REDACTED in stream.getvalue()
