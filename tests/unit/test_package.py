"""infra/package.py's post-processing, on a template shaped like `chalice package`'s
output for an app with SQS handlers (app.py has none yet), merged with infra/."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.package import LINT_FAIL, POLICY_NAME, post_process
from infra.template import build


def _function(handler: str, events: dict[str, Any] | None = None,
              timeout: int = 30) -> dict[str, Any]:
    props: dict[str, Any] = {
        "Runtime": "python3.11", "Handler": handler, "CodeUri": "./deployment.zip",
        "Timeout": timeout, "MemorySize": 512, "Role": {"Fn::GetAtt": ["DefaultRole", "Arn"]}}
    if events:
        props["Events"] = events
    return {"Type": "AWS::Serverless::Function", "Properties": props}


def chalice_like(stage: str = "dev", timeout: int = 30) -> dict[str, Any]:
    """What `chalice package --merge-template` answers, minus the REST API."""
    template = build(stage, with_api=False)
    template["Transform"] = "AWS::Serverless-2016-10-31"
    template["Resources"].update({
        "DefaultRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "DefaultRolePolicy", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": ["logs:CreateLogGroup"],
                    "Resource": "arn:*:logs:*:*:*"}]}}]}},
        "Jobs": _function("app.jobs", {"JobsSqsEventSource": {"Type": "SQS", "Properties": {
            "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:"
                                 f"${{AWS::AccountId}}:gatehouse-{stage}-jobs"},
            "BatchSize": 10, "MaximumBatchingWindowInSeconds": 0}}}, timeout),
        "Foreign": _function("app.foreign", {"ForeignSqsEventSource": {
            "Type": "SQS", "Properties": {
                "Queue": "arn:aws:sqs:us-east-1:123456789012:elsewhere", "BatchSize": 5}}}),
        "Tick": _function("app.tick", {"TickEvent": {
            "Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}}),
        "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "FunctionName": {"Ref": "Tick"},
            "EventSourceArn": {"Fn::GetAtt": ["WebhooksQueue", "Arn"]}, "BatchSize": 10}},
    })
    return template


def test_sqs_sources_report_batch_failures_and_bind_own_queues():
    template = chalice_like()
    notes = post_process(template)
    res = template["Resources"]
    jobs = res["Jobs"]["Properties"]["Events"]["JobsSqsEventSource"]["Properties"]
    assert jobs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert jobs["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}  # created before the ESM
    foreign = res["Foreign"]["Properties"]["Events"]["ForeignSqsEventSource"]["Properties"]
    assert foreign["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert foreign["Queue"] == "arn:aws:sqs:us-east-1:123456789012:elsewhere"
    assert res["Mapping"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "FunctionResponseTypes" not in res["Tick"]["Properties"]["Events"]["TickEvent"][
        "Properties"]
    assert any("ReportBatchItemFailures" in n for n in notes)


def test_the_role_may_use_the_templates_resources():
    template = chalice_like()
    post_process(template)
    res = template["Resources"]
    policy = res[POLICY_NAME]["Properties"]
    assert policy["Roles"] == [{"Ref": "DefaultRole"}]
    text = json.dumps(policy["PolicyDocument"])
    for logical in ("MainTable", "FilesBucket", "JobsQueue", "WebhooksQueue", "KeysSecret"):
        assert logical in text
    assert "dynamodb:UpdateItem" in text and "secretsmanager:GetSecretValue" in text
    assert POLICY_NAME in res["Jobs"]["DependsOn"]


def test_post_processing_is_idempotent():
    once = chalice_like()
    post_process(once)
    twice = copy.deepcopy(once)
    post_process(twice)
    assert once == twice


def test_a_visibility_timeout_below_the_function_timeout_is_refused():
    with pytest.raises(SystemExit, match="visibility timeout"):
        post_process(chalice_like(timeout=900))


def test_the_processed_template_passes_cfn_lint(tmp_path: Path):
    template = chalice_like()
    post_process(template)
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(template))
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)],
                          capture_output=True, text=True, check=False)
    assert not lint.returncode & LINT_FAIL, lint.stdout + lint.stderr
