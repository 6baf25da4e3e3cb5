"""The AWS resources Chalice does not create, defined once.

Used by `make package` (merged into Chalice's SAM template) and by the local stack
(created in moto through CloudFormation from this very dict). Run as a script to print
the template for a stage: `python -m infra.template dev`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.core.settings import Settings, resource_prefix_for
from chalicelib.exchange.exports.storage import PREFIX as EXPORTS_PREFIX
from chalicelib.exchange.exports.storage import RETENTION_DAYS as EXPORT_RETENTION_DAYS
from chalicelib.exchange.imports.storage import PREFIX as IMPORTS_PREFIX
from chalicelib.exchange.imports.storage import RETENTION_DAYS as IMPORT_RETENTION_DAYS
from chalicelib.webhooks.models import DELIVERY_FUNCTION_TIMEOUT

QUEUES = ("events", "webhooks", "jobs", "pushes")
# Receives before a message goes to its queue's dead-letter queue: a push is retried by
# coming again (push_worker.MAX_ATTEMPTS of them), with room for invocations that died.
MAX_RECEIVES: dict[str, int] = {"pushes": 16}
# .chalice/config.json's lambda_timeout, for the functions it does not name otherwise.
FUNCTION_TIMEOUT = int(json.loads(
    (Path(__file__).resolve().parents[1] / ".chalice" / "config.json").read_text()
)["lambda_timeout"])
# Each queue's visibility timeout: six times its consumer's Lambda timeout, as AWS advises
# for SQS event sources (a message must not reappear while a retried batch still runs).
VISIBILITY_FACTOR = 6
# The pushes' function has its own (push_worker.FUNCTION_TIMEOUT: an OAuth push renewing
# its token on a 401 makes four calls of 15 s).
PUSH_FUNCTION_TIMEOUT = int(json.loads(
    (Path(__file__).resolve().parents[1] / ".chalice" / "config.json").read_text()
)["lambda_functions"]["push_events"]["lambda_timeout"])
_CONSUMER_TIMEOUT = {"webhooks": DELIVERY_FUNCTION_TIMEOUT, "pushes": PUSH_FUNCTION_TIMEOUT}
VISIBILITY_TIMEOUT: dict[str, int] = {
    q: VISIBILITY_FACTOR * _CONSUMER_TIMEOUT.get(q, FUNCTION_TIMEOUT) for q in QUEUES}


def settings_for(stage: str) -> Settings:
    return Settings(stage=stage, resource_prefix=resource_prefix_for(stage))


def _error_template(code: str, message: str) -> dict[str, str]:
    body = {"error": {"code": code, "message": message, "details": [],
                      "requestId": "$context.requestId", "timestamp": "$context.requestTime",
                      "documentation": "/api/docs#errors"}}
    return {"application/json": json.dumps(body)}


# API Gateway answers some requests before the app sees them; dress those in the
# contract's envelope too. The local server reads this same table.
GATEWAY_RESPONSES: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "NOT_FOUND", "No route matches this path."),
    "RESOURCE_NOT_FOUND": (404, "NOT_FOUND", "No route matches this path."),
    "UNSUPPORTED_MEDIA_TYPE": (415, "UNSUPPORTED_MEDIA_TYPE",
                               "The request body's media type is not supported."),
    "REQUEST_TOO_LARGE": (413, "PAYLOAD_TOO_LARGE", "The request body is too large."),
    "THROTTLED": (429, "RATE_LIMIT_EXCEEDED", "Too many requests."),
    "DEFAULT_4XX": (400, "VALIDATION_ERROR", "The request could not be processed."),
    "DEFAULT_5XX": (500, "INTERNAL_ERROR", "An internal error occurred."),
}


def build(stage: str, with_api: bool = True) -> dict[str, Any]:
    s = settings_for(stage)
    resources: dict[str, Any] = {
        "MainTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": s.table_name,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": n, "AttributeType": "S"}
                    for n in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")],
                "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"},
                              {"AttributeName": "SK", "KeyType": "RANGE"}],
                "GlobalSecondaryIndexes": [
                    {"IndexName": g,
                     "KeySchema": [{"AttributeName": f"{g}PK", "KeyType": "HASH"},
                                   {"AttributeName": f"{g}SK", "KeyType": "RANGE"}],
                     "Projection": {"ProjectionType": "ALL"}} for g in ("GSI1", "GSI2")],
                "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
        },
        "FilesBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": s.bucket_name,
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True, "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                # Export files are kept EXPORT_RETENTION_DAYS (their jobs say until
                # when); uploads a dead job left incomplete are aborted after a day.
                # Import uploads, bodies and error files: IMPORT_RETENTION_DAYS.
                "LifecycleConfiguration": {"Rules": [
                    {"Id": "export-files", "Status": "Enabled",
                     "Prefix": EXPORTS_PREFIX,
                     "ExpirationInDays": EXPORT_RETENTION_DAYS,
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
                    {"Id": "import-files", "Status": "Enabled",
                     "Prefix": IMPORTS_PREFIX,
                     "ExpirationInDays": IMPORT_RETENTION_DAYS}]},
            },
        },
        "KeysSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": s.secret_id,
                "Description": "Gatehouse signing keys and data key; filled by the bootstrap.",
                "SecretString": "{}",
            },
        },
        # Deployed stages bootstrap the admin from here, never from defaults; the local
        # stack takes $GATEHOUSE_ADMIN_* instead (and moto cannot generate secrets).
        "AdminSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": s.admin_secret_id,
                "Description": "Gatehouse bootstrap admin: username, clientId, password, "
                               "clientSecret (generated; rotate by editing and re-running "
                               "the bootstrap function).",
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"username": "admin", "clientId": "admin"}',
                    "GenerateStringKey": "password", "PasswordLength": 32,
                    "ExcludePunctuation": True},
            },
        },
    }
    for purpose in QUEUES:
        logical = purpose.capitalize()
        resources[f"{logical}DeadLetterQueue"] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": s.queue_name(f"{purpose}-dlq"),
                           "MessageRetentionPeriod": 1209600},
        }
        resources[f"{logical}Queue"] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": s.queue_name(purpose),
                "VisibilityTimeout": VISIBILITY_TIMEOUT[purpose],
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [f"{logical}DeadLetterQueue", "Arn"]},
                    "maxReceiveCount": MAX_RECEIVES.get(purpose, 5)},
            },
        }
    if with_api:
        for kind, (status, code, message) in GATEWAY_RESPONSES.items():
            props: dict[str, Any] = {
                "RestApiId": {"Ref": "RestAPI"},
                "ResponseType": kind,
                "ResponseTemplates": _error_template(code, message),
                "ResponseParameters": {
                    "gatewayresponse.header.X-Request-Id": "context.requestId"},
            }
            if not kind.startswith("DEFAULT_"):
                # The defaults keep API Gateway's own status (401, 403, 429...): a fixed one
                # would turn them all into 400s.
                props["StatusCode"] = str(status)
            resources[f"GatewayResponse{kind.title().replace('_', '')}"] = {
                "Type": "AWS::ApiGateway::GatewayResponse", "Properties": props}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


if __name__ == "__main__":
    print(json.dumps(build(sys.argv[1] if len(sys.argv) > 1 else "dev"), indent=2))
