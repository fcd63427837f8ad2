"""chalicelib.platform.settings: the output-to-variable naming rule and from_env."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import MISSING, fields

import pytest

from chalicelib.platform.settings import Settings, SettingsError, output_to_env

REQUIRED = [f.name for f in fields(Settings) if f.default is MISSING and f.name != "region"]


def full_env(**overrides: str) -> dict[str, str]:
    env = {name.upper(): f"value-of-{name}" for name in REQUIRED}
    env["STAGE"] = "dev"
    env["AWS_REGION"] = "eu-west-1"
    env.update(overrides)
    return env


def missing_names(exc: SettingsError) -> list[str]:
    m = re.search(r"missing environment variables: (.*?) \(", str(exc))
    assert m, str(exc)
    return m.group(1).split(", ")


# --------------------------------------------------------------------- output_to_env


@pytest.mark.parametrize(
    ("output_key", "variable"),
    [
        ("OrdersTableName", "ORDERS_TABLE_NAME"),
        ("OrdersStreamArn", "ORDERS_STREAM_ARN"),
        ("JwtSecretParameter", "JWT_SECRET_PARAMETER"),
        ("ImagesBucketName", "IMAGES_BUCKET_NAME"),
        ("CustomerNotificationsTopicArn", "CUSTOMER_NOTIFICATIONS_TOPIC_ARN"),
        ("Queue2Name", "QUEUE2_NAME"),
        ("Name", "NAME"),
    ],
)
def test_output_to_env(output_key: str, variable: str) -> None:
    assert output_to_env(output_key) == variable


def test_output_to_env_matches_every_resource_setting() -> None:
    # Each resource setting has a CamelCase output key that maps back to it.
    for name in REQUIRED:
        if name == "stage":
            continue
        camel = "".join(part.capitalize() for part in name.split("_"))
        assert output_to_env(camel) == name.upper()


# --------------------------------------------------------------------- from_env


def test_from_env_reads_every_field() -> None:
    s = Settings.from_env(full_env(JWT_SECRET="x" * 40, JWT_LEEWAY_SECONDS="45", LOG_LEVEL="DEBUG"))
    assert s.stage == "dev"
    assert s.region == "eu-west-1"
    assert s.orders_table_name == "value-of-orders_table_name"
    assert s.orders_stream_arn == "value-of-orders_stream_arn"
    assert s.jwt_secret_parameter == "value-of-jwt_secret_parameter"
    assert s.jwt_secret == "x" * 40
    assert s.jwt_leeway_seconds == 45
    assert isinstance(s.jwt_leeway_seconds, int)
    assert s.log_level == "DEBUG"
    for name in REQUIRED:
        if name != "stage":
            assert getattr(s, name) == f"value-of-{name}"


def test_from_env_defaults_for_optional_fields() -> None:
    s = Settings.from_env(full_env())
    assert s.jwt_secret == ""
    assert s.jwt_leeway_seconds == 30
    assert s.log_level == "INFO"


def test_from_env_empty_optional_value_takes_the_default() -> None:
    s = Settings.from_env(full_env(JWT_LEEWAY_SECONDS="", LOG_LEVEL=""))
    assert s.jwt_leeway_seconds == 30
    assert s.log_level == "INFO"


def test_from_env_lists_every_missing_variable_in_one_error() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({})
    names = missing_names(info.value)
    expected = sorted([*(n.upper() for n in REQUIRED), "AWS_REGION"])
    assert names == expected
    # Optional fields are never reported, nor the 'region' field's own name.
    for optional in ("JWT_SECRET", "JWT_LEEWAY_SECONDS", "LOG_LEVEL", "REGION"):
        assert optional not in names


def test_from_env_reports_only_what_is_missing() -> None:
    env = full_env()
    del env["ORDERS_TABLE_NAME"]
    del env["NOTIFY_QUEUE_NAME"]
    env["PAYMENTS_QUEUE_NAME"] = ""  # empty counts as missing
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert missing_names(info.value) == [
        "NOTIFY_QUEUE_NAME",
        "ORDERS_TABLE_NAME",
        "PAYMENTS_QUEUE_NAME",
    ]


def test_settings_error_is_a_runtime_error() -> None:
    assert issubclass(SettingsError, RuntimeError)


def test_from_env_region_falls_back_to_aws_default_region() -> None:
    env = full_env()
    del env["AWS_REGION"]
    env["AWS_DEFAULT_REGION"] = "ap-south-1"
    assert Settings.from_env(env).region == "ap-south-1"
    # An empty AWS_REGION also falls back.
    env["AWS_REGION"] = ""
    assert Settings.from_env(env).region == "ap-south-1"


def test_from_env_aws_region_wins_over_default_region() -> None:
    env = full_env(AWS_REGION="us-west-2", AWS_DEFAULT_REGION="ap-south-1")
    assert Settings.from_env(env).region == "us-west-2"


def test_from_env_without_any_region_reports_aws_region() -> None:
    env = full_env()
    del env["AWS_REGION"]
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert missing_names(info.value) == ["AWS_REGION"]


def test_from_env_ignores_a_region_variable() -> None:
    # The region comes from AWS_REGION, not from a variable named after the field.
    env = full_env(REGION="sa-east-1")
    assert Settings.from_env(env).region == "eu-west-1"


def test_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in full_env(STAGE="prod", AWS_REGION="ca-central-1").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JWT_LEEWAY_SECONDS", "7")
    s = Settings.from_env()
    assert (s.stage, s.region, s.jwt_leeway_seconds) == ("prod", "ca-central-1", 7)


# --------------------------------------------------------------------- is_local, frozen


@pytest.mark.parametrize(
    ("stage", "local"), [("local", True), ("test", True), ("dev", False), ("prod", False)]
)
def test_is_local(stage: str, local: bool) -> None:
    assert Settings.from_env(full_env(STAGE=stage)).is_local is local


def test_settings_are_frozen() -> None:
    s = Settings.from_env(full_env())
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.stage = "prod"  # type: ignore[misc]
    assert s.stage == "dev"
