"""The edge: the middleware every request passes once (authentication, limits, the
route's contract, the error envelope) and the Idempotency-Key replay it runs."""
