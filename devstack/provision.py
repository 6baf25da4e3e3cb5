"""Create every resource of infra/ in the emulator, from the same template that deploys.

moto's CloudFormation creates the table (GSIs, stream), queues (redrive), bucket and
secret; it does not apply a table's TTL specification or its point-in-time recovery (a
full-table export needs it), so those are set by API after.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import aws


def provision(stage: str) -> dict[str, Any]:
    from infra.template import build

    template = build(stage, with_api=False)
    cfn = aws.client("cloudformation")
    name = f"gatehouse-{stage}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    waiter_done = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    if not waiter_done.endswith("COMPLETE"):
        raise RuntimeError(f"stack {name} ended as {waiter_done}")
    for _logical, resource in template["Resources"].items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::DynamoDB::Table" and "TimeToLiveSpecification" in props:
            aws.client("dynamodb").update_time_to_live(
                TableName=props["TableName"],
                TimeToLiveSpecification=props["TimeToLiveSpecification"])
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if resource["Type"] == "AWS::DynamoDB::Table" and pitr.get("PointInTimeRecoveryEnabled"):
            aws.client("dynamodb").update_continuous_backups(
                TableName=props["TableName"],
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        if resource["Type"] == "AWS::SecretsManager::Secret" and "SecretString" in props:
            _ensure_secret(props["Name"], props.get("SecretString", "{}"))
    return template


def _ensure_secret(name: str, value: str) -> None:
    sm = aws.client("secretsmanager")
    try:
        sm.describe_secret(SecretId=name)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=name, SecretString=value)
