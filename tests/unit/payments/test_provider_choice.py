"""Which payment provider a stage gets, and how its Stripe webhooks are
verified: the composition root's rules (chalicelib.bootstrap), no AWS."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chalicelib import bootstrap
from chalicelib.payments.simulated import SimulatedProvider
from chalicelib.payments.stripe_provider import StripePaymentProvider
from chalicelib.platform import errors, secrets
from chalicelib.platform.settings import Settings, SettingsError
from tests.support.builders import stripe_signature
from tests.support.fakes import FakeBus

REQUIRED = [
    f.name
    for f in dataclasses.fields(Settings)
    if f.default is dataclasses.MISSING and f.name not in ("stage", "region")
]


def settings(stage: str, **values: str) -> Settings:
    base = {name: f"{name}-value" for name in REQUIRED}
    return Settings(stage=stage, region="us-east-1", **{**base, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stage", "chosen", "provider"),
    [
        ("local", "", SimulatedProvider),
        ("test", "", SimulatedProvider),
        ("dev", "", StripePaymentProvider),
        ("prod", "", StripePaymentProvider),
        ("local", "stripe", StripePaymentProvider),
        ("dev", "simulated", SimulatedProvider),
        ("prod", "STRIPE", StripePaymentProvider),
    ],
)
def test_each_stage_gets_its_default_provider_or_the_one_it_names(
    stage: str, chosen: str, provider: type
) -> None:
    services = bootstrap.build(settings(stage, payment_provider=chosen))
    assert isinstance(services.payment_provider, provider)


def test_prod_refuses_the_simulated_provider() -> None:
    services = bootstrap.build(settings("prod", payment_provider="simulated"))
    with pytest.raises(RuntimeError, match="prod takes real payments"):
        _ = services.payment_provider


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(SettingsError, match="simulated or stripe"):
        _ = settings("dev", payment_provider="paypal").payments_via


def test_a_local_stripe_stage_without_keys_says_which_variables_it_needs() -> None:
    services = bootstrap.build(settings("local", payment_provider="stripe"))
    with pytest.raises(RuntimeError, match="STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"):
        services.stripe_secret_key()


EVENT = json.dumps({"id": "evt_1", "type": "customer.created", "data": {"object": {}}}).encode()


def test_a_local_stage_verifies_with_the_secret_in_its_environment() -> None:
    services = bootstrap.build(settings("local", stripe_webhook_secret="whsec_x"), bus=FakeBus())
    receipt = services.stripe_webhooks.receive(EVENT, stripe_signature(EVENT, "whsec_x"))
    assert receipt == {"received": True, "eventId": "evt_1", "forwarded": False}
    with pytest.raises(errors.InvalidInput):
        services.stripe_webhooks.receive(EVENT, stripe_signature(EVENT, "whsec_other"))


def test_a_local_stage_without_a_webhook_secret_refuses_webhooks_with_a_400() -> None:
    services = bootstrap.build(settings("local"), bus=FakeBus())
    with pytest.raises(errors.InvalidInput, match="takes no Stripe webhooks"):
        services.stripe_webhooks.receive(EVENT, stripe_signature(EVENT, "whsec_x"))


def test_a_deployed_stage_whose_secret_is_still_the_placeholder_answers_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stripe retries a 5xx for days: once the operator fills the parameter,
    the events it kept sending land. The placeholder itself is never a key."""
    monkeypatch.setattr(secrets, "_cache", {"/eventshop/dev/stripe-webhook": "REPLACE_ME"})
    services = bootstrap.build(
        settings("dev", stripe_webhook_secret_parameter="/eventshop/dev/stripe-webhook"),
        bus=FakeBus(),
    )
    with pytest.raises(errors.Transient, match="placeholder"):
        services.stripe_webhooks.receive(EVENT, stripe_signature(EVENT, "REPLACE_ME"))


def test_a_deployed_stage_verifies_with_its_ssm_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_cache", {"/eventshop/dev/stripe-webhook": "whsec_real"})
    services = bootstrap.build(
        settings(
            "dev",
            stripe_webhook_secret_parameter="/eventshop/dev/stripe-webhook",
            stripe_webhook_secret="whsec_ignored_on_deployed_stages",
        ),
        bus=FakeBus(),
    )
    assert services.stripe_webhooks.receive(EVENT, stripe_signature(EVENT, "whsec_real"))[
        "received"
    ]
