"""Run in a process of its own (as emulator_patches.py): paging through a large global
index partition of the local stack's emulator, with and without devstack's patches,
while items are put, moved, updated and deleted between pages; and how many items
moto's query sorted for each page. Prints JSON."""

from __future__ import annotations

import json
from typing import Any

from tests.component.emulator_patches import _create_table, _key

PARTITION = 600  # items in G0: 600 x ~2 KB: more than DynamoDB's 1 MB page


def _item(i: int, group: str = "G0", sk: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {**_key(f"P{i % 7}", f"S{i:04d}"), "n": {"N": str(i)},
                            "GSI1PK": {"S": group}}
    if sk is not None or i % 50:  # every 50th has no index sort key: not in the index
        item["GSI1SK"] = {"S": sk if sk is not None else f"{i % 150:04d}"}  # ties
    if i % 3 == 0:
        item["blob"] = {"S": "x" * 6000}
    return item


# (query parameters, a change made after the first and the third page)
PAGINGS: list[tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    ({"Limit": 7}, [("update_item", {"Key": _key("P3", "S0010"), "UpdateExpression":
                                     "SET GSI1SK = :s", "ExpressionAttributeValues": {
                                         ":s": {"S": "0149"}}}),
                    ("delete_item", {"Key": _key("P6", "S0020")})]),
    ({"Limit": 50, "ScanIndexForward": False},
     [("put_item", {"Item": _item(9001, sk="0003")}),
      ("update_item", {"Key": _key("P1", "S0001"), "UpdateExpression": "SET GSI1PK = :g",
                       "ExpressionAttributeValues": {":g": {"S": "G1"}}})]),
    ({}, [("update_item", {"Key": _key("P2", "S0030"), "UpdateExpression": "REMOVE GSI1SK"}),
          ("put_item", {"Item": _item(9002, sk="0100")})]),
    ({"ScanIndexForward": False}, []),
    ({"Limit": 10, "KeyConditionExpression": "GSI1PK = :g AND GSI1SK BETWEEN :a AND :b",
      "ExpressionAttributeValues": {":g": {"S": "G0"}, ":a": {"S": "0040"},
                                    ":b": {"S": "0060"}}}, []),
    ({"Limit": 5, "ScanIndexForward": False,
      "KeyConditionExpression": "GSI1PK = :g AND GSI1SK < :a",
      "ExpressionAttributeValues": {":g": {"S": "G0"}, ":a": {"S": "0012"}}}, []),
    ({"Limit": 3, "KeyConditionExpression": "GSI1PK = :g AND begins_with(GSI1SK, :p)",
      "ExpressionAttributeValues": {":g": {"S": "G0"}, ":p": {"S": "012"}}}, []),
    ({"Limit": 20, "FilterExpression": "n > :n", "ExpressionAttributeValues": {
        ":g": {"S": "G0"}, ":n": {"N": "450"}}}, []),
    ({"Select": "COUNT", "Limit": 100}, []),
    ({"Limit": 4, "ProjectionExpression": "n, GSI1SK"}, []),
]


def paging(ddb: Any, table: str, params: dict[str, Any],
           changes: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Every page of the query, the changes made between pages."""
    query = {"TableName": table, "IndexName": "GSI1",
             "KeyConditionExpression": "GSI1PK = :g",
             "ExpressionAttributeValues": {":g": {"S": "G0"}}, **params}
    pages: list[Any] = []
    pending = list(changes)
    while True:
        got = ddb.query(**query)
        got.pop("ResponseMetadata", None)
        pages.append(got)
        if len(pages) in (1, 3) and pending:
            method, change = pending.pop(0)
            getattr(ddb, method)(TableName=table, **change)
        if "LastEvaluatedKey" not in got or len(pages) > PARTITION:
            return pages
        query["ExclusiveStartKey"] = got["LastEvaluatedKey"]


def run() -> dict[str, Any]:
    import boto3
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    from devstack import moto_patches
    from devstack.emulator import provisioned

    sorted_sizes: list[int] = []
    real_sorted = Table.sorted_items

    def counted(self: Any, hash_attrs: Any, range_attrs: Any, items: Any) -> Any:
        sorted_sizes.append(len(items))
        return real_sorted(self, hash_attrs, range_attrs, items)

    with provisioned("paging") as endpoint:
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        answers: dict[str, list[Any]] = {}
        sorted_most: dict[str, list[int]] = {}
        kept: dict[str, int] = {}
        for name in ("patched", "shipped"):
            _create_table(ddb, name)
            for i in range(PARTITION):
                ddb.put_item(TableName=name, Item=_item(i))
            ddb.put_item(TableName=name, Item=_item(5000, group="G1"))

            def all_pagings(table: str) -> list[Any]:
                out = []
                for params, changes in PAGINGS:
                    sorted_sizes.clear()
                    out.append(paging(ddb, table, params, changes))
                    sorted_most.setdefault(table, []).append(max(sorted_sizes))
                return out

            Table.sorted_items = counted  # type: ignore[method-assign]
            kept_before = len(Item.instances_tracked)  # type: ignore[attr-defined]
            try:
                if name == "patched":
                    answers[name] = all_pagings(name)
                else:
                    with moto_patches.moto_as_shipped():
                        answers[name] = all_pagings(name)
            finally:
                Table.sorted_items = real_sorted  # type: ignore[method-assign]
            # moto's list of every Item it made: grown by each item answered, or not
            kept[name] = len(Item.instances_tracked) - kept_before  # type: ignore[attr-defined]
        patched, shipped = (json.loads(json.dumps(answers[n], default=repr).replace(n, "T"))
                            for n in ("patched", "shipped"))
        differ = [{"paging": i, "page": j, "patched": a, "shipped": b}
                  for i, (x, y) in enumerate(zip(patched, shipped, strict=True))
                  for j, (a, b) in enumerate(zip(x, y)) if a != b or len(x) != len(y)][:3]
        return {"pagings": len(patched), "pages": [len(p) for p in patched],
                "differ": differ, "sortedMost": sorted_most,
                "itemsKept": kept}


if __name__ == "__main__":
    print(json.dumps(run(), default=repr))
