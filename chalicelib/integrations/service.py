"""Connections' management: the catalog, create, list, get, replace (PUT), change
(PATCH), delete and test.

A connection's config is validated by its type's config_model, then by the type's own
check (an allow-list), and every URL in it passes the webhooks' SSRF guard; credentials
are validated by the type's credentials_model, stored encrypted (keyring) and never
answered, logged, audited or echoed in an error: answers say which credential fields are
set (`credentialFields`), not even a part of their values (a fragment of a short key is
a real part of it, and the names say enough to tell what is set). Another owner's
connection is not there (404), an admin sees all, a sandbox principal only sandbox ones.
Each change and its audit entry are one transaction, conditional on the version read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import AppError, Conflict, NotFound, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.events import audit
from chalicelib.exchange import entities
from chalicelib.integrations import push_config, repo, types
from chalicelib.integrations.connector import (
    PULL,
    Connection,
    ConnectorType,
    TestResult,
    origins,
)
from chalicelib.integrations.models import (
    ChangeConnection,
    CreateConnection,
    ListConnections,
    ReplaceConnection,
)
from chalicelib.store import table as store
from chalicelib.store.optimistic import LostRace, retry
from chalicelib.webhooks import ssrf

CONNECTION_ID_RE = re.compile(r"^int_[0-9a-hjkmnp-tv-z]{26}$")
_ATTEMPTS = 3
_CHANGED = "The connection changed meanwhile; read it again and retry."
_SECRET_MIN = 3  # shorter leaves are not looked for in messages (they would match anything)
_REENTER = "re-enter the credentials when the address changes"

# Called with the deleted connection (no credentials) after its deletion committed: the
# sync side cancels its pending job here (integrations/sync*.py registers itself).
ON_DELETE: list[Callable[[Connection], None]] = []


def on_delete(hook: Callable[[Connection], None]) -> Callable[[Connection], None]:
    ON_DELETE.append(hook)
    return hook


# -- views -------------------------------------------------------------------------

def catalog() -> list[dict[str, Any]]:
    return [kind.catalog_entry() for _name, kind in sorted(types.load_all().items())]


def present(item: dict[str, Any]) -> dict[str, Any]:
    """What its owner sees: never a credential, only which credential fields are set."""
    return {
        "id": item["id"], "type": item["type"], "name": item["name"],
        "status": item.get("status", "active"), "config": item.get("config") or {},
        "credentialsSet": bool(item.get("credentialsEnc")),
        "credentialFields": list(item.get("credentialFields") or []),
        "credentialsUpdatedAt": item.get("credentialsUpdatedAt"),
        "sandbox": bool(item.get("sandbox")), "owner": item["owner"],
        "createdBy": item.get("createdBy"), "createdAt": item.get("createdAt"),
        "updatedAt": item.get("updatedAt"), "version": int(item.get("version", 1)),
        "lastPushError": item.get("lastPushError"),
    }


def visible(actor: Principal, connection_id: str) -> dict[str, Any]:
    """The connection's item if the actor may see it (its owner's or an admin's, in the
    actor's namespace), else 404: the rule keys and clients follow."""
    from chalicelib.auth.delegation import visible as delegated

    item = repo.get_item(connection_id, consistent=True) \
        if CONNECTION_ID_RE.match(connection_id) else None
    return delegated(actor, item, "integration")


def connection(actor: Principal, connection_id: str) -> Connection:
    """The caller's connection (404 as `visible`), without credentials: for the sync,
    logs and status routes."""
    return repo.of_item(visible(actor, connection_id))


# -- validation --------------------------------------------------------------------

def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for inner in value.values():
            yield from _leaves(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def scrub(value: Any, secrets: dict[str, Any]) -> Any:
    """`value` (a message, a detail) with every credential value in it replaced."""
    found = sorted({s for s in _leaves(secrets) if len(s) >= _SECRET_MIN}, key=len,
                   reverse=True)
    if not found:
        return value
    if isinstance(value, str):
        for secret in found:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return "***" if str(value) in found else value


def _validated(model: Any, data: dict[str, Any], field: str, secret: bool) -> dict[str, Any]:
    """The data as the type's model reads it (defaults filled, aliases as declared);
    422 naming each bad field as `<field>.<path>`, never echoing a credential."""
    from pydantic import ValidationError

    try:
        # JSON mode, strictly, as the registry reads bodies: "100" is not a number.
        parsed = model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        details = []
        for err in exc.errors(include_url=False, include_input=False, include_context=False):
            msg = "Unknown field." if err["type"] == "extra_forbidden" else str(err["msg"])
            details.append({"field": ".".join([field, *(str(p) for p in err["loc"])]),
                            "message": scrub(msg, data) if secret else msg,
                            "type": err["type"]})
        raise Unprocessable(f"The {field} is not valid for this connector type.",
                            details=details) from None
    # Credentials: only those given a value are kept (and named in credentialFields).
    return dict(parsed.model_dump(mode="json", by_alias=True, exclude_none=secret))


def _config(kind: ConnectorType, data: dict[str, Any], owner: str) -> dict[str, Any]:
    config = _validated(kind.config_model, data, "config", secret=False)
    kind.check(config, owner)
    _guard_urls(kind.urls(config), "config")
    return config


def _guard_urls(urls: list[tuple[str, str]], where: str) -> None:
    """Every address the platform will call passes the SSRF guard when it is set, not
    only when it is called (an OAuth token URL sits in the credentials)."""
    for path, url in urls:
        field = f"{where}.{path}"
        try:
            ssrf.check_registration(url)
        except ssrf.BlockedTarget as exc:
            raise Unprocessable(f"The URL in {field} is not allowed: {exc.reason}.",
                                details=[{"field": field, "message": exc.reason}]) from None


def _may_write_target(actor: Principal, kind: ConnectorType, config: dict[str, Any]) -> None:
    """A config that pulls into a resource needs the caller's write scope on it (as a
    sync start does): a connection is no way around a scope one lacks."""
    resource = config.get("resource")
    if PULL in kind.directions and config.get("pull") is not None \
            and isinstance(resource, str) and resource:
        entities.require(actor, resource, "write", "Pulling into")


def _credentials(kind: ConnectorType, data: dict[str, Any] | None) -> dict[str, Any]:
    if kind.credentials_model is None:
        if data:
            raise Unprocessable(f"A {kind.type} connection takes no credentials.",
                                details=[{"field": "credentials",
                                          "message": "This type has no credentials."}])
        return {}
    credentials = _validated(kind.credentials_model, data or {}, "credentials", secret=True)
    _guard_urls(kind.urls(credentials), "credentials")
    return credentials


def _audited(config: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """Audit changes: the config (masked further by audit.entry), credential field names
    as `authFields` (a name that the mask lets through), never a credential value."""
    out = {k: v for k, v in more.items() if v is not None}
    if config is not None:
        out["config"] = config
    return out


def _transact(ops: list[dict[str, Any]]) -> None:
    try:
        store.transact(ops)
    except store.TransactionConflict as exc:
        raise LostRace from exc


def _check_version(item: dict[str, Any], version: int | None) -> None:
    current = int(item.get("version", 1))
    if version is not None and version != current:
        raise Conflict(f"The connection is at version {current}, not {version}: read it "
                       "again and retry.")


# -- management --------------------------------------------------------------------

def create(actor: Principal, body: CreateConnection) -> dict[str, Any]:
    kind = types.get(body.type)
    config = _config(kind, body.config, actor.owner)
    _may_write_target(actor, kind, config)
    push_config.check(actor, actor.owner, config)
    credentials = _credentials(kind, body.credentials)
    stamp = clock.iso()
    conn = Connection(
        id=ids.new_id("int"), type=kind.type, name=body.name, owner=actor.owner,
        sandbox=actor.sandbox, config=config, credentials=credentials,
        created_by=actor.describe(), scopes=tuple(sorted(actor.scopes)),
        ceiling_by=actor.describe(),
        created_at=stamp, updated_at=stamp)
    op = repo.put_op(conn)
    noted = audit.entry(actor, "integration.create", "integration", conn.id, _audited(
        config, type=kind.type, name=body.name, sandbox=actor.sandbox,
        authFields=sorted(credentials)), owner=actor.owner)
    try:
        _transact([op, audit.put_op(noted), *repo.push_ops(None, op["Put"]["Item"])])
    except LostRace:
        raise Conflict("An integration with this id already exists; try again.") from None
    return present(op["Put"]["Item"])


def listing(actor: Principal, query: ListConnections
            ) -> tuple[list[dict[str, Any]], str | None]:
    def wanted(item: dict[str, Any]) -> bool:
        return ((not actor.sandbox or bool(item.get("sandbox")))
                and (query.type is None or item.get("type") == query.type)
                and (query.status is None or item.get("status", "active") == query.status))

    filtered = actor.sandbox or query.type is not None or query.status is not None
    items, cursor = repo.listing(None if actor.is_admin else actor.owner, cursor=query.cursor,
                                 limit=query.per_page, item_filter=wanted if filtered else None)
    return [present(i) for i in items], cursor


def get(actor: Principal, connection_id: str) -> dict[str, Any]:
    return present(visible(actor, connection_id))


def _update(actor: Principal, connection_id: str, version: int | None, action: str,
            changes_of: Callable[[dict[str, Any]], tuple[dict[str, Any], tuple[str, ...],
                                                         dict[str, Any]]]
            ) -> dict[str, Any]:
    """Read, compute (changes, removals, what the audit notes), write on condition that
    the version is still the one read; again on a lost race."""

    def attempt() -> dict[str, Any]:
        item = visible(actor, connection_id)
        _check_version(item, version)
        changes, remove, noted = changes_of(item)
        if not changes and not remove:
            return present(item)
        changes["updatedAt"] = clock.iso()
        entry = audit.entry(actor, action, "integration", connection_id, noted,
                            owner=str(item["owner"]))
        after = {k: v for k, v in {**item, **changes}.items() if k not in remove}
        _transact([repo.update_op(item, changes, remove), audit.put_op(entry),
                   *repo.push_ops(item, after)])
        return present({**after, "version": int(item.get("version", 1)) + 1})

    return retry(attempt, attempts=_ATTEMPTS, conflict=_CHANGED)


def _keep_credentials_home(kind: ConnectorType, item: dict[str, Any], config: dict[str, Any],
                           credentials: dict[str, Any] | None) -> None:
    """Stored credentials go only where they were given for: a config that points the
    connection at another origin (scheme, host, port) needs them given again (whoever
    may change the address could otherwise send the owner's secret to a host of theirs)."""
    if credentials is not None or not item.get("credentialsEnc"):
        return
    if origins(kind, dict(item.get("config") or {})) != origins(kind, config):
        raise Unprocessable("The connection's address changes: give its credentials again "
                            "with the new config.",
                            details=[{"field": "credentials", "message": _REENTER}])


def replace(actor: Principal, connection_id: str, body: ReplaceConnection) -> dict[str, Any]:
    """PUT: name, config and credentials, each replaced whole when given. New
    credentials are encrypted and replace the old ones (a rotation); absent or null
    credentials stay as they are."""
    first = visible(actor, connection_id)
    kind = types.get(str(first["type"]))  # a connection's type never changes
    # Validated (and DNS-checked) once, not at every attempt of the loop.
    config = _config(kind, body.config, str(first["owner"])) if body.config is not None \
        else None
    if config is not None:
        _may_write_target(actor, kind, config)
        push_config.check(actor, str(first["owner"]), config, first.get("scopes") or ())
    credentials = _credentials(kind, body.credentials) if body.credentials is not None \
        else None

    def changes_of(item: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...],
                                                  dict[str, Any]]:
        changes: dict[str, Any] = {}
        remove: tuple[str, ...] = ()
        if body.name is not None and body.name != item["name"]:
            changes["name"] = body.name
        if config is not None:
            _keep_credentials_home(kind, item, config, credentials)
            changes["config"] = config
        if credentials:
            changes.update(repo.credential_attrs(credentials, clock.iso()))
        elif credentials is not None:  # {} accepted by the type: no credentials at all
            remove = repo.CREDENTIAL_ATTRS
        if (config is not None or credentials is not None) and actor.owner == item["owner"]:
            # Who points the connection somewhere sets the ceiling of what its syncs do
            # (an admin acting on another's connection leaves the owner's), and what it
            # does ends with that principal (owners.ended), not with the creator.
            changes["scopes"] = sorted(actor.scopes)
            changes["ceilingBy"] = actor.describe()
        noted = _audited(config, name=changes.get("name"),
                         authFields=sorted(credentials) if credentials is not None else None)
        if credentials is not None:
            noted["rotated"] = True
        return changes, remove, noted

    return _update(actor, connection_id, body.version, "integration.update", changes_of)


def change(actor: Principal, connection_id: str, body: ChangeConnection) -> dict[str, Any]:
    """PATCH: rename, pause (`status: paused`) or resume."""

    def changes_of(item: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...],
                                                  dict[str, Any]]:
        changes: dict[str, Any] = {}
        if body.name is not None and body.name != item["name"]:
            changes["name"] = body.name
        if body.status is not None and body.status != item.get("status", "active"):
            changes["status"] = body.status
        return changes, (), dict(changes)

    return _update(actor, connection_id, body.version, "integration.update", changes_of)


def delete(actor: Principal, connection_id: str) -> None:
    """The connection and its audit entry; then the ON_DELETE hooks (its pending sync
    ends). A hook that fails is logged: the connection is gone either way, and a sync
    that finds it gone stops."""
    item = visible(actor, connection_id)
    entry = audit.entry(actor, "integration.delete", "integration", connection_id,
                        {"type": item["type"], "name": item["name"]}, owner=str(item["owner"]))
    try:
        _transact([repo.delete_op(connection_id), audit.put_op(entry),
                   *repo.push_ops(item, None)])
    except LostRace:
        raise NotFound("No such integration.") from None
    gone = repo.of_item(item)
    for hook in ON_DELETE:
        try:
            hook(gone)
        except Exception:  # noqa: BLE001 - the deletion stands; the hook's own job checks
            from chalicelib.core.logging import get_logger

            get_logger().exception("integration delete hook failed",
                                   extra={"integrationId": connection_id})


def run_test(actor: Principal, connection_id: str) -> dict[str, Any]:
    """The type's own check that it reaches the other side (a paused connection too).
    Whatever it answers is cleared of credential values before it is shown."""
    conn = repo.of_item(visible(actor, connection_id), decrypt=True)
    kind = types.get(conn.type)
    try:
        result = kind.test(conn)
    except AppError as exc:
        result = TestResult(False, exc.message)
    except Exception as exc:  # noqa: BLE001 - a test answers, it does not fail the request
        from chalicelib.core.logging import get_logger

        get_logger().warning("integration test raised", extra={
            "integrationId": conn.id, "error": type(exc).__name__})
        result = TestResult(False, "The test failed unexpectedly.")
    answer = {"ok": bool(result.ok), "message": scrub(result.message, conn.credentials),
              "detail": scrub(result.detail, conn.credentials), "testedAt": clock.iso()}
    audit.record(actor, "integration.test", "integration", conn.id, {"ok": answer["ok"]},
                 owner=conn.owner)
    return answer
