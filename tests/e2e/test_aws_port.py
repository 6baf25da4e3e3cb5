"""The AWS emulator's port beside the app: the local stack answers the app's own AWS calls
in-process (devstack/inprocess.py), and the port, for the AWS CLI and scripts, sees the
same state both ways."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.e2e


def _scan_for(ddb: Any, table: str, email: str) -> dict[str, Any]:
    pages = ddb.get_paginator("scan").paginate(TableName=table)
    found = [item for page in pages for item in page["Items"]
             if item.get("email") == {"S": email}]
    assert len(found) == 1, found
    return dict(found[0])


def test_what_the_app_writes_the_port_reads_and_the_reverse(local_stack, http):
    token = http.post("/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(local_stack.admin_client_id, local_stack.admin_secret)
                      ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    email = f"port-{uuid.uuid4().hex[:8]}@example.com"
    created = http.post("/api/v1/customers", json={"email": email, "name": "Via the app"},
                        headers=auth)
    assert created.status_code == 201, created.text
    customer_id = created.json()["data"]["id"]

    ddb = boto3.client("dynamodb", endpoint_url=local_stack.aws_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    table = next(t for t in ddb.list_tables()["TableNames"] if t.startswith("gatehouse-local"))
    item = _scan_for(ddb, table, email)  # written in-process, read over the port
    assert item["name"] == {"S": "Via the app"}

    ddb.update_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]},
                    UpdateExpression="SET #n = :n", ExpressionAttributeNames={"#n": "name"},
                    ExpressionAttributeValues={":n": {"S": "Via the port"}})
    read = http.get(f"/api/v1/customers/{customer_id}", headers=auth)
    assert read.status_code == 200, read.text
    assert read.json()["data"]["name"] == "Via the port"  # written over the port
