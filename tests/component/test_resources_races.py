"""Lost races of the generic service: a write that loses to another is done again from a
fresh read (store.optimistic.retry), and answers 409 only after the last attempt."""

from __future__ import annotations

from typing import Any

from tests.component.helpers import assert_error
from tests.component.test_resources import V, outbox_events, product


def _admin_principal() -> Any:
    from chalicelib.core.principal import Principal

    return Principal(kind="client", id="racer", owner="racer", scopes=frozenset({"admin"}))


def test_an_update_that_loses_a_race_is_redone_on_the_winners_state(admin, monkeypatch):
    from chalicelib.resources import repo, service
    from chalicelib.resources.products import PRODUCTS, ProductUpdate

    made = product(admin, "RACE-1")
    real_commit = repo.commit
    raced: list[bool] = []

    def someone_writes_first(res: Any, ops: Any, events: Any, **kwargs: Any) -> None:
        raced.append(bool(kwargs.get("raced")))
        if len(raced) == 1:  # the request's first attempt: another writer gets in between
            service.update(PRODUCTS, _admin_principal(), made["id"],
                           ProductUpdate(name="Renamed meanwhile"))
        real_commit(res, ops, events, **kwargs)

    monkeypatch.setattr(repo, "commit", someone_writes_first)
    resp = admin.put(f"{V}/products/{made['id']}", {"price": "20.00"})
    assert resp.status_code == 200, resp.body
    # three commits: the first attempt (lost), the other writer's, the second attempt
    assert raced == [True, True, True]
    data = resp.json["data"]
    assert data["price"] == "20.00" and data["name"] == "Renamed meanwhile"
    assert admin.get(f"{V}/products/{made['id']}").json["data"] == data
    names = [e["data"]["name"] for e in outbox_events("product.updated")
             if e["data"]["id"] == made["id"]]
    assert names == ["Renamed meanwhile", "Renamed meanwhile"]


def test_a_write_that_always_loses_answers_409_after_the_last_attempt(admin, monkeypatch):
    from chalicelib.resources import repo
    from chalicelib.store import optimistic
    from chalicelib.store.optimistic import LostRace

    made = product(admin, "RACE-2")
    attempts: list[int] = []

    def always_lost(res: Any, ops: Any, events: Any, **kwargs: Any) -> None:
        assert kwargs.get("raced") is True
        attempts.append(1)
        raise LostRace

    monkeypatch.setattr(repo, "commit", always_lost)
    err = assert_error(admin.put(f"{V}/products/{made['id']}", {"price": "1.00"}),
                       409, "CONFLICT")
    assert "changed concurrently" in err["message"]
    assert len(attempts) == optimistic.ATTEMPTS
    attempts.clear()
    assert_error(admin.delete(f"{V}/products/{made['id']}"), 409, "CONFLICT")
    assert len(attempts) == optimistic.ATTEMPTS
    monkeypatch.undo()
    assert admin.get(f"{V}/products/{made['id']}").json["data"]["price"] == "12.50"


def test_a_concurrent_transaction_on_any_item_is_a_lost_race():
    """DynamoDB cancels a transaction when another is on any of its items at once (the
    UNIQUE# claim, a link): that is a race to redo, not a 409; a failed condition on
    another item is a Conflict naming it."""
    import pytest

    from chalicelib.core.errors import Conflict
    from chalicelib.events import outbox
    from chalicelib.resources import repo
    from chalicelib.resources.products import PRODUCTS
    from chalicelib.store import table as store
    from chalicelib.store.optimistic import LostRace

    ops = [{"Put": {"Item": {"PK": "P#1", "SK": "P"}}},
           {"Put": {"Item": {"PK": "U#1", "SK": "U"}}}]

    def refuse(reasons):
        def transact(_ops, _events):
            raise store.TransactionConflict(reasons)
        return transact

    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(outbox, "transact", refuse(["None", "TransactionConflict"]))
        with pytest.raises(LostRace):
            repo.commit(PRODUCTS, ops, [], raced=True)
        mp.setattr(outbox, "transact", refuse(["None", "ConditionalCheckFailed"]))
        with pytest.raises(Conflict):
            repo.commit(PRODUCTS, ops, [], raced=True)
    finally:
        mp.undo()
