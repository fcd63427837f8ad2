"""devstack.capacity: DynamoDB's on-demand bill, measured from the items
moto holds (in-process moto; the emulator applies the same patch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack import capacity

TABLE = "t"


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    capacity.count_capacity()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        capacity.reset()
        yield client
        capacity.reset()


def item(sk: str, payload_bytes: int = 10) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": sk}, "data": {"S": "x" * payload_bytes}}


def billed() -> dict[str, float]:
    return capacity.snapshot().get(TABLE, {"wru": 0, "rru": 0, "writes": 0, "reads": 0})


def test_a_small_put_is_one_unit_and_a_large_one_a_unit_per_started_kb(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=item("a"))
    assert (billed()["wru"], billed()["writes"]) == (1, 1)
    ddb.put_item(TableName=TABLE, Item=item("b", 2500))  # 2.5 KB: 3 units
    assert billed()["wru"] == 1 + 3


def test_an_update_is_billed_on_the_larger_of_before_and_after(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=item("a", 3000))
    capacity.reset()
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p"}, "sk": {"S": "a"}},
        UpdateExpression="SET #d = :small",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":small": {"S": "y"}},
    )
    assert billed()["wru"] == 3  # the item was 3 KB before the write


def test_a_failed_condition_costs_what_the_write_would(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=item("a"))
    capacity.reset()
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(
            TableName=TABLE, Item=item("a"), ConditionExpression="attribute_not_exists(pk)"
        )
    assert billed()["wru"] == 1


def test_each_item_of_a_transaction_costs_two_units_per_kb(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=item("checked"))
    capacity.reset()
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": item("a")}},
            {"Put": {"TableName": TABLE, "Item": item("b", 1500)}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "p"}, "sk": {"S": "checked"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    assert billed()["wru"] == 2 * 1 + 2 * 2 + 2 * 1
    assert billed()["writes"] == 3


def test_reads_are_units_of_4_kb_and_half_when_eventually_consistent(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=item("a", 5000))  # 2 read units of 4 KB
    ddb.put_item(TableName=TABLE, Item=item("b"))
    capacity.reset()
    key = {"pk": {"S": "p"}, "sk": {"S": "a"}}
    ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
    assert billed()["rru"] == 2
    ddb.get_item(TableName=TABLE, Key=key)
    assert billed()["rru"] == 2 + 1
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "none"}}, ConsistentRead=True)
    assert billed()["rru"] == 2 + 1 + 1  # an absent item still costs a unit
    capacity.reset()
    ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        ConsistentRead=True,
    )
    assert billed()["rru"] == 2  # both items, ~5 KB together, rounded once


def test_batch_requests_are_billed_per_item(ddb: Any) -> None:
    ddb.batch_write_item(
        RequestItems={TABLE: [{"PutRequest": {"Item": item(f"k{i}")}} for i in range(3)]}
    )
    assert billed()["wru"] == 3
    ddb.batch_get_item(
        RequestItems={
            TABLE: {
                "Keys": [{"pk": {"S": "p"}, "sk": {"S": f"k{i}"}} for i in range(3)],
                "ConsistentRead": True,
            }
        }
    )
    assert billed()["rru"] == 3


@pytest.fixture
def indexed(ddb: Any) -> Any:
    ddb.create_table(
        TableName="ix",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    capacity.reset()
    return ddb


def ix() -> dict[str, float]:
    return capacity.snapshot()["ix"]


def test_an_index_bills_a_put_when_an_item_enters_it_and_nothing_when_it_does_not(
    indexed: Any,
) -> None:
    indexed.put_item(TableName="ix", Item={"pk": {"S": "a"}})  # no status: not in the index
    assert (ix()["wru"], ix()["indexWru"]) == (1, 0)
    indexed.put_item(TableName="ix", Item={"pk": {"S": "b"}, "status": {"S": "NEW"}})
    assert (ix()["wru"], ix()["indexWru"]) == (1 + 2, 1)


def test_an_index_key_that_changes_is_a_delete_and_a_put_in_the_index(indexed: Any) -> None:
    indexed.put_item(TableName="ix", Item={"pk": {"S": "b"}, "status": {"S": "NEW"}})
    capacity.reset()
    indexed.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "ix",
                    "Key": {"pk": {"S": "b"}},
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "PAID"}},
                }
            }
        ]
    )
    # 2 for the item (a transaction), 1 + 1 for the index (not doubled)
    assert (ix()["wru"], ix()["indexWru"]) == (4, 2)
    capacity.reset()
    indexed.update_item(
        TableName="ix",
        Key={"pk": {"S": "b"}},
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "x"}},
    )
    assert (ix()["wru"], ix()["indexWru"]) == (2, 1)  # its projection changed in place
