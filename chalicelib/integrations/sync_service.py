"""What the sync routes call: start a connection's sync, its latest run, its run log.

One run at a time per connection: a start claims the connection's sync item on
condition that nobody claimed it since it was read (two starts cannot both win), and a
claim whose job is still pending or running answers 409.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.exchange import entities
from chalicelib.integrations import service, sync_store
from chalicelib.integrations.connector import Connection
from chalicelib.integrations.sync import ID_PREFIX, connector_of, failed_records, fingerprint
from chalicelib.jobs import repo as jobs_repo
from chalicelib.jobs import service as jobs
from chalicelib.jobs.model import ACTIVE, Job

if TYPE_CHECKING:
    from chalicelib.integrations.rest_models import RestConfig

CLAIM_SECONDS = 60   # a claim whose job never got made stops blocking after this


def _running(latest: dict[str, Any] | None) -> str | None:
    """The run that blocks a new one: its job id (or the claim), None if none does."""
    if not latest:
        return None
    job_id = str(latest.get("jobId", ""))
    if not job_id:   # a claim whose job was not made: removed
        return None
    if job_id.startswith(sync_store.CLAIM):
        fresh = int(latest.get("claimedAt", 0)) + CLAIM_SECONDS > clock.now_int()
        return "a sync being started" if fresh else None
    job = jobs_repo.get(job_id)
    return job.id if job is not None and job.status in ACTIVE else None


def start(actor: Principal, connection_id: str, full: bool = False
          ) -> tuple[Connection, Job]:
    """Starts a run: incremental when the pull has `since` and a run with this config
    completed (unless `full`), else full."""
    conn = service.connection(actor, connection_id)
    kind = connector_of(conn)
    if conn.status != "active":
        raise Conflict("This integration is paused; set its status to active to sync.")
    from pydantic import ValidationError

    try:
        cfg = kind.config(conn)
    except ValidationError:
        raise Unprocessable("The integration's config is no longer valid for its type.",
                            details=[{"field": "config", "message": "update it"}]) from None
    if cfg.pull is None or cfg.resource is None:
        what = "it only pushes events" if cfg.push is not None else "it has no pull"
        raise Unprocessable(f"This integration cannot sync: {what}. A sync pulls records, "
                            "and needs config.pull with resource and mapping.",
                            details=[{"field": "config.pull", "message": "required to sync"}])
    entities.require(actor, cfg.resource, "write", "Syncing into")
    latest = sync_store.latest(conn.id)
    running = _running(latest)
    if running:
        raise Conflict(f"A sync of this integration is running ({running}); wait for it "
                       "to finish.", details=[{"field": "integrationId",
                                               "message": "sync running"}])
    params = {"connectionId": conn.id, "resource": cfg.resource,
              **_mode(cfg, latest, full)}
    token = ids.random_b32(16)
    sync_store.claim(conn.id, latest, token)
    try:
        job = jobs.submit(actor, "sync", ID_PREFIX, params)
    except Exception:
        sync_store.settle(conn.id, token, None, str((latest or {}).get("jobId", "")))
        raise
    sync_store.settle(conn.id, token, job.id)
    return conn, job


def _mode(cfg: RestConfig, latest: dict[str, Any] | None, full: bool) -> dict[str, Any]:
    """The run's mode, its `since` (ISO; the mark minus the overlap) and, when full
    though the pull is incremental, why."""
    since_cfg = cfg.pull.since if cfg.pull else None
    base = {"mode": "full", "config": fingerprint(cfg)}
    if since_cfg is None:
        return base
    if full:
        return {**base, "fullReason": "requested"}
    mark = sync_store.mark(latest, base["config"])
    if mark is None:
        reason = ("no run completed without failed records yet"
                  if not (latest or {}).get("markAt")
                  else "the pull's config changed since the last completed run")
        return {**base, "fullReason": reason}
    since = clock.parse_iso(mark) - since_cfg.overlap_seconds
    return {**base, "mode": "incremental", "since": clock.iso(since)}


def _run_of(conn: Connection, run_id: str | None,
            latest: dict[str, Any] | None = None) -> Job | None:
    if run_id is None:
        latest = latest or sync_store.latest(conn.id)
        run_id = str((latest or {}).get("jobId", ""))
        if not run_id or run_id.startswith(sync_store.CLAIM):
            return None
    job = jobs_repo.get(run_id)
    if job is None or job.kind != "sync" or job.params.get("connectionId") != conn.id:
        raise NotFound(f"No sync run {run_id} of this integration.")
    return job


def _mark_kept(job: Job, latest: dict[str, Any] | None) -> str | None:
    """Why a completed run of an incremental pull left the mark where it was (its
    records that failed are pulled again by the next run), None if it moved it."""
    failed = failed_records(job)
    incremental = job.params.get("mode") == "incremental" or job.params.get("fullReason")
    if job.status != "completed" or not failed or not incremental:
        return None
    mark = sync_store.mark(latest, str(job.params.get("config", "")))
    following = (f"from the previous mark ({mark})" if mark is not None else "in full")
    return f"{failed} record(s) failed; the next run pulls {following}."


def present_run(conn: Connection, job: Job | None, version: str = "v1",
                latest: dict[str, Any] | None = None) -> dict[str, Any]:
    base = f"/api/{version}/integrations/{conn.id}"
    if job is None:
        return {"integrationId": conn.id, "runId": None, "status": "never",
                "links": {"logs": f"{base}/logs"}}
    point = job.result or job.checkpoint or {}
    counts = {k: int(point.get(k, 0)) for k in
              ("records", "created", "updated", "skipped", "failed")}
    out: dict[str, Any] = {
        "integrationId": conn.id, "runId": job.id, "status": job.status,
        "createdAt": job.created_at, "startedAt": job.started_at,
        "finishedAt": job.finished_at, "pages": int(point.get("pages", point.get("page", 0))),
        "counts": counts, "consistency": (job.result or {}).get("consistency"),
        "logTruncated": bool(point.get("logTruncated")),
        "mode": job.params.get("mode", "full"), "since": job.params.get("since"),
        **({"fullReason": job.params["fullReason"]} if job.params.get("fullReason")
           else {}),
        "error": job.errors[-1] if job.errors else None,
        "links": {"status": f"{base}/status", "logs": f"{base}/logs?runId={job.id}"}}
    kept = _mark_kept(job, latest)
    if kept:
        out["markKept"] = kept
    return out


def status(actor: Principal, connection_id: str, version: str) -> dict[str, Any]:
    conn = service.connection(actor, connection_id)
    latest = sync_store.latest(conn.id)
    return present_run(conn, _run_of(conn, None, latest), version, latest)


def logs(actor: Principal, connection_id: str, run_id: str | None, action: str | None,
         cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    conn = service.connection(actor, connection_id)
    job = _run_of(conn, run_id)
    if job is None:
        return [], None
    entries, following = sync_store.log_page(conn.id, job.id, cursor=cursor, limit=limit,
                                             action=action)
    return [{"runId": job.id, **e} for e in entries], following


def push_logs(actor: Principal, connection_id: str, status: str | None, cursor: str | None,
              limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """The connection's event pushes, newest first (GET /logs?kind=push)."""
    from chalicelib.integrations import push_log

    conn = service.connection(actor, connection_id)
    return push_log.page(conn.id, cursor=cursor, limit=limit, status=status)


@service.on_delete
def _deleted(conn: Connection) -> None:
    """A deleted connection's pending or running sync is cancelled (its worker stops
    after its page); its log entries expire on their own."""
    latest = sync_store.latest(conn.id)
    job_id = str((latest or {}).get("jobId", ""))
    if job_id and not job_id.startswith(sync_store.CLAIM):
        system = Principal(kind="system", id="integration-delete", owner=conn.owner,
                           scopes=frozenset({"admin"}))
        try:
            jobs.cancel(system, job_id, "sync")
        except NotFound:
            pass
    sync_store.forget(conn.id)
