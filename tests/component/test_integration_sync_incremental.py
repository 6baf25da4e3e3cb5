"""Incremental pulls of REST integrations (config.pull.since) against the local ERP,
which honours updatedSince: the first run is full, the next sends the start of the last
completed run less the overlap on every page, {"full": true} ignores it, a failed run
does not move the mark, a changed config pulls in full again; bad configs and bodies."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.component.helpers import assert_error
from tests.component.integration_sync_helpers import (
    TOKEN,
    N,
    V,
    allow_loopback,
    config,
    connect,
    products,
    sync,
)
from tests.component.jobs_queue import run_jobs
from tests.conftest import Api
from tests.erp_server import Erp

SINCE = {"param": "updatedSince", "format": "iso", "overlapSeconds": 300}


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)



def pull(**since: Any) -> dict[str, Any]:
    return {"path": "/items", "pagination": "cursor", "cursorParam": "cursor",
            "cursorField": "meta.next", "itemsField": "data.items", "query": {"limit": "5"},
            "since": {**SINCE, **since}}


def sent(erp: Erp) -> list[dict[str, str]]:
    """The query of every page request since the last call (then forgotten)."""
    gets = [p for m, p in erp.requests if m == "GET"]
    erp.requests.clear()
    return [{k: v[0] for k, v in parse_qs(urlsplit(p).query).items()} for p in gets]


def iso_second(stamp: str, less: int) -> str:
    from chalicelib.core import clock

    moment = math.floor(clock.parse_iso(stamp) - less)
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def touch(erp: Erp, sku: str, name: str) -> None:
    """The remote changes a record now (its modified time is now)."""
    from chalicelib.core import clock

    with erp.lock:
        record = erp.find(sku)
        record["itemName"], record["modified"] = name, clock.iso()


def start(api: Api, conn: str, body: Any = None) -> dict[str, Any]:
    resp = api.post(f"{V}/integrations/{conn}/sync", body)
    assert resp.status_code == 202, resp.body
    run_jobs()
    return dict(api.get(f"{V}/integrations/{conn}/status").json["data"])


def test_first_full_then_incremental_then_a_full_resync(admin: Api, erp: Erp) -> None:
    from chalicelib.core import clock

    conn = connect(admin, erp, pull=pull())
    first = sync(admin, conn)
    assert first["status"] == "completed" and first["counts"]["created"] == N
    assert first["mode"] == "full" and first["since"] is None
    assert first["fullReason"] == "no run completed without failed records yet"
    assert first["consistency"]["scope"] == "all"
    assert all("updatedSince" not in q for q in sent(erp))

    clock.advance(60)
    touch(erp, "SKU-00003", "Renamed remotely")
    second = sync(admin, conn)
    assert second["status"] == "completed", second
    assert second["mode"] == "incremental" and "fullReason" not in second
    assert second["since"] == clock.iso(clock.parse_iso(first["startedAt"]) - 300)
    asked = sent(erp)
    assert asked and all(q["updatedSince"] == iso_second(first["startedAt"], 300)
                         for q in asked)
    # only the changed record came: pulled, updated, nothing else read
    assert second["counts"] == {"records": 1, "created": 0, "updated": 1, "skipped": 0,
                                "failed": 0}
    assert second["pages"] == 1
    check = second["consistency"]
    assert check["scope"] == "pulled" and "pulled" in check["note"]
    assert check["remote"]["count"] == 1 and check["consistent"]
    assert products(admin)["SKU-00003"]["name"] == "Renamed remotely"

    clock.advance(60)
    full = start(admin, conn, {"full": True})
    assert full["status"] == "completed" and full["mode"] == "full"
    assert full["fullReason"] == "requested" and full["since"] is None
    assert full["counts"]["records"] == N and full["counts"]["skipped"] == N
    assert full["consistency"]["scope"] == "all"
    assert all("updatedSince" not in q for q in sent(erp))

    # the full resync completed: the next incremental run starts from its start
    clock.advance(60)
    after = start(admin, conn, {})
    assert after["mode"] == "incremental"
    assert after["since"] == clock.iso(clock.parse_iso(full["startedAt"]) - 300)
    # the record changed 60 s before the resync began is within the overlap: re-read,
    # unchanged, nothing written
    assert after["counts"] == {"records": 1, "created": 0, "updated": 0, "skipped": 1,
                               "failed": 0}


def test_a_failed_run_does_not_move_the_mark(admin: Api, erp: Erp) -> None:
    from chalicelib.core import clock

    conn = connect(admin, erp, pull=pull(overlapSeconds=0))
    first = sync(admin, conn)
    assert first["status"] == "completed"
    clock.advance(120)
    erp.fail["/api/items"] = 100
    failed = sync(admin, conn)
    assert failed["status"] == "failed" and failed["mode"] == "incremental"
    erp.fail.clear()
    sent(erp)
    clock.advance(120)
    touch(erp, "SKU-00005", "Changed while it failed")
    again = sync(admin, conn)
    assert again["status"] == "completed"
    # from the completed run's start (overlap 0), not the failed one's
    assert again["since"] == first["startedAt"]
    assert {q["updatedSince"] for q in sent(erp)} == {iso_second(first["startedAt"], 0)}
    assert again["counts"]["updated"] == 1

    # a cancelled run leaves it too
    from chalicelib.core.principal import Principal
    from chalicelib.jobs import service as jobs

    clock.advance(60)
    resp = admin.post(f"{V}/integrations/{conn}/sync")
    run_id = resp.json["data"]["runId"]
    system = Principal(kind="system", id="test", owner="x", scopes=frozenset({"admin"}))
    assert jobs.cancel(system, run_id, "sync").status == "cancelled"
    run_jobs()
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == \
        "cancelled"
    clock.advance(60)
    last = start(admin, conn)
    assert last["status"] == "completed" and last["since"] == again["startedAt"]


def test_a_run_whose_records_failed_keeps_the_mark(admin: Api, erp: Erp) -> None:
    """A record refused on our side does not change on the remote: a mark moved past
    it would never pull it again."""
    from chalicelib.core import clock

    erp.find("SKU-00002")["salesPrice"] = "not money"
    conn = connect(admin, erp, pull=pull(overlapSeconds=0))
    first = sync(admin, conn)
    assert first["status"] == "completed" and first["counts"]["failed"] == 1
    assert first["markKept"] == "1 record(s) failed; the next run pulls in full."
    clock.advance(60)
    second = sync(admin, conn)
    assert second["mode"] == "full", second
    assert second["fullReason"] == "no run completed without failed records yet"

    erp.find("SKU-00002")["salesPrice"] = "2.02"   # the remote is corrected
    clock.advance(60)
    clean = sync(admin, conn)
    assert clean["counts"]["failed"] == 0 and "markKept" not in clean
    assert clean["counts"]["created"] == 1

    clock.advance(60)
    with erp.lock:
        erp.find("SKU-00004").update(salesPrice="bad", modified=clock.iso())
    sent(erp)
    clock.advance(60)
    broken = sync(admin, conn)
    assert broken["mode"] == "incremental" and broken["since"] == clean["startedAt"]
    assert broken["status"] == "completed" and broken["counts"]["failed"] == 1
    assert broken["markKept"] == ("1 record(s) failed; the next run pulls from the "
                                  f"previous mark ({clean['startedAt']}).")
    clock.advance(60)
    again = sync(admin, conn)
    # from the clean run's start, not the run whose record failed
    assert again["since"] == clean["startedAt"]
    assert {q["updatedSince"] for q in sent(erp)} == {iso_second(clean["startedAt"], 0)}
    assert again["counts"]["failed"] == 1   # pulled again, still refused


def test_a_start_whose_job_was_not_made_keeps_the_mark(
        admin: Api, erp: Erp, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core import clock
    from chalicelib.core.errors import Unavailable
    from chalicelib.jobs import service as jobs

    def refused(*args: Any, **kw: Any) -> Any:
        raise Unavailable("the jobs queue is down")

    conn = connect(admin, erp, pull=pull())
    with monkeypatch.context() as m:   # the very first start fails: nothing to keep
        m.setattr(jobs, "submit", refused)
        assert_error(admin.post(f"{V}/integrations/{conn}/sync"), 503,
                     "SERVICE_UNAVAILABLE")
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == "never"
    first = sync(admin, conn)
    assert first["status"] == "completed" and first["mode"] == "full"

    clock.advance(60)
    with monkeypatch.context() as m:
        m.setattr(jobs, "submit", refused)
        assert_error(admin.post(f"{V}/integrations/{conn}/sync"), 503,
                     "SERVICE_UNAVAILABLE")
    # the latest run is still the completed one, and its mark holds
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert (status["runId"], status["status"]) == (first["runId"], "completed")
    again = sync(admin, conn)
    assert again["mode"] == "incremental", again
    assert again["since"] == clock.iso(clock.parse_iso(first["startedAt"]) - 300)


def test_a_changed_pull_config_or_no_since_pulls_in_full(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp, pull=pull())
    assert sync(admin, conn)["mode"] == "full"
    changed = config(erp, pull={**pull(), "query": {"limit": "4"}})
    resp = admin.put(f"{V}/integrations/{conn}", {"config": changed})
    assert resp.status_code == 200, resp.body
    run = sync(admin, conn)
    assert run["mode"] == "full" and run["counts"]["records"] == N
    assert run["fullReason"] == "the pull's config changed since the last completed run"
    sent(erp)
    # the overlap or format is not part of it: incremental still
    resp = admin.put(f"{V}/integrations/{conn}", {"config": config(
        erp, pull={**pull(format="unix_ms", overlapSeconds=0), "query": {"limit": "4"}})})
    assert resp.status_code == 200, resp.body
    inc = sync(admin, conn)
    assert inc["mode"] == "incremental" and inc["since"] == run["startedAt"]
    from chalicelib.core import clock

    millis = str(math.floor(clock.parse_iso(run["startedAt"]) * 1000))
    assert {q["updatedSince"] for q in sent(erp)} == {millis}
    # without since, every run is full and says nothing of a reason
    plain = connect(admin, erp)
    sync(admin, plain)
    again = sync(admin, plain)
    assert again["mode"] == "full" and "fullReason" not in again
    assert again["consistency"]["scope"] == "all"


def test_the_since_value_in_each_format() -> None:
    from chalicelib.integrations.rest import since_value

    moment = 1_767_225_600.789   # 2026-01-01T00:00:00.789Z
    assert since_value(moment, "iso") == "2026-01-01T00:00:00Z"
    assert since_value(moment, "unix") == "1767225600"
    assert since_value(moment, "unix_ms") == "1767225600789"


def test_scheduled_syncs_are_incremental(admin: Api, erp: Erp) -> None:
    from chalicelib.core import clock
    from chalicelib.integrations import sync_schedule

    conn = connect(admin, erp, pull=pull(), schedule={"everyMinutes": 15})
    assert sync_schedule.run_due() == {"started": 1}
    run_jobs()
    first = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert first["status"] == "completed" and first["mode"] == "full"
    clock.advance(15 * 60)
    assert sync_schedule.run_due() == {"started": 1}
    run_jobs()
    second = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert second["mode"] == "incremental" and second["counts"]["records"] == 0


@pytest.mark.parametrize("since, field", [
    ({"param": "limit"}, "config.pull"),                      # a fixed query's parameter
    ({"param": "cursor"}, "config.pull"),                     # the cursor's
    ({"param": "updatedSince", "format": "rfc"}, "config.pull.since.format"),
    ({"param": "updatedSince", "overlapSeconds": -1}, "config.pull.since.overlapSeconds"),
    ({"param": "updatedSince", "overlapSeconds": 86_401},
     "config.pull.since.overlapSeconds"),
    ({"param": "a b"}, "config.pull.since.param"),
    ({"param": "updatedSince", "extra": 1}, "config.pull.since.extra"),
])
def test_bad_since_configs_are_refused(admin: Api, erp: Erp, since: dict[str, Any],
                                       field: str) -> None:
    body = {"type": "rest", "name": "ERP", "config": config(erp, pull={
        **pull(), "since": since}), "credentials": {"auth": "none"}}
    resp = admin.post(f"{V}/integrations", body)
    assert resp.status_code == 422, resp.body
    fields = [d["field"] for d in resp.json["error"]["details"]]
    assert any(f.startswith(field) for f in fields), fields


@pytest.mark.parametrize("body", [{"full": "yes"}, {"full": 1}, {"fully": True}, [True]])
def test_bad_sync_bodies_are_refused(admin: Api, erp: Erp, body: Any) -> None:
    conn = connect(admin, erp, pull=pull())
    resp = admin.post(f"{V}/integrations/{conn}/sync", body)
    assert_error(resp, 422, "VALIDATION_ERROR")
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == "never"


def test_a_preset_takes_since_too(admin: Api, erp: Erp) -> None:
    resp = admin.post(f"{V}/integrations", {
        "type": "erp", "name": "ERP", "config": {
            "baseUrl": erp.url + "/api", "pull": pull(),
            "mapping": {"sku": "itemNumber", "name": "itemName", "price": "salesPrice"}},
        "credentials": {"auth": "bearer", "token": TOKEN}})
    assert resp.status_code == 201, resp.body
    conn = resp.json["data"]["id"]
    sync(admin, conn)
    assert sync(admin, conn)["mode"] == "incremental"
    catalog = admin.get(f"{V}/integrations/catalog").json["data"]
    erp_type = next(t for t in catalog if t["type"] == "erp")
    assert "since" in erp_type["configSchema"]["$defs"]["PullConfig"]["properties"]
