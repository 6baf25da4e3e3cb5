"""Structured JSON logs with the request id (Powertools Logger)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    # Not "gatehouse": that is Chalice's own logger, whose handler would print every line twice.
    return Logger(service="gatehouse-api")
