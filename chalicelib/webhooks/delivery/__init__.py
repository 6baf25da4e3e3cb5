"""The delivery engine and the delivery log: one event to one webhook, attempted over
HTTP until it succeeds, fails for good or is cancelled.

  repo.py       the delivery item and its keys (the only module that knows them)
  queue.py      messages on the webhooks queue
  retry.py      the retry policy: how long to wait before the next attempt
  transport.py  one attempt over HTTP (SSRF-checked, pinned address, bounded time)
  attempt.py    one message's steps: claim the attempt, record its outcome
  batch.py      a queue batch: its messages' steps run concurrently
  watchdog.py   the minute sweep: due, lost and stuck deliveries
  service.py    the delivery-log API's queries, redelivery and stats
  routes.py     the delivery-log API

States: pending -> delivering -> delivered | pending (retry) | failed; cancelled when the
webhook is gone or disabled, or may no longer be sent the event (fan-out's rule,
subscriptions.may_send, checked again before every attempt: the owners of a batch's
webhooks are read once). Each queue message names (deliveryId, seq); an attempt starts
only by a conditional claim `status = pending AND attemptCount = seq`, so duplicate or
stale messages (SQS is at-least-once, the sweeper may re-enqueue) never cause a second
attempt for the same slot.

The retry timer: a wait of at most 15 minutes is an SQS DelaySeconds on the re-sent
message; a longer one is only `nextAttemptAt` plus the DUE index, which the minute
schedule sweeps, enqueueing what falls due within the next sweep with the exact remaining
delay. The DUE index also holds every other unfinished delivery at the time by which
somebody must have acted on it (a lost message, a worker that died mid-attempt), so the
sweeper is the watchdog too: nothing stays pending or delivering for ever.

Importing this package imports nothing: the API imports service.py and routes.py, which
stay clear of asyncio and h11 (every function's cold start would pay for them).
"""
