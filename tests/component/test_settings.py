"""Settings: one typed object read from the environment (core.settings.from_environ)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def clean_env(monkeypatch: Any) -> Any:
    import os

    for name in list(os.environ):
        if name.startswith("GATEHOUSE_") or name in ("AWS_REGION", "AWS_DEFAULT_REGION",
                                                     "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_without_environment(clean_env):
    from chalicelib.core.settings import from_environ

    s = from_environ()
    assert (s.stage, s.region, s.resource_prefix) == ("dev", "us-east-1", "gatehouse-dev")
    assert s.table_name == "gatehouse-dev-main" and s.queue_name("events") == "gatehouse-dev-events"
    assert s.aws_endpoint_url == "" and s.email_from == "webhooks@gatehouse.local"
    assert s.webhook_retry_schedule == (60, 300, 1800)
    assert (s.webhook_warn_after, s.webhook_disable_after) == (72 * 3600, 120 * 3600)


def test_environment_is_parsed_as_before(clean_env):
    from chalicelib.core.settings import from_environ

    clean_env.setenv("GATEHOUSE_STAGE", "prod")
    clean_env.setenv("AWS_REGION", "")  # empty counts as unset: the next name is read
    clean_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    clean_env.setenv("GATEHOUSE_ISSUER", "https://api.example.com/")
    clean_env.setenv("GATEHOUSE_CORS_ORIGINS", "https://a.example, https://b.example,,")
    clean_env.setenv("GATEHOUSE_WEBHOOK_RETRY_SCHEDULE", "5,10")
    clean_env.setenv("GATEHOUSE_BURST_LIMIT", "")
    clean_env.setenv("GATEHOUSE_MAX_BODY_BYTES", "2048")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    clean_env.setenv("GATEHOUSE_WEBHOOK_WARN_AFTER_HOURS", "0.5")
    s = from_environ()
    assert (s.stage, s.region, s.resource_prefix) == ("prod", "eu-west-1", "gatehouse-prod")
    assert s.issuer == "https://api.example.com"
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.webhook_retry_schedule == (5, 10) and s.burst_limit == 100
    assert s.max_body_bytes == 2048 and s.aws_endpoint_url == "http://127.0.0.1:5000"
    assert s.webhook_warn_after == 1800
    clean_env.setenv("GATEHOUSE_RESOURCE_PREFIX", "acme")
    assert from_environ().table_name == "acme-main"


def test_a_malformed_number_fails_loudly(clean_env):
    from pydantic import ValidationError

    from chalicelib.core.settings import from_environ

    clean_env.setenv("GATEHOUSE_BURST_LIMIT", "many")
    with pytest.raises(ValidationError):
        from_environ()


def test_get_settings_is_cached_until_reset(clean_env):
    from chalicelib.core.settings import get_settings, reset_settings

    clean_env.setenv("GATEHOUSE_STAGE", "one")
    reset_settings()
    try:
        first = get_settings()
        clean_env.setenv("GATEHOUSE_STAGE", "two")
        assert get_settings() is first
        reset_settings()
        assert get_settings().stage == "two"
    finally:
        clean_env.undo()
        reset_settings()


def test_aws_clients_follow_the_endpoint_setting(clean_env):
    from chalicelib.core import aws
    from chalicelib.core.settings import reset_settings

    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    reset_settings()
    try:
        assert aws.client("sqs").meta.endpoint_url == "http://127.0.0.1:1"
    finally:
        clean_env.undo()
        reset_settings()
    assert aws.client("sqs").meta.endpoint_url != "http://127.0.0.1:1"


def test_tiers_are_json_and_unknown_variables_are_ignored(clean_env):
    from pydantic import ValidationError

    from chalicelib.core.settings import from_environ

    clean_env.setenv("GATEHOUSE_TIERS", '{"free": 5, "gold": 50}')
    clean_env.setenv("GATEHOUSE_NO_SUCH_SETTING", "x")
    assert from_environ().tiers == {"free": 5, "gold": 50}
    clean_env.setenv("GATEHOUSE_TIERS", '{"free": "lots"}')
    with pytest.raises(ValidationError):
        from_environ()


def test_an_explicit_environment_is_read_instead_of_the_process_one(clean_env):
    from chalicelib.core.settings import from_environ

    clean_env.setenv("GATEHOUSE_STAGE", "process")
    assert from_environ({"GATEHOUSE_STAGE": "given"}).stage == "given"
    assert from_environ({}).stage == "dev"


def test_settings_do_not_import_pydantic_settings():
    """Cold starts: pydantic-settings imports every source it has (~100 ms of CPU)."""
    import subprocess
    import sys

    code = ("import sys, chalicelib.core.settings as s; s.get_settings(); "
            "print('pydantic_settings' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
