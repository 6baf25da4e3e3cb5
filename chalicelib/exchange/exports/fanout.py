"""Past one function: a large export of a resource fans out over DynamoDB parallel Scan
segments, each a job of its own (segments.py) run by its own invocation, in parallel.

When: the format concatenates (csv, json, ndjson, xml; an XLSX workbook is one zip and
stays serial) and the export's estimated rows reach `export_fanout_rows`. The estimate
costs little: DescribeTable's ItemCount (the whole table, which AWS refreshes about every
six hours) decides alone when the table is smaller than the threshold; otherwise one
Scan segment of about SAMPLE_ITEMS items, counted with the export's filters, times the
number of such segments. A fan-out also needs the resource to be at least 1/N of the
table: a Scan of N segments reads the whole table, so below that share the serial Query
of the resource's own listing reads less per function than each segment would.

The export's own job then: saves the plan (N) as a checkpoint of its own, so a run that
dies while spawning resumes with the same N and never estimates again; spawns its N
segment jobs (ids derived from its own, written only if absent: a repeated spawn adds
none but sends each existing segment its first message again, which the engine drops
once the segment has started), waits (a step that asks to come back in
`export_poll_seconds`; a segment that ends also wakes it), sums their rows as its
progress, fails if one failed (the others cancelled, all output removed) or if they are
not all done after WAIT_LIMIT, and once all completed assembles the file (assemble.py).
Rows come segment by segment, not in createdAt order: the result and the data
dictionary say `rowOrder: unordered`.

A segment whose Lambda timed out on every receive ends in the jobs queue's dead-letter
queue, still running with an expired lease and no message left. The export watches each
segment's version: one unchanged for longer than the queue's visibility timeout (when
SQS would have brought back a message still held), its lease expired, gets a new
message (a duplicate is dropped by the engine's claim).
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.core.settings import get_settings
from chalicelib.exchange.exports import segments, sources
from chalicelib.exchange.exports.assemble import Assembly
from chalicelib.jobs import queue
from chalicelib.jobs import repo as job_repo
from chalicelib.jobs.kinds import JobFailed, Run, Step
from chalicelib.jobs.model import ACTIVE, CANCELLED, COMPLETED, PENDING, Job

CONCATENABLE = ("csv", "json", "ndjson", "xml")
SAMPLE_ITEMS = 2_000  # items of the table one sampled segment holds, about
MAX_SEGMENTS = 32      # settings cap export_fanout_segments here
WAIT_LIMIT = 6 * 3600  # seconds the export waits on its segments before it fails


def table_items() -> int:
    """DescribeTable's ItemCount: the whole table, refreshed by AWS every ~6 hours."""
    from chalicelib.store import table as store

    described = store.client().describe_table(TableName=get_settings().table_name)
    return int(described["Table"].get("ItemCount", 0))


def estimate(source: sources.ResourceSource, total: int) -> int:
    """The export's rows, from one Scan segment of about SAMPLE_ITEMS table items."""
    sampled = max(1, min(total // SAMPLE_ITEMS, 1_000_000))
    rows, start = 0, None
    while True:
        page, start = source.segment_page(0, sampled, start, segments.SCAN_ITEMS)
        rows += len(page)
        if start is None:
            return rows * sampled


def wanted(job: Job) -> int:
    """The segments a new export should fan out over (0: it runs serially)."""
    settings = get_settings()
    if job.params.get("format") not in CONCATENABLE:
        return 0
    exportable = sources.find(str(job.params.get("entity")))
    if not isinstance(exportable, sources.ResourceExportable):
        return 0
    total = table_items()
    if total < settings.export_fanout_rows:
        return 0
    source = exportable.open(job)
    assert isinstance(source, sources.ResourceSource)
    n = min(settings.export_fanout_segments, MAX_SEGMENTS)
    rows = estimate(source, total)
    return n if rows >= settings.export_fanout_rows and rows * n >= total else 0


def spawn(job: Job, n: int) -> None:
    """The segment jobs, as the export's creator, and their first messages (again for a
    segment an earlier run wrote: it may have died before sending)."""
    from chalicelib.store import table as store

    now = clock.iso()
    for i in range(n):
        child = Job(id=segments.child_id(job.id, i), kind=segments.NAME, owner=job.owner,
                    sandbox=job.sandbox, status=PENDING, created_at=now,
                    created_by=job.created_by, scopes=job.scopes, params={
                        **job.params, "parent": job.id, "segment": i, "segments": n})
        try:
            store.put_new(job_repo.new_item(child))
        except Conflict:
            existing = job_repo.get(child.id)
            split = None if existing is None else existing.params.get("segments")
            if split != n:
                raise JobFailed("INTERNAL_ERROR", f"Segment {i + 1} exists for a split "
                                f"into {split} segments, not {n}; run the export "
                                "again.") from None
        queue.send(child.id, 0)


def stop(job: Job) -> None:
    """Cancels the export's segments still active (a running one removes its chunks as
    it notices; the export's cleanup removes the rest)."""
    from chalicelib.store import optimistic

    for i in range(MAX_SEGMENTS):
        child_id = segments.child_id(job.id, i)

        def attempt(child_id: str = child_id) -> Job | None:
            child = job_repo.get(child_id)
            if child is None or child.status not in ACTIVE:
                return child
            leased = child.lease_until is not None and child.lease_until > clock.now()
            return job_repo.write(child, status=CANCELLED, finished_at=clock.iso(),
                                  cleanup=leased)

        if optimistic.retry(attempt) is None:
            return  # segments are numbered from 0 without gaps


class FanoutRun(Run):
    """The export's job while its segments run, then while it assembles the file."""

    def __init__(self, job: Job, n: int = 0) -> None:
        self.job = job
        point = job.checkpoint or {}
        self.plan: dict[str, Any] = point.get("fanout") or {"segments": n}
        self.planned = "fanout" in point
        # A plan saved before this flag existed was saved after its spawn.
        self.spawned = bool(point.get("spawned", self.planned and "since" not in
                                      self.plan))
        self.source = sources.find(str(job.params["entity"])).open(job)
        self.format = str(job.params["format"])
        self.assembly: Assembly | None = None
        if point.get("assembly"):
            self.assembly = Assembly(job, self.source, self.format, point["assembly"])
        self.processed = job.processed_rows
        # segment -> [its version, when first seen at it]: how long it has not moved
        self.watch: dict[str, list[float]] = point.get("watch") or {}

    def step(self) -> Step:
        if not self.planned:  # saved before any segment exists: a resume keeps N
            self.planned = True
            self.plan["since"] = clock.now()
            return Step(0, checkpoint=self.suspend())
        if not self.spawned:
            spawn(self.job, int(self.plan["segments"]))
            self.spawned = True
            return Step(0, checkpoint=self.suspend(), wait=self._poll())
        if self.assembly is None:
            done = self._segments_done()
            if done is None:
                return Step(self.processed, wait=self._poll())
            self.assembly = Assembly(self.job, self.source, self.format, {
                "rows": done, "segments": self.plan["segments"]})
        result = self.assembly.step()
        if result is not None:
            return Step(self.assembly.rows, done=True, result=result)
        return Step(self.assembly.rows, checkpoint=self.suspend())

    def suspend(self) -> dict[str, Any]:
        point: dict[str, Any] = {"fanout": self.plan, "spawned": self.spawned}
        if self.watch and self.assembly is None:
            point["watch"] = self.watch
        if self.assembly is not None:
            point["assembly"] = self.assembly.state()
        return point

    def _poll(self) -> int:
        return get_settings().export_poll_seconds

    def _segments_done(self) -> int | None:
        """The rows of all segments once all completed (None: some still run); a
        segment that failed or went fails the export with its error."""
        n = int(self.plan["segments"])
        found = [job_repo.get(segments.child_id(self.job.id, i)) for i in range(n)]
        for i, child in enumerate(found):
            if child is None or child.status not in (*ACTIVE, COMPLETED):
                last = (child.errors[-1] if child is not None and child.errors else
                        {"code": "INTERNAL_ERROR", "message": "The segment was stopped."})
                raise JobFailed(str(last["code"]), f"Segment {i + 1} of {n} failed: "
                                f"{last['message']}")
        self.processed = sum(c.processed_rows for c in found if c is not None)
        if all(c is not None and c.status == COMPLETED for c in found):
            return sum(int((c.result or {}).get("rows", 0)) for c in found if c is not None)
        now = clock.now()
        since = self.plan.get("since") or clock.parse_iso(self.job.started_at or clock.iso())
        if now - float(since) > WAIT_LIMIT:
            raise JobFailed("INTERNAL_ERROR", f"The export's {n} segments did not all "
                            f"finish within {WAIT_LIMIT // 3600} hours; run it again.")
        for i, child in enumerate(found):
            if child is not None and child.status in ACTIVE:
                self._revive(i, child, now)
        return None

    def _revive(self, i: int, child: Job, now: float) -> None:
        """A new message for a segment stalled past the queue's visibility timeout."""
        seen = self.watch.get(str(i))
        if seen is None or int(seen[0]) != child.version:
            self.watch[str(i)] = [child.version, now]
            return
        leased = child.lease_until is not None and child.lease_until > now
        if not leased and now - seen[1] > queue.VISIBILITY_SECONDS:
            queue.send(child.id, child.seq)
            self.watch[str(i)] = [child.version, now]
