"""The one job engine: long work (exports now; imports, syncs and backups next) as jobs
with an owner, a status, progress, a result, errors and a checkpoint, driven by messages
on the `jobs` queue.

  model.py    the Job and its statuses
  repo.py     its DynamoDB item (JOB# keys only there), every write conditional
  kinds.py    what a kind of job provides (its steps, cleanup, events) and the registry
  engine.py   one invocation's run: claim, steps, checkpoints, cancel, continuation
  service.py  what the capabilities' routes call: submit, see, list, cancel
  queue.py    the jobs queue's messages
  worker.py   the SQS entry point app.py's handler calls

The engine knows no kind: a capability (exchange/exports) registers its kind at import.
"""
