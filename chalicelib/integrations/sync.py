"""The sync job (kind `sync`): a connection's remote records pulled page by page into
our resource.

A step is one page: pulled (the connector retries transient failures with backoff),
then each record mapped, checked by the resource's create model (as a POST would be)
and upserted by its natural key through the resource service (the create or update the
API would make: its own transaction, audit entry and event):

- no record with that key: created;
- a record: the fields whose values differ are the candidates. A field the connection
  is the source of truth for takes the remote's value; any other takes it only if the
  remote record is newer (`updatedAtField` against our `updatedAt`; a remote without
  that time is taken as newer). Nothing to change: skipped, nothing written, so a second
  run over unchanged data writes nothing.

After the page its log entries (every record but the unchanged ones) and the checkpoint
(the next cursor, the counts, the consistency sums) are saved. A worker that dies
mid-page redoes the page: the records it wrote are found by their keys and equal, so
they are skipped, never created twice.

Incremental runs: with `pull.since` configured, a run started after a completed one
(whose config, as far as it decides what is pulled, is unchanged) sends that run's start
minus `overlapSeconds` as the since parameter on every page (job params `mode`,
`since`); the mark is the start of the last completed run (our clock), not the newest
remote time seen, so records changed during a run and a remote clock a little behind are
not missed. Only a completed run with no failed record moves it (SyncKind.finished;
`markKept` in the status says why it stayed); `{"full": true}` ignores it. The
consistency check of such a run covers the records it pulled (`scope`).

The consistency check runs as it goes: for each key seen, a sha256 of the remote
record's mapped values and one of ours after the run (the same fields, as the API
presents them), summed (XOR) on each side; the result gives both counts and sums, and
the keys that differ (a record that failed, a field where ours was newer).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from chalicelib.core import clock
from chalicelib.core.errors import AppError
from chalicelib.events import outbox
from chalicelib.exchange import entities
from chalicelib.exchange.imports import rows
from chalicelib.exchange.imports.kind import principal_of
from chalicelib.integrations import repo as connections
from chalicelib.integrations import sync_store
from chalicelib.jobs import kinds
from chalicelib.jobs.kinds import JobFailed, Kind, Run, Step
from chalicelib.jobs.model import Job
from chalicelib.resources import repo as records
from chalicelib.resources import service
from chalicelib.resources.declaration import Resource

if TYPE_CHECKING:  # the connector and its HTTP client load where a sync runs or starts
    from chalicelib.integrations.rest import RestConnector
    from chalicelib.integrations.rest_models import RestConfig

ID_PREFIX = "syn"
MAX_LOG = 5000        # entries kept per run; beyond, counted only
MAX_PAGES = 10_000    # pages of one run: a remote that never ends fails the run
SEEN = 64             # recent cursors remembered (hashed) to tell a remote going round
SAMPLE = 20           # differing keys named in the consistency result
ZERO = "0" * 64


def connector_of(connection: connections.Connection) -> RestConnector:
    from chalicelib.integrations import presets  # noqa: F401 - registers rest and presets
    from chalicelib.integrations.connector import connector_type
    from chalicelib.integrations.rest import RestConnector

    kind = connector_type(connection.type)
    if not isinstance(kind, RestConnector):
        from chalicelib.integrations.connector import Unsupported

        raise Unsupported(f"A {connection.type} integration does not sync records.")
    return kind


def fingerprint(cfg: RestConfig) -> str:
    """What decides which records a pull gets and how they land (the mark of an
    incremental pull holds only for the config it was made with)."""
    pull = cfg.pull.model_dump(by_alias=True, exclude={"since"}) if cfg.pull else None
    what = cfg.model_dump(by_alias=True, include={
        "base_url", "resource", "mapping", "natural_key", "updated_at_field",
        "source_of_truth"})
    text = json.dumps([what, pull], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _digest(key: str, values: dict[str, Any]) -> int:
    text = json.dumps([key.lower(), values], sort_keys=True, separators=(",", ":"),
                      default=str)
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def _epoch(stamp: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _problem(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "record"
        what = "a value is required" if err["type"] == "missing" else str(err["msg"])
        parts.append(f"{where}: {what}")
    return "; ".join(parts)


class SyncRun(Run):
    def __init__(self, job: Job) -> None:
        self.job = job
        found = connections.load(str(job.params["connectionId"]))
        if found is None:
            raise JobFailed("NOT_FOUND", "The integration was deleted.")
        if found.status != "active":  # checked again by each invocation of a long run
            raise JobFailed("CONFLICT", "The integration was paused; the sync stopped.")
        self.conn = found
        self.kind = connector_of(found)
        try:
            self.cfg: RestConfig = self.kind.config(found)
        except ValidationError:
            raise JobFailed("VALIDATION_ERROR", "The integration's config is no longer "
                            "valid for its type; correct it and sync again.") from None
        if self.cfg.pull is None or self.cfg.resource is None:
            raise JobFailed("VALIDATION_ERROR", "The integration has no pull configured.")
        since = job.params.get("since")
        self.since = clock.parse_iso(str(since)) if since else None
        started_for = job.params.get("resource")
        if self.cfg.resource != started_for:
            # The scopes were checked for the resource the run started with: it writes
            # there or nowhere.
            raise JobFailed("CONFLICT", f"The integration's resource changed from "
                            f"{started_for} to {self.cfg.resource} since this sync started; "
                            "it stopped. Start a new sync to pull into the new resource.")
        self.res: Resource = entities.entity(self.cfg.resource)
        self.key = self.cfg.key(self.res)
        # Records go where the connection lives (a sandbox connection: sandbox data).
        self.actor = replace(principal_of(job), sandbox=found.sandbox)
        self.ns = service.namespace(self.actor)
        self.point: dict[str, Any] = dict(job.checkpoint or {
            "cursor": None, "page": 0, "records": 0, "created": 0, "updated": 0,
            "skipped": 0, "unchanged": 0, "failed": 0, "logged": 0, "logTruncated": False,
            "remote": {"count": 0, "sum": ZERO}, "ours": {"count": 0, "sum": ZERO},
            "differing": 0, "differingKeys": [], "seen": []})

    def suspend(self) -> dict[str, Any]:
        return self.point  # every step ends at a checkpoint

    def step(self) -> Step:
        from chalicelib.integrations.outbound import RemoteError

        p = self.point
        done = (f"{p['page']} page(s), {p['records']} record(s) were synced before it; a "
                "new sync skips what is unchanged.")
        if int(p["page"]) >= MAX_PAGES:
            raise JobFailed("VALIDATION_ERROR", f"The remote system gave more than "
                            f"{MAX_PAGES} pages; the sync stopped. {done}")
        try:
            page = (self.kind.pull(self.conn, p["cursor"]) if self.since is None
                    else self.kind.pull(self.conn, p["cursor"], since=self.since))
        except RemoteError as exc:
            code = "SERVICE_UNAVAILABLE" if exc.transient else "VALIDATION_ERROR"
            raise JobFailed(code, f"The remote system failed: {exc.message}. {done}") from None
        seen = list(p.get("seen") or [])   # absent from a checkpoint of an older run
        if page.cursor is not None:
            mark = hashlib.sha256(page.cursor.encode()).hexdigest()[:16]
            if mark in seen:
                raise JobFailed("VALIDATION_ERROR", "The remote system answered a next "
                                "cursor it gave before in this run (its pages go round); "
                                f"the sync stopped. {done}")
            seen = [*seen, mark][-SEEN:]
        with outbox.deferred():  # the page's events published together at its end
            outcomes = self._apply(page.records)
        room = max(0, MAX_LOG - int(p["logged"]))
        logged = [(i, o) for i, o in enumerate(outcomes) if o.get("action")]
        sync_store.write_log(self.conn.id, self.job.id, int(p["page"]), logged[:room])
        p = self.point = {
            **p, "cursor": page.cursor, "page": int(p["page"]) + 1, "seen": seen,
            "logged": int(p["logged"]) + min(room, len(logged)),
            "logTruncated": bool(p["logTruncated"]) or len(logged) > room}
        if page.cursor is None:
            return Step(int(p["records"]), done=True, result=self._result())
        return Step(int(p["records"]), checkpoint=p)

    # -- one page ----------------------------------------------------------------------
    def _apply(self, raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each record's outcome, in the page's order: {recordKey, action, reason,
        fields} (action None: unchanged, not logged)."""
        res, key = self.res, self.key
        ready: list[tuple[int, str, Any, dict[str, Any]]] = []
        outcomes: list[dict[str, Any]] = [{} for _ in raws]
        for i, raw in enumerate(raws):
            mapped = self.kind.map_in(self.conn, raw)
            value = mapped.get(key)
            if value is None or isinstance(value, dict | list) or not str(value).strip():
                outcomes[i] = self._count("failed", None, f"no {key} in the record")
                continue
            text = str(value).strip()
            try:
                body = res.create.model_validate(mapped)
            except ValidationError as exc:
                outcomes[i] = self._count("failed", text, _problem(exc))
                self._consistency(text, mapped, None)
                continue
            ready.append((i, text, body, raw))
        ids = rows.targets(res, self.ns, key, [t for _, t, _, _ in ready]) if ready else []
        ours = records.load_many(res, self.ns, [t for t in ids if t])
        seen: set[str] = set()
        creating: list[tuple[int, str, dict[str, Any], service.Prepared]] = []
        for (i, text, body, raw), target in zip(ready, ids, strict=True):
            if text.lower() in seen:
                outcomes[i] = self._count("failed", text, f"this {key} is in the page "
                                          "more than once; the first was applied")
                continue
            seen.add(text.lower())
            theirs = {k: service.stored(v) for k, v
                      in body.model_dump(by_alias=True, exclude_unset=True).items()}
            current = ours.get(target) if target else None
            if current is not None:
                outcomes[i] = self._update(text, body, raw, theirs, target, current.record)
                continue
            try:
                creating.append((i, text, theirs, service.prepare_create(res, self.actor,
                                                                         body)))
            except AppError as exc:
                outcomes[i] = self._failed(text, exc, theirs, None)
        for i, outcome in self._create(creating):
            outcomes[i] = outcome
        return outcomes

    def _create(self, creating: list[tuple[int, str, dict[str, Any], service.Prepared]]
                ) -> list[tuple[int, dict[str, Any]]]:
        """The page's new records, several to a transaction (a transaction per record
        took most of a first sync's time); one refused (its key taken meanwhile) fails
        alone."""
        refused = dict(service.create_batched(self.res, self.actor,
                                              [c[3] for c in creating]))
        return [(i, self._failed(text, refused[n], theirs, None) if n in refused
                 else self._created(text, theirs, prep))
                for n, (i, text, theirs, prep) in enumerate(creating)]

    def _created(self, text: str, theirs: dict[str, Any],
                 prep: service.Prepared) -> dict[str, Any]:
        self._consistency(text, self.res.present(theirs), prep.presented)
        return self._count("created", text, "new", sorted(theirs))

    def _failed(self, text: str, exc: AppError, theirs: dict[str, Any],
                ours: dict[str, Any] | None) -> dict[str, Any]:
        self._consistency(text, self.res.present(theirs),
                          None if ours is None else self.res.present(ours))
        field = next((d.get("field") for d in exc.details if d.get("field")), None)
        return self._count("failed", text, exc.message + (f" ({field})" if field else ""))

    def _update(self, text: str, body: Any, raw: dict[str, Any], theirs: dict[str, Any],
                target: str | None, ours: dict[str, Any]) -> dict[str, Any]:
        res = self.res
        changes, kept = self._decide(theirs, ours, raw)
        if not changes:
            self._consistency(text, res.present(theirs), res.present(ours))
            if kept:
                return self._count("skipped", text, "ours is newer", kept)
            return self._count("unchanged", text, "")
        given = body.model_dump(by_alias=True, exclude_unset=True)
        try:
            change = rows.update_body(res, {k: given[k] for k in changes})
            written = service.update(res, self.actor, str(target), change)
        except AppError as exc:
            return self._failed(text, exc, theirs, ours)
        self._consistency(text, res.present(theirs), written)
        reason = "changed" + (f"; ours is newer for {', '.join(kept)}" if kept else "")
        return self._count("updated", text, reason, changes)

    def _decide(self, theirs: dict[str, Any], ours: dict[str, Any],
                raw: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(fields to take from the remote, fields where ours is newer and stays)."""
        differ = [f for f, v in theirs.items()
                  if f not in (self.key, self.res.id_field) and ours.get(f) != v]
        if not differ:
            return [], []
        their_time = self.kind.updated_at(self.conn, raw)
        our_time = _epoch(ours.get("updatedAt"))
        remote_newer = their_time is None or our_time is None or their_time > our_time
        owned = set(self.cfg.source_of_truth)
        take = [f for f in differ if f in owned or remote_newer]
        return take, [f for f in differ if f not in take]

    # -- bookkeeping -------------------------------------------------------------------
    def _count(self, action: str, key: str | None, reason: str,
               fields: list[str] | None = None) -> dict[str, Any]:
        p = self.point
        p["records"] = int(p["records"]) + 1
        p[action] = int(p[action]) + 1
        if action == "unchanged":
            p["skipped"] = int(p["skipped"]) + 1
            return {}
        entry: dict[str, Any] = {"recordKey": key, "action": action, "reason": reason[:500],
                                 "at": clock.iso()}
        if fields:
            entry["fields"] = fields
        return entry

    def _consistency(self, key: str, theirs: dict[str, Any],
                     ours: dict[str, Any] | None) -> None:
        """Adds a record to both sides' count and sum (the remote's mapped fields, and
        ours of the same fields)."""
        fields = sorted(theirs)
        remote = _digest(key, {f: theirs.get(f) for f in fields})
        p = self.point
        p["remote"] = {"count": p["remote"]["count"] + 1,
                       "sum": f"{int(p['remote']['sum'], 16) ^ remote:064x}"}
        mine = None if ours is None else _digest(key, {f: ours.get(f) for f in fields})
        if mine is not None:
            p["ours"] = {"count": p["ours"]["count"] + 1,
                         "sum": f"{int(p['ours']['sum'], 16) ^ mine:064x}"}
        if mine != remote:
            p["differing"] = int(p["differing"]) + 1
            if len(p["differingKeys"]) < SAMPLE:
                p["differingKeys"] = [*p["differingKeys"], key]

    def _result(self) -> dict[str, Any]:
        p = self.point
        remote, ours = p["remote"], p["ours"]
        return {
            "pages": p["page"], "records": p["records"], "created": p["created"],
            "updated": p["updated"], "skipped": p["skipped"], "unchanged": p["unchanged"],
            "failed": p["failed"], "logEntries": p["logged"],
            "logTruncated": p["logTruncated"],
            "consistency": {
                "remote": {"count": remote["count"], "checksum": remote["sum"]},
                "ours": {"count": ours["count"], "checksum": ours["sum"]},
                "consistent": remote == ours and not p["differing"],
                "differing": p["differing"], "differingKeys": p["differingKeys"],
                **_scope(self.since is not None)}}


def failed_records(job: Job) -> int:
    return int((job.result or {}).get("failed", 0))


def _scope(incremental: bool) -> dict[str, str]:
    if not incremental:
        return {"scope": "all", "note": "Every remote record, as pulled by this run."}
    return {"scope": "pulled", "note": (
        "An incremental run: the check covers the records this run pulled (changed "
        "since `since`), not the remote's whole collection; a full resync (POST /sync "
        "with {\"full\": true}) checks them all.")}


class SyncKind(Kind):
    name = "sync"

    def required_scopes(self, job: Job) -> list[str]:
        return ["integrations:manage", f"{job.params.get('resource')}:write"]

    def start(self, job: Job) -> Run:
        return SyncRun(job)

    def cleanup(self, job: Job) -> None:
        """Nothing to remove: each record written was a complete create or update with
        its event, and the log entries stay (they expire)."""

    def finished(self, job: Job) -> None:
        """A completed run with no failed record moves the mark of the next incremental
        pull to its start. A failed run, or one whose records failed, leaves it: the
        next pull asks again for what it missed (a record failed on our side is not
        changed on the remote, so a mark past it would never pull it again)."""
        if (job.status == "completed" and job.started_at and job.params.get("config")
                and not failed_records(job)):
            sync_store.move_mark(str(job.params["connectionId"]), job.id, job.started_at,
                                 str(job.params["config"]))


KIND = kinds.register(SyncKind())
