"""Push-only REST integrations (push, no pull: no resource or mapping needed; a sync is
refused), and the minute's sweep of pushes stuck pending (their message dead-lettered):
failed after 26 h through the pending pushes' sparse index, fresh ones left alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error
from tests.component.integration_sync_helpers import V, allow_loopback
from tests.conftest import Api

URL = "http://127.0.0.1:9/hooks"
PUSH = {"path": "/events", "events": ["product.created"]}


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)


def create(api: Api, config: dict[str, Any], type_: str = "rest") -> Any:
    return api.post(f"{V}/integrations", {"type": type_, "name": "Out", "config": config,
                                          "credentials": {"auth": "none"}})


def push_only(api: Api) -> str:
    resp = create(api, {"baseUrl": URL, "push": PUSH})
    assert resp.status_code == 201, resp.body
    return str(resp.json["data"]["id"])


# -- push-only connections ------------------------------------------------------------

def test_a_push_only_connection_needs_no_resource_or_mapping(admin: Api) -> None:
    conn = push_only(admin)
    shown = admin.get(f"{V}/integrations/{conn}").json["data"]
    assert "resource" not in shown["config"] or shown["config"]["resource"] is None
    resp = admin.post(f"{V}/integrations/{conn}/sync")
    error = assert_error(resp, 422, "VALIDATION_ERROR")
    assert "only pushes events" in error["message"]
    assert error["details"][0]["field"] == "config.pull"
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == "never"
    # a preset too, its pull turned off (resource and mapping keep their defaults)
    preset = create(admin, {"baseUrl": URL, "pull": None, "push": PUSH}, "crm")
    assert preset.status_code == 201, preset.body
    refused = admin.post(f"{V}/integrations/{preset.json['data']['id']}/sync")
    assert_error(refused, 422, "VALIDATION_ERROR")


PULL = {"path": "/items"}
MAPPING = {"sku": "sku", "name": "name", "price": "price"}


@pytest.mark.parametrize("config, words", [
    ({"pull": PULL, "mapping": MAPPING}, "resource required"),
    ({"pull": PULL, "resource": "products"}, "mapping required"),
    ({"pull": PULL, "push": PUSH}, "resource and mapping required"),
    ({}, "resource and mapping required"),                     # neither pull nor push
    ({"push": PUSH, "resource": "products"}, "go together"),
    ({"push": PUSH, "mapping": MAPPING}, "go together"),
    ({"push": PUSH, "naturalKey": "sku"}, "need resource and mapping"),
    ({"push": PUSH, "schedule": {"everyMinutes": 15}}, "a schedule needs pull"),
])
def test_pull_needs_resource_and_mapping(admin: Api, config: dict[str, Any],
                                         words: str) -> None:
    resp = create(admin, {"baseUrl": URL, **config})
    error = assert_error(resp, 422, "VALIDATION_ERROR")
    assert words in str(error), error


def test_the_catalog_schema_does_not_require_resource_or_mapping(admin: Api) -> None:
    catalog = admin.get(f"{V}/integrations/catalog").json["data"]
    rest = next(t for t in catalog if t["type"] == "rest")
    schema = rest["configSchema"]
    assert "resource" not in schema.get("required", [])
    assert "mapping" not in schema.get("required", [])
    assert "baseUrl" in schema.get("required", [])
    assert "push-only" in schema["properties"]["resource"]["description"]


# -- the stuck pushes' sweep ------------------------------------------------------------

def made(conn: str, event_id: str) -> None:
    from chalicelib.integrations import push_log

    assert push_log.create(push_log.new_item(conn, {"id": event_id,
                                                    "event": "product.created"}))


def pushes(conn: str) -> dict[str, dict[str, Any]]:
    """The pushes as GET /pushes presents them (read from the store: the clock moved
    past the test's access token)."""
    from chalicelib.integrations import push_log

    items, _ = push_log.page(conn, cursor=None, limit=100)
    return {p["eventId"]: p for p in items}


def last_push_error(conn: str) -> dict[str, Any]:
    from chalicelib.integrations import repo

    item = repo.get_item(conn, consistent=True)
    assert item is not None
    return dict(item["lastPushError"])


def test_the_sweep_fails_old_pending_pushes_and_leaves_fresh_ones(admin: Api) -> None:
    from chalicelib.core import clock
    from chalicelib.integrations import push_log, push_worker

    conn = push_only(admin)
    made(conn, "evt_old")
    made(conn, "evt_claimed")     # old, but an attempt is under way
    made(conn, "evt_done")        # old, delivered: out of the pending index
    push_log.finish(conn, "evt_done", "delivered", result={"status": 200})
    clock.advance(26 * 3600 + 60)
    assert push_log.claim(conn, "evt_claimed", 60) is not None
    made(conn, "evt_fresh")

    assert push_worker.sweep_stuck() == {"failed": 1}
    got = pushes(conn)
    assert got["evt_old"]["status"] == "failed"
    assert got["evt_old"]["lastError"] == "never delivered: the queue gave up"
    assert got["evt_fresh"]["status"] == "pending"
    assert got["evt_claimed"]["status"] == "pending"
    assert got["evt_done"]["status"] == "delivered"
    error = last_push_error(conn)
    assert error["eventId"] == "evt_old" and error["eventType"] == "product.created"
    assert error["message"] == "never delivered: the queue gave up"
    # a final push leaves the index (sparse): nothing left to fail there
    assert push_worker.sweep_stuck() == {"failed": 0}
    item = push_log.get(conn, "evt_old")
    assert item is not None and "GSI2PK" not in item

    # the attempt's lease runs out and it never came back: failed the next time
    clock.advance(120)
    assert push_worker.sweep_stuck() == {"failed": 1}
    assert pushes(conn)["evt_claimed"]["status"] == "failed"
    assert pushes(conn)["evt_fresh"]["status"] == "pending"


def test_the_minute_schedule_runs_the_sweep(admin: Api) -> None:
    from chalicelib.core import clock

    conn = push_only(admin)
    made(conn, "evt_stuck")
    clock.advance(27 * 3600)
    event = admin.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/every-minute"])
    out = admin.client.lambda_.invoke("every_minute", event).payload
    assert out["stuckPushes"] == {"failed": 1}
    assert pushes(conn)["evt_stuck"]["status"] == "failed"


def test_the_sweep_reads_the_index_not_a_scan(admin: Api,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core import clock
    from chalicelib.integrations import push_worker
    from chalicelib.store import table as store

    conn = push_only(admin)
    for i in range(3):
        made(conn, f"evt_{i}")
    clock.advance(27 * 3600)
    real = store.table()
    calls: list[str] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(real, name)

    monkeypatch.setattr(store, "table", lambda: Spy())
    assert push_worker.sweep_stuck() == {"failed": 3}
    assert "scan" not in calls and "query" in calls


# -- GET /logs?kind=push ------------------------------------------------------------------

def test_the_logs_of_kind_push_list_the_pushes(admin: Api) -> None:
    from chalicelib.integrations import push_log
    from tests.conftest import make_user

    conn = push_only(admin)
    made(conn, "evt_a")
    made(conn, "evt_b")
    push_log.finish(conn, "evt_a", "delivered", result={"status": 201})
    resp = admin.get(f"{V}/integrations/{conn}/logs?kind=push")
    assert resp.status_code == 200, resp.body
    got = resp.json["data"]
    assert [p["eventId"] for p in got] == ["evt_b", "evt_a"]   # newest first
    assert got[1]["status"] == "delivered" and got[1]["result"] == {"status": 201}
    assert got == admin.get(f"{V}/integrations/{conn}/pushes").json["data"]
    only = admin.get(f"{V}/integrations/{conn}/logs?kind=push&status=pending").json["data"]
    assert [p["eventId"] for p in only] == ["evt_b"]
    # the default is still the sync log (none: a push-only connection never syncs)
    assert admin.get(f"{V}/integrations/{conn}/logs").json["data"] == []
    for bad in ("kind=push&action=created", "kind=sync&status=failed", "kind=pull",
                "kind=push&runId=syn_01m8te0ejy44p6jvjwg7xrmbxh"):
        assert_error(admin.get(f"{V}/integrations/{conn}/logs?{bad}"), 400,
                     "VALIDATION_ERROR")
    other, _ = make_user(admin, "olga", ["integrator"])
    assert_error(other.get(f"{V}/integrations/{conn}/logs?kind=push"), 404, "NOT_FOUND")


# -- the push function's time -----------------------------------------------------------

@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_push_function_outlives_its_longest_attempt(stage: str) -> None:
    """An OAuth push may take 4 calls of 15 s (a token, the call, and on a 401 a new
    token and the call again): the function's timeout, the queue's visibility, the
    push's lease and the time an attempt needs to start must all allow it."""
    import json
    from pathlib import Path

    from chalice.config import Config

    from chalicelib.integrations import outbound, push_worker
    from infra.template import build

    disk = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json")
                      .read_text())
    timeout = int(Config(chalice_stage=stage, function_name="push_events",
                         config_from_disk=disk).lambda_timeout)
    longest = 4 * outbound.TIMEOUT
    assert timeout == push_worker.FUNCTION_TIMEOUT
    assert push_worker.LOW_TIME_MS >= longest * 1000      # started: it can finish
    assert timeout * 1000 > push_worker.LOW_TIME_MS        # a fresh invocation starts them
    assert push_worker.LEASE > timeout                     # no second attempt meanwhile
    queues = {r["Properties"]["QueueName"]: r["Properties"]
              for r in build(stage)["Resources"].values() if r["Type"] == "AWS::SQS::Queue"}
    assert queues[f"gatehouse-{stage}-pushes"]["VisibilityTimeout"] >= 6 * timeout


def test_a_message_is_left_for_later_without_time_for_its_longest_attempt(
        admin: Api) -> None:
    from chalicelib.integrations import outbound, push_log, push_worker

    conn = push_only(admin)
    made(conn, "evt_late")

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return int(4 * outbound.TIMEOUT * 1000)   # a 401 renewal would not fit

    body = json.dumps({"connectionId": conn, "event": {"id": "evt_late",
                                                       "event": "product.created",
                                                       "timestamp": "2026-01-01T00:00:00Z",
                                                       "data": {}}})
    out = push_worker.process_batch(
        {"Records": [{"messageId": "m1", "receiptHandle": "r1", "body": body}]}, Context())
    assert out == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    item = push_log.get(conn, "evt_late")
    assert item is not None and int(item.get("attempts", 0)) == 0   # never claimed


def test_the_pushes_of_a_connection_named_by_its_type(admin: Api) -> None:
    from chalicelib.integrations import push_log

    conn = push_only(admin)
    made(conn, "evt_a")
    push_log.finish(conn, "evt_a", "delivered", result={"status": 200})
    by_id = admin.get(f"{V}/integrations/{conn}/pushes")
    by_type = admin.get(f"{V}/integrations/rest/pushes")
    assert by_type.status_code == 200, by_type.body
    assert by_type.json["data"] == by_id.json["data"]
    assert [p["eventId"] for p in by_type.json["data"]] == ["evt_a"]
    assert_error(admin.get(f"{V}/integrations/crm/pushes"), 404, "NOT_FOUND")
