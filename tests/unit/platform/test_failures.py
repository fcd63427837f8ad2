"""Recording why a message failed is best effort: it never raises."""

from __future__ import annotations

import pytest

from chalicelib.platform.failures import MAX_REASON, note, reason_of

ARN = "arn:aws:sqs:us-east-1:123456789012:eventshop-dev-payments"


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[tuple[str, str, str]] = []

    def record(self, message_id: str, queue: str, reason: str) -> None:
        if self.fail:
            raise RuntimeError("the table is down")
        self.seen.append((message_id, queue, reason))


def test_the_reason_names_the_queue_and_is_bounded() -> None:
    recorder = Recorder()
    note(recorder, {"messageId": "m-1", "eventSourceARN": ARN}, reason_of(ValueError("x" * 5000)))
    [(message_id, queue, reason)] = recorder.seen
    assert (message_id, queue) == ("m-1", "eventshop-dev-payments")
    assert reason.startswith("ValueError: xxx") and len(reason) == MAX_REASON


def test_a_recorder_that_fails_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    note(Recorder(fail=True), {"messageId": "m-2", "eventSourceARN": ARN}, "boom")
    assert "could not record why message m-2 failed" in caplog.text
    note(None, {"messageId": "m-3"}, "nobody listens")
