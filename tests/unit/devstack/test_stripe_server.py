"""devstack.stripe_server, driven by the real ``stripe`` library (no patching):
what a provider built on it sees (objects, exceptions, idempotent replays,
signed webhooks verified by ``stripe.Webhook.construct_event``).

No sleeps: asynchronous webhook work is awaited with ``server.idle()``; the
receiver records each delivery before it answers, so once the server is idle
every attempt is recorded.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe

from devstack.stripe_server import StripeApiError, StripeServer, decode_form

API_KEY = "sk_test_local"
SECRET = "whsec_local"
ID = re.compile(r"(pi|ch|re|evt)_[A-Za-z0-9]{24}")


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    status: int

    def event(self) -> stripe.Event:
        event: stripe.Event = stripe.Webhook.construct_event(
            self.body.decode(), self.headers.get("Stripe-Signature"), SECRET
        )
        return event


class Receiver:
    """A webhook endpoint: records every attempt; answers 500 to the next
    ``fail_next`` ones; blocks while ``gate`` is clear."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.fail_next = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.gate.wait(10)
                with receiver._lock:
                    status = 500 if receiver.fail_next > 0 else 200
                    receiver.fail_next = max(receiver.fail_next - 1, 0)
                    receiver.deliveries.append(Delivery(body, dict(self.headers.items()), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_port}/webhooks"
        threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self) -> list[stripe.Event]:
        """The events of the deliveries answered 2xx, verified."""
        return [d.event() for d in self.deliveries if d.status == 200]

    def types(self) -> list[str]:
        return [e.type for e in self.events()]

    def close(self) -> None:
        self.gate.set()
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def server(receiver: Receiver) -> Iterator[StripeServer]:
    with StripeServer(API_KEY, SECRET, webhook_url=receiver.url) as s:
        yield s


@pytest.fixture
def client(server: StripeServer) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": server.url}, max_network_retries=0)


def pay(
    client: stripe.StripeClient,
    payment_method: str = "pm_card_visa",
    key: str | None = None,
    amount: int = 2500,
    order_id: str = "o-1",
) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": payment_method,
            "confirm": True,
            "metadata": {"order_id": order_id},
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        },
        options={"idempotency_key": key} if key else None,
    )


def total_intents(server: StripeServer) -> int:
    return sum(server.stats()["paymentIntents"].values())


# --- payments ---


def test_a_visa_payment_succeeds_and_its_webhook_is_signed(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    intent = pay(client, key="k-1")

    assert ID.fullmatch(intent.id) and intent.id.startswith("pi_")
    assert intent.status == "succeeded"
    assert intent.amount_received == 2500
    assert intent.currency == "usd"
    assert intent.latest_charge is not None and str(intent.latest_charge).startswith("ch_")
    assert intent.metadata["order_id"] == "o-1"
    assert intent.livemode is False
    assert intent.automatic_payment_methods is not None
    assert intent.automatic_payment_methods.allow_redirects == "never"
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"

    assert server.idle(5)
    [event] = receiver.events()
    assert ID.fullmatch(event.id) and event.id.startswith("evt_")
    assert event.type == "payment_intent.succeeded"
    assert event.data.object["id"] == intent.id
    assert event.data.object["status"] == "succeeded"
    assert event.request is not None and event.request.idempotency_key == "k-1"
    assert receiver.deliveries[0].headers["Content-Type"].startswith("application/json")
    # The signature covers the exact body and the secret.
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            receiver.deliveries[0].body.decode(),
            receiver.deliveries[0].headers["Stripe-Signature"],
            "whsec_other",
        )
    stats = server.stats()
    assert stats["succeeded"] == 1
    assert stats["webhooks"] == {"sent": 1, "failed": 0, "attempts": 1, "pending": 0}


def test_without_confirm_the_intent_waits_then_confirm_runs_it(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    bare = client.v1.payment_intents.create(params={"amount": 900, "currency": "EUR"})
    assert bare.status == "requires_payment_method"
    assert bare.currency == "eur"
    assert bare.client_secret is not None
    assert bare.client_secret.startswith(f"{bare.id}_secret_")
    assert bare.automatic_payment_methods is None
    assert bare.payment_method_types == ["card"]

    with_method = client.v1.payment_intents.create(
        params={
            "amount": 900,
            "currency": "eur",
            "payment_method": "pm_card_mastercard",
            "allowed_payment_method_types": ["card", "link"],
        }
    )
    assert with_method.status == "requires_confirmation"
    assert with_method.payment_method_types == ["card", "link"]
    confirmed = client.v1.payment_intents.confirm(with_method.id)
    assert confirmed.status == "succeeded"

    confirmed = client.v1.payment_intents.confirm(
        bare.id, params={"payment_method": "pm_card_visa"}
    )
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 900

    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.confirm(bare.id)
    assert again.value.code == "payment_intent_unexpected_state"
    assert again.value.error is not None and again.value.error.payment_intent is not None
    assert again.value.error.payment_intent.id == bare.id

    assert server.idle(5)
    assert receiver.types() == ["payment_intent.succeeded"] * 2


@pytest.mark.parametrize(
    ("payment_method", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
    ],
)
def test_a_declined_card_raises_card_error_and_sends_payment_failed(
    server: StripeServer,
    client: stripe.StripeClient,
    receiver: Receiver,
    payment_method: str,
    decline_code: str,
    message: str,
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        pay(client, payment_method)

    error = declined.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.user_message == message
    assert error.error is not None and error.error.decline_code == decline_code
    assert error.error.payment_intent is not None
    intent = client.v1.payment_intents.retrieve(error.error.payment_intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.payment_method is None
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.decline_code == decline_code

    assert server.idle(5)
    [event] = receiver.events()
    assert event.type == "payment_intent.payment_failed"
    assert event.data.object["last_payment_error"]["code"] == "card_declined"
    assert server.stats()["succeeded"] == 0


@pytest.mark.parametrize("via", ["python", "control-api"])
def test_authentication_required_then_authenticated(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver, via: str
) -> None:
    intent = pay(client, "pm_card_authenticationRequired")
    assert intent.status == "requires_action"
    assert intent.next_action is not None and intent.next_action.type == "use_stripe_sdk"
    assert server.idle(5)
    assert receiver.deliveries == []

    if via == "python":
        assert server.authenticate(intent.id, succeed=True)["status"] == "succeeded"
    else:
        answer = requests.post(
            f"{server.url}/_control/payment_intents/{intent.id}/authenticate",
            json={"succeed": True},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "succeeded"

    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "succeeded"
    assert after.amount_received == 2500
    assert after.latest_charge is not None
    assert server.idle(5)
    [event] = receiver.events()
    assert event.type == "payment_intent.succeeded"
    assert event.request is not None and event.request.id is None  # not an API request

    with pytest.raises(StripeApiError) as not_pending:
        server.authenticate(intent.id, succeed=True)
    assert not_pending.value.status == 400


def test_failed_authentication_returns_the_intent_to_requires_payment_method(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    intent = pay(client, "pm_card_authenticationRequired")

    failed = server.authenticate(intent.id, succeed=False)

    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"
    assert server.idle(5)
    assert receiver.types() == ["payment_intent.payment_failed"]
    answer = requests.post(
        f"{server.url}/_control/payment_intents/{intent.id}/authenticate",
        json={"succeed": True},
        timeout=5,
    )
    assert answer.status_code == 400


def test_cancel_a_requires_action_intent(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    intent = pay(client, "pm_card_authenticationRequired")

    canceled = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "abandoned"}
    )

    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "abandoned"
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.payment_intents.cancel(intent.id)
    assert twice.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as confirm:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert confirm.value.code == "payment_intent_unexpected_state"
    assert server.idle(5)
    assert receiver.types() == ["payment_intent.canceled"]


# --- errors ---


def test_a_wrong_api_key_is_an_authentication_error(server: StripeServer) -> None:
    wrong = stripe.StripeClient(
        "sk_test_wrong", base_addresses={"api": server.url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as denied:
        wrong.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    assert denied.value.http_status == 401
    assert "Invalid API Key provided" in str(denied.value)
    assert requests.get(f"{server.url}/v1/payment_intents/pi_x", timeout=5).status_code == 401
    assert total_intents(server) == 0


def test_unknown_objects_are_invalid_requests(
    server: StripeServer, client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert unknown.value.http_status == 404
    assert unknown.value.code == "resource_missing"

    with pytest.raises(stripe.InvalidRequestError) as method:
        pay(client, "pm_card_unknown")
    assert method.value.param == "payment_method"
    assert method.value.code == "resource_missing"
    assert "No such PaymentMethod: 'pm_card_unknown'" in str(method.value)
    assert total_intents(server) == 0


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"currency": "usd"}, "amount"),
        ({"amount": 0, "currency": "usd"}, "amount"),
        ({"amount": "ten", "currency": "usd"}, "amount"),
        ({"amount": 100}, "currency"),
        ({"amount": 100, "currency": "dollars"}, "currency"),
    ],
)
def test_invalid_parameters_are_rejected_and_not_stored_under_the_key(
    server: StripeServer, client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as invalid:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": "v"})  # type: ignore[arg-type]
    assert invalid.value.http_status == 400
    assert invalid.value.param == param
    # Nothing ran, so Stripe keeps nothing under the key: corrected params go through.
    intent = client.v1.payment_intents.create(
        params={"amount": 100, "currency": "usd"}, options={"idempotency_key": "v"}
    )
    assert intent.status == "requires_payment_method"
    assert total_intents(server) == 1


# --- idempotency ---


def test_the_same_key_and_params_replay_the_first_answer(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    first = pay(client, key="order-1")
    second = pay(client, key="order-1")

    assert second.id == first.id
    assert total_intents(server) == 1
    assert server.stats()["replayed"] == 1
    raw = second.last_response
    assert raw is not None and raw.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers

    with pytest.raises(stripe.IdempotencyError) as mismatch:
        pay(client, key="order-1", amount=2600)
    assert "same parameters" in str(mismatch.value)
    assert total_intents(server) == 1
    assert server.idle(5)
    assert receiver.types() == ["payment_intent.succeeded"]


def test_a_replayed_decline_is_the_same_decline_and_charges_nothing_again(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            pay(client, "pm_card_chargeDeclined", key="d-1")
        errors.append(declined.value)

    assert errors[0].json_body == errors[1].json_body
    assert errors[1].headers is not None and errors[1].headers.get("Idempotent-Replayed") == "true"
    assert total_intents(server) == 1
    assert server.idle(5)
    assert receiver.types() == ["payment_intent.payment_failed"]


def test_concurrent_requests_with_one_key_create_one_intent(
    server: StripeServer, client: stripe.StripeClient
) -> None:
    barrier = threading.Barrier(8)
    ids: list[str] = []
    failures: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait(5)
            ids.append(pay(client, key="same").id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert failures == []
    assert len(ids) == 8 and len(set(ids)) == 1
    assert total_intents(server) == 1
    assert server.stats()["replayed"] == 7


# --- faults ---


def test_a_rate_limited_request_runs_when_retried_with_its_key(
    server: StripeServer, client: stripe.StripeClient
) -> None:
    server.set_faults(rate_limit=1)

    with pytest.raises(stripe.RateLimitError) as limited:
        pay(client, key="rl")
    assert limited.value.http_status == 429

    intent = pay(client, key="rl")
    assert intent.status == "succeeded"
    assert intent.last_response is not None
    assert "Idempotent-Replayed" not in intent.last_response.headers
    assert total_intents(server) == 1
    assert server.stats()["replayed"] == 0


def test_server_errors_forever_until_cleared(
    server: StripeServer, client: stripe.StripeClient
) -> None:
    answer = requests.post(
        f"{server.url}/_control/faults", json={"serverErrorForever": True}, timeout=5
    )
    assert answer.status_code == 200

    for _ in range(3):
        with pytest.raises(stripe.APIError) as failed:
            pay(client, key="se")
        assert failed.value.http_status == 500
    assert total_intents(server) == 0

    assert requests.post(f"{server.url}/_control/faults", json={}, timeout=5).ok
    assert pay(client, key="se").status == "succeeded"
    assert total_intents(server) == 1


def test_a_count_of_server_errors_then_normal_service(
    server: StripeServer, client: stripe.StripeClient
) -> None:
    server.set_faults(server_error=1)
    retrying = stripe.StripeClient(
        API_KEY, base_addresses={"api": server.url}, max_network_retries=1
    )
    # The library retries a 500 itself (after ~0.5 s), with the same idempotency key.
    assert pay(retrying).status == "succeeded"
    assert server.stats()["requests"] == 2
    assert server.stats()["replayed"] == 0
    assert total_intents(server) == 1
    with pytest.raises(TypeError):
        server.set_faults(nonsense=1)


# --- refunds ---


def test_refunds_once_per_key_with_a_charge_refunded_webhook(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    intent = pay(client, order_id="o-refund")

    refund = client.v1.refunds.create(
        params={"payment_intent": intent.id, "metadata": {"reason": "out of stock"}},
        options={"idempotency_key": "refund-o-refund"},
    )
    again = client.v1.refunds.create(
        params={"payment_intent": intent.id, "metadata": {"reason": "out of stock"}},
        options={"idempotency_key": "refund-o-refund"},
    )

    assert ID.fullmatch(refund.id) and refund.id.startswith("re_")
    assert again.id == refund.id
    assert refund.amount == 2500 and refund.status == "succeeded"
    assert refund.payment_intent == intent.id and refund.charge == intent.latest_charge
    assert refund.metadata is not None and refund.metadata["reason"] == "out of stock"
    stats = server.stats()
    assert stats["refunds"] == 1 and stats["refundedAmount"] == 2500

    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert twice.value.code == "charge_already_refunded"

    assert server.idle(5)
    assert receiver.types() == ["payment_intent.succeeded", "charge.refunded"]
    charge = receiver.events()[1].data.object
    assert charge["object"] == "charge"
    assert charge["id"] == intent.latest_charge
    assert charge["amount_refunded"] == 2500 and charge["refunded"] is True
    assert charge["payment_intent"] == intent.id
    assert charge["metadata"].to_dict() == {"order_id": "o-refund"}

    [listed] = server.intents(order_id="o-refund")
    assert [r["id"] for r in listed["refunds"]] == [refund.id]
    answer = requests.get(
        f"{server.url}/_control/payment_intents",
        params={"metadata.order_id": "o-refund"},
        timeout=5,
    )
    assert [i["id"] for i in answer.json()["data"]] == [intent.id]
    assert server.intents(order_id="another") == []


def test_partial_refunds_up_to_the_amount(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    intent = pay(client, amount=1000)
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 400})

    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 700})
    assert over.value.param == "amount"
    assert "($7.00) is greater than unrefunded amount on charge ($6.00)" in str(over.value)

    rest = client.v1.refunds.create(params={"charge": str(intent.latest_charge)})
    assert rest.amount == 600
    assert server.stats()["refundedAmount"] == 1000
    assert server.idle(5)
    refunded = [e.data.object for e in receiver.events() if e.type == "charge.refunded"]
    assert [(c["amount_refunded"], c["refunded"]) for c in refunded] == [(400, False), (1000, True)]


def test_an_intent_without_a_successful_charge_cannot_be_refunded(
    server: StripeServer, client: stripe.StripeClient
) -> None:
    intent = pay(client, "pm_card_authenticationRequired")

    with pytest.raises(stripe.InvalidRequestError) as nothing:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert "does not have a successful charge to refund" in str(nothing.value)

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create(params={"payment_intent": "pi_unknown"})
    assert unknown.value.code == "resource_missing"
    assert server.stats()["refunds"] == 0


# --- webhooks ---


def test_a_webhook_answered_500_twice_is_retried_until_delivered(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.fail_next = 2

    intent = pay(client)

    assert server.idle(10)
    assert [d.status for d in receiver.deliveries] == [500, 500, 200]
    # The same event each time, signed each time.
    assert len({d.event().id for d in receiver.deliveries}) == 1
    assert receiver.events()[0].data.object["id"] == intent.id
    assert server.stats()["webhooks"] == {"sent": 1, "failed": 0, "attempts": 3, "pending": 0}


def test_a_webhook_that_keeps_failing_is_given_up(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    server.webhook_backoff = 0.01
    receiver.fail_next = 100

    pay(client)

    assert server.idle(10)
    assert len(receiver.deliveries) == server.webhook_attempts == 5
    assert server.stats()["webhooks"] == {"sent": 0, "failed": 1, "attempts": 5, "pending": 0}


def test_duplicate_webhooks_send_each_event_twice(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    server.set_faults(duplicate_webhooks=True)

    pay(client)

    assert server.idle(5)
    events = receiver.events()
    assert len(events) == 2
    assert events[0].id == events[1].id
    assert server.stats()["webhooks"]["sent"] == 2


def test_idle_waits_for_a_delivery_in_flight(
    server: StripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.gate.clear()
    pay(client)

    assert server.idle(0.2) is False
    assert server.stats()["webhooks"]["pending"] == 1

    receiver.gate.set()
    assert server.idle(5) is True
    assert receiver.types() == ["payment_intent.succeeded"]


def test_no_webhook_url_sends_nothing_until_one_is_set(receiver: Receiver) -> None:
    with StripeServer(API_KEY, SECRET) as server:
        client = stripe.StripeClient(
            API_KEY, base_addresses={"api": server.url}, max_network_retries=0
        )
        pay(client)
        assert server.idle(5)
        assert receiver.deliveries == []

        server.webhook_url = receiver.url
        pay(client)
        assert server.idle(5)
        assert receiver.types() == ["payment_intent.succeeded"]


# --- control API and wire format ---


def test_the_control_api_serves_stats(server: StripeServer, client: stripe.StripeClient) -> None:
    pay(client)
    with pytest.raises(stripe.CardError):
        pay(client, "pm_card_chargeDeclined")
    assert server.idle(5)  # webhooks go out on their own thread: compare once they are out

    stats = requests.get(f"{server.url}/_control/stats", timeout=5).json()

    assert stats["paymentIntents"] == {"succeeded": 1, "requires_payment_method": 1}
    assert stats["succeeded"] == 1
    assert stats["requests"] == 2
    assert stats == json.loads(json.dumps(server.stats()))


def test_form_decoding_matches_the_library_encoding() -> None:
    pairs = [
        ("amount", "100"),
        ("metadata[order_id]", "o-1"),
        ("metadata[0]", "digit key"),
        ("payment_method_types[0]", "card"),
        ("payment_method_types[1]", "link"),
        ("expand[]", "latest_charge"),
        ("automatic_payment_methods[enabled]", "true"),
    ]
    assert decode_form(pairs) == {
        "amount": "100",
        "metadata": {"order_id": "o-1", "0": "digit key"},
        "payment_method_types": ["card", "link"],
        "expand": ["latest_charge"],
        "automatic_payment_methods": {"enabled": "true"},
    }
