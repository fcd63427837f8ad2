"""``make deploy STAGE=dev``: the resources, the secret, the app, then what Chalice cannot say.

1. ``infra/resources.yaml`` as the CloudFormation stack ``eventshop-<stage>``.
2. The JWT secret as an SSM SecureString (CloudFormation cannot create one),
   and the Stripe secret key and webhook secret as placeholders to fill.
3. The stack outputs into the stage's ``environment_variables`` in
   ``.chalice/config.json``, so every Lambda function gets them.
4. ``chalice deploy``, with the outputs in its environment too: Chalice imports
   ``app.py``, whose event decorators need queue, bucket and stream names.
5. ``ReportBatchItemFailures`` on every SQS event source mapping Chalice made:
   without it Lambda ignores the ``batchItemFailures`` our SQS handlers return
   and retries a whole batch for one bad message.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from chalicelib.platform.settings import LOCAL_STAGES, output_to_env

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEMPLATE = PROJECT_DIR / "infra" / "resources.yaml"
PARTIAL_BATCH = ["ReportBatchItemFailures"]
# Right after ``chalice deploy`` creates a mapping it is "Creating", and Lambda
# refuses updates (ResourceInUseException) until it settles.
UPDATE_ATTEMPTS = 10
UPDATE_BACKOFF_SECONDS = 3.0
_WAITER = {"Delay": 5, "MaxAttempts": 360}


class DeployError(RuntimeError):
    """A deploy step failed; the message says which and what to do."""


def stack_name(stage: str) -> str:
    return f"eventshop-{stage}"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def deploy_resources(session: Any, stage: str, template_path: Path) -> dict[str, str]:
    """Create or update the stack ``eventshop-<stage>``; return its outputs."""
    cfn = session.client("cloudformation")
    name = stack_name(stage)
    args: dict[str, Any] = {
        "StackName": name,
        "TemplateBody": template_path.read_text(),
        "Parameters": [{"ParameterKey": "Stage", "ParameterValue": stage}],
    }
    status = _stack_status(cfn, name)
    if status is None:
        print(f"creating stack {name}")
        cfn.create_stack(**args)
        _wait(cfn, "stack_create_complete", name)
    elif status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {name} is ROLLBACK_COMPLETE (its first creation failed) and cannot be "
            f"updated: read its events, then `aws cloudformation delete-stack --stack-name {name}`"
        )
    else:
        print(f"updating stack {name} (was {status})")
        try:
            cfn.update_stack(**args)
        except ClientError as exc:
            if "No updates are to be performed" not in _error_message(exc):
                raise
            print(f"stack {name}: no changes")
        else:
            _wait(cfn, "stack_update_complete", name)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _stack_status(cfn: Any, name: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in _error_message(exc):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _wait(cfn: Any, waiter: str, name: str) -> None:
    try:
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig=_WAITER)
    except WaiterError as exc:
        failures = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
            for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
            if str(e.get("ResourceStatus", "")).endswith("_FAILED")
        ]
        raise DeployError(
            f"stack {name} did not complete ({exc}); failed resources: "
            + ("; ".join(failures) or "none reported")
        ) from exc


def ensure_placeholder(session: Any, parameter_name: str, what: str) -> bool:
    """Create a SecureString holding the placeholder once, for the operator to
    fill (a Stripe key); never overwrite what is there."""
    from chalicelib.platform.secrets import PLACEHOLDER

    ssm = session.client("ssm")
    try:
        ssm.put_parameter(
            Name=parameter_name,
            Value=PLACEHOLDER,
            Type="SecureString",
            Overwrite=False,
            Description=f"eventshop {what} (a placeholder made by make deploy: fill it)",
        )
    except ClientError as exc:
        if _error_code(exc) != "ParameterAlreadyExists":
            raise
        print(f"{what} {parameter_name} exists: kept")
        return False
    print(
        f"{what} {parameter_name} created as a placeholder: set it with\n"
        f"  aws ssm put-parameter --name {parameter_name} --type SecureString --overwrite "
        "--value ..."
    )
    return True


def ensure_jwt_secret(session: Any, parameter_name: str) -> bool:
    """Create the SecureString once; never overwrite (that would log everyone out)."""
    ssm = session.client("ssm")
    try:
        ssm.get_parameter(Name=parameter_name)
    except ClientError as exc:
        if _error_code(exc) != "ParameterNotFound":
            raise
    else:
        print(f"JWT secret {parameter_name} exists: kept")
        return False
    try:
        ssm.put_parameter(
            Name=parameter_name,
            Value=secrets.token_urlsafe(48),
            Type="SecureString",
            Overwrite=False,
            Description="eventshop HS256 JWT secret (created by make deploy)",
        )
    except ClientError as exc:
        # Another deploy created it between our get and put: theirs stands.
        if _error_code(exc) != "ParameterAlreadyExists":
            raise
        return False
    print(f"JWT secret {parameter_name} created")
    return True


def write_stage_environment(config_path: Path, stage: str, env: Mapping[str, str]) -> None:
    """Merge ``env`` into ``stages[stage].environment_variables``.

    Keys go through ``output_to_env``, which leaves variable names unchanged, so
    ``env`` may hold stack outputs (``OrdersTableName``) or variables.
    """
    config = json.loads(config_path.read_text())
    stages = config.get("stages", {})
    if stage not in stages:
        raise DeployError(f"{config_path}: no stage {stage!r} (have: {', '.join(stages)})")
    variables = stages[stage].setdefault("environment_variables", {})
    variables.update({output_to_env(k): str(v) for k, v in env.items()})
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def enable_partial_batch_responses(
    session: Any,
    deployed_json_path: Path,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Set ``ReportBatchItemFailures`` on every SQS mapping in Chalice's deployed file.

    Returns the UUIDs changed; mappings that already have it are reported and skipped.
    """
    if not deployed_json_path.is_file():
        raise DeployError(
            f"{deployed_json_path} does not exist: it is written by `chalice deploy`, "
            "which must succeed before partial batch responses can be enabled"
        )
    deployed = json.loads(deployed_json_path.read_text())
    lam = session.client("lambda")
    updated: list[str] = []
    for resource in deployed.get("resources", []):
        if resource.get("resource_type") != "sqs_event":
            continue
        uuid = resource["event_uuid"]
        label = f"{resource.get('name', uuid)} (queue {resource.get('queue', '?')})"
        current = lam.get_event_source_mapping(UUID=uuid).get("FunctionResponseTypes") or []
        if "ReportBatchItemFailures" in current:
            print(f"partial batch responses already on: {label}")
            continue
        _update_mapping(lam, uuid, sleep)
        print(f"partial batch responses enabled: {label}")
        updated.append(uuid)
    return updated


MAPPINGS_FILE = Path(".chalice") / "event-source-mappings.json"
STREAM_MAX_RETRIES = 3  # _stream_default in MAPPINGS_FILE; the local stack honours the file


def stream_mapping_settings(project_dir: Path, function: str) -> dict[str, Any]:
    """The mapping settings of one stream function: its entry in
    ``.chalice/event-source-mappings.json``, else ``_stream_default``."""
    declared = json.loads((project_dir / MAPPINGS_FILE).read_text())
    return dict(declared.get(function) or declared["_stream_default"])


def bound_stream_retries(
    session: Any,
    deployed_json_path: Path,
    failure_queue_name: str,
    sleep: Callable[[float], None] = time.sleep,
    project_dir: Path | None = None,
) -> list[str]:
    """Give every DynamoDB stream mapping its declared retry policy. Lambda's
    default retries a failing batch until the records expire (24 h), blocking
    the shard. Most stream functions get 3 retries with bisection, then the
    on-failure destination (which holds only metadata); the outbox relay holds
    its shard instead (-1: retry until it can publish, alarmed on IteratorAge),
    because setting its batch aside would lose order events."""
    deployed = json.loads(deployed_json_path.read_text())
    sqs = session.client("sqs")
    url = sqs.get_queue_url(QueueName=failure_queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam = session.client("lambda")
    updated: list[str] = []
    root = project_dir or PROJECT_DIR
    for resource in deployed.get("resources", []):
        if resource.get("resource_type") != "dynamodb_event":
            continue
        uuid, name = resource["event_uuid"], str(resource.get("name", ""))
        # Chalice names the mapping "<function>-dynamodb-event-source".
        settings = stream_mapping_settings(root, name.removesuffix("-dynamodb-event-source"))
        if settings.get("MaximumRetryAttempts") != -1:
            settings["DestinationConfig"] = {"OnFailure": {"Destination": queue_arn}}
        _update_mapping(lam, uuid, sleep, **settings)
        retries = settings["MaximumRetryAttempts"]
        print(
            f"stream retries: {name or uuid}: "
            + ("held until published" if retries == -1 else f"{retries}, then {failure_queue_name}")
        )
        updated.append(uuid)
    return updated


def _update_mapping(lam: Any, uuid: str, sleep: Callable[[float], None], **settings: Any) -> None:
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        try:
            lam.update_event_source_mapping(
                UUID=uuid, **(settings or {"FunctionResponseTypes": PARTIAL_BATCH})
            )
        except ClientError as exc:
            if _error_code(exc) != "ResourceInUseException" or attempt == UPDATE_ATTEMPTS:
                raise
            sleep(UPDATE_BACKOFF_SECONDS)
        else:
            return


def _chalice_deploy(project_dir: Path, stage: str, env: Mapping[str, str]) -> None:
    # The venv's chalice, next to this interpreter (not resolved: a venv's
    # python is a symlink to the base interpreter).
    chalice = Path(sys.executable).with_name("chalice")
    result = subprocess.run(
        [str(chalice), "deploy", "--stage", stage], cwd=project_dir, env=dict(env), check=False
    )
    if result.returncode != 0:
        raise DeployError(f"chalice deploy --stage {stage} failed (exit {result.returncode})")


def main(
    stage: str,
    *,
    session: Any = None,
    project_dir: Path = PROJECT_DIR,
    chalice_deploy: Callable[[Path, str, Mapping[str, str]], None] = _chalice_deploy,
) -> int:
    if stage in LOCAL_STAGES:
        print(
            f"stage {stage!r} runs on the local emulator (`make run`), not on AWS: "
            "deploy dev or prod",
            file=sys.stderr,
        )
        return 2
    config_path = project_dir / ".chalice" / "config.json"
    stages = json.loads(config_path.read_text()).get("stages", {})
    if stage not in stages:
        print(f"unknown stage {stage!r}: {config_path} has {', '.join(stages)}", file=sys.stderr)
        return 2
    if session is None:
        import boto3

        session = boto3.session.Session()
    try:
        print(f"[1/5] resources: stack {stack_name(stage)}")
        outputs = deploy_resources(session, stage, project_dir / "infra" / "resources.yaml")
        print(f"[2/5] secrets: {outputs['JwtSecretParameter']} and the Stripe keys")
        ensure_jwt_secret(session, outputs["JwtSecretParameter"])
        ensure_placeholder(session, outputs["StripeSecretKeyParameter"], "Stripe secret key")
        ensure_placeholder(
            session, outputs["StripeWebhookSecretParameter"], "Stripe webhook signing secret"
        )
        print(f"[3/5] stack outputs -> {config_path} stages.{stage}.environment_variables")
        write_stage_environment(config_path, stage, outputs)
        print(f"[4/5] chalice deploy --stage {stage}")
        env = dict(os.environ)
        env.update({output_to_env(k): v for k, v in outputs.items()})
        if session.region_name and not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
            env["AWS_DEFAULT_REGION"] = session.region_name
        chalice_deploy(project_dir, stage, env)
        print("[5/5] SQS partial batch responses; bounded stream retries")
        deployed = project_dir / ".chalice" / "deployed" / f"{stage}.json"
        updated = enable_partial_batch_responses(session, deployed)
        updated += bound_stream_retries(
            session, deployed, outputs["StreamFailuresQueueName"], project_dir=project_dir
        )
    except DeployError as exc:
        print(f"deploy failed: {exc}", file=sys.stderr)
        return 1
    print(f"deployed stage {stage}; {len(updated)} event source mapping(s) updated")
    return 0
