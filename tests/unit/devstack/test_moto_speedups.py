"""devstack.moto_patches.speed_up_dispatch: moto's per-request lookups done
once, with the same answers."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import moto
import pytest
from moto import backends
from moto.core import responses
from moto.sqs.responses import SQSResponse

from devstack.moto_patches import speed_up_dispatch


def test_the_service_packages_are_listed_once_with_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = Path(moto.__file__).parent
    expected = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("__"))
    speed_up_dispatch()
    speed_up_dispatch()  # idempotent

    def no_listing(path: str) -> list[str]:
        raise AssertionError("listed moto's folder again")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert list(backends.list_of_moto_modules()) == expected
    assert "sqs" in backends.list_of_moto_modules()


def method_names(cls: type) -> list[str]:
    # moto.core.responses imports it without re-exporting: by name.
    return list(getattr(responses, "method_names_from_class")(cls))  # noqa: B009


def test_a_response_class_is_inspected_once(monkeypatch: pytest.MonkeyPatch) -> None:
    speed_up_dispatch()
    expected = [name for name, _ in inspect.getmembers(SQSResponse, inspect.isfunction)]
    assert method_names(SQSResponse) == expected

    def no_inspection(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("inspected the class again")

    monkeypatch.setattr(inspect, "getmembers", no_inspection)
    assert method_names(SQSResponse) == expected
    assert "send_message" in method_names(SQSResponse)


def test_camelcase_to_underscores_is_cached_where_moto_uses_it() -> None:
    import sys

    from moto.core import utils
    from moto.sqs import models as sqs_models

    speed_up_dispatch()
    for module in (utils, sqs_models, responses):
        convert = getattr(module, "camelcase_to_underscores")  # noqa: B009
        assert convert("ApproximateNumberOfMessages") == "approximate_number_of_messages"
        assert convert("theNewAttribute") == "the_new_attribute"
        assert convert("") == ""
        assert hasattr(convert, "cache_info"), module.__name__
    users = [
        m
        for m in list(sys.modules.values())
        if getattr(m, "__name__", "").startswith("moto")
        and callable(getattr(m, "camelcase_to_underscores", None))
    ]
    assert all(hasattr(m.camelcase_to_underscores, "cache_info") for m in users)


def test_a_new_item_is_measured_once_with_moto_s_limit_and_error() -> None:
    import pickle

    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    from devstack.moto_patches import patch_item_size_checks

    patch_item_size_checks()
    key = DynamoType({"S": "k"})
    attrs = {"pk": {"S": "k"}, "n": {"N": "3"}, "m": {"M": {"a": {"L": [{"S": "x"}]}}}}
    item = Item(key, None, attrs)
    assert isinstance(item.attrs, LimitedSizeDict)
    assert item.to_json()["Attributes"] == attrs
    with pytest.raises(ItemSizeTooLarge):
        Item(key, None, {"pk": {"S": "k"}, "big": {"S": "x" * 405_000}})
    # Setting one attribute later keeps moto's own check.
    with pytest.raises(ItemSizeTooLarge):
        item.attrs["big"] = DynamoType({"S": "x" * 405_000})
    again = pickle.loads(pickle.dumps(item))  # noqa: S301 - our own bytes
    assert isinstance(again.attrs, LimitedSizeDict)
    assert again.to_json() == item.to_json()


def test_a_stream_record_pickles_as_text_and_is_decoded_when_read() -> None:
    import pickle
    from datetime import UTC, datetime

    from moto.dynamodb.models.table import StreamRecord

    from devstack import persist

    persist._patch_picklable()
    record: Any = StreamRecord.__new__(StreamRecord)
    created = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    record.record = {
        "eventName": "INSERT",
        "dynamodb": {"ApproximateCreationDateTime": created, "NewImage": {"pk": {"S": "a"}}},
    }
    again = pickle.loads(pickle.dumps(record))  # noqa: S301 - our own bytes
    assert "_devstack_text" in again.__dict__  # not decoded yet
    twice = pickle.loads(pickle.dumps(again))  # noqa: S301 - written as it was read
    for loaded in (again, twice):
        assert loaded.record == record.record
        assert loaded.record["dynamodb"]["ApproximateCreationDateTime"] == created
        assert "_devstack_text" not in loaded.__dict__


def test_an_action_added_to_a_response_class_later_is_found() -> None:
    speed_up_dispatch()

    class Late(SQSResponse):
        pass

    assert "added_later" not in method_names(Late)

    def added_later(self: object) -> str:
        return ""

    Late.added_later = added_later  # type: ignore[attr-defined]
    assert "added_later" in method_names(Late)
