"""Which failed pushes are tried again: network failures, 5xx, 408, 425, 429 and 401;
any other 4xx and a 3xx fail at once; a config that no longer validates drops the push
(never an endless retry)."""

from __future__ import annotations

import pytest

from tests.component.integration_sync_helpers import allow_loopback
from tests.component.test_integration_push import connected, event, fan_out, logged, queued, run
from tests.conftest import Api
from tests.webhook_receiver import Action, Receiver


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)
    from chalicelib.integrations import push_worker

    # The message never comes back here (SQS's clock is real).
    monkeypatch.setattr(push_worker, "come_back_in", lambda _handle, _wait: None)


def one_push(admin: Api, receiver: Receiver, status: int) -> tuple[str, list[str]]:
    """A push answered `status`: the connection and the messages to come again."""
    receiver.default = Action(status=status, headers={"Location": "https://elsewhere/"}
                              if 300 <= status < 400 else {})
    conn = connected(admin, receiver.url, ["product.created"])
    fan_out(admin, event())
    [message] = queued()
    return conn, run([message])


@pytest.mark.parametrize("status", [401, 408, 425, 429, 500, 502, 503])
def test_answers_a_later_try_may_pass_are_retried(admin: Api, receiver: Receiver,
                                                  status: int) -> None:
    conn, again = one_push(admin, receiver, status)
    assert len(again) == 1
    [push] = logged(conn)
    assert push["status"] == "pending" and push["attempts"] == 1, push
    assert push["lastError"].endswith(f"answered {status}")


@pytest.mark.parametrize("status", [301, 302, 400, 403, 404, 410, 413, 422])
def test_other_answers_fail_at_once(admin: Api, receiver: Receiver, status: int) -> None:
    from chalicelib.integrations import repo

    conn, again = one_push(admin, receiver, status)
    assert again == []
    [push] = logged(conn)
    assert push["status"] == "failed" and push["attempts"] == 1, push
    assert f"answered {status}" in push["lastError"]
    assert len(receiver.requests) == 1
    last = (repo.get_item(conn) or {})["lastPushError"]
    assert f"answered {status}" in last["message"]


def test_a_refused_connection_is_retried(admin: Api) -> None:
    conn = connected(admin, "http://127.0.0.1:9/hooks", ["product.created"])
    fan_out(admin, event())
    [message] = queued()
    assert len(run([message])) == 1
    [push] = logged(conn)
    assert push["status"] == "pending" and push["attempts"] == 1, push


def test_a_config_that_no_longer_validates_drops_the_push(admin: Api,
                                                         receiver: Receiver) -> None:
    """A config stored before its type's model tightened (an operator's list, a field
    removed): another try validates no better."""
    from chalicelib.store import table as store

    conn = connected(admin, receiver.url, ["product.created"])
    store.table().update_item(Key={"PK": f"INTEGRATION#{conn}", "SK": "INTEGRATION"},
                              UpdateExpression="SET config.retired = :x",
                              ExpressionAttributeValues={":x": "a field no longer known"})
    fan_out(admin, event())
    [message] = queued()
    assert run([message]) == []
    [push] = logged(conn)
    assert push["status"] == "dropped", push
    assert push["reason"] == "the integration's config is no longer valid for its type"
    assert receiver.requests == []


def test_the_retry_span_is_stated_as_the_backoff_adds_up() -> None:
    from pathlib import Path

    from chalicelib.integrations import push_worker

    hours = f"{sum(push_worker.BACKOFF) / 3600:.1f} h"
    assert (sum(push_worker.BACKOFF), hours) == (81_360, "22.6 h")
    root = Path(__file__).resolve().parents[2]
    for path in ("chalicelib/integrations/push_worker.py", "docs/integrations.md",
                 "chalicelib/integrations/push_routes.py"):
        text = " ".join((root / path).read_text().split())
        assert f"about {hours}" in text, path
        assert "23.6 h" not in text and "over about a day" not in text, path
