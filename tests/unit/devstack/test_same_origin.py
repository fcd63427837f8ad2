"""The stack's own endpoints on the API's origin (devstack.same_origin):
answered before the app, untraced, with the control endpoint's status and
the recorder's traces in the trace endpoint's shape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from chalice.app import Chalice
from chalice.config import Config

from devstack import api
from devstack import traces as tr
from devstack.same_origin import SameOrigin, delivery

STATUS = {"sources": [{"name": "relay", "kind": "dynamodb"}], "clock": "2026-12-06T00:00:00"}


def app() -> Chalice:
    app = Chalice("same-origin")

    @app.route("/orders/{order_id}")
    def order(order_id: str) -> dict[str, str]:
        logging.getLogger("shop").info("read order %s", order_id, extra={"order_id": order_id})
        return {"orderId": order_id}

    # A route of the app under the prefix would be shadowed: the stack's win.
    @app.route("/_devstack/status")
    def shadowed() -> dict[str, str]:
        return {"app": "answered"}

    return app


@pytest.fixture(scope="module")
def recorder() -> Iterator[tr.Recorder]:
    recorder = tr.Recorder()
    uninstall = recorder.install()
    logging.getLogger("shop").setLevel(logging.INFO)
    yield recorder
    uninstall()


@pytest.fixture(scope="module")
def url(recorder: tr.Recorder) -> Iterator[str]:
    chalice_app = app()
    config = Config.create(chalice_app=chalice_app, app_name="same-origin", chalice_stage="local")
    server = api.start_server(config, "127.0.0.1", 0, recorder)
    api.serve_same_origin(server, SameOrigin(lambda: dict(STATUS), recorder.select))
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_status_is_the_control_endpoints_and_needs_no_token(url: str) -> None:
    response = requests.get(f"{url}/_devstack/status", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json() == STATUS


def test_an_ids_trace_lists_its_deliveries_and_not_the_trace_requests(url: str) -> None:
    assert requests.get(f"{url}/orders/ord-1", timeout=10).status_code == 200
    requests.get(f"{url}/orders/ord-2", timeout=10)

    first = requests.get(f"{url}/_devstack/trace/ord-1", timeout=10).json()
    again = requests.get(f"{url}/_devstack/trace/ord-1", timeout=10).json()

    assert first == again  # reading a trace adds nothing to it
    assert first["orderId"] == "ord-1"
    (request,) = first["deliveries"]
    assert request["handler"] == api.HTTP_HANDLER
    assert request["source"] == "GET /orders/ord-1"
    assert request["outcome"] == "200"
    assert request["durationMs"] >= 0 and request["at"].startswith("20")
    assert [line.split()[:2] for line in request["logs"]] == [["INFO", "read"]]
    assert "read order ord-1" in request["logs"][0]
    assert requests.get(f"{url}/_devstack/trace/nothing-1", timeout=10).json() == {
        "orderId": "nothing-1",
        "deliveries": [],
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/_devstack/status", 405),
        ("DELETE", "/_devstack/trace/ord-1", 405),
        ("GET", "/_devstack/", 404),
        ("GET", "/_devstack/trace/", 404),
        ("GET", "/_devstack/trace/a/b", 404),
        ("GET", "/_devstack/drain", 404),
    ],
)
def test_anything_else_under_the_prefix_is_refused(
    url: str, method: str, path: str, status: int
) -> None:
    response = requests.request(method, f"{url}{path}", data=b"{}", timeout=10)
    assert response.status_code == status, response.text
    assert "message" in response.json()
    if status == 405:
        assert response.headers["Allow"] == "GET"


def test_without_same_origin_endpoints_the_path_is_the_apps() -> None:
    chalice_app = app()
    config = Config.create(chalice_app=chalice_app, app_name="same-origin", chalice_stage="local")
    server = api.start_server(config, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        response = requests.get(f"http://127.0.0.1:{port}/_devstack/status", timeout=10)
    finally:
        server.shutdown()
    assert response.json() == {"app": "answered"}


def test_a_delivery_as_the_trace_endpoint_shows_it() -> None:
    item: dict[str, Any] = {
        "handler": "payments_step",
        "kind": "sqs",
        "startedAt": "2026-12-06T10:00:00+00:00",
        "durationMs": 12.5,
        "outcome": "partial",
        "logs": [
            {"level": "ERROR", "message": "charge failed", "correlation_id": "c-1"},
            {"level": "INFO", "message": "two\nlines", "exception": "Boom: x"},
        ],
        "metrics": [],
    }
    assert delivery(item) == {
        "at": "2026-12-06T10:00:00+00:00",
        "handler": "payments_step",
        "source": "sqs",
        "durationMs": 12.5,
        "outcome": "partial",
        "logs": [
            "ERROR     charge failed  [c-1]",
            "INFO      two\n          lines  [-]\n          Boom: x",
        ],
    }
