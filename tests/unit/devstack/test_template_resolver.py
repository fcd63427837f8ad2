"""devstack.template: loading intrinsic tags and resolving them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack import template as tpl

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-orders"
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 3
  Dlq:
    Type: AWS::SQS::Queue
  Rule:
    Type: AWS::Events::Rule
    Properties:
      Targets:
        - Arn: !GetAtt [Queue, Arn]
          Id: !Ref Queue
      Description: !Join ["-", [orders, !Ref "AWS::Region", !GetAtt Queue.QueueName]]
      Name: !Sub
        - "${Prefix}-${Queue.Arn}-${AWS::Region}"
        - Prefix: !Ref Env
  Deep:
    Type: Custom::Thing
    Properties:
      Attr: !GetAtt Bucket.Outputs.Nested
Outputs:
  QueueUrl:
    Value: !Ref Queue
"""


@pytest.fixture
def template(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "resources.yaml"
    path.write_text(TEMPLATE)
    return tpl.load(path)


def fake_ref(name: str) -> str:
    return {
        "AWS::Region": "us-east-1",
        "AWS::StackName": "eventshop-dev",
        "AWS::AccountId": "123456789012",
        "Queue": "https://sqs/queue",
        "Env": "dev",
    }[name]


def fake_get_att(logical: str, attr: str) -> str:
    return f"att:{logical}:{attr}"


@pytest.fixture
def resolve() -> tpl.Resolver:
    return tpl.Resolver(fake_ref, fake_get_att)


# --------------------------------------------------------------------- load


def test_load_turns_tags_into_intrinsic_dicts(template: dict[str, Any]) -> None:
    res = template["Resources"]
    assert res["Queue"]["Properties"]["QueueName"] == {"Fn::Sub": "${AWS::StackName}-orders"}
    assert res["Queue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["Dlq", "Arn"]
    }
    target = res["Rule"]["Properties"]["Targets"][0]
    assert target == {"Arn": {"Fn::GetAtt": ["Queue", "Arn"]}, "Id": {"Ref": "Queue"}}
    assert template["Outputs"]["QueueUrl"]["Value"] == {"Ref": "Queue"}


def test_load_getatt_scalar_splits_on_the_first_dot_only(template: dict[str, Any]) -> None:
    attr = template["Resources"]["Deep"]["Properties"]["Attr"]
    assert attr == {"Fn::GetAtt": ["Bucket", "Outputs.Nested"]}


def test_load_join_and_sub_list_forms_keep_nested_tags(template: dict[str, Any]) -> None:
    props = template["Resources"]["Rule"]["Properties"]
    assert props["Description"] == {
        "Fn::Join": [
            "-",
            ["orders", {"Ref": "AWS::Region"}, {"Fn::GetAtt": ["Queue", "QueueName"]}],
        ]
    }
    assert props["Name"] == {
        "Fn::Sub": ["${Prefix}-${Queue.Arn}-${AWS::Region}", {"Prefix": {"Ref": "Env"}}]
    }


def test_load_keeps_plain_values(template: dict[str, Any]) -> None:
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Resources"]["Queue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3
    assert template["Resources"]["Dlq"] == {"Type": "AWS::SQS::Queue"}


@pytest.mark.parametrize(
    "text",
    [
        "- a\n- b\n",  # a list
        "Parameters: {}\n",  # a mapping without Resources
        "just a string\n",
        "",  # empty
    ],
)
def test_load_rejects_a_non_template(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="not a CloudFormation template"):
        tpl.load(path)


def test_load_does_not_construct_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("Resources: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(Exception, match="python/object"):
        tpl.load(path)


# --------------------------------------------------------------------- Resolver


def test_resolve_ref_and_getatt_forms(resolve: tpl.Resolver) -> None:
    assert resolve({"Ref": "Queue"}) == "https://sqs/queue"
    assert resolve({"Ref": "AWS::Region"}) == "us-east-1"
    assert resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "att:Queue:Arn"
    assert resolve({"Fn::GetAtt": "Queue.Arn"}) == "att:Queue:Arn"
    assert resolve({"Fn::GetAtt": "Bucket.Outputs.Nested"}) == "att:Bucket:Outputs.Nested"


def test_resolve_sub_string_form(resolve: tpl.Resolver) -> None:
    assert resolve({"Fn::Sub": "${AWS::StackName}-orders"}) == "eventshop-dev-orders"
    assert resolve({"Fn::Sub": "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:q"}) == (
        "arn:aws:sqs:us-east-1:123456789012:q"
    )
    assert resolve({"Fn::Sub": "${Queue.Arn}/x"}) == "att:Queue:Arn/x"
    assert resolve({"Fn::Sub": "no variables"}) == "no variables"


def test_resolve_sub_list_form_variables_win_and_are_resolved(resolve: tpl.Resolver) -> None:
    value = {
        "Fn::Sub": [
            "${Prefix}:${Literal}:${Queue}:${Queue.Arn}",
            {"Prefix": {"Ref": "Env"}, "Literal": "plain", "Queue": "overridden"},
        ]
    }
    assert resolve(value) == "dev:plain:overridden:att:Queue:Arn"


def test_resolve_sub_escaped_literal(resolve: tpl.Resolver) -> None:
    # CloudFormation renders ${!Literal} as ${Literal}, without looking it up.
    assert resolve({"Fn::Sub": "${!Literal}-${AWS::Region}"}) == "${Literal}-us-east-1"


def test_resolve_join(resolve: tpl.Resolver) -> None:
    value = {"Fn::Join": [":", ["a", {"Ref": "Env"}, {"Fn::GetAtt": "Queue.Arn"}, 5]]}
    assert resolve(value) == "a:dev:att:Queue:Arn:5"
    assert resolve({"Fn::Join": ["", []]}) == ""


def test_resolve_nested_intrinsics_in_lists_and_dicts(resolve: tpl.Resolver) -> None:
    value = {
        "Targets": [{"Arn": {"Fn::GetAtt": ["Queue", "Arn"]}, "Id": {"Ref": "Queue"}}],
        "Nested": {"Deeper": [[{"Fn::Sub": "${Env}-x"}]]},
        "Plain": 1,
        "Text": "t",
    }
    assert resolve(value) == {
        "Targets": [{"Arn": "att:Queue:Arn", "Id": "https://sqs/queue"}],
        "Nested": {"Deeper": [["dev-x"]]},
        "Plain": 1,
        "Text": "t",
    }


def test_resolve_intrinsic_inside_another(resolve: tpl.Resolver) -> None:
    value = {"Fn::Join": ["/", [{"Fn::Sub": ["${A}", {"A": {"Ref": "Env"}}]}, "b"]]}
    assert resolve(value) == "dev/b"


def test_resolve_single_key_non_intrinsic_dict_is_recursed(resolve: tpl.Resolver) -> None:
    assert resolve({"QueueArn": {"Ref": "Queue"}}) == {"QueueArn": "https://sqs/queue"}


def test_resolve_passes_scalars_through(resolve: tpl.Resolver) -> None:
    assert resolve("x") == "x"
    assert resolve(3) == 3
    assert resolve(None) is None


def test_resolver_calls_ref_and_getatt_with_the_parsed_names() -> None:
    refs: list[str] = []
    atts: list[tuple[str, str]] = []

    def ref(name: str) -> str:
        refs.append(name)
        return "R"

    def get_att(logical: str, attr: str) -> str:
        atts.append((logical, attr))
        return "G"

    r = tpl.Resolver(ref, get_att)
    assert r({"Fn::Sub": "${AWS::Partition}|${Topic.TopicName}|${Thing}"}) == "R|G|R"
    assert refs == ["AWS::Partition", "Thing"]
    assert atts == [("Topic", "TopicName")]


def test_resolve_a_loaded_template_end_to_end(
    template: dict[str, Any], resolve: tpl.Resolver
) -> None:
    res = resolve(template["Resources"])
    assert res["Queue"]["Properties"] == {
        "QueueName": "eventshop-dev-orders",
        "RedrivePolicy": {"deadLetterTargetArn": "att:Dlq:Arn", "maxReceiveCount": 3},
    }
    props = res["Rule"]["Properties"]
    assert props["Targets"] == [{"Arn": "att:Queue:Arn", "Id": "https://sqs/queue"}]
    assert props["Description"] == "orders-us-east-1-att:Queue:QueueName"
    assert props["Name"] == "dev-att:Queue:Arn-us-east-1"
