"""Deploy the app's resource template to the emulator's CloudFormation.

moto's CloudFormation creates tables, queues, topics, buckets and parameters but
skips ``AWS::SNS::Subscription`` and ``AWS::SQS::QueuePolicy``; those are created
here from the template's own definitions, never from a second list. It also
ignores a table's ``TimeToLiveSpecification``, which is applied here with
``UpdateTimeToLive``. Its queue-URL values are AWS-shaped, so queues are resolved
by name.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import template as tpl

log = logging.getLogger("devstack.provision")

# Resource types moto's CloudFormation accepts but does not create.
CREATED_HERE = ("AWS::SNS::Subscription", "AWS::SQS::QueuePolicy")


def snake_upper(output_key: str) -> str:
    """``OrdersTableName`` -> ``ORDERS_TABLE_NAME`` (a name already in that form is kept)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", output_key).upper()


def as_is(output_key: str) -> str:
    return output_key


# How a stack output's key becomes the environment variable the app reads:
# the app's own rule, chosen with ``--env-naming``.
ENV_NAMING: dict[str, Callable[[str], str]] = {"snake-upper": snake_upper, "as-is": as_is}


@dataclass(frozen=True)
class Stack:
    name: str
    outputs: dict[str, str]
    # Buckets whose events go to EventBridge (NotificationConfiguration's
    # EventBridgeConfiguration): moto never reports it back, so it is kept here.
    eventbridge_buckets: frozenset[str] = frozenset()

    def environment(self, naming: str = "snake-upper") -> dict[str, str]:
        rule = ENV_NAMING[naming]
        return {rule(k): v for k, v in self.outputs.items()}


def deploy(
    session: Any,
    template_path: Path,
    stack_name: str,
    parameters: dict[str, str],
) -> Stack:
    cfn = session.client("cloudformation")
    body = template_path.read_text()
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name}: {stack['StackStatus']}")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        # Skipped types come back without a logical id, some made ones (the
        # emulator's EventBridge archive) without a physical one.
        if "LogicalResourceId" in r and "PhysicalResourceId" in r
    }
    template = tpl.load(template_path)
    resolver = _resolver(session, template, physical, parameters)
    _create_skipped(session, template, resolver)
    _apply_ttl(session, template, physical, resolver)
    buckets = _apply_bucket_eventbridge(session, template, physical, resolver)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # Outputs that name queues by URL come back AWS-shaped; every output is
    # re-resolved from the template so the values are the emulator's own.
    for key, out in template.get("Outputs", {}).items():
        outputs[key] = str(resolver(out["Value"]))
    return Stack(stack_name, outputs, buckets)


def _resolver(
    session: Any,
    template: dict[str, Any],
    physical: dict[str, str],
    parameters: dict[str, str],
) -> tpl.Resolver:
    sts = session.client("sts")
    sqs = session.client("sqs")
    account = sts.get_caller_identity()["Account"]
    region = session.region_name
    pseudo = {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    resources = template["Resources"]

    def queue_name(logical: str) -> str:
        return str(resolver(resources[logical]["Properties"]["QueueName"]))

    def ref(name: str) -> str:
        if name in pseudo:
            return str(pseudo[name])
        if name in parameters:
            return parameters[name]
        if name in template.get("Parameters", {}):
            return str(template["Parameters"][name].get("Default", ""))
        if resources.get(name, {}).get("Type") == "AWS::SQS::Queue":
            return str(sqs.get_queue_url(QueueName=queue_name(name))["QueueUrl"])
        return physical[name]

    def get_att(logical: str, attr: str) -> str:
        kind = resources[logical]["Type"]
        if kind == "AWS::SQS::Queue":
            url = sqs.get_queue_url(QueueName=queue_name(logical))["QueueUrl"]
            if attr == "QueueUrl":
                return str(url)
            if attr == "QueueName":
                return queue_name(logical)
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(attrs["Attributes"]["QueueArn"])
        if kind == "AWS::DynamoDB::Table":
            desc = session.client("dynamodb").describe_table(TableName=physical[logical])
            key = {"Arn": "TableArn", "StreamArn": "LatestStreamArn"}[attr]
            return str(desc["Table"][key])
        if kind == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:aws:s3:::{physical[logical]}"
        if kind == "AWS::SNS::Topic":
            return {
                "TopicArn": physical[logical],
                "TopicName": physical[logical].rsplit(":", 1)[-1],
            }[attr]
        if kind == "AWS::Events::EventBus":
            name = str(resolver(resources[logical]["Properties"]["Name"]))
            if attr == "Name":
                return name
            return str(session.client("events").describe_event_bus(Name=name)["Arn"])
        if kind == "AWS::Events::Rule" and attr == "Arn":
            props = resolver(resources[logical]["Properties"])
            rule = session.client("events").describe_rule(
                Name=props["Name"], EventBusName=props.get("EventBusName", "default")
            )
            return str(rule["Arn"])
        raise KeyError(f"Fn::GetAtt {logical}.{attr} is not supported by the local stack")

    resolver = tpl.Resolver(ref, get_att)
    return resolver


def _create_skipped(session: Any, template: dict[str, Any], resolver: tpl.Resolver) -> None:
    sns = session.client("sns")
    sqs = session.client("sqs")
    for logical, res in template["Resources"].items():
        kind = res["Type"]
        if kind not in CREATED_HERE:
            continue
        props = resolver(res.get("Properties", {}))
        if kind == "AWS::SNS::Subscription":
            attributes = {}
            for prop in ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
                if prop in props:
                    attributes[prop] = json.dumps(props[prop])
            if "FilterPolicyScope" in props:
                attributes["FilterPolicyScope"] = props["FilterPolicyScope"]
            if "RawMessageDelivery" in props:
                attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
            sns.subscribe(
                TopicArn=props["TopicArn"],
                Protocol=props["Protocol"],
                Endpoint=props["Endpoint"],
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )
        else:
            policy = json.dumps(props["PolicyDocument"])
            for url in props["Queues"]:
                sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        log.info("created %s %s (skipped by the emulator's CloudFormation)", kind, logical)


def _apply_bucket_eventbridge(
    session: Any, template: dict[str, Any], physical: dict[str, str], resolver: tpl.Resolver
) -> frozenset[str]:
    """Each bucket's ``EventBridgeConfiguration`` (its events go to EventBridge),
    which the emulator's CloudFormation skips; the buckets it applies to."""
    s3 = session.client("s3")
    done = set()
    for logical, res in template["Resources"].items():
        if res["Type"] != "AWS::S3::Bucket":
            continue
        config = resolver(res.get("Properties", {}).get("NotificationConfiguration") or {})
        enabled = (config.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled")
        if str(enabled).lower() != "true":
            continue
        bucket = physical[logical]
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        done.add(bucket)
        log.info(
            "EventBridge notifications on %s (skipped by the emulator's CloudFormation)", logical
        )
    return frozenset(done)


def _apply_ttl(
    session: Any, template: dict[str, Any], physical: dict[str, str], resolver: tpl.Resolver
) -> None:
    """Each table's ``TimeToLiveSpecification``, unless the emulator recorded it."""
    ddb = session.client("dynamodb")
    for logical, res in template["Resources"].items():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        spec = resolver(res.get("Properties", {}).get("TimeToLiveSpecification"))
        if not spec:
            continue
        name = str(spec["AttributeName"])
        enabled = str(spec.get("Enabled", False)).lower() == "true"
        status = "ENABLED" if enabled else "DISABLED"
        table = physical[logical]
        current = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") == status and current.get("AttributeName") == name:
            continue
        ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"AttributeName": name, "Enabled": enabled}
        )
        log.info(
            "TTL %s on %s of %s (skipped by the emulator's CloudFormation)", status, name, logical
        )
