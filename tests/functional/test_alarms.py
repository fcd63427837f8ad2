"""Every Lambda function the app registers is watched: an alarm on its
errors and one on its throttles, each telling the operators (ops-alerts)."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import template as tpl
from tests.support.functional_shop import TEMPLATE, Shop


def deployed_names(app: Any) -> set[str]:
    """The functions `chalice deploy` makes of the app: the REST API's is
    named <app>-<stage>, every other one <app>-<stage>-<handler>."""
    handlers = [*app.builtin_auth_handlers, *app.event_sources, *app.pure_lambda_functions]
    names = {f"eventshop-${{Stage}}-{h.name}" for h in handlers}
    return names | ({"eventshop-${Stage}"} if app.routes else set())


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_alarm_on_its_errors_and_throttles(shop: Shop, metric: str) -> None:
    resources = tpl.load(TEMPLATE)["Resources"].values()
    alarms = [
        r["Properties"]
        for r in resources
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"]["Namespace"] == "AWS/Lambda"
        and r["Properties"]["MetricName"] == metric
    ]
    watched = [a["Dimensions"][0]["Value"]["Fn::Sub"] for a in alarms]
    assert len(watched) == len(set(watched))
    assert set(watched) == deployed_names(shop.app.app)
    for alarm in alarms:
        assert [d["Name"] for d in alarm["Dimensions"]] == ["FunctionName"]
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"] == [{"Ref": "OpsAlertsTopic"}]
        assert (
            alarm["AlarmName"]["Fn::Sub"]
            == f"{alarm['Dimensions'][0]['Value']['Fn::Sub']}-{metric.lower()}"
        )
