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


def _function_timeout(stage: str, function: str) -> int:
    """The Lambda timeout `chalice package` gives a function (.chalice/config.json)."""
    from chalice.config import Config

    disk = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json")
                      .read_text())
    return int(Config(chalice_stage=stage, function_name=function,
                      config_from_disk=disk).lambda_timeout)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_queue_visibility_is_six_times_its_consumers_timeout(stage: str):
    """AWS advises a visibility timeout of at least six times the consumer's timeout: a
    batch retried after a throttle or a timeout must not reappear while still running."""
    from chalicelib.webhooks.models import DELIVERY_FUNCTION_TIMEOUT

    queues = {r["Properties"]["QueueName"]: r["Properties"]
              for r in build(stage)["Resources"].values() if r["Type"] == "AWS::SQS::Queue"}
    deliver = _function_timeout(stage, "deliver")
    assert deliver == DELIVERY_FUNCTION_TIMEOUT  # what the delivery code budgets by
    for queue, function in (("webhooks", "deliver"), ("events", "fan_out")):
        visibility = queues[f"gatehouse-{stage}-{queue}"]["VisibilityTimeout"]
        assert visibility >= 6 * _function_timeout(stage, function), queue


def test_a_visibility_timeout_below_six_times_the_function_timeout_is_refused():
    with pytest.raises(SystemExit, match="6 x Jobs timeout 31s"):
        post_process(chalice_like(timeout=31))  # the jobs queue keeps 180 s
    post_process(chalice_like(timeout=30))


def test_the_package_carries_bytecode_used_as_it_is(tmp_path: Path) -> None:
    """Lambda's /var/task is read-only: without .pyc in the zip every cold start compiles.
    The .pyc added is unchecked, so it is used even though unzipping changes the
    source's timestamp (here: even though the source itself changed)."""
    import zipfile

    from infra.bytecode import add_bytecode

    zip_path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("pkg/__init__.py", "")
        zf.writestr("pkg/mod.py", "ANSWER = 'compiled'\n")
    assert add_bytecode(zip_path) == 2
    out = tmp_path / "task"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        zf.extractall(out)
    tag = sys.implementation.cache_tag
    assert f"pkg/__pycache__/mod.{tag}.pyc" in names and "pkg/mod.py" in names
    (out / "pkg" / "mod.py").write_text("ANSWER = 'source'\n")
    got = subprocess.run([sys.executable, "-c", "import pkg.mod; print(pkg.mod.ANSWER)"],
                         cwd=out, capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "compiled"


def test_every_file_prefix_the_app_writes_expires() -> None:
    """Exports and import files (uploads, bodies, error files: callers' data) are removed
    by the bucket's lifecycle rules, not kept forever. Checked on the template: moto's
    CloudFormation does not apply lifecycle rules, so the local stack has none."""
    from chalicelib.exchange.exports import storage as exports
    from chalicelib.exchange.imports import storage as imports

    buckets = [r for r in build("dev")["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    rules = {rule["Prefix"]: rule for b in buckets
             for rule in b["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules[exports.PREFIX]["ExpirationInDays"] == exports.RETENTION_DAYS
    assert rules[imports.PREFIX]["ExpirationInDays"] == imports.RETENTION_DAYS
    assert all(r["Status"] == "Enabled" for r in rules.values())
