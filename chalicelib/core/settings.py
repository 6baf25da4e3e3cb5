"""One typed settings object, read from the environment once per container."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    region: str = "us-east-1"
    # Names of the AWS resources; infra/ builds them from the same prefix.
    resource_prefix: str = "gatehouse-dev"
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
    webhook_allowed_hosts: tuple[str, ...] = ()
    webhook_retry_schedule: tuple[int, ...] = (60, 300, 1800)
    tiers: dict[str, int] = field(
        default_factory=lambda: {"free": 100, "pro": 1000, "enterprise": 10000}
    )

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


def resource_prefix_for(stage: str) -> str:
    return f"gatehouse-{stage}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    stage = env.get("GATEHOUSE_STAGE", "dev")
    return Settings(
        stage=stage,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        resource_prefix=env.get("GATEHOUSE_RESOURCE_PREFIX") or resource_prefix_for(stage),
        issuer=env.get("GATEHOUSE_ISSUER", "").rstrip("/"),
        cors_origins=_csv(env.get("GATEHOUSE_CORS_ORIGINS", "")),
        max_body_bytes=_int("GATEHOUSE_MAX_BODY_BYTES", 1_048_576),
        access_token_ttl=_int("GATEHOUSE_ACCESS_TOKEN_TTL", 3600),
        refresh_token_ttl=_int("GATEHOUSE_REFRESH_TOKEN_TTL", 30 * 86400),
        user_access_token_ttl=_int("GATEHOUSE_USER_ACCESS_TOKEN_TTL", 900),
        anonymous_hourly_limit=_int("GATEHOUSE_ANONYMOUS_HOURLY_LIMIT", 100),
        burst_limit=_int("GATEHOUSE_BURST_LIMIT", 100),
        password_hash_n=_int("GATEHOUSE_PASSWORD_HASH_N", 2**17),
        admin_client_id=env.get("GATEHOUSE_ADMIN_CLIENT_ID", "admin"),
        admin_username=env.get("GATEHOUSE_ADMIN_USERNAME", "admin"),
        webhook_allowed_hosts=_csv(env.get("GATEHOUSE_WEBHOOK_ALLOWED_HOSTS", "")),
        webhook_retry_schedule=tuple(
            int(x) for x in _csv(env.get("GATEHOUSE_WEBHOOK_RETRY_SCHEDULE", "60,300,1800"))
        ),
    )


def reset_settings() -> None:
    """For tests that change the environment."""
    get_settings.cache_clear()
