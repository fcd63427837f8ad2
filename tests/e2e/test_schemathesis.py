"""Fuzz every operation of the running stack against its own OpenAPI document.

The schema comes from ``GET /openapi.json`` of the stack under test; each
operation gets schemathesis-generated requests, valid (positive) and invalid
(negative), as an admin and as a customer, plus a few hand-made requests that
reach the success paths random data cannot (known skus, a real order, a real
image slot). The cases are drawn once per module and sent as each identity
(drawing them was most of the time). Every response must be a non-5xx, with a
documented status code, content type, headers and body schema. Bounded so the
whole module stays well under three minutes on two cores; ``EVENTSHOP_FUZZ_EXAMPLES`` and
``EVENTSHOP_FUZZ_SEED`` change the budget and reproduce a run.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.testing import RunningStack, running_stack
from tests.support.e2e_shop import ADDRESS, Shop

pytestmark = pytest.mark.timeout(600)

MAX_EXAMPLES = int(os.environ.get("EVENTSHOP_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("EVENTSHOP_FUZZ_SEED", str(random.randrange(2**32))))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Tally:
    base_url: str
    auth: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    cases: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    # (operation, title) -> first report; one entry per distinct problem
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def run(self, case: Any) -> None:
        """Send one case and run every check on its response; record, not raise."""
        label = case.operation.label
        self.cases += 1
        try:
            response = case.call_and_validate(
                base_url=self.base_url, session=self.session, headers=self.auth, checks=CHECKS
            )
        except FailureGroup as group:
            for failure in group.exceptions:
                self.failures.setdefault((label, failure.title), str(group))
            return
        except requests.RequestException as exc:
            self.failures.setdefault((label, type(exc).__name__), repr(exc))
            return
        self.by_status[response.status_code] = self.by_status.get(response.status_code, 0) + 1

    def summary(self, who: str, seconds: float) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_status.items()))
        return (
            f"schemathesis ({who}): {self.cases} cases, {len(self.failures)} failures "
            f"in {seconds:.1f}s, seed {SEED}, {MAX_EXAMPLES} examples per operation and mode "
            f"[{statuses}]"
        )

    def report(self) -> str:
        return "\n\n".join(f"{op}: {title}\n{text}" for (op, title), text in self.failures.items())


@dataclass
class World:
    stack: RunningStack
    shop: Shop
    schema: Any
    skus: list[str]
    order_id: str
    image_id: str
    customer: str
    dlq: str
    dead_letter: str
    catalog_import: str


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_stack() as stack:
        shop = Shop(stack)
        skus = [shop.product(stock=1000, price=250 * (i + 1)) for i in range(3)]
        customer = "fuzz-customer-1"
        order = shop.place(customer, [(skus[0], 1), (skus[1], 2)])
        r = shop.http.post(f"{shop.api}/products/{skus[0]}/images", headers=shop.admin, timeout=30)
        assert r.status_code == 201, r.text
        dlqs = shop.http.get(f"{shop.api}/ops/dead-letters", headers=shop.admin, timeout=30)
        assert dlqs.status_code == 200, dlqs.text
        dlq = next(q["queue"] for q in dlqs.json()["items"] if q["queue"].endswith("-dlq"))
        sqs = stack.client("sqs")
        dead = sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName=dlq)["QueueUrl"], MessageBody='{"fuzz": 1}'
        )
        imported = shop.http.post(f"{shop.api}/catalog/imports", headers=shop.admin, timeout=30)
        assert imported.status_code == 201, imported.text
        schema = schemathesis.openapi.from_url(f"{shop.api}/openapi.json")
        yield World(
            stack,
            shop,
            schema,
            skus,
            order["orderId"],
            r.json()["imageId"],
            customer,
            dlq,
            dead["MessageId"],
            imported.json()["importId"],
        )


def known_good(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Requests that reach the success paths (as an admin; a customer gets 403s)."""
    order_body = {
        "items": [{"sku": w.skus[2], "quantity": 1}],
        "paymentToken": "tok_ok",
        "shippingAddress": ADDRESS,
    }
    sku = {"sku": w.skus[0]}
    order = {"orderId": w.order_id}
    return [
        ("GET", "/products", {"query": {"limit": 1}}),
        ("GET", "/products/{sku}", {"path_parameters": sku}),
        (
            "PUT",
            "/products/{sku}",
            {"path_parameters": {"sku": w.skus[2]}, "body": {"name": "Fuzzed", "priceCents": 99}},
        ),
        (
            "PUT",
            "/products/{sku}",
            {
                "path_parameters": {"sku": f"FUZZ-{uuid.uuid4().hex[:10]}"},
                "body": {"name": "Fuzzed", "priceCents": 99, "stock": 500},
            },
        ),
        ("POST", "/products/{sku}/restock", {"path_parameters": sku, "body": {"quantity": 3}}),
        (
            "POST",
            "/products/{sku}/stock-adjustments",
            {"path_parameters": sku, "body": {"delta": -1, "reason": "fuzz"}},
        ),
        ("POST", "/orders", {"body": order_body}),
        ("POST", "/orders", {"body": order_body, "headers": {"Idempotency-Key": "fuzz-1"}}),
        ("POST", "/orders", {"body": order_body, "headers": {"Idempotency-Key": "fuzz-1"}}),
        ("GET", "/orders", {"query": {"limit": 5}}),
        ("GET", "/orders", {"query": {"customerId": w.customer}}),
        ("GET", "/orders", {"query": {"status": "PLACED", "limit": 5}}),
        ("GET", "/orders", {"query": {"customerId": w.customer, "status": "COMPLETED"}}),
        ("GET", "/orders/{orderId}", {"path_parameters": order}),
        ("GET", "/orders/{orderId}/events", {"path_parameters": order}),
        ("POST", "/orders/{orderId}/cancel", {"path_parameters": order}),
        ("POST", "/orders/{orderId}/cancel", {"path_parameters": order}),
        ("POST", "/products/{sku}/images", {"path_parameters": sku}),
        ("GET", "/products/{sku}/images", {"path_parameters": sku}),
        ("GET", "/products/{sku}/images", {"path_parameters": sku, "query": {"status": "ALL"}}),
        ("GET", "/products/{sku}/images", {"path_parameters": sku, "query": {"status": "PENDING"}}),
        ("GET", "/images/{imageId}", {"path_parameters": {"imageId": w.image_id}}),
        ("GET", "/ops/dead-letters", {}),
        ("GET", "/ops/dead-letters/{queue}", {"path_parameters": {"queue": w.dlq}}),
        ("POST", "/ops/dead-letters/{queue}/redrive", {"path_parameters": {"queue": w.dlq}}),
        (
            "DELETE",
            "/ops/dead-letters/{queue}/{messageId}",
            {"path_parameters": {"queue": w.dlq, "messageId": w.dead_letter}},
        ),
        ("GET", "/ops/alerts", {}),
        ("GET", "/ops/alerts", {"query": {"limit": 1}}),
        ("GET", "/analytics/daily", {"query": {"from": "2026-01-01", "to": "2026-01-31"}}),
        ("GET", "/analytics/products/{sku}", {"path_parameters": sku}),
        ("GET", "/analytics/top-products", {}),
        ("GET", "/analytics/top-products", {"query": {"limit": 50}}),
        ("POST", "/catalog/imports", {}),
        (
            "GET",
            "/catalog/imports/{importId}",
            {"path_parameters": {"importId": w.catalog_import}},
        ),
        ("GET", "/health", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/console", {}),
        ("GET", "/console/{asset}", {"path_parameters": {"asset": "main.js"}}),
        ("GET", "/console/{asset}", {"path_parameters": {"asset": "console.css"}}),
    ]


# What each generated case carries in place of a token while it is drawn: the
# cases are drawn once and sent as each identity (its token, or none).
PLACEHOLDER = {"Authorization": "Bearer generated-once"}


@pytest.fixture(scope="module")
def generated(world: World) -> list[tuple[Any, dict[str, Any]]]:
    """Every operation's positive and negative cases, drawn once for the
    module (the drawing, not the requests, was most of each test's time):
    each with its headers but the token."""
    operations = [result.ok() for result in world.schema.get_all_operations()]
    # schemathesis leaves out the operation that served the schema itself
    # (GET /openapi.json): the known-good request covers it.
    paths = world.schema.raw_schema["paths"]
    documented = {f"{m.upper()} {p}" for p, item in paths.items() for m in item}
    assert {op.label for op in operations} == documented - {"GET /openapi.json"}
    cases: list[tuple[Any, dict[str, Any]]] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, headers=dict(PLACEHOLDER))

            @hypothesis.seed(SEED)
            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                verbosity=hypothesis.Verbosity.quiet,
            )
            @hypothesis.given(case=strategy)
            def draw(case: Any) -> None:
                headers = {
                    k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
                }
                cases.append((case, headers))

            try:
                draw()
            except hypothesis.errors.Unsatisfiable:
                pass  # e.g. no invalid request exists for an operation without inputs
    assert cases
    return cases


def fuzz(
    w: World,
    auth: dict[str, str],
    extra: list[tuple[str, str, dict[str, Any]]],
    generated: list[tuple[Any, dict[str, Any]]],
) -> tuple[Tally, float]:
    tally = Tally(w.shop.api, auth)
    started = time.monotonic()
    for method, path, kwargs in extra:
        headers = {**kwargs.pop("headers", {}), **auth}
        tally.run(w.schema[path][method].Case(headers=headers, **kwargs))
    for case, headers in generated:
        case.headers = CaseInsensitiveDict({**headers, **auth})
        tally.run(case)
    return tally, time.monotonic() - started


def finish(tally: Tally, seconds: float, who: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = tally.summary(who, seconds)
    with capsys.disabled():
        print("\n" + line)
    assert tally.cases > 0
    assert not tally.failures, line + "\n\n" + tally.report()


def test_fuzz_as_admin(
    world: World, generated: list[tuple[Any, dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    tally, seconds = fuzz(world, world.shop.admin, known_good(world), generated)
    finish(tally, seconds, "admin", capsys)


def test_fuzz_as_customer(
    world: World, generated: list[tuple[Any, dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    customer = world.shop.customer(world.customer)
    tally, seconds = fuzz(world, customer, known_good(world), generated)
    finish(tally, seconds, "customer", capsys)


def test_fuzz_without_a_token(
    world: World, generated: list[tuple[Any, dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """No token: open routes answer, secured ones 401 with API Gateway's body."""
    tally, seconds = fuzz(world, {}, known_good(world), generated)
    finish(tally, seconds, "anonymous", capsys)
