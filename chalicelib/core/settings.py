"""One typed settings object, read from the environment once per container.

Each field is read from GATEHOUSE_<NAME> unless ENV_NAMES names its variables; an empty
variable counts as unset. Lists are comma-separated, `tiers` is JSON. A pydantic model
filled by `from_environ` rather than pydantic-settings: that package imports every
settings source it has (asyncio, dotenv, argparse, cloud providers) and added about 100 ms
of CPU to every cold start (1.12x -> 1.47x a bare Chalice app), for what 20 lines do here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PREFIX = "GATEHOUSE_"
# Fields read from AWS's own variables (the first one set wins).
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "aws_endpoint_url": ("AWS_ENDPOINT_URL",),
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "dev"
    region: str = "us-east-1"
    # Names of the AWS resources; infra/ builds them from the same prefix. Empty: from stage.
    resource_prefix: str = ""
    # The emulator's address on the local stack and in tests; empty on AWS.
    aws_endpoint_url: str = ""
    issuer: str = ""
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_048_576
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400
    user_access_token_ttl: int = 900
    api_key_default_ttl_days: int = 365
    signature_window: int = 300
    idempotency_ttl: int = 86400
    access_log_ttl_days: int = 30
    audit_log_ttl_days: int = 365
    anonymous_hourly_limit: int = 100
    burst_limit: int = 100
    # scrypt's cost for new password hashes (OWASP: 2**17); only tests set it lower.
    password_hash_n: int = 2**17
    admin_client_id: str = "admin"
    admin_username: str = "admin"
    # The sender of the platform's mail (endpoint-health warnings, notifications).
    email_from: str = "webhooks@gatehouse.local"
    # The SMS sender id (1-11 letters and digits) where carriers allow one; empty: none.
    sms_sender_id: str = ""
    # SMS only to numbers starting with one of these E.164 prefixes (e.g. "+1,+44");
    # empty: any country. Premium and international-network ranges are refused either
    # way (notifications/channels.py: SMS pumping fraud bills the sender).
    sms_allowed_prefixes: tuple[str, ...] = ()
    webhook_allowed_hosts: tuple[str, ...] = ()
    webhook_retry_schedule: tuple[int, ...] = (60, 300, 1800)
    # A webhook whose every attempt failed this long is warned, then disabled.
    webhook_warn_after_hours: float = 72
    webhook_disable_after_hours: float = 120
    # Buckets an s3_drop connection may write to with the platform's role: "bucket", or
    # "bucket/prefix/" ({owner} in the prefix: each owner's own part). Empty: none.
    integration_s3_buckets: tuple[str, ...] = ()
    # A resource export estimated above this many rows (csv, json, ndjson, xml) runs as
    # this many parallel Scan segments, each its own job (exports/fanout.py). An export
    # waiting on others' work (its segments, DynamoDB's export) looks every poll seconds.
    export_fanout_rows: int = Field(500_000, ge=1)
    export_fanout_segments: int = Field(8, ge=2, le=32)
    export_poll_seconds: int = Field(20, ge=1, le=900)
    tiers: dict[str, int] = Field(
        default_factory=lambda: {"free": 100, "pro": 1000, "enterprise": 10000})

    @field_validator("cors_origins", "webhook_allowed_hosts", "webhook_retry_schedule",
                     "sms_allowed_prefixes",
                     "integration_s3_buckets", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("tiers", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _derive_prefix(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("resource_prefix"):
            data = {**data, "resource_prefix": resource_prefix_for(str(data.get("stage", "dev")))}
        return data

    @property
    def table_name(self) -> str:
        return f"{self.resource_prefix}-main"

    @property
    def bucket_name(self) -> str:
        return f"{self.resource_prefix}-files"

    @property
    def secret_id(self) -> str:
        # JWT signing keys and the data-encryption key live here, never in code or config.
        return f"{self.resource_prefix}/keys"

    @property
    def admin_secret_id(self) -> str:
        return f"{self.resource_prefix}/admin"

    def queue_name(self, purpose: str) -> str:
        return f"{self.resource_prefix}-{purpose}"

    @property
    def is_deployed(self) -> bool:
        return self.stage not in ("local", "test")

    @property
    def webhook_warn_after(self) -> float:
        """Seconds."""
        return self.webhook_warn_after_hours * 3600

    @property
    def webhook_disable_after(self) -> float:
        """Seconds."""
        return self.webhook_disable_after_hours * 3600


def resource_prefix_for(stage: str) -> str:
    return f"gatehouse-{stage}"


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of an environment (os.environ by default); validation errors name
    the field."""
    env = os.environ if environ is None else environ
    given: dict[str, str] = {}
    for name in Settings.model_fields:
        for var in ENV_NAMES.get(name, (PREFIX + name.upper(),)):
            value = env.get(var, "")
            if value.strip():
                given[name] = value
                break
    return Settings.model_validate(given)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_environ()


def reset_settings() -> None:
    """For tests that change the environment."""
    get_settings.cache_clear()
