"""Least privilege, both ways: the code's AWS calls are declared next to it
(``AWS_CALLS``), the declarations are granted by both stage policies on the
resources the code uses, and the policies grant nothing else."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.support.iam_policies import allows, granted_actions, policy
from tests.support.iam_policies import as_list as _as_list
from tools import iam

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")


# --- the IAM matcher: tests.support.iam_policies ------------------------------


def test_the_matcher() -> None:
    doc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem"],
                "Resource": "arn:aws:dynamodb:*:*:table/eventshop-dev-*",
            }
        ]
    }
    table = "arn:aws:dynamodb:us-east-1:1:table/eventshop-dev-orders"
    assert allows(doc, "dynamodb:GetItem", table)
    assert allows(doc, "DynamoDB:getitem", table)  # actions are case-insensitive
    assert allows(doc, "dynamodb:GetItem", table + "/index/gsi1")  # * spans "/"
    assert not allows(doc, "dynamodb:PutItem", table)
    assert not allows(doc, "dynamodb:GetItem", table.replace("-dev-", "-prod-"))
    assert not allows(doc, "dynamodb:GetItem", table.replace("eventshop", "EVENTSHOP"))


# --- (a) declared <= granted, on the right resources ---------------------------


def _declared() -> Iterator[tuple[str, str]]:
    for module, actions in sorted(iam.BY_MODULE.items()):
        for action in sorted(actions):
            yield module, action


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize(("module", "action"), list(_declared()))
def test_every_declared_call_is_granted_where_it_acts(stage: str, module: str, action: str) -> None:
    doc = policy(stage)
    arns = iam.targets(module, action, stage)
    if action in iam.OPERATOR_ONLY:
        assert not [a for a in arns if allows(doc, action, a)], (
            f"{action} is operator-only ({iam.OPERATOR_ONLY[action]}): the role must not have it"
        )
        return
    missing = [a for a in arns if not allows(doc, action, a)]
    assert not missing, f"policy-{stage}.json does not grant {action} ({module}) on {missing}"
    other = "prod" if stage == "dev" else "dev"
    leaked = [a for a in iam.targets(module, action, other) if allows(doc, action, a)]
    assert not leaked, f"policy-{stage}.json grants {action} on {other}'s {leaked}"


def _platform_targets(stage: str) -> dict[str, list[str]]:
    r, acct, p = iam.REGION, iam.ACCOUNT, f"eventshop-{stage}"
    group = f"arn:aws:logs:{r}:{acct}:log-group:/aws/lambda/{p}-relay_order_events"
    queues = [f"arn:aws:sqs:{r}:{acct}:{p}-{q}" for q in ("inventory", "payments", "notify")]
    streams = [
        f"arn:aws:dynamodb:{r}:{acct}:table/{p}-{t}/stream/2026-01-01T00:00:00.000"
        for t in ("orders", "products")
    ]
    return {
        "logs:CreateLogGroup": [group],
        "logs:CreateLogStream": [group + ":log-stream:2026/01/01/[$LATEST]abc"],
        "logs:PutLogEvents": [group + ":log-stream:2026/01/01/[$LATEST]abc"],
        "xray:PutTraceSegments": ["*"],
        "xray:PutTelemetryRecords": ["*"],
        "sqs:ReceiveMessage": queues,
        "sqs:DeleteMessage": queues,
        "sqs:GetQueueAttributes": queues,
        "dynamodb:DescribeStream": streams,
        "dynamodb:GetRecords": streams,
        "dynamodb:GetShardIterator": streams,
        "dynamodb:ListStreams": streams,
    }


@pytest.mark.parametrize("stage", STAGES)
def test_what_lambda_itself_needs_is_granted(stage: str) -> None:
    doc = policy(stage)
    targets = _platform_targets(stage)
    assert set(targets) == set(iam.PLATFORM)
    missing = {a: [r for r in arns if not allows(doc, a, r)] for a, arns in targets.items()}
    assert {a: m for a, m in missing.items() if m} == {}


# --- (b) nothing more ---------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_nothing_unexplained_is_granted(stage: str) -> None:
    granted = granted_actions(policy(stage))
    explained = iam.lambda_role_needs() | iam.GRANTED_UNUSED.keys()
    assert granted - explained == set(), "granted, but no code or platform need declares it"
    # The allowances stay current: each is granted and still not needed.
    assert set(iam.GRANTED_UNUSED) <= granted
    assert set(iam.GRANTED_UNUSED) & iam.lambda_role_needs() == set()


def _owned_prefixes(stage: str) -> tuple[str, ...]:
    # Resource parts (after "arn:aws:service:region:account:") that belong to
    # this stage of this app; a wildcard may only follow one of them.
    return (
        f"log-group:/aws/lambda/eventshop-{stage}",
        f"table/eventshop-{stage}-",
        f"eventshop-{stage}-",  # queues, topics, the bucket
        f"parameter/eventshop/{stage}/",
    )


@pytest.mark.parametrize("stage", STAGES)
def test_no_wildcard_beyond_the_stage_own_resources(stage: str) -> None:
    doc = policy(stage)
    for s in doc["Statement"]:
        assert s["Effect"] == "Allow" and set(s) <= {"Sid", "Effect", "Action", "Resource"}, s
        actions, resources = _as_list(s["Action"]), _as_list(s["Resource"])
        assert not [a for a in actions if "*" in a or "?" in a], s
        if resources == ["*"]:
            assert all(a.startswith("xray:") for a in actions), "only X-Ray has no resource ARNs"
            continue
        for arn in resources:
            parts = arn.split(":", 5)
            assert len(parts) == 6 and parts[:2] == ["arn", "aws"], arn
            _, _, service, region, account, rest = parts
            assert all(a.startswith(f"{service}:") for a in actions), (actions, arn)
            assert re.fullmatch(r"[a-z0-9-]+", service), arn
            assert region in ("*", "") or re.fullmatch(r"[a-z0-9-]+", region), arn
            assert account in ("*", "") or account.isdigit(), arn
            wild = min((i for i in (rest.find("*"), rest.find("?")) if i >= 0), default=None)
            if wild is None:
                continue
            fixed = rest[:wild]
            assert any(fixed.startswith(p) for p in _owned_prefixes(stage)), (
                f"{arn}: a wildcard before the stage's own name"
            )


# --- (c) every client call in chalicelib is declared in its module ----------------

# Declared without a call that needs it, on purpose.
IMPLIED = {
    ("chalicelib.platform.s3", "s3:ListBucket"): (
        "HeadObject answers 404 for a missing key, not 403, only with ListBucket"
    ),
}


@cache
def _client_methods(service: str) -> dict[str, str]:
    """botocore method name -> "service.Operation" (botocore's event naming)."""
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    sid = model.service_id.hyphenize()
    return {xform_name(op): f"{sid}.{op}" for op in model.operation_names}


def _str_arg(call: ast.Call, keyword: str) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for kw in call.keywords:
        if kw.arg == keyword and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    return None


def client_services(tree: ast.AST) -> set[str]:
    """Services of the clients a module creates: ``aws.client("s3")``, or
    inherits: a ``dynamo.DynamoTable`` subclass uses its DynamoDB client."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            (isinstance(b, ast.Attribute) and b.attr == "DynamoTable")
            or (isinstance(b, ast.Name) and b.id == "DynamoTable")
            for b in node.bases
        ):
            found.add("dynamodb")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            service = _str_arg(node, "service") if name == "client" else None
            if service:
                found.add(service)
    return found


def required_actions(source: str) -> dict[str, list[int]]:
    """IAM action -> lines of the calls in ``source`` that need it."""
    tree = ast.parse(source)
    methods: dict[str, str] = {}
    for service in client_services(tree):
        methods.update(_client_methods(service))
    item_kinds = {
        str(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for k in node.keys
        if isinstance(k, ast.Constant) and k.value in iam.TRANSACT_ITEM_ACTIONS
    }
    batch_kinds = {
        str(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for k in node.keys
        if isinstance(k, ast.Constant) and k.value in ("PutRequest", "DeleteRequest")
    }
    out: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        operation: str | None
        if name == "generate_presigned_post" and "s3.PutObject" in methods.values():
            operation = "s3.GeneratePresignedPost"
        elif name in ("generate_presigned_url", "get_paginator"):
            target = _str_arg(
                node, "ClientMethod" if name.startswith("generate") else "operation_name"
            )
            operation = methods.get(target or "")
            assert operation, f"line {node.lineno}: {name} of an unknown method"
        else:
            operation = methods.get(name)
        if operation is None:
            continue
        if operation == "dynamodb.TransactWriteItems":
            assert item_kinds, f"line {node.lineno}: transact_write_items of unknown items"
            actions = {iam.TRANSACT_ITEM_ACTIONS[k] for k in item_kinds}
        elif operation == "dynamodb.BatchWriteItem":
            assert batch_kinds, f"line {node.lineno}: batch_write_item of unknown requests"
            actions = {"dynamodb:" + k.removesuffix("Request") + "Item" for k in batch_kinds}
        else:
            actions = set(iam.actions_for(operation))
        for action in actions:
            out.setdefault(action, []).append(node.lineno)
    return out


def _chalicelib_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(p for p in parts if p != "__init__"), path


def test_the_scanner_sees_calls_and_what_they_need() -> None:
    source = (
        "from chalicelib import aws\n"
        "def f(k):\n"
        "    s3 = aws.client('s3')\n"
        "    s3.head_object(Bucket='b', Key=k)\n"
        "    s3.delete_objects(Bucket='b', Delete={})\n"
        "    s3.generate_presigned_url('get_object', Params={})\n"
        "    s3.generate_presigned_post(Bucket='b', Key=k)\n"
        "    ddb = aws.client('dynamodb')\n"
        "    ddb.transact_write_items(TransactItems=[{'Update': {}}, {'ConditionCheck': {}}])\n"
        "    ddb.scan(TableName='t')\n"
        "    aws.client('sns').publish_batch(TopicArn='t', PublishBatchRequestEntries=[])\n"
        "    {}.get('x'); [].append(1)\n"
    )
    assert required_actions(source) == {
        "s3:GetObject": [4, 6],
        "s3:DeleteObject": [5],
        "s3:PutObject": [7],
        "dynamodb:UpdateItem": [9],
        "dynamodb:ConditionCheckItem": [9],
        "dynamodb:Scan": [10],
        "sns:Publish": [11],
    }


def test_every_module_that_calls_aws_is_an_adapter_iam_collects() -> None:
    callers = {
        name for name, path in _chalicelib_modules() if client_services(ast.parse(path.read_text()))
    }
    assert callers == set(iam.BY_MODULE), "add AWS_CALLS to the module and it to iam.ADAPTERS"


@pytest.mark.parametrize("module", sorted(iam.BY_MODULE))
def test_every_client_call_is_declared_and_every_declaration_used(module: str) -> None:
    path = dict(_chalicelib_modules())[module]
    needed = required_actions(path.read_text())
    declared = iam.BY_MODULE[module]
    undeclared = {a: lines for a, lines in needed.items() if a not in declared}
    assert undeclared == {}, f"{module}: calls need these; add them to its AWS_CALLS"
    stale = declared - needed.keys() - {a for (m, a) in IMPLIED if m == module}
    assert stale == set(), f"{module}: AWS_CALLS declares what no call needs"


def test_declarations_are_iam_action_names() -> None:
    for module, actions in iam.BY_MODULE.items():
        for action in actions:
            service, _, name = action.partition(":")
            assert service in {"dynamodb", "s3", "sns", "sqs", "ssm", "kms", "events"}, action
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), (module, action)


def test_operation_mapping() -> None:
    assert iam.actions_for("dynamodb.PutItem") == {"dynamodb:PutItem"}
    assert iam.actions_for("sns.PublishBatch") == {"sns:Publish"}
    assert iam.actions_for("s3.HeadObject") == {"s3:GetObject"}
    assert iam.actions_for("s3.DeleteObjects") == {"s3:DeleteObject"}
    assert "dynamodb:ConditionCheckItem" in iam.actions_for("dynamodb.TransactWriteItems")
