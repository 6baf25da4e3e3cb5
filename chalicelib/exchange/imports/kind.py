"""The import job: a scan, then chunks.

Scan (the first step): the reader's whole-file checks (encoding, header, quoting: a bad
file fails the job before any row is written, its problems in the job and the error
file), the row count, and the rows that repeat a natural key an earlier row holds (the
first wins; the others are their rows' problems, kept in S3 as duplicates.json).

Chunks of CHUNK_ROWS rows: each row through the resource's create model, then written by
the resource service as the API would write it (the record, its audit entry and its
event): a new natural key creates, a known one updates the given fields. Creates are
committed several to a transaction (resources/service.create_batched: up to 100
items, a refused one retried row by row), updates one by one and only when they change
something, and the chunk's events are published together at its end (measured in
bench/imports.py).
A row's problem, found at reading, checking or writing (a duplicate created meanwhile),
is that row's and the rest go on. After each chunk its problems go to S3 and the
checkpoint (the reader's byte offset, the counts) to the job; a worker that dies
mid-chunk redoes the chunk, which writes nothing twice: a row with a natural key finds
its record, the same already (no write, no event); a row without one has an id derived
from (job, row) and is skipped once it exists.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, NoReturn

from chalicelib.core.errors import AppError
from chalicelib.core.principal import Principal
from chalicelib.exchange import entities
from chalicelib.exchange.imports import events, rows, storage
from chalicelib.jobs import kinds
from chalicelib.jobs import repo as jobs_repo
from chalicelib.jobs.kinds import JobFailed, Kind, Run, Step
from chalicelib.jobs.model import Job
from chalicelib.resources import repo, service
from chalicelib.resources.declaration import Resource

ID_PREFIX = "imp"
CHUNK_ROWS = 200
SAMPLE = 100   # row problems shown in the job itself; all of them are in the error file
REJECTED = "The file cannot be imported: "


def no_rows(fmt: str) -> str:
    """A file without a row (the template sent back unfilled, an empty array): refused,
    where a completed job that wrote nothing would hide the mistake."""
    return "The file has no rows: " + ("only a header." if fmt == "csv" else "an empty array.")


def principal_of(job: Job) -> Principal:
    """Whom the rows are written for, as the audit log names them: the job's creator."""
    kind, _, ident = job.created_by.partition(":")
    return Principal(kind=kind, id=ident, owner=job.owner, scopes=frozenset(job.scopes),
                     sandbox=job.sandbox)


class ImportRun(Run):
    def __init__(self, job: Job) -> None:
        params = job.params
        self.job = job
        self.res: Resource = entities.entity(str(params["entity"]))
        self.fmt, self.dry = str(params["format"]), bool(params.get("dryRun"))
        self.key = rows.natural_key(self.res)
        self.columns = rows.columns(self.res)
        self.source = storage.opener(str(params["source"]), int(params["size"]))
        self.actor = principal_of(job)
        self.ns = service.namespace(self.actor)
        self.point: dict[str, Any] = dict(job.checkpoint or {})
        self.duplicates: dict[int, int] | None = None

    # -- the engine's interface -------------------------------------------------------
    def step(self) -> Step:
        if not self.point:
            return self._scan()
        return self._chunk()

    def suspend(self) -> dict[str, Any]:
        return self.point  # every step ends at a checkpoint

    # -- scan ---------------------------------------------------------------------
    def _scan(self) -> Step:
        from chalicelib.exchange.parsing import (  # not at every cold start
            FileRejected,
            open_reader,
        )

        reader = open_reader(self.fmt, self.columns)
        try:
            summary = reader.inspect(self.source)
        except FileRejected as exc:
            self._reject([p.as_dict() for p in exc.problems], exc.message)
        if summary.rows == 0:
            message = no_rows(self.fmt)
            self._reject([{"row": None, "field": None, "message": message}], message)
        start = reader.state()
        first: dict[str, int] = {}
        repeats: dict[int, int] = {}
        for parsed in reader.rows(self.source):
            value = rows.key_of(parsed.values, self.key)
            if value is None:
                continue
            if value in first:
                repeats[parsed.row] = first[value]
            else:
                first[value] = parsed.row
        if repeats:
            storage.put(storage.duplicates_key(self.job.id), json.dumps(repeats).encode(),
                        "application/json")
        self.point = {"reader": start, "chunk": 0, "total": summary.rows,
                      "duplicates": bool(repeats), "created": 0, "updated": 0,
                      "failed": 0, "sample": []}
        return Step(0, checkpoint=self.point, total=summary.rows)

    def _reject(self, problems: list[dict[str, Any]], message: str) -> NoReturn:
        """The file cannot be imported: its problems go to the error file and the job,
        and the job fails before any row was written."""
        storage.write_error_file(self.job.id, problems)
        current = jobs_repo.get(self.job.id)
        if current is not None:
            jobs_repo.write(current, result={
                "totalRows": 0, "successCount": 0, "errorCount": 0, "createdCount": 0,
                "updatedCount": 0, "errors": problems[:SAMPLE],
                "errorsTruncated": len(problems) > SAMPLE})
        # FileRejected's message for several problems already says so.
        raise JobFailed("VALIDATION_ERROR", message if message.startswith(REJECTED)
                        else f"{REJECTED}{message}")

    # -- chunks -------------------------------------------------------------------
    def _chunk(self) -> Step:
        from chalicelib.exchange.parsing import resume_reader

        point = self.point
        reader = resume_reader(point["reader"], self.columns)
        batch = list(itertools.islice(reader.rows(self.source), CHUNK_ROWS))
        problems: list[dict[str, Any]] = []
        valid: list[rows.Checked] = []
        repeats = self._duplicates()
        for parsed in batch:
            if parsed.problems:
                problems += [p.as_dict() for p in parsed.problems]
            elif parsed.row in repeats:
                problems.append({"row": parsed.row, "field": self.key, "message": (
                    f"The {self.key} '{parsed.values.get(self.key or '')}' is on row "
                    f"{repeats[parsed.row]} already; each {self.key} once per file.")})
            else:
                checked = rows.check(self.res, parsed.row, parsed.values, self.fmt == "json")
                if checked.body is None:
                    problems += checked.problems
                else:
                    valid.append(checked)
        created, updated, written_problems = self._apply(valid)
        problems += written_problems
        failed = {p["row"] for p in problems}
        chunk = int(point["chunk"]) + 1
        if problems:
            problems.sort(key=lambda p: p["row"])
            storage.put(storage.part_key(self.job.id, chunk),
                        storage.problems_csv(problems, header=False), "text/csv")
        shown = list(point["sample"])
        self.point = point = {
            **point, "reader": reader.state(), "chunk": chunk,
            "created": point["created"] + created, "updated": point["updated"] + updated,
            "failed": point["failed"] + len(failed),
            "sample": shown + problems[:max(0, SAMPLE - len(shown))],
            "truncated": bool(point.get("truncated")) or len(shown) + len(problems) > SAMPLE}
        processed = point["created"] + point["updated"] + point["failed"]
        if reader.done:
            return self._finish(processed)
        return Step(processed, checkpoint=point)

    def _duplicates(self) -> dict[int, int]:
        if self.duplicates is None:
            self.duplicates = {}
            if self.point.get("duplicates"):
                raw = json.loads(storage.get(storage.duplicates_key(self.job.id)))
                self.duplicates = {int(k): int(v) for k, v in raw.items()}
        return self.duplicates

    def _apply(self, valid: list[rows.Checked]) -> tuple[int, int, list[dict[str, Any]]]:
        """Writes the valid rows (a dry run only looks): (created, updated, problems).
        New records go in transactions of several (create_batched), their events
        published together at the chunk's end; updates one by one, skipped when they
        would change nothing (a chunk redone after a worker died finds its rows)."""
        from chalicelib.events import outbox

        res, key = self.res, self.key
        if not valid:
            return 0, 0, []
        bodies = [c.body.model_dump(by_alias=True, exclude_unset=True)  # type: ignore[union-attr]
                  for c in valid]
        if key:
            targets = rows.targets(res, self.ns, key, [str(b[key]) for b in bodies])
        else:
            ids = [rows.row_id(res, self.job.id, c.row) for c in valid]
            there = repo.existing(res, self.ns, ids)
            targets = [i if i in there else None for i in ids]
        updated = 0
        problems: list[dict[str, Any]] = []
        fresh: list[tuple[int, service.Prepared]] = []
        with outbox.deferred():
            for checked, body, target in zip(valid, bodies, targets, strict=True):
                # The id this row's record gets when this import creates it: a chunk
                # redone after a worker died finds it, and counts it as created again.
                own = rows.row_id(res, self.job.id, checked.row)
                try:
                    if target is None:
                        fresh.append((checked.row, service.prepare_create(
                            res, self.actor, checked.body, own)))
                    elif key is None or target == own:
                        pass  # written by this import before a restart
                    else:
                        change = rows.update_body(res, body)
                        if not self.dry:
                            try:
                                service.update(res, self.actor, target, change,
                                               skip_unchanged=True)
                            except service.Unchanged:
                                pass
                        updated += 1
                except AppError as exc:
                    problems.append(self._problem(checked.row, exc))
            if not self.dry:
                problems += self._create(fresh)
        created = len(valid) - updated - len(problems)
        return created, updated, problems

    def _create(self, fresh: list[tuple[int, service.Prepared]]) -> list[dict[str, Any]]:
        """Commits the chunk's new records several to a transaction; a row refused
        (its record exists meanwhile) is that row's problem."""
        refused = service.create_batched(self.res, self.actor, [p for _, p in fresh])
        return [self._problem(fresh[i][0], exc) for i, exc in refused]

    def _problem(self, row: int, exc: AppError) -> dict[str, Any]:
        field = next((d.get("field") for d in exc.details if d.get("field")), None)
        return {"row": row, "field": field or self.key, "message": exc.message}

    def _finish(self, processed: int) -> Step:
        point = self.point
        size = storage.write_error_file(self.job.id)
        storage.remove(storage.duplicates_key(self.job.id))
        if self.job.params.get("inline"):
            storage.remove(str(self.job.params["source"]))
        success = point["created"] + point["updated"]
        return Step(processed, done=True, result={
            "totalRows": processed, "successCount": success, "errorCount": point["failed"],
            "createdCount": point["created"], "updatedCount": point["updated"],
            "errors": point["sample"], "errorsTruncated": bool(point.get("truncated")),
            "errorFileBytes": size})


class ImportKind(Kind):
    name = "import"

    def required_scopes(self, job: Job) -> list[str]:
        return ["imports:run", f"{job.params.get('entity')}:write"]

    def start(self, job: Job) -> Run:
        return ImportRun(job)  # a declaration or fields changed under it: the engine fails it

    def cleanup(self, job: Job) -> None:
        """What a cancelled or failed import leaves: its working files (the rows it wrote
        stay: each was a complete create or update, with its event). The error file of a
        rejected file is kept."""
        storage.remove(storage.folder(job.id), keep=(storage.errors_key(job.id),))
        if job.params.get("inline"):
            storage.remove(str(job.params["source"]))

    def events(self, job: Job) -> list[dict[str, Any]]:
        return events.of(job)


KIND = kinds.register(ImportKind())
