"""PaymentService over the in-memory repository and provider: at most one
charge per order, whatever is redelivered."""

from __future__ import annotations

import pytest

from chalicelib.payments.model import CancelOutcome, ChargeStatus, PaymentOutcome
from chalicelib.payments.ports import ProviderUnavailable
from chalicelib.payments.service import IN_FLIGHT_SECONDS, PaymentService
from chalicelib.platform import errors
from tests.support.fakes import FakePaymentRepository, FakeProvider


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def repo() -> FakePaymentRepository:
    return FakePaymentRepository()


@pytest.fixture
def payments(repo: FakePaymentRepository, provider: FakeProvider) -> PaymentService:
    return PaymentService(repo, provider)


def state(repo: FakePaymentRepository, order_id: str) -> str | None:
    record = repo.record(order_id)
    return record["state"] if record else None


def test_charge_captures_once_under_repeated_calls(
    payments: PaymentService, provider: FakeProvider, repo: FakePaymentRepository
) -> None:
    outcomes = [payments.charge("o1", 1299, "tok_ok") for _ in range(4)]

    assert outcomes[0].status == "CAPTURED"
    assert outcomes[0].charge_id is not None
    assert outcomes[0].charge_id.startswith("ch_")
    assert outcomes[0].reason is None
    assert all(o == outcomes[0] for o in outcomes)
    assert provider.captures("o1") == 1  # the provider is idempotent per order
    record = repo.record("o1")
    assert record is not None
    # the claim stays PENDING: the outcome lives with the provider
    assert (record["state"], record["amountCents"]) == ("PENDING", 1299)


def test_orders_are_charged_independently(payments: PaymentService, provider: FakeProvider) -> None:
    first = payments.charge("o1", 100, "tok_ok")
    second = payments.charge("o2", 100, "tok_ok")
    assert first.charge_id != second.charge_id
    assert (provider.captures("o1"), provider.captures("o2")) == (1, 1)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_declined", "card declined"),
        ("tok_stolen", "payment token not recognised"),
        (None, "no payment token"),
        ("", "no payment token"),
    ],
)
def test_decline(
    payments: PaymentService,
    provider: FakeProvider,
    repo: FakePaymentRepository,
    token: str | None,
    reason: str,
) -> None:
    outcome = payments.charge("o1", 500, token)

    assert outcome == PaymentOutcome(ChargeStatus.DECLINED, None, reason)
    assert provider.captures("o1") == 0
    assert state(repo, "o1") == "PENDING"


def test_a_repeated_declined_charge_returns_the_same_outcome(
    payments: PaymentService, provider: FakeProvider
) -> None:
    first = payments.charge("o1", 500, "tok_declined")
    again = payments.charge("o1", 500, "tok_declined")

    # The stored record says chargeId "-" (no charge); the outcome must not
    # turn that placeholder into a charge id.
    assert again == first
    assert again.charge_id is None
    assert provider.captures("o1") == 0


def test_a_flaky_provider_is_retried_until_it_captures(
    payments: PaymentService, provider: FakeProvider, repo: FakePaymentRepository
) -> None:
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            payments.charge("o1", 700, "tok_flaky")
        assert state(repo, "o1") == "PENDING"

    outcome = payments.charge("o1", 700, "tok_flaky")

    assert outcome.status == "CAPTURED"
    assert provider.captures("o1") == 1
    assert payments.charge("o1", 700, "tok_flaky") == outcome
    assert provider.captures("o1") == 1


def test_provider_unavailable_is_transient() -> None:
    # The SQS step retries Transient errors: the message is reported as failed.
    assert issubclass(ProviderUnavailable, errors.Transient)


def test_cancel_before_charge_voids_and_a_later_charge_takes_nothing(
    payments: PaymentService, provider: FakeProvider, repo: FakePaymentRepository
) -> None:
    assert payments.cancel("o1") == "VOIDED"
    outcome = payments.charge("o1", 500, "tok_ok")

    assert outcome.status == "VOIDED"
    assert provider.charge_calls == 0
    assert state(repo, "o1") == "VOIDED"
    assert payments.cancel("o1") == "NOTHING"


def test_cancel_after_capture_refunds_once(
    payments: PaymentService, provider: FakeProvider, repo: FakePaymentRepository
) -> None:
    payments.charge("o1", 500, "tok_ok")

    assert payments.cancel("o1") == "REFUNDED"
    assert payments.cancel("o1") == "NOTHING"
    assert provider.refunds("o1") == 1
    assert state(repo, "o1") == "REFUNDED"


def test_a_charge_after_the_refund_charges_nothing_more(
    payments: PaymentService, provider: FakeProvider
) -> None:
    captured = payments.charge("o1", 500, "tok_ok")
    payments.cancel("o1")

    again = payments.charge("o1", 500, "tok_ok")

    assert captured.status == "CAPTURED"
    assert again.status == "VOIDED"  # the claim says REFUNDED: nothing to take
    assert provider.captures("o1") == 1
    assert provider.refunds("o1") == 1


def test_cancel_after_decline_does_nothing(
    payments: PaymentService, provider: FakeProvider
) -> None:
    payments.charge("o1", 500, "tok_declined")
    assert payments.cancel("o1") == "NOTHING"
    assert provider.refunds("o1") == 0


def test_cancel_while_a_charge_is_pending_refunds_it_when_it_lands(
    payments: PaymentService, provider: FakeProvider, repo: FakePaymentRepository
) -> None:
    with pytest.raises(ProviderUnavailable):
        payments.charge("o1", 500, "tok_flaky")
    # cancelled while the claim is PENDING and nothing is captured yet
    assert payments.cancel("o1") == "NOTHING"
    assert state(repo, "o1") == "REFUNDED"
    # a later redelivery of the charge takes nothing
    assert payments.charge("o1", 500, "tok_flaky").status == "VOIDED"
    assert provider.captures("o1") == 0


def test_a_refund_that_fails_is_retried_by_the_next_cancel(
    payments: PaymentService, provider: FakeProvider
) -> None:
    payments.charge("o1", 500, "tok_ok")
    provider.fail_refunds = 1

    with pytest.raises(errors.Transient):
        payments.cancel("o1")
    # The message is redelivered: the customer must still get the money back.
    payments.cancel("o1")

    assert provider.refunds("o1") == 1


def test_a_cancel_long_after_the_last_attempt_voids_a_claim_that_never_captured(
    repo: FakePaymentRepository, provider: FakeProvider
) -> None:
    """tok_unavailable: the charge's message died in a DLQ. Nothing was taken,
    and no attempt can still be running: the cancel settles it as VOIDED."""
    now = [1_000_000.0]
    payments = PaymentService(repo, provider, clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            payments.charge("o1", 500, "tok_unavailable")
    assert (
        payments.cancel("o1", cancelled_at=now[0] + 30) is CancelOutcome.NOTHING
    )  # may be running
    assert (
        payments.cancel("o1", cancelled_at=now[0] + IN_FLIGHT_SECONDS + 1) is CancelOutcome.VOIDED
    )
    assert payments.charge("o1", 500, "tok_ok").status is ChargeStatus.VOIDED  # closed for good
    assert provider.captures("o1") == 0


def test_an_attempt_after_the_claim_closed_does_not_move_its_attempt_time(
    repo: FakePaymentRepository, provider: FakeProvider
) -> None:
    now = [1_000_000.0]
    payments = PaymentService(repo, provider, clock=lambda: now[0])
    with pytest.raises(ProviderUnavailable):
        payments.charge("o1", 500, "tok_unavailable")
    payments.cancel("o1")
    now[0] += 1000
    payments.charge("o1", 500, "tok_ok")
    assert (repo.record("o1") or {})["attemptedAt"] == 1_000_000
