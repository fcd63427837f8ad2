"""devstack runs any Chalice app: its hooks reach the app's clients without the
app's help, output keys become variables by a rule it is given, and its ready
line names whichever app it runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.platform.settings import output_to_env
from devstack import hooks
from devstack import template as tpl
from devstack.faults import AwsCalls
from devstack.provision import ENV_NAMING, Stack, snake_upper
from devstack.testing import READY

ROOT = Path(__file__).resolve().parents[3]
UNREACHABLE = "http://127.0.0.1:9"
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1)


@pytest.fixture
def attached() -> Iterator[list[Any]]:
    """Every client created while the fixture is active, as hooks.install saw it."""
    seen: list[Any] = []
    uninstall = hooks.install(seen.append)
    yield seen
    uninstall()


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_every_client_created_after_install_is_attached(attached: list[Any]) -> None:
    session = _session()
    low = session.client("sqs")
    table = session.resource("dynamodb").Table("t")
    default = boto3.client(
        "sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    botocore_client = botocore.session.get_session().create_client("s3", region_name="us-east-1")

    assert attached == [low, table.meta.client, default, botocore_client]


def test_clients_of_an_exempt_session_are_left_alone(attached: list[Any]) -> None:
    own = hooks.exempt(_session())
    own.client("sqs")
    own.resource("dynamodb")
    assert attached == []
    assert hooks.is_exempt(own)
    assert not hooks.is_exempt(_session())


def test_uninstall_stops_attaching_and_restores_botocore() -> None:
    original = botocore.session.Session.create_client
    seen: list[Any] = []
    uninstall = hooks.install(seen.append)
    assert botocore.session.Session.create_client is not original
    uninstall()
    _session().client("sqs")
    assert seen == []
    assert botocore.session.Session.create_client is original


def test_the_app_clients_are_counted_and_faulted_and_devstacks_own_are_not() -> None:
    calls = AwsCalls(error_rate=1.0)
    uninstall = hooks.install(calls.attach)
    try:
        app_client = _session().client("sqs", endpoint_url=UNREACHABLE, config=NO_RETRY)
        own_client = hooks.exempt(_session()).client(
            "sqs", endpoint_url=UNREACHABLE, config=NO_RETRY
        )
        with pytest.raises(ClientError) as raised:
            app_client.get_queue_url(QueueName="q")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        # No hook on devstack's own client: the request really left, and found nobody.
        with pytest.raises(EndpointConnectionError):
            own_client.get_queue_url(QueueName="q")
    finally:
        uninstall()
    assert calls.injected == {"sqs.GetQueueUrl": 1}
    assert calls.sent == {}


# --- environment naming ---------------------------------------------------------


def test_snake_upper_is_the_rule_eventshop_reads_its_settings_by() -> None:
    keys = list(tpl.load(ROOT / "infra" / "resources.yaml")["Outputs"])
    assert len(keys) > 10
    for key in [*keys, "S3BucketName", "Already_UPPER", "ORDERS_TABLE_NAME", "v2Queue"]:
        assert snake_upper(key) == output_to_env(key), key
    assert snake_upper("OrdersTableName") == "ORDERS_TABLE_NAME"


def test_stack_environment_follows_the_chosen_naming() -> None:
    stack = Stack("s", {"OrdersTableName": "orders", "JwtSecretParameter": "/p"})
    assert stack.environment() == {"ORDERS_TABLE_NAME": "orders", "JWT_SECRET_PARAMETER": "/p"}
    assert stack.environment("as-is") == stack.outputs
    assert set(ENV_NAMING) == {"snake-upper", "as-is"}


# --- the ready line ---------------------------------------------------------------


@pytest.mark.parametrize("app", ["eventshop", "fixture", "my-other_app2"])
def test_the_ready_line_names_any_app(app: str) -> None:
    line = (
        f"{app} ready api=http://127.0.0.1:1 emulator=http://127.0.0.1:2 "
        "control=http://127.0.0.1:3 sources=4\n"
    )
    m = READY.search(line)
    assert m is not None
    assert m.groups() == (
        app,
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
        None,  # no Stripe server unless --stripe
    )


def test_the_ready_line_names_the_stripe_server_when_there_is_one() -> None:
    line = (
        "eventshop ready api=http://127.0.0.1:1 emulator=http://127.0.0.1:2 "
        "control=http://127.0.0.1:3 sources=4 stripe=http://127.0.0.1:5\n"
    )
    m = READY.search(line)
    assert m is not None and m["stripe"] == "http://127.0.0.1:5"


def test_the_ready_line_is_found_in_a_whole_log() -> None:
    log = (
        ".venv/bin/python -m devstack run\n[emulator] emulator listening on 127.0.0.1:1\n"
        "fixture ready api=a emulator=b control=c sources=1\n"
    )
    m = READY.search(log)
    assert m is not None
    assert (m["app"], m["api"], m["emulator"], m["control"]) == ("fixture", "a", "b", "c")


def test_other_lines_are_not_the_ready_line() -> None:
    assert READY.search("[emulator] emulator listening on 127.0.0.1:4566\n") is None
    assert READY.search("10:00:00 devstack resources from x: 3 outputs\n") is None
