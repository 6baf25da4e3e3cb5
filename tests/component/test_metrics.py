"""Metrics as CloudWatch EMF lines on stdout (core.metrics): a 429 prints RateLimitBreach
when its request ends; handlers print what they counted when their event ends."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.component.helpers import client_grant, make_client

PROBE = "/api/v1/oauth/token/validate"


def emf_lines(out: str) -> list[dict[str, Any]]:
    found = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def metric(line: dict[str, Any]) -> tuple[str, list[str], list[list[str]]]:
    spec = line["_aws"]["CloudWatchMetrics"][0]
    return spec["Namespace"], [m["Name"] for m in spec["Metrics"]], spec["Dimensions"]


@pytest.fixture
def _logger_made() -> None:
    """The app's logger writes to the sys.stdout of its creation: made before capsys
    swaps it, or it would keep writing to this test's capture after it."""
    from chalicelib.core.logging import get_logger

    get_logger()


@pytest.fixture
def quiet(_logger_made: None, capsys: Any) -> Any:
    from chalicelib.core import metrics

    metrics.flush()  # nothing left from another test
    capsys.readouterr()
    return capsys


def test_a_429_prints_a_rate_limit_breach_metric(admin, api, quiet):
    cid, secret = make_client(admin, ["orders:read"], rateLimit=2)
    bearer = api.as_bearer(client_grant(api, cid, secret).json["access_token"])
    assert bearer.get(PROBE).status_code == 200
    assert emf_lines(quiet.readouterr().out) == []  # nothing to report, nothing printed
    assert bearer.get(PROBE).status_code == 429
    lines = emf_lines(quiet.readouterr().out)
    assert len(lines) == 1, lines
    namespace, names, dimensions = metric(lines[0])
    assert namespace == "Gatehouse" and names == ["RateLimitBreach"]
    assert sorted(dimensions[0]) == ["kind", "service", "stage"]
    assert lines[0]["kind"] == "client" and lines[0]["stage"] == "test"
    assert lines[0]["service"] == "gatehouse-api" and lines[0]["RateLimitBreach"] == [1.0]


def test_an_anonymous_429_counts_as_ip(api, quiet):
    from chalicelib.auth import limiter
    from chalicelib.core.settings import get_settings

    while limiter.charge_ip("127.0.0.1", get_settings().anonymous_hourly_limit, 10**6).allowed:
        pass
    assert api.get(PROBE).status_code == 429
    lines = emf_lines(quiet.readouterr().out)
    assert [(metric(x)[1], x["kind"]) for x in lines] == [(["RateLimitBreach"], "ip")]


def test_a_429_at_the_token_endpoint_counts_as_the_client(admin, api, quiet):
    """The view answers this 429 itself (OAuth form), not the edge: the refused client,
    verified by its secret, still reaches the metric as a client."""
    cid, secret = make_client(admin, ["orders:read"], rateLimit=1)
    assert client_grant(api, cid, secret).status_code == 200
    quiet.readouterr()
    assert client_grant(api, cid, secret).status_code == 429
    lines = emf_lines(quiet.readouterr().out)
    assert [(metric(x)[1], x["kind"]) for x in lines] == [(["RateLimitBreach"], "client")]


def test_one_line_per_set_of_dimensions(quiet):
    from chalicelib.core import metrics

    metrics.count("DeliveryAttempt", outcome="success")
    metrics.count("DeliveryAttempt", outcome="success")
    metrics.count("DeliveryAttempt", 3, outcome="failure")
    metrics.count("DeliveryLatencyBudget", outcome="failure")
    assert metrics.flush() == 2
    lines = emf_lines(quiet.readouterr().out)
    by_outcome = {x["outcome"]: x for x in lines}
    assert by_outcome["success"]["DeliveryAttempt"] == [1.0, 1.0]
    assert by_outcome["failure"]["DeliveryAttempt"] == [3.0]
    assert by_outcome["failure"]["DeliveryLatencyBudget"] == [1.0]
    assert metrics.flush() == 0 and emf_lines(quiet.readouterr().out) == []


def test_disabled_metrics_print_nothing(quiet, monkeypatch):
    from chalicelib.core import metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.count("RateLimitBreach", kind="ip")
    metrics.flush()
    assert emf_lines(quiet.readouterr().out) == [] and metrics.pending() == 0


def test_a_count_without_a_number_fails_where_it_is_made():
    from chalicelib.core import metrics

    with pytest.raises(ValueError):
        metrics.count("RateLimitBreach", "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        metrics.count("", 1)
    assert metrics.pending() == 0


def test_a_lambda_handler_prints_its_metrics_when_it_ends(quiet):
    from chalicelib.core import metrics
    from chalicelib.core.logging import lambda_handler

    @lambda_handler
    def deliver(event: Any) -> str:
        metrics.count("DeliveryAttempt", outcome="success")
        return "ok"

    assert deliver(SimpleNamespace(context=None)) == "ok"
    lines = emf_lines(quiet.readouterr().out)
    assert [(metric(x)[1], x["outcome"]) for x in lines] == [(["DeliveryAttempt"], "success")]


def test_a_failed_flush_is_logged_never_raised(monkeypatch):
    from chalicelib.core import metrics
    from tests.component.test_log_lines import captured

    def broken() -> int:
        raise OSError("stdout closed")

    monkeypatch.setattr(metrics, "flush", broken)
    with captured() as got:
        metrics.flush_metrics()
    assert [(g["level"], g["message"]) for g in got] == [("ERROR", "metrics not flushed")]
    assert "stdout closed" in got[0]["exception"]
