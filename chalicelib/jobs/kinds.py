"""What a kind of job provides, and the registry the engine finds kinds in.

A capability defines a Kind and calls `register` when its module is imported (the
routes module imports it, and app.py imports every routes module, so every function of
the Lambda knows every kind). The engine drives a Run, one invocation at a time:

    run = kind.start(job)      # from job.checkpoint (None: the beginning)
    step = run.step()          # one page of work
    ... step.checkpoint: a resumable point, saved before the next step
    ... step.done: finished, with step.result
    ... step.wait: nothing to do before other work ends (another job's): the engine
        saves the step and the job comes back in that many seconds
    state = run.suspend()      # time is short: a checkpoint right here

A checkpoint must resume without repeating output: what was produced before it is kept
(an uploaded part, a stored carry-over) and what comes after is produced again only if
nothing of it was kept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from chalicelib.jobs.model import Job


class JobFailed(Exception):  # noqa: N818 - an outcome the kind reports, not a bug
    """The job cannot succeed (bad input found late, a right lost): it fails with this
    error, its partial output removed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Step:
    processed: int                           # rows done so far, over every invocation
    checkpoint: dict[str, Any] | None = None
    done: bool = False
    result: dict[str, Any] | None = None
    total: int | None = None                 # rows in all, once known
    wait: int | None = None                  # seconds until the job should come back


class Run(ABC):
    @abstractmethod
    def step(self) -> Step: ...

    @abstractmethod
    def suspend(self) -> dict[str, Any]:
        """A checkpoint at this very point (the invocation is about to end)."""


class Kind(ABC):
    name: ClassVar[str]

    @abstractmethod
    def required_scopes(self, job: Job) -> list[str]:
        """What the job's principal must still hold, within its owner's current scopes,
        for the job to go on."""

    @abstractmethod
    def start(self, job: Job) -> Run: ...

    @abstractmethod
    def cleanup(self, job: Job) -> None:
        """Removes partial output (a cancelled or failed job); may run more than once."""

    def events(self, job: Job) -> list[dict[str, Any]]:
        """Outbox events to write with the job's final status (completed or failed)."""
        return []

    def finished(self, job: Job) -> None:
        """After the job's final status (completed or failed) is written: a job that
        another waits on tells it here. Errors are logged, not raised."""
        return None


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.name in KINDS and type(KINDS[kind.name]) is not type(kind):
        raise ValueError(f"job kind {kind.name} declared twice")
    KINDS[kind.name] = kind
    return kind


def of(job: Job) -> Kind:
    kind = KINDS.get(job.kind)
    if kind is None:
        raise LookupError(f"no job kind {job.kind!r} is registered")
    return kind
