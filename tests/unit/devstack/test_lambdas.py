"""devstack.lambdas: the app's ``@app.lambda_function`` functions answer Lambda's
Invoke from the app's own clients, as Lambda would, in every invocation type;
other functions' Invokes go on to the emulator; the fault hooks come first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from chalice.app import Chalice

from devstack import eventsources as es
from devstack import hooks
from devstack import traces as tr
from devstack.faults import AwsCalls
from devstack.lambdas import Functions, function_name
from tests.support.runtime import FakeSession

DEVSTACK = Path(es.__file__).resolve().parent
UNREACHABLE = "http://127.0.0.1:9"
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1)


class Calls:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.fail_times = 0


def ledger(calls: Calls) -> Chalice:
    app = Chalice("ledger")

    @app.lambda_function(name="tally")
    def tally(event: dict[str, Any], context: Any) -> Any:
        calls.events.append((event, context.function_name))
        if calls.fail_times:
            calls.fail_times -= 1
            raise ValueError("not now")
        if event.get("odd"):
            return {1, 2}  # not JSON
        return {"total": sum(event.get("numbers", []))}

    return app


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def rt() -> es.Runtime:
    return es.Runtime(FakeSession(), "ledger", "local", tr.Recorder())


@pytest.fixture
def functions(calls: Calls, rt: es.Runtime) -> Iterator[Functions]:
    functions = Functions()
    uninstall = hooks.install(functions.attach)
    functions.bind(ledger(calls), rt)
    yield functions
    uninstall()


def client() -> Any:
    return boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("lambda", endpoint_url=UNREACHABLE, config=NO_RETRY)


def test_a_request_response_invoke_runs_the_function_once_and_answers_its_result(
    functions: Functions, calls: Calls, rt: es.Runtime
) -> None:
    rt.faults.duplicate_deliveries = True  # Lambda runs a synchronous call once regardless
    answer = client().invoke(FunctionName="ledger-local-tally", Payload=b'{"numbers": [1, 2]}')
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert json.loads(answer["Payload"].read()) == {"total": 3}
    assert calls.events == [({"numbers": [1, 2]}, "ledger-local-tally")]
    (delivery,) = rt.deliveries
    assert (delivery.kind, delivery.handler, delivery.outcome) == ("lambda", "tally", "ok")


@pytest.mark.parametrize(
    "name",
    [
        "ledger-local-tally",
        "ledger-local-tally:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:ledger-local-tally",
        "123456789012:function:ledger-local-tally",
    ],
)
def test_the_function_is_found_by_name_arn_or_partial_arn(
    functions: Functions, calls: Calls, name: str
) -> None:
    answer = client().invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(answer["Payload"].read()) == {"total": 0}
    assert len(calls.events) == 1


def test_function_names_parse_as_lambda_reads_them() -> None:
    assert function_name("f") == ("f", None)
    assert function_name("f:live") == ("f", "live")
    assert function_name("arn:aws:lambda:r:1:function:f:3") == ("f", "3")
    assert function_name("1:function:f") == ("f", None)


def test_a_function_that_raises_answers_the_runtimes_error_document(
    functions: Functions, calls: Calls, rt: es.Runtime
) -> None:
    calls.fail_times = 1
    answer = client().invoke(FunctionName="ledger-local-tally", Payload=b"{}")
    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    error = json.loads(answer["Payload"].read())
    assert (error["errorMessage"], error["errorType"]) == ("not now", "ValueError")
    assert error["requestId"]
    # From the handler down: devstack's own frames are not the function's.
    assert "test_lambdas.py" in error["stackTrace"][-1]
    assert not any(f'File "{DEVSTACK}' in frame for frame in error["stackTrace"])
    assert [d.outcome for d in rt.deliveries] == ["error"]

    answer = client().invoke(FunctionName="ledger-local-tally", Payload=b'{"odd": true}')
    error = json.loads(answer["Payload"].read())
    assert (answer["FunctionError"], error["errorType"]) == ("Unhandled", "Runtime.MarshalError")


def test_an_event_invoke_is_accepted_at_once_and_drain_waits_for_it(
    functions: Functions, calls: Calls, rt: es.Runtime
) -> None:
    calls.fail_times = 1  # the first attempt fails: Lambda tries again
    answer = client().invoke(
        FunctionName="ledger-local-tally", InvocationType="Event", Payload=b'{"numbers": [4]}'
    )
    assert answer["StatusCode"] == 202
    assert answer["Payload"].read() == b""
    assert functions.idle(10)
    assert len(calls.events) == 2
    assert [d.outcome for d in rt.deliveries] == ["error", "ok"]
    assert not rt.failures


def test_an_event_invoke_that_fails_every_attempt_is_a_failure(
    functions: Functions, calls: Calls, rt: es.Runtime
) -> None:
    calls.fail_times = es.ASYNC_ATTEMPTS
    client().invoke(FunctionName="ledger-local-tally", InvocationType="Event", Payload=b"{}")
    assert functions.idle(10)
    assert len(calls.events) == es.ASYNC_ATTEMPTS
    (failure,) = rt.failures
    assert (failure["kind"], failure["handler"]) == ("lambda", "tally")


def test_a_dry_run_runs_nothing(functions: Functions, calls: Calls) -> None:
    answer = client().invoke(FunctionName="ledger-local-tally", InvocationType="DryRun")
    assert answer["StatusCode"] == 204
    assert calls.events == []


def test_bad_payloads_are_lambdas_client_errors(functions: Functions, calls: Calls) -> None:
    with pytest.raises(ClientError) as raised:
        client().invoke(FunctionName="ledger-local-tally", Payload=b"{not json")
    assert raised.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as raised:
        client().invoke(
            FunctionName="ledger-local-tally",
            InvocationType="Event",
            Payload=json.dumps({"pad": "x" * 300_000}).encode(),
        )
    assert raised.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert calls.events == []


def test_another_functions_invoke_goes_on_to_the_emulator(functions: Functions) -> None:
    # Nobody listens there: the request really left.
    with pytest.raises(EndpointConnectionError):
        client().invoke(FunctionName="someone-elses-function", Payload=b"{}")
    with pytest.raises(EndpointConnectionError):
        client().invoke(FunctionName="ledger-local-tally:live", Payload=b"{}")


def test_faults_and_counts_see_an_invoke_first(calls: Calls, rt: es.Runtime) -> None:
    faults = AwsCalls(error_rate=1.0)
    uninstall_faults = hooks.install(faults.attach)  # as the stack installs them: first
    functions = Functions()
    uninstall = hooks.install(functions.attach)
    functions.bind(ledger(calls), rt)
    try:
        with pytest.raises(ClientError) as raised:
            client().invoke(FunctionName="ledger-local-tally", Payload=b"{}")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert calls.events == []
        faults.error_rate = 0.0
        client().invoke(FunctionName="ledger-local-tally", Payload=b"{}")
        assert len(calls.events) == 1
    finally:
        uninstall()
        uninstall_faults()
    assert faults.injected == {"lambda.Invoke": 1}
    assert faults.sent == {"lambda.Invoke": 1}
