"""Syncs of REST integrations against a real local HTTP server playing a paginated ERP
(tests/erp_server.py): jobs run by the jobs queue's worker as app.py's handler runs
them; creates, no-op re-runs, updates, conflicts, source of truth, bad records, resumes,
retries, logs and status, one run at a time, owners, scopes, sandbox, schedules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error
from tests.component.integration_sync_helpers import (
    TOKEN,
    N,
    V,
    allow_loopback,
    config,
    connect,
    count_writes,
    event_types,
    logs,
    products,
    sync,
)
from tests.component.jobs_queue import Clockwork, Died, jobs_url, record, run_jobs, sqs
from tests.conftest import Api, make_user
from tests.erp_server import Erp, item


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)



@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return count_writes(monkeypatch)


# -- pull --------------------------------------------------------------------------

def test_a_pull_creates_then_a_second_run_writes_nothing(
        admin: Api, erp: Erp, writes: list[str]) -> None:
    conn = connect(admin, erp)
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == "never"
    first = sync(admin, conn)
    assert first["status"] == "completed", first
    assert first["counts"] == {"records": N, "created": N, "updated": 0, "skipped": 0,
                               "failed": 0}
    assert first["pages"] == 3 and writes.count("create") == N
    got = products(admin)
    assert sorted(got) == [f"SKU-{i:05d}" for i in range(N)]
    assert got["SKU-00007"]["price"] == "8.07" and got["SKU-00007"]["name"] == "Item 7"
    check = first["consistency"]
    assert check["consistent"] and check["remote"] == check["ours"]
    assert check["remote"]["count"] == N and check["differing"] == 0
    created = logs(admin, conn)
    assert len(created) == N and {e["action"] for e in created} == {"created"}
    assert created[0]["recordKey"] == "SKU-00000" and created[0]["runId"] == first["runId"]
    # pages were asked for by cursor, the limit from the config's fixed query
    gets = [p for m, p in erp.requests if m == "GET"]
    assert gets == ["/api/items?limit=5", "/api/items?limit=5&cursor=5",
                    "/api/items?limit=5&cursor=10"]

    writes.clear()
    second = sync(admin, conn)
    assert second["status"] == "completed"
    assert second["counts"] == {"records": N, "created": 0, "updated": 0, "skipped": N,
                                "failed": 0}
    assert writes == []  # nothing written
    assert logs(admin, conn) == []  # unchanged records are counted, not logged
    assert second["consistency"]["ours"] == first["consistency"]["ours"]


def test_a_remote_change_updates_the_record_and_raises_its_event(
        admin: Api, erp: Erp, writes: list[str]) -> None:
    conn = connect(admin, erp)
    sync(admin, conn)
    changed = erp.find("SKU-00003")
    changed.update(salesPrice="99.95", modified="2999-01-01T00:00:00Z")
    erp.items.append(item(30))
    writes.clear()
    done = sync(admin, conn)
    assert done["counts"]["updated"] == 1 and done["counts"]["created"] == 1
    assert done["counts"]["skipped"] == N - 1
    assert sorted(writes) == ["create", "update"]
    assert products(admin)["SKU-00003"]["price"] == "99.95"
    entries = logs(admin, conn)
    assert [(e["recordKey"], e["action"]) for e in entries] == [
        ("SKU-00003", "updated"), ("SKU-00030", "created")]
    assert entries[0]["fields"] == ["price"]
    assert [e["recordKey"] for e in logs(admin, conn, "&action=created")] == ["SKU-00030"]
    assert event_types().count("product.updated") == 1


def test_conflicts_go_to_the_newer_side_unless_the_field_is_owned(
        admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp, sourceOfTruth=["price"])
    sync(admin, conn)
    ours = products(admin)["SKU-00004"]
    resp = admin.put(f"{V}/products/{ours['id']}", {"name": "Our name", "price": "1.00"})
    assert resp.status_code == 200, resp.body
    # The remote changes both, but says it did so before our edit.
    erp.find("SKU-00004").update(itemName="Their name", salesPrice="2.00",
                                 modified="2021-01-01T00:00:00Z")
    done = sync(admin, conn)
    after = products(admin)["SKU-00004"]
    assert after["price"] == "2.00"        # the connection owns price
    assert after["name"] == "Our name"     # ours is newer
    [entry] = logs(admin, conn)
    assert entry["action"] == "updated" and entry["fields"] == ["price"]
    assert "ours is newer for name" in entry["reason"]
    check = done["consistency"]
    assert not check["consistent"] and check["differingKeys"] == ["SKU-00004"]
    assert check["remote"]["count"] == check["ours"]["count"] == N
    assert check["remote"]["checksum"] != check["ours"]["checksum"]

    # Newer on their side: theirs wins.
    erp.find("SKU-00004").update(modified="2999-01-01T00:00:00Z")
    again = sync(admin, conn)
    assert products(admin)["SKU-00004"]["name"] == "Their name"
    assert again["consistency"]["consistent"]


def test_ours_newer_and_nothing_owned_is_a_logged_skip(admin: Api, erp: Erp,
                                                       writes: list[str]) -> None:
    conn = connect(admin, erp)
    sync(admin, conn)
    ours = products(admin)["SKU-00001"]
    assert admin.put(f"{V}/products/{ours['id']}", {"category": "ours"}).status_code == 200
    writes.clear()
    done = sync(admin, conn)
    assert writes == [] and done["counts"]["skipped"] == N
    [entry] = logs(admin, conn)
    assert (entry["recordKey"], entry["action"], entry["reason"], entry["fields"]) == (
        "SKU-00001", "skipped", "ours is newer", ["category"])


def test_bad_remote_records_fail_alone(admin: Api, erp: Erp) -> None:
    erp.find("SKU-00002")["salesPrice"] = "not money"
    del erp.find("SKU-00005")["itemNumber"]
    erp.find("SKU-00006")["itemName"] = ""
    conn = connect(admin, erp)
    done = sync(admin, conn)
    assert done["status"] == "completed"
    assert done["counts"]["created"] == N - 3 and done["counts"]["failed"] == 3
    failed = logs(admin, conn, "&action=failed")
    by_key = {e["recordKey"]: e["reason"] for e in failed}
    assert by_key["SKU-00002"].startswith("price:")
    assert by_key["SKU-00006"].startswith("name:")
    assert by_key[None] == "no sku in the record"
    assert done["consistency"]["differing"] == 2  # the two with a key


# -- resumes, retries, failures ----------------------------------------------------

def test_a_sync_killed_mid_page_resumes_without_duplicates(
        admin: Api, erp: Erp, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core import clock
    from chalicelib.jobs import repo as jobs_repo
    from chalicelib.jobs import worker
    from chalicelib.resources import service

    conn = connect(admin, erp)
    run = admin.post(f"{V}/integrations/{conn}/sync").json["data"]
    real, calls = service.create_many, []

    def create_then_die(res: Any, actor: Any, prepared: list[Any]) -> Any:
        done = real(res, actor, prepared)
        calls.extend(prepared)
        if len(calls) == 10:
            raise Died  # pages 1 and 2 written; the checkpoint says page 1
        return done

    monkeypatch.setattr(service, "create_many", create_then_die)
    msg = sqs().receive_message(QueueUrl=jobs_url(), WaitTimeSeconds=0)["Messages"][0]
    with pytest.raises(Died):
        worker.process_batch({"Records": [record(msg)]})
    dead = jobs_repo.get(run["runId"])
    assert dead is not None and dead.processed_rows == 5 and dead.lease_until
    assert dead.checkpoint and dead.checkpoint["cursor"] == "5"
    running = admin.post(f"{V}/integrations/{conn}/sync")
    assert_error(running, 409, "CONFLICT")
    clock.advance(dead.lease_until - clock.now() + 1)
    sqs().change_message_visibility(QueueUrl=jobs_url(), ReceiptHandle=msg["ReceiptHandle"],
                                    VisibilityTimeout=0)
    run_jobs()
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert status["status"] == "completed"
    assert len(products(admin)) == N
    assert len(calls) == N  # page 2, written before the death, not created again
    assert status["counts"]["created"] == N - 5 and status["counts"]["skipped"] == 5
    assert status["consistency"]["consistent"]
    keys = [e["recordKey"] for e in logs(admin, conn)]
    assert len(keys) == len(set(keys)) == N - 5
    assert event_types().count("product.created") == N  # each record's event, once


def test_remote_500s_are_retried_then_the_run_fails_clearly(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp)
    erp.fail["/api/items"] = 2  # two 500s, then answers: retried within the step
    assert sync(admin, conn)["counts"]["created"] == N
    assert len(erp.requests) == 5
    erp.fail["/api/items"] = 100
    failed = sync(admin, conn)
    assert failed["status"] == "failed"
    error = failed["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "GET /api/items: answered 500 (3 tries)" in error["message"]
    assert TOKEN not in json.dumps(failed)  # the 500's body echoed our header


# -- the routes --------------------------------------------------------------------

def test_one_run_at_a_time_and_logs_paged(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp)
    first = admin.post(f"{V}/integrations/{conn}/sync")
    assert first.status_code == 202
    assert_error(admin.post(f"{V}/integrations/{conn}/sync"), 409, "CONFLICT")
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert status["status"] == "pending" and status["runId"] == first.json["data"]["runId"]
    run_jobs()
    page = admin.get(f"{V}/integrations/{conn}/logs?perPage=5").json
    assert len(page["data"]) == 5 and page["pagination"]["hasMore"]
    rest = admin.get(f"{V}/integrations/{conn}/logs?perPage=100&cursor="
                     f"{page['pagination']['nextCursor']}").json["data"]
    assert len(rest) == N - 5 and rest[0]["recordKey"] == "SKU-00005"
    second = admin.post(f"{V}/integrations/{conn}/sync")
    assert second.status_code == 202  # the first finished
    run_jobs()
    older = logs(admin, conn, f"&runId={first.json['data']['runId']}")
    assert len(older) == N
    assert_error(admin.get(f"{V}/integrations/{conn}/logs?runId=nope"), 400,
                 "VALIDATION_ERROR")
    assert_error(admin.get(f"{V}/integrations/{conn}/logs?action=deleted"), 400,
                 "VALIDATION_ERROR")
    other = "syn_" + "0" * 26
    assert_error(admin.get(f"{V}/integrations/{conn}/logs?runId={other}"), 404, "NOT_FOUND")


def test_owners_scopes_and_unknown_ids(admin: Api, erp: Erp) -> None:
    owner, _ = make_user(admin, "syncowner", ["integrator"])
    other, _ = make_user(admin, "syncother", ["integrator"])
    viewer, _ = make_user(admin, "syncviewer", ["viewer"])
    conn = connect(owner, erp)
    for path in (f"{conn}/status", f"{conn}/logs"):
        assert_error(other.get(f"{V}/integrations/{path}"), 404, "NOT_FOUND")
    assert_error(other.post(f"{V}/integrations/{conn}/sync"), 404, "NOT_FOUND")
    assert_error(viewer.post(f"{V}/integrations/{conn}/sync"), 403, "AUTHORIZATION_ERROR")
    assert_error(owner.post(f"{V}/integrations/int_nope/sync"), 404, "NOT_FOUND")
    assert sync(owner, conn)["counts"]["created"] == N
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == "completed"


def test_a_sync_needs_the_resource_write_scope(admin: Api, erp: Erp) -> None:
    from tests.conftest import client_token

    conn = connect(admin, erp)
    narrow = admin.as_bearer(client_token(
        admin, scope="integrations:manage products:read")["access_token"])
    resp = narrow.post(f"{V}/integrations/{conn}/sync")
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert "products:write" in resp.json["error"]["message"]


def test_a_paused_or_deleted_integration_does_not_sync(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp)
    assert admin.patch(f"{V}/integrations/{conn}", {"status": "paused"}).status_code == 200
    assert_error(admin.post(f"{V}/integrations/{conn}/sync"), 409, "CONFLICT")
    admin.patch(f"{V}/integrations/{conn}", {"status": "active"})
    started = admin.post(f"{V}/integrations/{conn}/sync").json["data"]
    admin.patch(f"{V}/integrations/{conn}", {"status": "paused"})  # before it runs
    run_jobs()
    stopped = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert (stopped["runId"], stopped["status"]) == (started["runId"], "failed")
    assert stopped["error"]["code"] == "CONFLICT" and products(admin) == {}
    admin.patch(f"{V}/integrations/{conn}", {"status": "active"})
    push_only = connect(admin, erp, pull=None, push={"path": "/push"})
    assert_error(admin.post(f"{V}/integrations/{push_only}/sync"), 422, "VALIDATION_ERROR")
    run = admin.post(f"{V}/integrations/{conn}/sync").json["data"]
    assert admin.delete(f"{V}/integrations/{conn}").status_code == 204
    run_jobs()
    from chalicelib.jobs import repo as jobs_repo

    job = jobs_repo.get(run["runId"])
    assert job is not None and job.status in ("cancelled", "failed")
    assert products(admin) == {}


def test_a_connection_pulls_only_where_its_setter_may_write(admin: Api, erp: Erp) -> None:
    made = admin.post(f"{V}/api-keys", {"name": "k", "scopes": [
        "integrations:manage", "products:write"]}).json["data"]
    key = admin.as_key(made["key"])
    conn = connect(key, erp)
    into_customers = {**config(erp), "resource": "customers", "updatedAtField": None,
                      "mapping": {"email": "mail", "name": "itemName"}}
    resp = key.put(f"{V}/integrations/{conn}", {"config": into_customers})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert "customers:write" in resp.json["error"]["message"]
    assert_error(key.post(f"{V}/integrations", {"type": "rest", "name": "c",
                                                 "config": into_customers}),
                 403, "AUTHORIZATION_ERROR")
    push_only = {**into_customers, "pull": None, "push": {"path": "/push"}}
    made_push = key.post(f"{V}/integrations", {"type": "rest", "name": "p",
                                               "config": push_only,
                                               "credentials": {"auth": "none"}})
    assert made_push.status_code == 201, made_push.body   # pulls nothing: no write needed
    # The resource changed under a running sync (by the owner, who may): the run stops.
    run = key.post(f"{V}/integrations/{conn}/sync")
    assert run.status_code == 202, run.body
    run_jobs(context=Clockwork(2), limit=1)   # one invocation: suspends after a page
    for i, it in enumerate(erp.items):
        it["mail"] = f"victim{i}@ex.com"
    assert admin.put(f"{V}/integrations/{conn}", {"config": into_customers}).status_code == 200
    run_jobs()
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert (status["runId"], status["status"]) == (run.json["data"]["runId"], "failed")
    assert status["error"]["code"] == "CONFLICT"
    assert "resource changed" in status["error"]["message"]
    assert admin.get(f"{V}/customers?perPage=100").json["data"] == []


# -- schedules ---------------------------------------------------------------------

def test_scheduled_syncs_start_when_due(admin: Api, erp: Erp) -> None:
    from chalicelib.core import clock
    from chalicelib.integrations import sync_schedule

    conn = connect(admin, erp, schedule={"everyMinutes": 15})
    unscheduled = connect(admin, erp)
    no_write = connect(admin, erp, schedule={"everyMinutes": 15})
    # Its ceiling without products:write (set before creates checked the write scope).
    from chalicelib.store import table as store

    store.table().update_item(Key={"PK": f"INTEGRATION#{no_write}", "SK": "INTEGRATION"},
                              UpdateExpression="SET scopes = :s",
                              ExpressionAttributeValues={":s": ["integrations:manage"]})
    assert sync_schedule.run_due() == {"started": 1, "skipped": 1}
    assert sync_schedule.run_due() == {"skipped": 1}  # the first just started: not due
    run_jobs()
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert status["status"] == "completed" and status["counts"]["created"] == N
    for idle in (unscheduled, no_write):
        assert admin.get(f"{V}/integrations/{idle}/status").json["data"]["status"] == "never"
    clock.advance(15 * 60)
    admin.patch(f"{V}/integrations/{no_write}", {"status": "paused"})
    assert sync_schedule.run_due() == {"started": 1}
    run_jobs()
    again = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert again["runId"] != status["runId"] and again["counts"]["skipped"] == N
    # A connection an API key set up stops with the key.
    made = admin.post(f"{V}/api-keys", {"name": "k", "scopes": [
        "integrations:manage", "products:write"]}).json["data"]
    by_key = connect(admin.as_key(made["key"]), erp, schedule={"everyMinutes": 15})
    assert admin.delete(f"{V}/api-keys/{made['id']}").status_code == 204
    clock.advance(15 * 60)
    admin.patch(f"{V}/integrations/{conn}", {"status": "paused"})
    assert sync_schedule.run_due() == {"skipped": 1}
    assert admin.get(f"{V}/integrations/{by_key}/status").json["data"]["status"] == "never"
    resp = admin.post(f"{V}/integrations", {"type": "rest", "name": "x", "config": {
        **config(erp), "pull": None, "schedule": {"everyMinutes": 15}}})
    assert_error(resp, 422, "VALIDATION_ERROR")
    resp = admin.post(f"{V}/integrations", {"type": "rest", "name": "x", "config": {
        **config(erp), "schedule": {"everyMinutes": 1}}})
    assert_error(resp, 422, "VALIDATION_ERROR")


def test_a_sandbox_connection_syncs_into_sandbox_data_only(admin: Api, erp: Erp) -> None:
    owner, _ = make_user(admin, "syncsandbox", ["integrator"])
    resp = owner.post(f"{V}/api-keys", {"name": "sbx", "sandbox": True, "scopes": [
        "integrations:manage", "products:read", "products:write"]})
    assert resp.status_code == 201, resp.body
    sandbox = owner.as_key(resp.json["data"]["key"])
    live = connect(owner, erp)
    mine = connect(sandbox, erp)
    for call in (sandbox.post(f"{V}/integrations/{live}/sync"),
                 sandbox.get(f"{V}/integrations/{live}/status"),
                 sandbox.get(f"{V}/integrations/{live}/logs")):
        assert_error(call, 404, "NOT_FOUND")
    assert sync(sandbox, mine)["counts"]["created"] == N
    assert len(products(sandbox)) == N
    assert products(admin) == {}  # live data untouched


# -- where credentials go ----------------------------------------------------------

def test_a_new_address_needs_the_credentials_again(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp)   # the owner's ERP token is stored
    made = admin.post(f"{V}/api-keys", {"name": "narrow", "scopes": [
        "integrations:manage", "products:write"]}).json["data"]
    narrow = admin.as_key(made["key"])
    with Erp(N) as other:   # another origin (another port): someone else's host
        moved = {**config(erp), "baseUrl": other.url + "/api"}
        err = assert_error(narrow.put(f"{V}/integrations/{conn}", {"config": moved}),
                           422, "VALIDATION_ERROR")
        assert [d["field"] for d in err["details"]] == ["credentials"]
        tested = narrow.post(f"{V}/integrations/{conn}/test").json["data"]
        assert tested["ok"] and other.requests == []   # still the ERP, the token stayed
        # The same origin, another path: the credentials stay.
        same = {**config(erp), "baseUrl": erp.url + "/api/v2"}
        assert narrow.put(f"{V}/integrations/{conn}", {"config": same}).status_code == 200
        # Given again with the new address, they go there.
        other.expect_auth = ("Authorization", "Bearer the-other-token")
        resp = narrow.put(f"{V}/integrations/{conn}", {"config": moved, "credentials": {
            "auth": "bearer", "token": "the-other-token"}})
        assert resp.status_code == 200, resp.body
        assert narrow.post(f"{V}/integrations/{conn}/test").json["data"]["ok"]
        assert other.requests


def test_an_origin_is_scheme_host_and_port() -> None:
    from chalicelib.integrations.connector import origin

    assert origin("HTTPS://ERP.example.com/api") == origin("https://erp.example.com:443/x")
    assert origin("http://erp.example.com/") == ("http", "erp.example.com", 80)
    assert len({origin("https://erp.example.com"), origin("http://erp.example.com"),
                origin("https://erp.example.com:8443"), origin("https://erp.example.co")}) == 4


def test_oauth_tokens_are_cached_per_address_bounded_and_at_most_an_hour(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from chalicelib.integrations import outbound, rest
    from chalicelib.integrations.connector import Connection

    answers: list[dict[str, Any]] = []

    def token_endpoint(method: str, url: str, **_kw: Any) -> outbound.Answer:
        return outbound.Answer(200, {}, json.dumps(answers.pop(0)).encode())

    monkeypatch.setattr(outbound, "request", token_endpoint)
    monkeypatch.setattr(rest, "_TOKENS", {})
    creds = {"auth": "oauth2", "tokenUrl": "https://auth.example.com/token",
             "clientId": "c", "clientSecret": "s", "clientAuth": "basic"}

    def conn(base: str = "https://erp.example.com/api", **more: Any) -> Connection:
        return Connection(id="int_x", type="rest", name="x", owner="u", sandbox=False,
                          config={"baseUrl": base}, credentials={**creds, **more})

    answers += [{"access_token": "one", "expires_in": 1e300}]
    assert rest.REST._token(conn()) == "one"
    assert rest.REST._token(conn(base="https://erp.example.com/v2")) == "one"  # same origin
    (_token, until), = rest._TOKENS.values()
    assert until <= time.time() + rest.TOKEN_MAX_LIFE
    for base in ("https://evil.example.net/api", "https://erp.example.com:8443/api"):
        answers.append({"access_token": base, "expires_in": "NaN"})
        assert rest.REST._token(conn(base=base)) == base   # fetched anew for that address
    answers.append({"access_token": "elsewhere"})
    assert rest.REST._token(conn(tokenUrl="https://other.example.org/t")) == "elsewhere"
    assert len(rest._TOKENS) == 4 and not answers
    assert all(until <= time.time() + rest.TOKEN_MAX_LIFE
               for _t, until in rest._TOKENS.values())
    monkeypatch.setattr(rest, "MAX_TOKENS", 4)
    answers.append({"access_token": "fifth", "expires_in": 60})
    assert rest.REST._token(conn(clientId="d")) == "fifth"
    assert len(rest._TOKENS) == 4 and "fifth" in {t for t, _u in rest._TOKENS.values()}


def test_a_schedule_ends_with_the_credential_that_last_configured_it(admin: Api,
                                                                      erp: Erp) -> None:
    from chalicelib.core import clock
    from chalicelib.integrations import sync_schedule
    from tests.conftest import client_token

    every = {"everyMinutes": 15}

    def key(name: str) -> dict[str, Any]:
        return dict(admin.post(f"{V}/api-keys", {"name": name, "scopes": [
            "integrations:manage", "products:write"]}).json["data"])

    a, b = key("a"), key("b")
    conn = connect(admin.as_key(a["key"]), erp, schedule=every)
    resp = admin.as_key(b["key"]).put(f"{V}/integrations/{conn}", {"config": config(
        erp, schedule=every)})
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["createdBy"] == f"api_key:{a['id']}"   # the creator stays
    assert admin.delete(f"{V}/api-keys/{b['id']}").status_code == 204   # the ceiling's
    assert sync_schedule.run_due() == {"skipped": 1}
    # A client's connection: skipped while the client is disabled, and once deleted.
    resp = admin.post(f"{V}/oauth/clients", {"name": "crm", "scopes": [
        "integrations:manage", "products:write"]})
    cid, secret = resp.json["data"]["client_id"], resp.json["data"]["client_secret"]
    by_client = connect(admin.as_bearer(client_token(admin, cid, secret)["access_token"]),
                        erp, schedule=every)
    admin.patch(f"{V}/integrations/{conn}", {"status": "paused"})
    assert admin.put(f"{V}/oauth/clients/{cid}", {"active": False}).status_code == 200
    assert sync_schedule.run_due() == {"skipped": 1}
    assert admin.put(f"{V}/oauth/clients/{cid}", {"active": True}).status_code == 200
    assert sync_schedule.run_due() == {"started": 1}
    run_jobs()
    clock.advance(15 * 60)
    assert admin.delete(f"{V}/oauth/clients/{cid}").status_code == 204
    assert sync_schedule.run_due() == {"skipped": 1}
    assert admin.get(f"{V}/integrations/{by_client}/status").json["data"][
        "status"] == "completed"


# -- bounds of a run ---------------------------------------------------------------

def test_a_page_larger_than_its_page_size_fails_the_run(admin: Api, erp: Erp) -> None:
    pull = {**config(erp)["pull"], "pageSize": 4}   # the ERP answers pages of 5
    status = sync(admin, connect(admin, erp, pull=pull))
    assert status["status"] == "failed" and status["error"]["code"] == "VALIDATION_ERROR"
    assert "5 records in one page, more than the 4" in status["error"]["message"]
    assert products(admin) == {}


def test_a_run_stops_at_max_pages_and_when_cursors_go_round(
        admin: Api, erp: Erp, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.integrations import rest
    from chalicelib.integrations import sync as sync_kind
    from chalicelib.integrations.connector import Page

    monkeypatch.setattr(sync_kind, "MAX_PAGES", 2)
    status = sync(admin, connect(admin, erp))   # 3 pages of 5
    assert status["status"] == "failed"
    assert "more than 2 pages" in status["error"]["message"]  # after 2 of 3
    assert len(products(admin)) == 10
    monkeypatch.setattr(sync_kind, "MAX_PAGES", 10_000)
    following = {None: "a", "a": "b", "b": "c", "c": "a"}   # a -> b -> c -> a ...
    pulled: list[str | None] = []

    def going_round(self: Any, connection: Any, cursor: str | None) -> Page:
        pulled.append(cursor)
        return Page([], following[cursor])

    monkeypatch.setattr(rest.RestConnector, "pull", going_round)
    status = sync(admin, connect(admin, erp))
    assert status["status"] == "failed", status
    assert "cursor it gave before" in status["error"]["message"]
    assert pulled == [None, "a", "b", "c"]
