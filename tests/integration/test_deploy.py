"""``tools.deploy`` against moto in-process: each step, then the whole sequence."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from tools import deploy

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "resources.yaml"
REGION = "us-east-1"
# moto's CloudFormation skips AWS::SNS::Subscription and AWS::SQS::QueuePolicy;
# devstack.provision creates those locally, and AWS creates them on deploy.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


# --- resources ---------------------------------------------------------------


def test_deploy_resources_creates_the_stack_and_returns_its_outputs(session: Any) -> None:
    outputs = deploy.deploy_resources(session, "dev", TEMPLATE)

    assert outputs["OrdersTableName"] == "eventshop-dev-orders"
    assert outputs["JwtSecretParameter"] == "/eventshop/dev/jwt-secret"
    cfn = session.client("cloudformation")
    stack = cfn.describe_stacks(StackName="eventshop-dev")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"ParameterKey": "Stage", "ParameterValue": "dev"} in stack["Parameters"]
    session.client("dynamodb").describe_table(TableName="eventshop-dev-orders")


def test_deploy_resources_twice_without_changes_succeeds(session: Any) -> None:
    first = deploy.deploy_resources(session, "dev", TEMPLATE)
    second = deploy.deploy_resources(session, "dev", TEMPLATE)

    # moto compares parameters with their defaults filled in, so it performs an
    # empty update where AWS answers "No updates are to be performed" (see the
    # stubbed test below); either way the call succeeds with the same outputs.
    assert second == first
    stack = session.client("cloudformation").describe_stacks(StackName="eventshop-dev")
    assert stack["Stacks"][0]["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


class _OneClientSession:
    def __init__(self, service: str, client: Any) -> None:
        self._service, self._client = service, client

    def client(self, service: str) -> Any:
        assert service == self._service
        return self._client


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(
        service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def _stack(status: str, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    stack: dict[str, Any] = {
        "StackName": "eventshop-dev",
        "StackStatus": status,
        "CreationTime": "2024-01-01T00:00:00Z",
    }
    if outputs is not None:
        stack["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
    return {"Stacks": [stack]}


def test_deploy_resources_treats_no_updates_as_success() -> None:
    # What AWS answers to an unchanged template; no waiter may run afterwards
    # (the stub fails on any call not queued here).
    client, stub = _stubbed("cloudformation")
    name = {"StackName": "eventshop-dev"}
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), name)
    stub.add_client_error(
        "update_stack",
        "ValidationError",
        "No updates are to be performed.",
        expected_params={
            **name,
            "TemplateBody": TEMPLATE.read_text(),
            "Parameters": [{"ParameterKey": "Stage", "ParameterValue": "dev"}],
        },
    )
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE", {"OrdersTableName": "t"}), name)

    with stub:
        outputs = deploy.deploy_resources(
            _OneClientSession("cloudformation", client), "dev", TEMPLATE
        )
        stub.assert_no_pending_responses()
    assert outputs == {"OrdersTableName": "t"}


def test_deploy_resources_passes_other_update_errors_on() -> None:
    client, stub = _stubbed("cloudformation")
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"))
    stub.add_client_error("update_stack", "ValidationError", "Template format error")

    with stub, pytest.raises(ClientError, match="Template format error"):
        deploy.deploy_resources(_OneClientSession("cloudformation", client), "dev", TEMPLATE)


def test_deploy_resources_explains_a_stack_that_never_got_created() -> None:
    client, stub = _stubbed("cloudformation")
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))

    with stub, pytest.raises(deploy.DeployError, match=r"ROLLBACK_COMPLETE.*delete-stack"):
        deploy.deploy_resources(_OneClientSession("cloudformation", client), "dev", TEMPLATE)


def test_deploy_resources_updates_a_changed_template(session: Any, tmp_path: Path) -> None:
    deploy.deploy_resources(session, "dev", TEMPLATE)
    changed = tmp_path / "resources.yaml"
    changed.write_text(TEMPLATE.read_text().replace("Default: 360", "Default: 400"))

    outputs = deploy.deploy_resources(session, "dev", changed)

    stack = session.client("cloudformation").describe_stacks(StackName="eventshop-dev")
    assert stack["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs["OrdersTableName"] == "eventshop-dev-orders"


# --- JWT secret ----------------------------------------------------------------


def test_ensure_jwt_secret_creates_a_random_secure_string_once(session: Any) -> None:
    ssm = session.client("ssm")

    assert deploy.ensure_jwt_secret(session, "/eventshop/dev/jwt-secret") is True
    param = ssm.get_parameter(Name="/eventshop/dev/jwt-secret", WithDecryption=True)
    assert param["Parameter"]["Type"] == "SecureString"
    assert len(param["Parameter"]["Value"]) >= 48

    assert deploy.ensure_jwt_secret(session, "/eventshop/dev/jwt-secret") is False
    again = ssm.get_parameter(Name="/eventshop/dev/jwt-secret", WithDecryption=True)
    assert again["Parameter"]["Value"] == param["Parameter"]["Value"]
    assert again["Parameter"]["Version"] == 1


def test_ensure_jwt_secret_never_overwrites_an_existing_value(session: Any) -> None:
    ssm = session.client("ssm")
    ssm.put_parameter(Name="/eventshop/prod/jwt-secret", Value="operator-set", Type="SecureString")

    assert deploy.ensure_jwt_secret(session, "/eventshop/prod/jwt-secret") is False

    param = ssm.get_parameter(Name="/eventshop/prod/jwt-secret", WithDecryption=True)
    assert param["Parameter"]["Value"] == "operator-set"


def test_ensure_jwt_secret_loses_a_race_gracefully() -> None:
    # Another deploy created the parameter between our read and our write: the
    # write must not overwrite it, and the race is not an error.
    client, stub = _stubbed("ssm")
    name = "/eventshop/dev/jwt-secret"
    stub.add_client_error("get_parameter", "ParameterNotFound", expected_params={"Name": name})
    stub.add_client_error(
        "put_parameter",
        "ParameterAlreadyExists",
        expected_params={
            "Name": name,
            "Value": ANY,
            "Type": "SecureString",
            "Overwrite": False,
            "Description": ANY,
        },
    )

    with stub:
        assert deploy.ensure_jwt_secret(_OneClientSession("ssm", client), name) is False
        stub.assert_no_pending_responses()


# --- stage environment -----------------------------------------------------------


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text((ROOT / ".chalice" / "config.json").read_text())
    return path


def test_write_stage_environment_round_trip(tmp_path: Path) -> None:
    path = _config(tmp_path)
    before = json.loads(path.read_text())

    deploy.write_stage_environment(
        path, "dev", {"OrdersTableName": "eventshop-dev-orders", "ORDERS_STREAM_ARN": "arn:x"}
    )

    text = path.read_text()
    after = json.loads(text)
    assert text == json.dumps(after, indent=2) + "\n"
    assert after["stages"]["dev"]["environment_variables"] == {
        "STAGE": "dev",
        "ORDERS_TABLE_NAME": "eventshop-dev-orders",
        "ORDERS_STREAM_ARN": "arn:x",
    }
    assert after["stages"]["dev"]["iam_policy_file"] == "policy-dev.json"
    for stage in ("local", "test", "prod"):
        assert after["stages"][stage] == before["stages"][stage]
    assert {k: v for k, v in after.items() if k != "stages"} == {
        k: v for k, v in before.items() if k != "stages"
    }


def test_write_stage_environment_rejects_an_unknown_stage(tmp_path: Path) -> None:
    path = _config(tmp_path)
    before = path.read_text()

    with pytest.raises(deploy.DeployError, match="no stage 'qa'"):
        deploy.write_stage_environment(path, "qa", {"OrdersTableName": "x"})
    assert path.read_text() == before


# --- SQS partial batch responses ---------------------------------------------------


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def _function(session: Any, name: str) -> str:
    role = session.client("iam").create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    fn = session.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
    )
    return str(fn["FunctionArn"])


def _sqs_mapping(session: Any, handler: str) -> dict[str, str]:
    """A queue, a function and its mapping, recorded as ``chalice deploy`` records them
    (chalice/deploy/planner.py ``_plan_sqseventsource``)."""
    queue = f"eventshop-dev-{handler}"
    url = session.client("sqs").create_queue(QueueName=queue)["QueueUrl"]
    arn = session.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    queue_arn = arn["Attributes"]["QueueArn"]
    lambda_arn = _function(session, f"eventshop-dev-{handler}")
    uuid = session.client("lambda").create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=lambda_arn, BatchSize=10
    )["UUID"]
    return {
        "name": f"{handler}-sqs-event-source",
        "resource_type": "sqs_event",
        "queue_arn": queue_arn,
        "event_uuid": uuid,
        "queue": queue,
        "lambda_arn": lambda_arn,
    }


def _stream_mapping(session: Any, function: str = "low_stock_alerts") -> dict[str, str]:
    """A DynamoDB stream mapping (``_plan_dynamodbeventsource``): not an SQS one."""
    table = session.client("dynamodb").create_table(
        TableName=f"eventshop-dev-{function}",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    lambda_arn = _function(session, f"eventshop-dev-{function}")
    uuid = session.client("lambda").create_event_source_mapping(
        EventSourceArn=table["LatestStreamArn"],
        FunctionName=lambda_arn,
        StartingPosition="LATEST",
    )["UUID"]
    return {
        "name": f"{function}-dynamodb-event-source",
        "resource_type": "dynamodb_event",
        "stream_arn": table["LatestStreamArn"],
        "event_uuid": uuid,
        "lambda_arn": lambda_arn,
    }


def _deployed(path: Path, resources: list[dict[str, str]]) -> Path:
    # chalice/deploy/deployer.py Deployer.deploy: the shape of .chalice/deployed/<stage>.json
    path.write_text(
        json.dumps(
            {
                "resources": [
                    {
                        "name": "api_handler_role",
                        "resource_type": "iam_role",
                        "role_arn": "arn:aws:iam::123456789012:role/eventshop-dev",
                        "role_name": "eventshop-dev",
                    },
                    *resources,
                ],
                "schema_version": "2.0",
                "backend": "api",
            },
            indent=2,
        )
    )
    return path


def _response_types(session: Any, uuid: str) -> list[str] | None:
    mapping = session.client("lambda").get_event_source_mapping(UUID=uuid)
    types: list[str] | None = mapping.get("FunctionResponseTypes")
    return types


def test_enable_partial_batch_responses_sets_every_sqs_mapping_once(
    session: Any, tmp_path: Path
) -> None:
    inventory = _sqs_mapping(session, "inventory")
    payments = _sqs_mapping(session, "payments")
    stream = _stream_mapping(session)
    path = _deployed(tmp_path / "dev.json", [inventory, stream, payments])
    assert _response_types(session, inventory["event_uuid"]) is None

    updated = deploy.enable_partial_batch_responses(session, path)

    assert sorted(updated) == sorted([inventory["event_uuid"], payments["event_uuid"]])
    for mapping in (inventory, payments):
        assert _response_types(session, mapping["event_uuid"]) == ["ReportBatchItemFailures"]
    assert _response_types(session, stream["event_uuid"]) is None

    assert deploy.enable_partial_batch_responses(session, path) == []
    assert _response_types(session, inventory["event_uuid"]) == ["ReportBatchItemFailures"]


def test_enable_partial_batch_responses_without_deployed_file_says_why(
    session: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "deployed" / "dev.json"

    with pytest.raises(deploy.DeployError, match=r"dev\.json does not exist.*chalice deploy"):
        deploy.enable_partial_batch_responses(session, missing)


def test_enable_partial_batch_responses_retries_a_settling_mapping(tmp_path: Path) -> None:
    # Right after chalice creates a mapping Lambda answers ResourceInUseException;
    # moto never does, so a stubbed client plays AWS here.
    client, stub = _stubbed("lambda")
    uuid = "6ad0b0f4-25a4-4a1e-9d2f-2a1c7b4f5e01"
    resource = {"name": "q-sqs-event-source", "resource_type": "sqs_event", "event_uuid": uuid}
    path = _deployed(tmp_path / "dev.json", [resource])
    naps: list[float] = []
    expected = {"UUID": uuid, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    stub.add_response("get_event_source_mapping", {"UUID": uuid}, {"UUID": uuid})
    stub.add_client_error(
        "update_event_source_mapping", "ResourceInUseException", expected_params=expected
    )
    stub.add_response("update_event_source_mapping", {"UUID": uuid}, expected)

    with stub:
        updated = deploy.enable_partial_batch_responses(
            _OneClientSession("lambda", client), path, naps.append
        )
        stub.assert_no_pending_responses()
    assert updated == [uuid]
    assert naps == [deploy.UPDATE_BACKOFF_SECONDS]


# --- the whole sequence --------------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    (tmp_path / ".chalice").mkdir()
    (tmp_path / "infra").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(
        (ROOT / ".chalice" / "config.json").read_text()
    )
    (tmp_path / "infra" / "resources.yaml").write_text(TEMPLATE.read_text())
    return tmp_path


def test_main_runs_every_step_in_order(session: Any, tmp_path: Path) -> None:
    project = _project(tmp_path)
    seen: dict[str, Any] = {}

    def fake_chalice_deploy(project_dir: Path, stage: str, env: Mapping[str, str]) -> None:
        # What chalice deploy would do: read the config just written, create the
        # functions and mappings, record them.
        config = json.loads((project_dir / ".chalice" / "config.json").read_text())
        seen.update(stage=stage, env=dict(env), config_env=config["stages"][stage])
        mapping = _sqs_mapping(session, "inventory")
        seen["uuid"] = mapping["event_uuid"]
        (project_dir / ".chalice" / "deployed").mkdir()
        _deployed(project_dir / ".chalice" / "deployed" / f"{stage}.json", [mapping])

    assert (
        deploy.main("dev", session=session, project_dir=project, chalice_deploy=fake_chalice_deploy)
        == 0
    )

    assert seen["stage"] == "dev"
    assert seen["env"]["ORDERS_TABLE_NAME"] == "eventshop-dev-orders"
    assert seen["env"]["JWT_SECRET_PARAMETER"] == "/eventshop/dev/jwt-secret"
    assert seen["config_env"]["environment_variables"]["ORDERS_TABLE_NAME"] == (
        "eventshop-dev-orders"
    )
    session.client("ssm").get_parameter(Name="/eventshop/dev/jwt-secret")
    assert _response_types(session, seen["uuid"]) == ["ReportBatchItemFailures"]


def test_main_stops_when_chalice_deploy_fails(session: Any, tmp_path: Path) -> None:
    project = _project(tmp_path)

    def failing(project_dir: Path, stage: str, env: Mapping[str, str]) -> None:
        raise deploy.DeployError("chalice deploy --stage dev failed (exit 1)")

    assert deploy.main("dev", session=session, project_dir=project, chalice_deploy=failing) == 1


@pytest.mark.parametrize("stage", ["local", "test", "qa"])
def test_main_refuses_stages_it_cannot_deploy(
    stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)

    def never(project_dir: Path, stage: str, env: Mapping[str, str]) -> None:
        raise AssertionError("chalice deploy must not run")

    # No session and no moto: a refused stage must not reach AWS at all.
    assert deploy.main(stage, session=object(), project_dir=project, chalice_deploy=never) == 2
    assert stage in capsys.readouterr().err


def test_bound_stream_retries_gives_stream_mappings_a_limit_and_a_destination(
    session: Any, tmp_path: Path
) -> None:
    queue = session.client("sqs").create_queue(QueueName="eventshop-dev-stream-failures")
    arn = session.client("sqs").get_queue_attributes(
        QueueUrl=queue["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    inventory = _sqs_mapping(session, "inventory")
    stream = _stream_mapping(session)
    path = _deployed(tmp_path / "dev.json", [inventory, stream])

    updated = deploy.bound_stream_retries(session, path, "eventshop-dev-stream-failures")

    assert updated == [stream["event_uuid"]]
    mapping = session.client("lambda").get_event_source_mapping(UUID=stream["event_uuid"])
    assert mapping["MaximumRetryAttempts"] == deploy.STREAM_MAX_RETRIES == 3
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == arn
    sqs_mapping = session.client("lambda").get_event_source_mapping(UUID=inventory["event_uuid"])
    assert "DestinationConfig" not in sqs_mapping or not sqs_mapping["DestinationConfig"]


def test_the_outbox_relay_holds_its_shard_instead_of_setting_a_batch_aside(
    session: Any, tmp_path: Path
) -> None:
    """A stream's on-failure record holds only metadata: a relay batch set
    aside would lose its order events. The relay retries until it can publish."""
    session.client("sqs").create_queue(QueueName="eventshop-dev-stream-failures")
    relay = _stream_mapping(session, "relay_order_events")
    alerts = _stream_mapping(session, "low_stock_alerts")
    path = _deployed(tmp_path / "dev.json", [relay, alerts])

    deploy.bound_stream_retries(session, path, "eventshop-dev-stream-failures")

    lam = session.client("lambda")
    held = lam.get_event_source_mapping(UUID=relay["event_uuid"])
    assert held["MaximumRetryAttempts"] == -1
    assert held["MaximumRecordAgeInSeconds"] == -1
    assert held["BisectBatchOnFunctionError"] is True
    assert not (held.get("DestinationConfig") or {}).get("OnFailure")
    bounded = lam.get_event_source_mapping(UUID=alerts["event_uuid"])
    assert bounded["MaximumRetryAttempts"] == 3
    assert bounded["DestinationConfig"]["OnFailure"]["Destination"].endswith("stream-failures")
