"""`make package`: one deployable template in dist/ (sam.json beside deployment.zip).

`chalice package --merge-template` with infra/'s resources, then what Chalice cannot
express, derived from the merged template itself:
- SQS event sources report partial batch failures (FunctionResponseTypes), and point
  at the template's own queues by GetAtt, so CloudFormation creates a queue before its
  event source mapping;
- the function role (Chalice's DefaultRole) may use the table, queues, bucket and
  secret of the template: Chalice's policy generator cannot see through our lazily
  created clients, so it grants only logs;
- a queue's visibility timeout is at least six times its consumer's timeout (AWS refuses
  less than once, and advises six times for SQS event sources);
- deployment.zip carries bytecode for its modules (infra/bytecode.py), so cold starts
  import rather than compile.
Then cfn-lint: errors fail the build, warnings are shown.

Usage: `STAGE=prod make package` (default stage dev).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.template import VISIBILITY_FACTOR

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
BATCH_FAILURES = ["ReportBatchItemFailures"]
POLICY_NAME = "GatehouseResourceAccess"

# cfn-lint exit status is a bit mask: 2 errors, 4 warnings, 8 informational, 1 fatal.
LINT_FAIL = 1 | 2


def _queues_by_name(resources: dict[str, Any]) -> dict[str, str]:
    return {str(r["Properties"]["QueueName"]): logical for logical, r in resources.items()
            if r.get("Type") == "AWS::SQS::Queue"
            and isinstance(r.get("Properties", {}).get("QueueName"), str)}


def _queue_name_of(arn: Any) -> str:
    """The queue name in a literal ARN or Chalice's Fn::Sub ARN; '' if unknown."""
    if isinstance(arn, dict) and "Fn::Sub" in arn and isinstance(arn["Fn::Sub"], str):
        arn = arn["Fn::Sub"]
    if isinstance(arn, str) and ":sqs:" in arn:
        return arn.rsplit(":", 1)[-1]
    return ""


def _is_sqs_arn(arn: Any, queue_logicals: set[str]) -> bool:
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        return str(arn["Fn::GetAtt"][0]) in queue_logicals
    return bool(_queue_name_of(arn))


def sqs_sources(template: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """Every SQS event source: (function logical id, its properties, 'sam' | 'esm')."""
    resources = template["Resources"]
    queue_logicals = set(_queues_by_name(resources).values())
    found = []
    for logical, res in resources.items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function":
            for event in (props.get("Events") or {}).values():
                if event.get("Type") == "SQS":
                    found.append((logical, event.setdefault("Properties", {}), "sam"))
        elif (res.get("Type") == "AWS::Lambda::EventSourceMapping"
              and _is_sqs_arn(props.get("EventSourceArn"), queue_logicals)):
            fn = props.get("FunctionName")
            name = fn.get("Ref", "") if isinstance(fn, dict) else str(fn)
            found.append((name, props, "esm"))
    return found


def report_batch_failures(template: dict[str, Any]) -> list[str]:
    """Adds ReportBatchItemFailures to every SQS event source and binds template queues
    by GetAtt; answers the functions changed."""
    by_name = _queues_by_name(template["Resources"])
    changed = []
    for function, props, kind in sqs_sources(template):
        props["FunctionResponseTypes"] = list(BATCH_FAILURES)
        key = "Queue" if kind == "sam" else "EventSourceArn"
        logical = by_name.get(_queue_name_of(props.get(key)))
        if logical:
            props[key] = {"Fn::GetAtt": [logical, "Arn"]}
        changed.append(function)
    return changed


def check_visibility(template: dict[str, Any]) -> list[str]:
    """Problems where a queue's visibility timeout is below six times its consumer's
    timeout."""
    resources = template["Resources"]
    problems = []
    for function, props, kind in sqs_sources(template):
        ref = props.get("Queue" if kind == "sam" else "EventSourceArn")
        if not (isinstance(ref, dict) and "Fn::GetAtt" in ref):
            continue
        queue = resources[ref["Fn::GetAtt"][0]]["Properties"]
        visibility = int(queue.get("VisibilityTimeout", 30))
        timeout = int((resources.get(function, {}).get("Properties") or {}).get("Timeout", 3))
        if visibility < VISIBILITY_FACTOR * timeout:
            problems.append(f"queue {queue.get('QueueName')}: visibility timeout "
                            f"{visibility}s < {VISIBILITY_FACTOR} x {function} timeout "
                            f"{timeout}s")
    return problems


def _statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []

    def allow(actions: list[str], targets: list[Any]) -> None:
        statements.append({"Effect": "Allow", "Action": actions, "Resource": targets})

    for logical, res in sorted(resources.items()):
        kind = res.get("Type")
        arn = {"Fn::GetAtt": [logical, "Arn"]}
        if kind == "AWS::DynamoDB::Table":
            allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                   "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan",
                   "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                   "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
                   "dynamodb:CreateBackup", "dynamodb:DescribeBackup",
                   "dynamodb:ListBackups", "dynamodb:DeleteBackup",
                   "dynamodb:RestoreTableFromBackup", "dynamodb:DescribeContinuousBackups",
                   "dynamodb:ExportTableToPointInTime", "dynamodb:DescribeExport"],
                  [arn, {"Fn::Sub": f"${{{logical}.Arn}}/index/*"},
                   {"Fn::Sub": f"${{{logical}.Arn}}/backup/*"},
                   {"Fn::Sub": f"${{{logical}.Arn}}/export/*"}])
            allow(["dynamodb:DescribeStream", "dynamodb:GetRecords",
                   "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
                  [{"Fn::Sub": f"${{{logical}.Arn}}/stream/*"}])
        elif kind == "AWS::SQS::Queue":
            allow(["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                   "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
                   "sqs:GetQueueUrl"], [arn])
        elif kind == "AWS::S3::Bucket":
            allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket",
                   "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                   "s3:ListBucketMultipartUploads", "s3:PutObjectAcl"],
                  [arn, {"Fn::Sub": f"${{{logical}.Arn}}/*"}])
        elif kind == "AWS::SecretsManager::Secret":
            allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                   "secretsmanager:PutSecretValue"], [{"Ref": logical}])
        elif kind == "AWS::KMS::Key":
            allow(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], [arn])
    return statements


def grant_resources(template: dict[str, Any]) -> bool:
    """An IAM policy on Chalice's DefaultRole for the template's own resources."""
    resources = template["Resources"]
    if resources.get("DefaultRole", {}).get("Type") != "AWS::IAM::Role":
        return False  # a role managed outside Chalice brings its own policy
    statements = _statements(resources)
    if not statements:
        return False
    resources[POLICY_NAME] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {"PolicyName": POLICY_NAME, "Roles": [{"Ref": "DefaultRole"}],
                       "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}},
    }
    # Functions must not start (or poll queues) before their role may reach the data.
    for res in resources.values():
        if res.get("Type") == "AWS::Serverless::Function":
            depends = res.setdefault("DependsOn", [])
            if isinstance(depends, str):
                depends = res["DependsOn"] = [depends]
            if POLICY_NAME not in depends:
                depends.append(POLICY_NAME)
    return True


def post_process(template: dict[str, Any]) -> list[str]:
    """All of the above; answers a line per change. Raises on a template that cannot
    deploy."""
    notes = []
    functions = report_batch_failures(template)
    if functions:
        notes.append(f"ReportBatchItemFailures on {', '.join(sorted(set(functions)))}")
    if grant_resources(template):
        notes.append(f"{POLICY_NAME}: DefaultRole may use the template's resources")
    problems = check_visibility(template)
    if problems:
        raise SystemExit("package: " + "; ".join(problems))
    return notes


def runtimes(template: dict[str, Any]) -> set[str]:
    """The Lambda runtimes the template's functions name (directly or through Globals)."""
    found = {str(r) for r in [template.get("Globals", {}).get("Function", {}).get("Runtime")]
             if r}
    for res in template.get("Resources", {}).values():
        if res.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            runtime = (res.get("Properties") or {}).get("Runtime")
            if runtime:
                found.add(str(runtime))
    return found


def _bytecode(template: dict[str, Any]) -> str:
    from infra.bytecode import add_bytecode, runtime

    named = runtimes(template)
    if named != {runtime()}:
        return (f"no bytecode added: the functions run {sorted(named)}, this is "
                f"{runtime()} (cold starts then compile from source)")
    added = add_bytecode(DIST / "deployment.zip")
    return f"{added} modules precompiled into deployment.zip for {runtime()}"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def main() -> int:
    from infra.template import build

    stage = os.environ.get("STAGE") or "dev"
    DIST.mkdir(exist_ok=True)
    for stale in ("sam.json", "sam.yaml", "deployment.zip"):
        (DIST / stale).unlink(missing_ok=True)
    env = dict(os.environ)
    # Chalice wants a region to package; the template itself uses ${AWS::Region}.
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1"))
    with tempfile.TemporaryDirectory() as tmp:
        merge = Path(tmp) / "infra.json"
        merge.write_text(json.dumps(build(stage, with_api=True), indent=2))
        print(f"package: chalice package --stage {stage} (merged with infra/) -> dist/",
              flush=True)
        done = subprocess.run([_bin("chalice"), "package", "--stage", stage,  # noqa: S603
                               "--merge-template", str(merge), str(DIST)],
                              cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        return done.returncode
    sam = DIST / "sam.json"
    template = json.loads(sam.read_text())
    for note in post_process(template):
        print(f"package: {note}")
    sam.write_text(json.dumps(template, indent=2) + "\n")
    print(f"package: {_bytecode(template)}")

    lint = subprocess.run([_bin("cfn-lint"), str(sam)], cwd=ROOT, check=False)  # noqa: S603
    if lint.returncode & LINT_FAIL:
        print(f"package: cfn-lint found errors in {sam.relative_to(ROOT)}", file=sys.stderr)
        return 1
    status = "clean" if lint.returncode == 0 else "warnings only"
    print(f"package: {sam.relative_to(ROOT)} and dist/deployment.zip ready; cfn-lint {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
