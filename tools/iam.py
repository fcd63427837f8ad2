"""The IAM actions the app's code performs, collected from its adapters.

Each adapter module declares ``AWS_CALLS`` next to the code that makes the
calls; this module unions them, says where each applies (``targets``), and
maps an AWS operation as botocore names it ("dynamodb.TransactWriteItems") to
the actions IAM checks for it (``actions_for``). The unit tests hold the
policies in ``.chalice/`` to it (declared <= granted, nothing unexplained
granted) and the code to it (every client call declared); the e2e tests hold
the running app to it (observed <= declared).

Not imported by the app: tests and tools only.

Assumption: the JWT and Stripe secrets are SSM SecureStrings encrypted with the
AWS-managed key ``aws/ssm``, whose key policy lets SSM decrypt for any caller
allowed ``ssm:GetParameter``. A customer managed key would need
``kms:Decrypt`` on that key (with ``kms:ViaService`` = ssm) in the policies.
"""

from __future__ import annotations

from types import MappingProxyType, ModuleType

from chalicelib.analytics import dynamo as analytics_repository
from chalicelib.catalog import dynamo as inventory_repository
from chalicelib.images import dynamo as images_repository
from chalicelib.ops import dynamo as ops_repository
from chalicelib.ops import failures as ops_failures
from chalicelib.ops import sqs as ops_dead_letters
from chalicelib.orders import dynamo as orders_repository
from chalicelib.payments import dynamo as payments_repository
from chalicelib.payments import simulated as payments_simulated
from chalicelib.payments import stripe_provider as payments_stripe
from chalicelib.platform import aws, dynamo
from chalicelib.platform import eventbridge as domain_bus
from chalicelib.platform import s3 as object_storage
from chalicelib.platform import secrets as stage_secrets
from chalicelib.platform import sns as publishing

ADAPTERS: tuple[ModuleType, ...] = (
    aws,
    dynamo,
    publishing,
    domain_bus,
    orders_repository,
    inventory_repository,
    payments_repository,
    payments_simulated,
    payments_stripe,
    images_repository,
    object_storage,
    stage_secrets,
    ops_dead_letters,
    ops_repository,
    ops_failures,
    analytics_repository,
)

BY_MODULE: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {m.__name__: frozenset(m.AWS_CALLS) for m in ADAPTERS}
)
DECLARED: frozenset[str] = frozenset().union(*BY_MODULE.values())

# Declared, deliberately NOT granted to the Lambda role: no handler reaches
# these; an operator's tool runs them with the operator's own credentials.
OPERATOR_ONLY: MappingProxyType[str, str] = MappingProxyType(
    {
        "dynamodb:Scan": "OrderService.replay_all, run by `python -m tools replay-orders`",
    }
)

# What the Lambda role needs beyond the app's own calls.
PLATFORM: MappingProxyType[str, str] = MappingProxyType(
    {
        "logs:CreateLogGroup": "Lambda writes the function's logs",
        "logs:CreateLogStream": "Lambda writes the function's logs",
        "logs:PutLogEvents": "Lambda writes the function's logs",
        "xray:PutTraceSegments": "active tracing (config.json xray: true)",
        "xray:PutTelemetryRecords": "active tracing (config.json xray: true)",
        "sqs:ReceiveMessage": "SQS event source mappings poll with the function's role",
        "sqs:DeleteMessage": "SQS event source mappings poll with the function's role",
        "sqs:GetQueueAttributes": "SQS event source mappings poll with the function's role",
        "dynamodb:DescribeStream": "DynamoDB stream event source mappings",
        "dynamodb:GetRecords": "DynamoDB stream event source mappings",
        "dynamodb:GetShardIterator": "DynamoDB stream event source mappings",
        "dynamodb:ListStreams": "DynamoDB stream event source mappings",
    }
)

# Granted although nothing above needs it; each entry says why it stays.
GRANTED_UNUSED: MappingProxyType[str, str] = MappingProxyType(
    {
        "dynamodb:ConditionCheckItem": (
            "no transaction uses ConditionCheck today; tests/unit/test_template.py requires it"
        ),
    }
)

# How botocore names an operation ("service.Operation", as in its event names)
# -> the IAM actions that authorize it, when not simply "service:Operation".
_OPERATION_ACTIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        # Authorized per item, by the item's kind (see ``PER_ITEM``).
        "dynamodb.TransactWriteItems": frozenset(
            {
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem",
            }
        ),
        "dynamodb.BatchWriteItem": frozenset({"dynamodb:PutItem", "dynamodb:DeleteItem"}),
        "dynamodb.TransactGetItems": frozenset({"dynamodb:GetItem"}),
        "sns.PublishBatch": frozenset({"sns:Publish"}),
        # botocore names the service by its id (EventBridge), IAM by "events".
        "eventbridge.PutEvents": frozenset({"events:PutEvents"}),
        "sqs.ChangeMessageVisibilityBatch": frozenset({"sqs:ChangeMessageVisibility"}),
        # SQS moves the messages with the caller's permissions: receive and
        # delete on the DLQ, send on the destination.
        "sqs.StartMessageMoveTask": frozenset(
            {
                "sqs:StartMessageMoveTask",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:SendMessage",
            }
        ),
        "s3.HeadObject": frozenset({"s3:GetObject"}),
        "s3.DeleteObjects": frozenset({"s3:DeleteObject"}),
        "s3.ListObjectsV2": frozenset({"s3:ListBucket"}),
        "s3.ListObjects": frozenset({"s3:ListBucket"}),
        "s3.HeadBucket": frozenset({"s3:ListBucket"}),
        # Not requests: the URL or form carries the signer's permission.
        "s3.GeneratePresignedPost": frozenset({"s3:PutObject"}),
    }
)
# Operations needing, per item, only the action for that item's kind.
PER_ITEM = frozenset({"dynamodb.TransactWriteItems", "dynamodb.BatchWriteItem"})
# TransactWriteItems item kinds -> action.
TRANSACT_ITEM_ACTIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "Put": "dynamodb:PutItem",
        "Update": "dynamodb:UpdateItem",
        "Delete": "dynamodb:DeleteItem",
        "ConditionCheck": "dynamodb:ConditionCheckItem",
    }
)


def actions_for(operation: str) -> frozenset[str]:
    """``"s3.HeadObject"`` -> ``{"s3:GetObject"}``. For ``PER_ITEM``
    operations any one of the actions may be the one needed; otherwise all."""
    if operation in _OPERATION_ACTIONS:
        return _OPERATION_ACTIONS[operation]
    service, _, name = operation.partition(".")
    return frozenset({f"{service}:{name}"})


def lambda_role_needs() -> frozenset[str]:
    """What the stage policies must grant: declared calls and the platform's."""
    return (DECLARED - OPERATOR_ONLY.keys()) | PLATFORM.keys()


# --- where each adapter acts --------------------------------------------------

REGION = "us-east-1"
ACCOUNT = "123456789012"

_TABLES = MappingProxyType(
    {
        orders_repository.__name__: "orders",
        inventory_repository.__name__: "products",
        payments_repository.__name__: "payments",
        payments_simulated.__name__: "payments",
        payments_stripe.__name__: "payments",
        images_repository.__name__: "images",
        ops_repository.__name__: "ops",
        ops_failures.__name__: "ops",
        analytics_repository.__name__: "analytics",
    }
)
# The tables whose adapters call DynamoTable.batch_get.
_BATCH_READ_TABLES = ("products", "orders", "ops")
_TOPICS = ("customer-notifications", "ops-alerts", "image-events")
_QUEUES = ("inventory", "payments", "shipping", "notify", "analytics")


def targets(module: str, action: str, stage: str) -> tuple[str, ...]:
    """Example ARNs (this account and region) ``module`` performs ``action`` on,
    in ``stage``, following infra/resources.yaml's names."""
    prefix = f"eventshop-{stage}"
    service = action.partition(":")[0]
    if service == "dynamodb" and module in _TABLES:
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{prefix}-{_TABLES[module]}"
        indexes = (f"{table}/index/gsi1", f"{table}/index/gsi2")
        return (table, *indexes) if action == "dynamodb:Query" else (table,)
    if service == "dynamodb" and module == dynamo.__name__:
        # DynamoTable.batch_get, inherited by the adapters that read in batches.
        return tuple(
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{prefix}-{t}" for t in _BATCH_READ_TABLES
        )
    if service == "s3" and module == object_storage.__name__:
        bucket = f"arn:aws:s3:::{prefix}-images-{ACCOUNT}"
        if action == "s3:ListBucket":
            return (bucket,)
        return (
            f"{bucket}/uploads/SKU-1/img-1",
            f"{bucket}/thumbnails/SKU-1/img-1/200.jpg",
            f"{bucket}/imports/{'0' * 32}.csv",
        )
    if service == "sns" and module == publishing.__name__:
        return tuple(f"arn:aws:sns:{REGION}:{ACCOUNT}:{prefix}-{t}" for t in _TOPICS)
    if service == "events" and module == domain_bus.__name__:
        return (f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{prefix}",)
    if service == "sqs" and module == aws.__name__:
        return tuple(f"arn:aws:sqs:{REGION}:{ACCOUNT}:{prefix}-{q}" for q in _QUEUES)
    if service == "sqs" and module == ops_dead_letters.__name__:
        # The step queues (their redrive policies name the DLQs) and the DLQs.
        dlqs = (*(f"{q}-dlq" for q in _QUEUES), "stream-failures", "bus-dlq")
        if action == "sqs:SendMessage":  # a redrive sends to the step queues
            names: tuple[str, ...] = _QUEUES
        elif action == "sqs:GetQueueAttributes":
            names = (*_QUEUES, *dlqs)
        else:
            names = dlqs
        return tuple(f"arn:aws:sqs:{REGION}:{ACCOUNT}:{prefix}-{q}" for q in names)
    if service == "ssm" and module == stage_secrets.__name__:
        names = ("jwt-secret", "stripe-secret-key", "stripe-webhook-secret")
        return tuple(
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/eventshop/{stage}/{n}" for n in names
        )
    raise KeyError(f"tools.iam.targets does not know where {module} performs {action}")
