"""Integrations: the connector catalog and the connections' management (create, list,
get, PUT, PATCH, DELETE, test), their credentials (encrypted, never shown, rotated by
PUT), owner and sandbox isolation, and the S3 file drop type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tests.component.helpers import (
    assert_error,
    raw_item,
    resolve_example_com_publicly,
    set_env,
    snapshot,
)
from tests.component.test_log_lines import captured
from tests.conftest import Api, make_user

BASE = "/api/v1/integrations"
SECRET = "sk_live_Zq81xTopSecretValue42"
SECRET2 = "sk_live_Rotated9NewSecretValue77"
PASSWORD = "hunter2-but-longer"
BUCKET = "drops-bucket"


# -- a connector type with credentials and URLs, for these tests only ----------------

class VaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=None)
    baseUrl: str = Field(min_length=1)   # noqa: N815 - the wire name
    retries: int = Field(1, ge=0, le=5)
    endpoints: list[str] = Field(default_factory=list)


class VaultCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    apiKey: str = Field(min_length=12)   # noqa: N815
    password: str | None = None

    @field_validator("password")
    @classmethod
    def _echoing(cls, value: str | None) -> str | None:
        # A careless validator that puts the value in its message: the service scrubs it.
        if value is not None and value.startswith("bad"):
            raise ValueError(f"the password {value} is refused")
        return value


def vault_type() -> Any:
    from chalicelib.integrations.connector import PULL, ConnectorType, TestResult

    class Vault(ConnectorType):
        type = "test_vault"
        title = "Test vault"
        description = "For the tests."
        directions: ClassVar[frozenset[str]] = frozenset({PULL})
        config_model = VaultConfig
        credentials_model = VaultCredentials

        def test(self, connection: Any) -> Any:
            # A careless message with the key in it: the service scrubs it.
            key = connection.credentials["apiKey"]
            return TestResult(False, f"refused key {key}", {"sent": key, "n": 1})

    return Vault()


@pytest.fixture(autouse=True)
def _setup(monkeypatch: Any) -> Iterator[None]:
    from chalicelib.integrations import connector, types

    types.load_all()
    monkeypatch.setitem(connector.CONNECTORS, "test_vault", vault_type())
    resolve_example_com_publicly(monkeypatch)
    yield


def body(**over: Any) -> dict[str, Any]:
    return {"type": "test_vault", "name": "Vault", "config": {
        "baseUrl": "https://api.example.com/v1", "retries": 2},
        "credentials": {"apiKey": SECRET, "password": PASSWORD}, **over}


def create(api: Api, **over: Any) -> dict[str, Any]:
    resp = api.post(BASE, body(**over))
    assert resp.status_code == 201, resp.body
    return dict(resp.json["data"])


def stored(connection_id: str) -> dict[str, Any]:
    found = raw_item(f"INTEGRATION#{connection_id}", "INTEGRATION")
    assert found is not None
    return found


def audits(connection_id: str) -> list[dict[str, Any]]:
    return sorted((a for (pk, _), a in snapshot().items()
                   if pk.startswith("AUDIT#") and a.get("targetId") == connection_id),
                  key=lambda a: a["timestamp"])


def whole_table() -> str:
    """Every item of the table, access log and idempotency records included."""
    from chalicelib.store import table as store

    items: list[Any] = []
    kwargs: dict[str, Any] = {}
    while True:
        resp = store.table().scan(**kwargs)
        items += resp.get("Items", [])
        if not resp.get("LastEvaluatedKey"):
            return json.dumps(store.plain(items))
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def user(admin: Api, name: str, roles: list[str] | None = None) -> tuple[Api, str]:
    client, data = make_user(admin, name, roles or ["integrator"])
    return client, str(data["id"])


def sandbox_key(api: Api) -> Api:
    resp = api.post("/api/v1/api-keys", {"name": "sbx", "scopes": ["integrations:manage"],
                                         "sandbox": True})
    assert resp.status_code == 201, resp.body
    return api.as_key(resp.json["data"]["key"])


# -- catalog -------------------------------------------------------------------------

def test_catalog_lists_types_with_their_schemas(admin: Api) -> None:
    viewer, _ = user(admin, "vera", ["viewer"])
    resp = viewer.get(f"{BASE}/catalog")  # any signed-in caller: the types are public
    assert resp.status_code == 200, resp.body
    kinds = {k["type"]: k for k in resp.json["data"]}
    assert resp.json["meta"]["count"] == len(kinds)
    drop = kinds["s3_drop"]
    assert drop["directions"] == ["push"] and drop["template"] is False and drop["title"]
    assert set(drop["configSchema"]["properties"]) == {"bucket", "prefix", "push"}
    assert drop["configSchema"]["required"] == ["bucket"]
    assert drop["credentialsSchema"] is None
    vault = kinds["test_vault"]
    assert set(vault["credentialsSchema"]["properties"]) == {"apiKey", "password"}
    assert all({"configSchema", "credentialsSchema", "template", "directions"} <= set(k)
               for k in kinds.values())


def test_catalog_needs_a_caller(api: Api) -> None:
    assert_error(api.get(f"{BASE}/catalog"), 401, "AUTHENTICATION_ERROR")


# -- create, get, list, update, delete ------------------------------------------------

def test_create_get_list_update_delete(admin: Api) -> None:
    ivan, ivan_id = user(admin, "ivan")
    resp = ivan.post(BASE, body())
    assert resp.status_code == 201, resp.body
    data = resp.json["data"]
    assert resp.headers["Location"] == f"{BASE}/{data['id']}"
    assert data["id"].startswith("int_") and data["owner"] == ivan_id
    assert data["config"] == {"baseUrl": "https://api.example.com/v1", "retries": 2,
                              "endpoints": []}
    assert data["credentialsSet"] is True
    assert data["credentialFields"] == ["apiKey", "password"]
    assert data["status"] == "active" and data["version"] == 1 and data["sandbox"] is False
    assert "credentials" not in data and "credentialsEnc" not in data

    got = ivan.get(f"{BASE}/{data['id']}")
    assert got.status_code == 200 and got.json["data"] == data
    listed = ivan.get(BASE)
    assert [c["id"] for c in listed.json["data"]] == [data["id"]]
    assert listed.json["pagination"]["hasMore"] is False

    put = ivan.put(f"{BASE}/{data['id']}", {"name": "Vault 2", "config": {
        "baseUrl": "https://api.example.com/v2"}})
    assert put.status_code == 200, put.body
    assert put.json["data"]["name"] == "Vault 2" and put.json["data"]["version"] == 2
    assert put.json["data"]["config"]["baseUrl"] == "https://api.example.com/v2"
    assert put.json["data"]["config"]["retries"] == 1  # replaced whole: the default again
    assert put.json["data"]["credentialFields"] == ["apiKey", "password"]  # kept
    assert ivan.get(f"{BASE}/{data['id']}").json["data"] == put.json["data"]

    paused = ivan.patch(f"{BASE}/{data['id']}", {"status": "paused"})
    assert paused.status_code == 200 and paused.json["data"]["status"] == "paused"
    assert [c["id"] for c in ivan.get(f"{BASE}?status=paused").json["data"]] == [data["id"]]
    assert ivan.get(f"{BASE}?status=active").json["data"] == []
    assert ivan.get(f"{BASE}?type=s3_drop").json["data"] == []

    assert ivan.delete(f"{BASE}/{data['id']}").status_code == 204
    assert_error(ivan.get(f"{BASE}/{data['id']}"), 404, "NOT_FOUND")
    assert_error(ivan.delete(f"{BASE}/{data['id']}"), 404, "NOT_FOUND")
    assert raw_item(f"INTEGRATION#{data['id']}", "INTEGRATION") is None
    actions = [a["action"] for a in audits(data["id"])]
    assert actions == ["integration.create", "integration.update", "integration.update",
                       "integration.delete"]


def test_credentials_never_appear_in_answers_logs_audit_or_table(admin: Api) -> None:
    ivan, _ = user(admin, "ivan")
    with captured() as lines:
        answers = []
        made = ivan.post(BASE, body())
        cid = made.json["data"]["id"]
        answers += [made, ivan.get(f"{BASE}/{cid}"), ivan.get(BASE),
                    ivan.put(f"{BASE}/{cid}", {"credentials": {"apiKey": SECRET2}}),
                    ivan.post(f"{BASE}/{cid}/test"),
                    # errors: a bad credential, an echoing validator, a bad config
                    ivan.post(BASE, body(credentials={"apiKey": "shrt-7x"})),
                    ivan.post(BASE, body(credentials={"apiKey": SECRET,
                                                      "password": "bad" + PASSWORD})),
                    ivan.post(BASE, body(config={"baseUrl": 5})),
                    ivan.put(f"{BASE}/{cid}", {"credentials": {"apiKey": SECRET, "x": 1}}),
                    ivan.post(BASE, body(credentials=SECRET)),  # not even an object
                    ivan.post(BASE, body(credentials={"apiKey": [SECRET]}))]
        audited = json.dumps(audits(cid))
        answers.append(ivan.delete(f"{BASE}/{cid}"))
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 422, 422, 422, 422,
                                                422, 422, 204]
    logged = json.dumps(lines)
    assert lines  # the access lines at least: the capture worked
    for secret in (SECRET, SECRET2, PASSWORD, "shrt-7x"):
        for resp in answers:
            assert secret not in resp.body.decode()
        assert secret not in logged and secret not in audited
        if secret != "shrt-7x":
            assert secret not in whole_table()
    test_answer = answers[4].json["data"]
    assert test_answer["ok"] is False and test_answer["message"] == "refused key ***"
    assert test_answer["detail"] == {"sent": "***", "n": 1}
    echoed = answers[6].json["error"]["details"]
    assert echoed[0]["field"] == "credentials.password" and "***" in echoed[0]["message"]
    # the audit says which credentials were given, by name only
    assert json.loads(audited)[0]["changes"]["authFields"] == ["apiKey", "password"]


def test_put_rotates_credentials(admin: Api) -> None:
    from chalicelib.auth import keyring
    from chalicelib.integrations import repo

    ivan, _ = user(admin, "ivan")
    cid = create(ivan)["id"]
    before = stored(cid)
    kept = ivan.put(f"{BASE}/{cid}", {"name": "renamed"})
    assert kept.status_code == 200
    assert stored(cid)["credentialsEnc"] == before["credentialsEnc"]  # absent: kept

    resp = ivan.put(f"{BASE}/{cid}", {"credentials": {"apiKey": SECRET2}})
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["credentialFields"] == ["apiKey"]  # replaced whole
    after = stored(cid)
    assert after["credentialsEnc"] != before["credentialsEnc"]
    assert json.loads(keyring.decrypt(after["credentialsEnc"])) == {"apiKey": SECRET2}
    assert SECRET not in keyring.decrypt(after["credentialsEnc"])
    loaded = repo.load(cid)
    assert loaded is not None and loaded.credentials["apiKey"] == SECRET2
    assert after["version"] == 3 and resp.json["data"]["credentialsUpdatedAt"]
    rotation = audits(cid)[-1]
    assert rotation["changes"]["rotated"] is True
    assert rotation["changes"]["authFields"] == ["apiKey"]

    bad = ivan.put(f"{BASE}/{cid}", {"credentials": {"password": "x"}})
    assert_error(bad, 422, "VALIDATION_ERROR")
    assert {"field": "credentials.apiKey"}.items() <= bad.json["error"]["details"][0].items()
    assert stored(cid)["credentialsEnc"] == after["credentialsEnc"]  # refused: unchanged


def test_stale_version_is_a_conflict(admin: Api) -> None:
    ivan, _ = user(admin, "ivan")
    cid = create(ivan)["id"]
    assert ivan.patch(f"{BASE}/{cid}", {"name": "a", "version": 1}).status_code == 200
    stale = ivan.put(f"{BASE}/{cid}", {"credentials": {"apiKey": SECRET2}, "version": 1})
    assert_error(stale, 409, "CONFLICT")
    assert_error(ivan.patch(f"{BASE}/{cid}", {"status": "paused", "version": 1}), 409,
                 "CONFLICT")
    got = ivan.get(f"{BASE}/{cid}").json["data"]
    assert got["status"] == "active" and got["version"] == 2


def test_a_concurrent_change_is_retried_on_the_new_version(admin: Api, monkeypatch: Any
                                                           ) -> None:
    """The write is conditional on the version read: a change that lands between the
    read and the write makes the attempt read again (and keep the other's change)."""
    from chalicelib.integrations import repo, service
    from chalicelib.store import table as store

    ivan, _ = user(admin, "ivan")
    cid = create(ivan)["id"]
    real = repo.update_op
    raced: list[bool] = []

    def racing(item: dict[str, Any], changes: dict[str, Any], remove: tuple[str, ...] = ()
               ) -> dict[str, Any]:
        if not raced:
            raced.append(True)
            store.update(f"INTEGRATION#{cid}", "INTEGRATION", {"name": "theirs", "version": 2})
        return real(item, changes, remove)

    monkeypatch.setattr(service.repo, "update_op", racing)
    resp = ivan.patch(f"{BASE}/{cid}", {"status": "paused"})
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["version"] == 3 and resp.json["data"]["name"] == "theirs"
    assert stored(cid)["status"] == "paused" and stored(cid)["version"] == 3


# -- validation --------------------------------------------------------------------

def details(resp: Any) -> dict[str, str]:
    err = assert_error(resp, 422, "VALIDATION_ERROR")
    return {d["field"]: d["message"] for d in err["details"]}


def test_invalid_config_names_the_field(admin: Api) -> None:
    ivan, _ = user(admin, "ivan")
    before = snapshot()
    assert "config.retries" in details(ivan.post(BASE, body(config={
        "baseUrl": "https://api.example.com", "retries": "2"})))  # strict: not a number
    assert "config.retries" in details(ivan.post(BASE, body(config={
        "baseUrl": "https://api.example.com", "retries": 9})))
    assert details(ivan.post(BASE, body(config={"baseUrl": "https://api.example.com",
                                                "bogus": 1})))["config.bogus"] == "Unknown field."
    assert "config.baseUrl" in details(ivan.post(BASE, body(config={})))
    assert "credentials.apiKey" in details(ivan.post(BASE, body(credentials=None)))
    assert "type" in details(ivan.post(BASE, body(type="nope")))
    assert "type" in details(ivan.post(BASE, body(type="Not A Type")))
    assert "name" in details(ivan.post(BASE, body(name=5)))
    assert "extra" in details(ivan.post(BASE, body(extra=1)))
    assert "config" in details(ivan.post(BASE, body(config="https://api.example.com")))
    assert_error(ivan.post(BASE, raw="{not json", headers={"Content-Type": "application/json"}),
                 400, "VALIDATION_ERROR")
    assert snapshot().keys() - before.keys() <= {k for k in snapshot() if k[0].startswith(
        "AUDIT#")} and not any(k[0].startswith("INTEGRATION#") for k in snapshot())
    cid = create(ivan)["id"]
    assert_error(ivan.put(f"{BASE}/{cid}", {}), 422, "VALIDATION_ERROR")
    assert "status" in details(ivan.patch(f"{BASE}/{cid}", {"status": "disabled"}))
    assert "config.retries" in details(ivan.put(f"{BASE}/{cid}", {"config": {
        "baseUrl": "https://api.example.com", "retries": -1}}))


@pytest.mark.parametrize(("config", "field"), [
    ({"baseUrl": "http://169.254.169.254/latest/meta-data"}, "config.baseUrl"),
    ({"baseUrl": "http://10.0.0.7/api"}, "config.baseUrl"),
    ({"baseUrl": "http://localhost:8080/"}, "config.baseUrl"),
    ({"baseUrl": "http://2130706433/"}, "config.baseUrl"),
    ({"baseUrl": "file:///etc/passwd"}, "config.baseUrl"),
    ({"baseUrl": "https://api.example.com", "endpoints": ["https://ok.example.com",
                                                          "http://[::1]/"]},
     "config.endpoints.1"),
])
def test_ssrf_blocked_urls_are_refused(admin: Api, config: dict[str, Any], field: str) -> None:
    ivan, _ = user(admin, "ivan")
    resp = ivan.post(BASE, body(config=config))
    assert field in details(resp)
    assert not any(k[0].startswith("INTEGRATION#") for k in snapshot())
    cid = create(ivan)["id"]
    assert field in details(ivan.put(f"{BASE}/{cid}", {"config": config}))
    assert ivan.get(f"{BASE}/{cid}").json["data"]["config"]["baseUrl"] == \
        "https://api.example.com/v1"


def test_a_type_without_credentials_refuses_them(admin: Api, monkeypatch: Any) -> None:
    set_env(monkeypatch, GATEHOUSE_INTEGRATION_S3_BUCKETS=BUCKET)
    resp = admin.post(BASE, {"type": "s3_drop", "name": "drop", "config": {"bucket": BUCKET},
                             "credentials": {"accessKey": SECRET}})
    assert "credentials" in details(resp)
    assert SECRET not in resp.body.decode()


# -- who sees what --------------------------------------------------------------------

def test_another_owners_connection_is_not_found(admin: Api) -> None:
    ivan, ivan_id = user(admin, "ivan")
    olga, _ = user(admin, "olga")
    cid = create(ivan)["id"]
    theirs = create(olga)["id"]
    for resp in (olga.get(f"{BASE}/{cid}"), olga.put(f"{BASE}/{cid}", {"name": "x"}),
                 olga.patch(f"{BASE}/{cid}", {"status": "paused"}),
                 olga.post(f"{BASE}/{cid}/test"), olga.delete(f"{BASE}/{cid}"),
                 olga.get(f"{BASE}/int_nothing"), olga.get(f"{BASE}/..%2Fx")):
        assert_error(resp, 404, "NOT_FOUND")
    assert [c["id"] for c in olga.get(BASE).json["data"]] == [theirs]
    assert ivan.get(f"{BASE}/{cid}").json["data"]["name"] == "Vault"  # untouched
    # an admin sees and manages everyone's; the owner stays the owner
    assert {c["id"] for c in admin.get(BASE).json["data"]} == {cid, theirs}
    changed = admin.put(f"{BASE}/{cid}", {"name": "by admin"})
    assert changed.status_code == 200 and changed.json["data"]["owner"] == ivan_id
    assert stored(cid)["scopes"] == stored(theirs)["scopes"]  # the owner's ceiling kept


def test_missing_scope_is_forbidden(admin: Api) -> None:
    ivan, _ = user(admin, "ivan")
    cid = create(ivan)["id"]
    viewer, _ = user(admin, "vera", ["viewer"])
    for resp in (viewer.get(BASE), viewer.post(BASE, body()), viewer.get(f"{BASE}/{cid}"),
                 viewer.put(f"{BASE}/{cid}", {"name": "x"}), viewer.delete(f"{BASE}/{cid}"),
                 viewer.post(f"{BASE}/{cid}/test")):
        assert_error(resp, 403, "AUTHORIZATION_ERROR")
    key = ivan.post("/api/v1/api-keys", {"name": "ro", "scopes": ["orders:read"]})
    narrow = ivan.as_key(key.json["data"]["key"])
    assert_error(narrow.get(BASE), 403, "AUTHORIZATION_ERROR")


def test_the_creators_scopes_are_the_connections_ceiling(admin: Api) -> None:
    ivan, _ = user(admin, "ivan")
    key = ivan.post("/api/v1/api-keys", {"name": "k", "scopes": ["integrations:manage",
                                                                 "orders:read"]})
    narrow = ivan.as_key(key.json["data"]["key"])
    cid = create(narrow)["id"]
    creator = f"api_key:{key.json['data']['id']}"
    assert stored(cid)["scopes"] == ["integrations:manage", "orders:read"]
    assert stored(cid)["createdBy"] == stored(cid)["ceilingBy"] == creator
    # whoever points it somewhere else next sets the ceiling: here a narrower key
    key = ivan.post("/api/v1/api-keys", {"name": "n", "scopes": ["integrations:manage"]})
    narrower = ivan.as_key(key.json["data"]["key"])
    assert narrower.put(f"{BASE}/{cid}", {"config": {"baseUrl": "https://api.example.com/b"}}
                        ).status_code == 200
    assert stored(cid)["scopes"] == ["integrations:manage"]
    assert (stored(cid)["createdBy"], stored(cid)["ceilingBy"]) == (
        creator, f"api_key:{key.json['data']['id']}")
    assert narrower.patch(f"{BASE}/{cid}", {"name": "renamed"}).status_code == 200
    assert stored(cid)["scopes"] == ["integrations:manage"]  # a rename sets nothing


def test_an_ended_credentials_messaging_connection_sends_nothing(admin: Api) -> None:
    from dataclasses import replace

    from chalicelib.auth.owners import ended
    from chalicelib.core.errors import Forbidden
    from chalicelib.integrations import messaging, repo

    made = admin.post("/api/v1/api-keys", {"name": "mail", "scopes": [
        "integrations:manage", "notifications:send"]}).json["data"]
    cid = admin.as_key(made["key"]).post(BASE, {"type": "email_ses", "name": "mail",
                                                "config": {}}).json["data"]["id"]
    conn = repo.load(cid)
    assert conn is not None and conn.ceiling_by == f"api_key:{made['id']}"
    msg = {"to": "someone@example.com", "subject": "s", "body": "b"}
    assert messaging.TYPES["email"].push(replace(conn, sandbox=True), msg)["status"] == \
        "sandbox"
    assert ended(conn.ceiling_by) is None
    assert admin.delete(f"/api/v1/api-keys/{made['id']}").status_code == 204
    assert ended(conn.ceiling_by) == "revoked"
    with pytest.raises(Forbidden, match="revoked"):
        messaging.TYPES["email"].push(replace(conn, sandbox=True), msg)
    assert ended(f"api_key:{'key_' + 'a' * 12}") == "deleted"
    assert ended("client:admin") is None and ended("client:cli_gone") == "deleted"
    assert ended("user:anyone") is None


def test_sandbox_principals_reach_only_sandbox_connections(admin: Api) -> None:
    ivan, _ = user(admin, "ivan")
    live = create(ivan)["id"]
    sandbox = sandbox_key(ivan)
    mine = create(sandbox)
    assert mine["sandbox"] is True
    assert [c["id"] for c in sandbox.get(BASE).json["data"]] == [mine["id"]]
    for resp in (sandbox.get(f"{BASE}/{live}"), sandbox.put(f"{BASE}/{live}", {"name": "x"}),
                 sandbox.patch(f"{BASE}/{live}", {"status": "paused"}),
                 sandbox.post(f"{BASE}/{live}/test"), sandbox.delete(f"{BASE}/{live}")):
        assert_error(resp, 404, "NOT_FOUND")
    assert {c["id"] for c in ivan.get(BASE).json["data"]} == {live, mine["id"]}
    assert ivan.get(f"{BASE}/{live}").json["data"]["name"] == "Vault"


def test_delete_runs_the_hooks_and_audits(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.integrations import service

    seen: list[Any] = []
    monkeypatch.setattr(service, "ON_DELETE", [seen.append, lambda c: 1 / 0])
    ivan, _ = user(admin, "ivan")
    cid = create(ivan)["id"]
    assert ivan.delete(f"{BASE}/{cid}").status_code == 204  # a failing hook: still gone
    assert [c.id for c in seen] == [cid] and seen[0].credentials == {}
    assert audits(cid)[-1]["changes"] == {"type": "test_vault", "name": "Vault"}


# -- the S3 file drop -----------------------------------------------------------------

@pytest.fixture
def bucket(stack: None, monkeypatch: Any) -> str:
    from chalicelib.core import aws

    aws.client("s3").create_bucket(Bucket=BUCKET)
    set_env(monkeypatch, GATEHOUSE_INTEGRATION_S3_BUCKETS=f"{BUCKET}/drops/{{owner}}/")
    return BUCKET


def drop(api: Api, **config: Any) -> Any:
    return api.post(BASE, {"type": "s3_drop", "name": "drop",
                           "config": {"bucket": BUCKET, **config}})


def test_s3_drop_only_into_allowed_buckets_and_prefixes(admin: Api, bucket: str,
                                                        monkeypatch: Any) -> None:
    ivan, ivan_id = user(admin, "ivan")
    olga, olga_id = user(admin, "olga")
    assert "config.bucket" in details(ivan.post(BASE, {"type": "s3_drop", "name": "d",
                                                       "config": {"bucket": "elsewhere"}}))
    from chalicelib.core.settings import get_settings
    platform = get_settings().bucket_name
    assert "config.bucket" in details(ivan.post(BASE, {"type": "s3_drop", "name": "d",
                                                       "config": {"bucket": platform}}))
    assert "config.bucket" in details(ivan.post(BASE, {"type": "s3_drop", "name": "d",
                                                       "config": {"bucket": "Bad_Name"}}))
    assert "config.prefix" in details(drop(ivan, prefix=f"drops/{olga_id}/x"))  # another's
    assert "config.prefix" in details(drop(ivan))
    assert "config.prefix" in details(drop(ivan, prefix=f"drops/{ivan_id}/../{olga_id}"))
    made = drop(ivan, prefix=f"drops/{ivan_id}/orders")
    assert made.status_code == 201, made.body
    assert made.json["data"]["credentialsSet"] is False
    assert drop(olga, prefix=f"drops/{olga_id}").status_code == 201
    from chalicelib.integrations import types
    entry = types.get("s3_drop").catalog_entry()
    assert entry["allowedBuckets"] == [f"{BUCKET}/drops/{{owner}}/"]


def test_s3_drop_pushes_each_record_once_and_tests_its_bucket(admin: Api, bucket: str,
                                                              monkeypatch: Any) -> None:
    from chalicelib.core import aws
    from chalicelib.integrations import repo, types

    ivan, ivan_id = user(admin, "ivan")
    cid = drop(ivan, prefix=f"drops/{ivan_id}/orders").json["data"]["id"]
    conn = repo.load(cid)
    assert conn is not None
    kind = types.get("s3_drop")
    record = {"id": "evt_123", "event": "order.created", "data": {"total": 12.5}}
    first = kind.push(conn, record)
    key = f"drops/{ivan_id}/orders/evt_123.json"
    assert first == {"bucket": BUCKET, "key": key, "duplicate": False}
    got = aws.client("s3").get_object(Bucket=BUCKET, Key=key)
    assert json.loads(got["Body"].read()) == record
    assert got["ContentType"] == "application/json"
    assert kind.push(conn, {**record, "data": {"total": 0}})["duplicate"] is True
    assert json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()) \
        == record  # never overwritten
    odd = kind.push(conn, {"id": "../../etc/passwd"})  # not a safe name: a fresh id
    assert odd["key"].startswith(f"drops/{ivan_id}/orders/rec_")

    tested = ivan.post(f"{BASE}/{cid}/test")
    assert tested.status_code == 200 and tested.json["data"]["ok"] is True
    aws.client("s3").delete_object(Bucket=BUCKET, Key=key)
    aws.client("s3").delete_object(Bucket=BUCKET, Key=odd["key"])
    aws.client("s3").delete_bucket(Bucket=BUCKET)
    gone = ivan.post(f"{BASE}/{cid}/test").json["data"]
    assert gone["ok"] is False and gone["message"] == "The bucket does not exist."
    # The operator takes the bucket off the list: its drops stop.
    set_env(monkeypatch, GATEHOUSE_INTEGRATION_S3_BUCKETS="other-bucket")
    assert ivan.post(f"{BASE}/{cid}/test").json["data"]["ok"] is False
    from chalicelib.core.errors import Unprocessable
    with pytest.raises(Unprocessable):
        kind.push(conn, record)


def test_a_connections_repr_never_shows_its_credentials() -> None:
    from chalicelib.integrations.connector import Connection, dig

    conn = Connection(id="int_x", type="test_vault", name="v", owner="u", sandbox=False,
                      config={"baseUrl": "https://api.example.com"},
                      credentials={"apiKey": SECRET})
    assert SECRET not in repr(conn) and SECRET not in str(conn) and "int_x" in repr(conn)
    doc = {"a": [{"b": 1}, {"b": 2}]}
    assert (dig(doc, "a.1.b"), dig(doc, "a.\u00b2.b"), dig(doc, "a.9"), dig(doc, "")) == (
        2, None, None, doc)
