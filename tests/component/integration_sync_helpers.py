"""Shared by the sync and REST connector tests: the local ERP's fixture, a connection's
config, and the calls a test makes (start a sync and run it, list products, read logs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.component.helpers import set_env
from tests.component.jobs_queue import run_jobs
from tests.conftest import Api
from tests.erp_server import Erp

V = "/api/v1"
TOKEN = "erp-bearer-token-s3cr3t-value"
N = 12  # records the ERP holds: pages of 5 (moto's transactions copy the whole table)
MAPPING = {"sku": "itemNumber", "name": "itemName", "price": "salesPrice",
           "category": "itemGroup"}


def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SSRF guard lets the local ERP (127.0.0.1) through; retries do not wait."""
    from chalicelib.integrations import rest

    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    monkeypatch.setattr(rest, "BACKOFF", 0.0)  # retries without waiting


def serve_erp() -> Iterator[Erp]:
    """The local ERP holding N records, expecting the bearer TOKEN (a fixture's body)."""
    with Erp(N) as server:
        server.expect_auth = ("Authorization", f"Bearer {TOKEN}")
        yield server


def config(erp: Erp, **extra: Any) -> dict[str, Any]:
    return {"baseUrl": erp.url + "/api", "resource": "products",
            "pull": {"path": "/items", "pagination": "cursor", "cursorParam": "cursor",
                     "cursorField": "meta.next", "itemsField": "data.items",
                     "query": {"limit": "5"}},
            "mapping": MAPPING, "updatedAtField": "modified", **extra}


def connect(api: Api, erp: Erp, type_: str = "rest", credentials: Any = None,
            **extra: Any) -> str:
    resp = api.post(f"{V}/integrations", {
        "type": type_, "name": "ERP", "config": config(erp, **extra),
        "credentials": credentials or {"auth": "bearer", "token": TOKEN}})
    assert resp.status_code == 201, resp.body
    return str(resp.json["data"]["id"])


def sync(api: Api, conn: str) -> dict[str, Any]:
    """Starts a sync, runs the jobs queue, answers the status."""
    resp = api.post(f"{V}/integrations/{conn}/sync")
    assert resp.status_code == 202, resp.body
    assert resp.headers["Location"] == f"{V}/integrations/{conn}/status"
    assert resp.json["data"]["status"] == "pending"
    run_jobs()
    status = api.get(f"{V}/integrations/{conn}/status")
    assert status.status_code == 200, status.body
    assert status.json["data"]["runId"] == resp.json["data"]["runId"]
    return dict(status.json["data"])


def products(api: Api) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = ""
    while True:
        page = api.get(f"{V}/products?perPage=100{cursor}").json
        out.update({p["sku"]: p for p in page["data"]})
        if not page["pagination"]["nextCursor"]:
            return out
        cursor = f"&cursor={page['pagination']['nextCursor']}"


def logs(api: Api, conn: str, query: str = "") -> list[dict[str, Any]]:
    resp = api.get(f"{V}/integrations/{conn}/logs?perPage=100{query}")
    assert resp.status_code == 200, resp.body
    return list(resp.json["data"])


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every record write the sync makes (the resource service's creates and updates)."""
    from chalicelib.resources import service

    made: list[str] = []
    real_create, real_many, real_update = service.create, service.create_many, service.update

    def create(*args: Any, **kw: Any) -> Any:
        made.append("create")
        return real_create(*args, **kw)

    def create_many(res: Any, actor: Any, prepared: list[Any]) -> Any:
        made.extend("create" for _ in prepared)
        return real_many(res, actor, prepared)

    def update(*args: Any, **kw: Any) -> Any:
        made.append("update")
        return real_update(*args, **kw)

    monkeypatch.setattr(service, "create", create)
    monkeypatch.setattr(service, "create_many", create_many)
    monkeypatch.setattr(service, "update", update)
    return made



def event_types() -> list[str]:
    from chalicelib.store import table as store

    found = store.table().scan(FilterExpression="begins_with(PK, :p)",
                               ExpressionAttributeValues={":p": "OUTBOX#evt_"})["Items"]
    return [json.loads(str(i["event"]))["event"] for i in found]
