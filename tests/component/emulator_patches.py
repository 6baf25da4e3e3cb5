"""Run in a process of its own (the unit tests' in-process moto mock would intercept the
calls, and the patches must not leak into other tests): the same DynamoDB calls against
two identical tables of the local stack's emulator, one with moto's hot paths patched
(devstack/moto_patches/), one with moto as shipped; then many threads racing on one
item, half of them in-process and half over the port. Prints JSON."""

from __future__ import annotations

import json
import threading
from typing import Any

Call = tuple[str, dict[str, Any]]

ITEM_TYPES = {"S": {"S": "héllo"}, "N": {"N": "12345678901234567890.5"},
              "B": {"B": b"\x00\xffbin"}, "SS": {"SS": ["a", "b"]}, "NS": {"NS": ["1", "2.5"]},
              "BS": {"BS": [b"x", b"y"]}, "BOOL": {"BOOL": False}, "NULL": {"NULL": True},
              "L": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"z"}, {"M": {"k": {"S": "v"}}}]},
              "M": {"M": {"nested": {"M": {"b": {"B": b"q"}, "l": {"L": []}}}}}}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _item(pk: str, sk: str, group: str | None, n: int) -> dict[str, Any]:
    item = {**_key(pk, sk), "n": {"N": str(n)}, **ITEM_TYPES}
    if group is not None:
        item.update(GSI1PK={"S": group}, GSI1SK={"S": f"{n:04d}"})
    return item


def script(table: str) -> list[Call]:
    """Every data-plane operation, answers of every shape, and the changes that move
    items in and out of a global index's partitions."""
    calls: list[Call] = []
    for i in range(12):
        calls.append(("put_item", {"Item": _item(f"P{i % 3}", f"S{i:02d}",
                                                 f"G{i % 2}" if i % 4 else None, i)}))
    calls += [
        ("put_item", {"Item": _item("P0", "S00", "G1", 99), "ReturnValues": "ALL_OLD"}),
        ("get_item", {"Key": _key("P1", "S01")}),
        ("get_item", {"Key": _key("P1", "nope")}),
        ("get_item", {"Key": _key("P2", "S02"), "ProjectionExpression": "#l[3], n",
                      "ExpressionAttributeNames": {"#l": "L"}}),
        ("query", {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {
            ":p": {"S": "P0"}}}),
        ("query", {"KeyConditionExpression": "PK = :p AND begins_with(SK, :s)",
                   "ExpressionAttributeValues": {":p": {"S": "P1"}, ":s": {"S": "S0"}},
                   "ScanIndexForward": False, "Limit": 2, "ReturnConsumedCapacity": "TOTAL"}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
                   "ExpressionAttributeValues": {":g": {"S": "G1"}}}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression":
                   "GSI1PK = :g AND GSI1SK BETWEEN :a AND :b", "ExpressionAttributeValues": {
                       ":g": {"S": "G0"}, ":a": {"S": "0002"}, ":b": {"S": "0010"}},
                   "ScanIndexForward": False, "Limit": 2,
                   "ReturnConsumedCapacity": "INDEXES"}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
                   "FilterExpression": "n > :n", "Select": "COUNT",
                   "ExpressionAttributeValues": {":g": {"S": "G1"}, ":n": {"N": "4"}}}),
        # Items move between the index's partitions, leave it and are deleted.
        ("update_item", {"Key": _key("P1", "S01"), "UpdateExpression": "SET GSI1PK = :g",
                         "ExpressionAttributeValues": {":g": {"S": "G0"}},
                         "ReturnValues": "ALL_NEW"}),
        ("update_item", {"Key": _key("P2", "S05"), "UpdateExpression": "REMOVE GSI1PK",
                         "ReturnValues": "UPDATED_OLD"}),
        ("delete_item", {"Key": _key("P1", "S09"), "ReturnValues": "ALL_OLD"}),
        ("put_item", {"Item": _item("P2", "S02", "G1", 7)}),
        ("update_item", {"Key": _key("P9", "new"), "UpdateExpression":
                         "SET GSI1PK = :g, GSI1SK = :s", "ExpressionAttributeValues": {
                             ":g": {"S": "G1"}, ":s": {"S": "0000"}},
                         "ReturnValues": "ALL_NEW"}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
                   "ExpressionAttributeValues": {":g": {"S": "G0"}}}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
                   "ExpressionAttributeValues": {":g": {"S": "G1"}}, "Limit": 3}),
        # One expression, other values: each call evaluates its own.
        *[("update_item", {"Key": _key("C", "C"), "UpdateExpression":
                           "SET n = if_not_exists(n, :zero) + :one",
                           "ConditionExpression": "attribute_not_exists(n) OR n < :max",
                           "ExpressionAttributeValues": {":zero": {"N": "0"},
                                                         ":one": {"N": "1"},
                                                         ":max": {"N": str(m)}},
                           "ReturnValues": "ALL_NEW",
                           "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
          for m in (5, 5, 1, 5, 2, 9)],
        ("update_item", {"Key": _key("C", "C"), "UpdateExpression": "SET n = n + :one",
                         "ExpressionAttributeValues": {":one": {"S": "not a number"}}}),
        ("update_item", {"Key": _key("C", "C"), "UpdateExpression": "SET n = n +",
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}),
        ("scan", {"Limit": 5}),
        ("scan", {"FilterExpression": "attribute_exists(GSI1PK)", "Select": "COUNT"}),
        ("batch_get_item", {"RequestItems": {table: {"Keys": [
            _key("P0", "S00"), _key("P2", "S02"), _key("X", "missing")]}}}),
        ("batch_write_item", {"RequestItems": {table: [
            {"PutRequest": {"Item": _item("P5", "S1", "G1", 3)}},
            {"DeleteRequest": {"Key": _key("P0", "S03")}}]}}),
        ("transact_write_items", {"TransactItems": [
            {"Put": {"TableName": table, "Item": _item("T", "1", "G0", 1)}},
            {"Update": {"TableName": table, "Key": _key("P0", "S00"),
                        "UpdateExpression": "SET GSI1PK = :g",
                        "ExpressionAttributeValues": {":g": {"S": "G2"}}}}]}),
        ("transact_write_items", {"TransactItems": [
            {"ConditionCheck": {"TableName": table, "Key": _key("T", "1"),
                                "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Delete": {"TableName": table, "Key": _key("P2", "S02")}}]}),
        ("transact_get_items", {"TransactItems": [
            {"Get": {"TableName": table, "Key": _key("T", "1")}},
            {"Get": {"TableName": table, "Key": _key("P0", "S00")}}]}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
                   "ExpressionAttributeValues": {":g": {"S": "G2"}}}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
                   "ExpressionAttributeValues": {":g": {"S": "G0"}}}),
        ("query", {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :g",
                   "ExpressionAttributeValues": {":g": {"S": "G1"}}}),
    ]
    return calls


def _create_table(ddb: Any, name: str) -> None:
    strings = [{"AttributeName": a, "AttributeType": "S"}
               for a in ("PK", "SK", "GSI1PK", "GSI1SK")]
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=strings,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                                               {"AttributeName": "GSI1SK",
                                                "KeyType": "RANGE"}]}])


def answers(ddb: Any, table: str) -> list[Any]:
    """Each call's answer (or error code), with what names the table replaced."""
    from botocore.exceptions import ClientError

    out: list[Any] = []
    for method, params in script(table):
        if method not in ("batch_get_item", "batch_write_item", "transact_write_items",
                          "transact_get_items"):
            params = {"TableName": table, **params}
        try:
            got = getattr(ddb, method)(**params)
            got.pop("ResponseMetadata", None)
        except ClientError as exc:
            got = {"error": exc.response["Error"]["Code"],
                   "item": exc.response.get("Item")}
        out.append(json.loads(json.dumps(got, default=repr).replace(table, "<table>")))
    return out


def mixed_race(ddb: Any, over_port: Any, table: str, threads: int = 16,
               per_thread: int = 15) -> dict[str, int]:
    """Read-then-conditional-write increments of one counter, half of the threads
    in-process, half over the port: if the two paths did not share the lock, two
    writers could pass the same condition and an increment would be lost."""
    from botocore.exceptions import ClientError

    from devstack.emulator import race

    ddb.put_item(TableName=table, Item={**_key("RACE", "RACE"), "v": {"N": "0"}})
    turn = iter(range(threads * per_thread))
    lock = threading.Lock()

    def attempt() -> bool:
        with lock:
            client = ddb if next(turn) % 2 else over_port
        seen = client.get_item(TableName=table, Key=_key("RACE", "RACE"),
                               ConsistentRead=True)["Item"]["v"]["N"]
        try:
            client.update_item(TableName=table, Key=_key("RACE", "RACE"),
                               UpdateExpression="SET v = :new", ConditionExpression="v = :old",
                               ExpressionAttributeValues={":old": {"N": seen},
                                                          ":new": {"N": str(int(seen) + 1)}})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    won, lost = race(threads, per_thread, attempt)
    final = int(ddb.get_item(TableName=table, Key=_key("RACE", "RACE"),
                             ConsistentRead=True)["Item"]["v"]["N"])
    return {"won": won, "lost": lost, "final": final}


def other_services(sqs: Any, secrets: Any, suffix: str) -> list[Any]:
    """The app's SQS and Secrets Manager calls, answers without what differs per run
    (ids, receipt handles, times)."""
    from botocore.exceptions import ClientError

    volatile = {"MessageId", "ReceiptHandle", "ResponseMetadata", "ARN", "VersionId",
                "CreatedDate", "SentTimestamp", "ApproximateFirstReceiveTimestamp",
                "SenderId", "Id", "CreatedTimestamp", "LastModifiedTimestamp",
                "SequenceNumber"}

    def stable(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: stable(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [stable(v) for v in value]
        return value.replace(suffix, "<s>") if isinstance(value, str) else value

    out: list[Any] = []

    def call(fn: Any, **kwargs: Any) -> Any:
        try:
            got = fn(**kwargs)
        except ClientError as exc:
            got = {"error": exc.response["Error"]["Code"]}
        out.append(stable(got))
        return got

    url = call(sqs.create_queue, QueueName=f"q-{suffix}",
               Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    call(sqs.get_queue_url, QueueName=f"q-{suffix}")
    call(sqs.get_queue_url, QueueName=f"missing-{suffix}")
    call(sqs.send_message_batch, QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": f"body {i}", "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "k"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}}} for i in range(3)])
    got = call(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
               AttributeNames=["All"], MessageAttributeNames=["All"])
    handles = [m["ReceiptHandle"] for m in got.get("Messages", [])]
    call(sqs.delete_message_batch, QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate([*handles, "bogus"])])
    call(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"])
    # A send reads the queue's attributes (patched: only a FIFO queue's): a delayed one
    # and the counts after it, a FIFO queue deduplicating by content or refusing a send.
    call(sqs.send_message, QueueUrl=url, MessageBody="later", DelaySeconds=5)
    call(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"])
    fifo = call(sqs.create_queue, QueueName=f"f-{suffix}.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for _ in range(2):
        call(sqs.send_message, QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
    call(sqs.send_message, QueueUrl=fifo, MessageBody="no group")
    call(sqs.get_queue_attributes, QueueUrl=fifo, AttributeNames=["All"])
    call(secrets.create_secret, Name=f"s-{suffix}", SecretString='{"a": 1}')
    call(secrets.get_secret_value, SecretId=f"s-{suffix}")
    call(secrets.get_secret_value, SecretId=f"missing-{suffix}")
    return out


def run() -> dict[str, Any]:
    import boto3

    from devstack import inprocess, moto_patches
    from devstack.emulator import provisioned

    with provisioned("patches") as endpoint:
        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")

        ddb, over_port = client("dynamodb"), client("dynamodb")
        port_sqs, port_secrets = client("sqs"), client("secretsmanager")
        for other in (over_port, port_sqs, port_secrets):
            inprocess.use_the_port(other)
        answered = [0]
        real_dispatch = inprocess._dispatch

        def counted(*args: Any) -> Any:
            answered[0] += 1
            return real_dispatch(*args)

        inprocess._dispatch = counted  # type: ignore[assignment]
        for name in ("patched", "shipped", "viaport"):
            _create_table(ddb, name)
        patched = answers(ddb, "patched")
        with moto_patches.moto_as_shipped():
            shipped = answers(ddb, "shipped")
        in_process = answered[0]
        via_port = answers(over_port, "viaport")
        others = other_services(client("sqs"), client("secretsmanager"), "inproc")
        in_process_others = answered[0] - in_process
        others_via_port = other_services(port_sqs, port_secrets, "viaport")
        with moto_patches.moto_as_shipped():
            others_shipped = other_services(client("sqs"), client("secretsmanager"), "shipped")

        def differ(a: list[Any], b: list[Any]) -> list[Any]:
            return [{"call": i, "one": x, "other": y}
                    for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y][:3]

        return {"calls": len(patched), "patchedVsShipped": differ(patched, shipped),
                "inProcessVsPort": differ(patched, via_port),
                "otherServices": len(others),
                "otherInProcessVsPort": differ(others, others_via_port),
                "otherPatchedVsShipped": differ(others, others_shipped),
                "answeredInProcess": in_process + in_process_others,
                "portCallsInProcess": answered[0] - in_process - in_process_others
                - len(others_shipped),
                "race": mixed_race(ddb, over_port, "patched")}


if __name__ == "__main__":
    print(json.dumps(run(), default=repr))
