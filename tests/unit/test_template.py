"""``infra/resources.yaml`` and the IAM policies: valid, and consistent with the app."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint

from chalicelib.platform.settings import Settings, output_to_env
from devstack import template as tpl

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "resources.yaml"
# Settings that do not name a resource, so no stack output provides them.
NOT_FROM_OUTPUTS = {
    "stage",
    "region",
    "jwt_secret",
    "jwt_leeway_seconds",
    "jwt_jwks_url",
    "jwt_issuer",
    "jwt_audience",
    "log_level",
    "log_format",
    "image_max_bytes",
    "image_max_pixels",
    "saga_timeout_seconds",
    "payment_provider",
    "payment_currency",
    "stripe_api_base",
    "stripe_secret_key",
    "stripe_webhook_secret",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return tpl.load(TEMPLATE)


def _lint_errors(text: str) -> list[str]:
    return [
        f"{m.rule.id} line {m.linenumber}: {m.message}"
        for m in lint(text)
        if m.rule.id.startswith("E")
    ]


def test_cfn_lint_finds_no_errors() -> None:
    assert _lint_errors(TEMPLATE.read_text()) == []


def test_cfn_lint_would_catch_a_broken_template() -> None:
    broken = TEMPLATE.read_text().replace("BillingMode: PAY_PER_REQUEST", "BillingMode: FREE", 1)
    assert any(e.startswith("E3030 ") for e in _lint_errors(broken))


def _queues(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: res.get("Properties", {})
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::SQS::Queue"
    }


def _dlq_names(template: dict[str, Any]) -> set[str]:
    targets = set()
    for props in _queues(template).values():
        if "RedrivePolicy" in props:
            target = props["RedrivePolicy"]["deadLetterTargetArn"]
            assert target.get("Fn::GetAtt", [None, None])[1] == "Arn", target
            targets.add(target["Fn::GetAtt"][0])
    return targets


def test_every_redrive_policy_uses_the_max_receive_count_parameter(
    template: dict[str, Any],
) -> None:
    assert "MaxReceiveCount" in template["Parameters"]
    redriven = {n: p for n, p in _queues(template).items() if "RedrivePolicy" in p}
    assert redriven, "no queue has a RedrivePolicy"
    for name, props in redriven.items():
        assert props["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}, name


def test_every_queue_that_is_not_a_dlq_has_one(template: dict[str, Any]) -> None:
    queues = _queues(template)
    dlqs = _dlq_names(template)
    assert dlqs <= set(queues), "a RedrivePolicy targets something that is not a queue here"
    # Lambda on-failure destinations (stream batches) are dead-letter queues too.
    dlqs |= {name for name in queues if name.endswith("Dlq")}
    for name, props in queues.items():
        if name in dlqs:
            assert "RedrivePolicy" not in props, f"{name} is a DLQ with a DLQ of its own"
        else:
            assert "RedrivePolicy" in props, f"{name} has no dead-letter queue"


def test_every_output_is_a_setting_and_every_resource_setting_an_output(
    template: dict[str, Any],
) -> None:
    from_outputs = {output_to_env(key).lower() for key in template["Outputs"]}
    settings = {f.name for f in fields(Settings)}

    assert from_outputs - settings == set(), "outputs no Settings field reads"
    assert settings - NOT_FROM_OUTPUTS - from_outputs == set(), "settings no output provides"
    assert from_outputs & NOT_FROM_OUTPUTS == set()


# --- IAM policies ---------------------------------------------------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policy_is_least_privilege(stage: str) -> None:
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["stages"][stage]["iam_policy_file"] == f"policy-{stage}.json"
    assert config["autogen_policy"] is False

    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        assert not [a for a in actions if "*" in a], statement
        if "*" in resources:
            # X-Ray has no resource ARNs; nothing else may be unscoped.
            assert resources == ["*"]
            assert all(a.startswith("xray:") for a in actions), statement
            continue
        for arn in resources:
            assert f"eventshop-{stage}" in arn or f"/eventshop/{stage}/" in arn, arn
            other = "prod" if stage == "dev" else "dev"
            assert f"eventshop-{other}" not in arn and f"/eventshop/{other}/" not in arn, arn


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policy_covers_what_the_app_and_its_event_sources_need(stage: str) -> None:
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    granted = {a for s in policy["Statement"] for a in _as_list(s["Action"])}
    needed = {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:DescribeStream",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
        "sns:Publish",
        "s3:GetObject",
        "s3:PutObject",
        "ssm:GetParameter",
    }
    assert needed - granted == set()


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_the_held_relay_is_alarmed_on_its_iterator_age(template: dict[str, Any]) -> None:
    """The relay retries without end (it must not set order events aside), so
    a stall shows as the age of its oldest unrelayed record."""
    mappings = json.loads((ROOT / ".chalice" / "event-source-mappings.json").read_text())
    assert mappings["relay_order_events"]["MaximumRetryAttempts"] == -1
    alarms = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["MetricName"] == "IteratorAge"
    ]
    assert len(alarms) == 1
    (alarm,) = alarms
    assert alarm["Namespace"] == "AWS/Lambda"
    assert "relay_order_events" in str(alarm["Dimensions"][0]["Value"])
    assert alarm["AlarmActions"]


@pytest.mark.parametrize("table", ["OrdersTable", "PaymentsTable", "OpsTable", "ProductsTable"])
def test_tables_with_short_lived_items_expire_them_by_their_expires_at(
    template: dict[str, Any], table: str
) -> None:
    """Idempotency keys and notification markers (orders), payment claims
    (payments), alerts and failure reasons (ops), import records (products)
    carry ``expiresAt``:
    DynamoDB's TTL deletes them, nothing sweeps them by hand."""
    props = template["Resources"][table]["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_the_bucket_sends_its_events_to_eventbridge_and_import_files_expire(
    template: dict[str, Any],
) -> None:
    """The catalog_import rule needs S3's events on EventBridge; an import's
    file is read once, and its record says what it did."""
    props = template["Resources"]["ImagesBucket"]["Properties"]
    assert props["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    (rule,) = [r for r in props["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "imports/"]
    assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", 7)


def test_every_dead_letter_queue_has_an_alarm_that_tells_the_operators(
    template: dict[str, Any],
) -> None:
    """A DLQ with a message in it raises an alarm on the ops-alerts topic
    (whose subscriber records it: GET /ops/alerts, kind ALARM)."""
    resources = template["Resources"]
    dlqs = {
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::SQS::Queue"
        and (
            name.endswith("Dlq")
            or any(
                q.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
                == {"Fn::GetAtt": [name, "Arn"]}
                for q in resources.values()
            )
        )
    }
    assert dlqs, "no DLQ found"
    watched = {}
    for name, r in resources.items():
        if r["Type"] != "AWS::CloudWatch::Alarm" or r["Properties"].get("Namespace") != "AWS/SQS":
            continue
        props = r["Properties"]
        (dimension,) = props["Dimensions"]
        assert dimension["Name"] == "QueueName"
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
        assert props["AlarmActions"] == [{"Ref": "OpsAlertsTopic"}], name
        watched[dimension["Value"]["Fn::GetAtt"][0]] = name
    assert sorted(dlqs - set(watched)) == [], "DLQs without an alarm"


def test_saga_timeouts_alarm_on_the_apps_own_metric(template: dict[str, Any]) -> None:
    props = template["Resources"]["SagaTimeoutsAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("eventshop", "SagaTimeouts")
    assert {d["Name"] for d in props["Dimensions"]} == {"service", "stage"}
    assert props["AlarmActions"] == [{"Ref": "OpsAlertsTopic"}]


def test_the_dashboard_shows_every_business_metric(template: dict[str, Any]) -> None:
    import json

    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    shown = {row[1] for w in widgets for row in w["properties"]["metrics"]}
    assert shown == {
        "OrdersPlaced",
        "OrdersCompleted",
        "OrdersRejected",
        "OrdersCancelled",
        "OrderLeadTimeMs",
        "SagaStepMs",
        "PaymentsDeclined",
        "ImagesProcessed",
        "ImagesFailed",
        "ImageProcessingMs",
        "DeadLetters",
        "SagaTimeouts",
        "CatalogImportRowsApplied",
        "CatalogImportRowsRefused",
        "CatalogImportsFailed",
    }
    namespaces = {row[0] for w in widgets for row in w["properties"]["metrics"]}
    assert namespaces == {"eventshop"}


def test_every_step_queue_is_fed_by_one_bus_rule_with_a_dead_letter_target(
    template: dict[str, Any],
) -> None:
    """Service-to-service events go over the stage's bus: each consumer's
    queue has its rule (matching order events by detail-type), whose target
    has a retry policy and a dead-letter queue; the bus keeps an archive."""
    resources = template["Resources"]
    rules = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    fed: dict[str, str] = {}
    for name, rule in rules.items():
        assert rule["EventBusName"] == {"Fn::GetAtt": ["EventBus", "Name"]}, name
        # Order events feed every step; the payments step also hears the payment
        # provider's events (Stripe's webhooks, verified and put on the bus).
        sources = (
            ["eventshop.orders", "eventshop.payments"]
            if name == "PaymentsRule"
            else ["eventshop.orders"]
        )
        assert rule["EventPattern"]["source"] == sources, name
        assert rule["EventPattern"]["detail-type"], name
        (target,) = rule["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["BusDlq", "Arn"]}}, name
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, name
        fed[target["Arn"]["Fn::GetAtt"][0]] = name
    steps = {"InventoryQueue", "PaymentsQueue", "ShippingQueue", "NotifyQueue", "AnalyticsQueue"}
    assert set(fed) == steps
    archive = resources["EventArchive"]["Properties"]
    assert archive["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert not [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    policy = resources["BusQueuesPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert {a["Fn::GetAtt"][0] for a in policy["Condition"]["ArnEquals"]["aws:SourceArn"]} == set(
        rules
    )
