"""``python -m tools replay-orders``: rebuild every order from its event
history and report each order whose stored state differs.

Against the local stack by default (the emulator's CloudFormation stack gives
the table name); against AWS with ``--stack eventshop-dev --endpoint ''``.
"""

from __future__ import annotations

import os
from typing import Any

from devstack.stack import LOCAL_ENV


def orders_table(session: Any, stack: str) -> str:
    cfn = session.client("cloudformation")
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return str(next(o["OutputValue"] for o in outputs if o["OutputKey"] == "OrdersTableName"))


def main(stack: str, endpoint: str | None) -> int:
    import boto3

    from chalicelib.orders.dynamo import DynamoOrderRepository
    from chalicelib.orders.service import OrderService

    if endpoint:
        os.environ.update(LOCAL_ENV)
        os.environ.pop("AWS_PROFILE", None)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    session = boto3.session.Session()
    repo = DynamoOrderRepository(orders_table(session, stack), session.client("dynamodb"))

    class NoCatalog:
        def prices(self, skus: list[str]) -> dict[str, int]:
            raise RuntimeError("replay places no orders")

    checked, mismatches = OrderService(repo, NoCatalog()).replay_all()
    for m in mismatches:
        print(
            f"MISMATCH order={m.order_id} field={m.field} stored={m.stored!r} "
            f"replayed={m.replayed!r}"
        )
    bad = len({m.order_id for m in mismatches})
    print(f"replayed {checked} orders: {checked - bad} consistent, {bad} differ")
    return 1 if mismatches else 0
