"""A change and its event are written together; an event whose publication died is sent
by the sweeper; sending twice is harmless."""

import json

import pytest


def _messages():
    import boto3

    from chalicelib.core.aws import queue_url

    sqs = boto3.client("sqs", region_name="us-east-1")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url("events"), MaxNumberOfMessages=10)
        batch = got.get("Messages", [])
        if not batch:
            return out
        for m in batch:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url("events"), ReceiptHandle=m["ReceiptHandle"])


def test_change_and_event_commit_together_and_publish(stack):
    from chalicelib.events import outbox
    from chalicelib.store import table as store

    event = outbox.new_event("product.created", {"id": "prd_1"})
    outbox.transact([{"Put": {"Item": {"PK": "PRODUCT#prd_1", "SK": "PRODUCT", "price": 1.5}}}],
                    [event])
    assert store.get("PRODUCT#prd_1", "PRODUCT")["price"] == 1.5
    assert [m["id"] for m in _messages()] == [event["id"]]
    assert "GSI2PK" not in store.get(f"OUTBOX#{event['id']}", "EVENT")  # no longer pending
    assert outbox.sweep() == 0


def test_failed_condition_writes_neither_change_nor_event(stack):
    from chalicelib.events import outbox
    from chalicelib.store import table as store

    store.put({"PK": "PRODUCT#prd_2", "SK": "PRODUCT"})
    event = outbox.new_event("product.created", {"id": "prd_2"})
    with pytest.raises(store.TransactionConflict):
        outbox.transact([{"Put": {"Item": {"PK": "PRODUCT#prd_2", "SK": "PRODUCT", "v": 2},
                                  "ConditionExpression": "attribute_not_exists(PK)"}}],
                        [event])
    assert store.get(f"OUTBOX#{event['id']}", "EVENT") is None
    assert "v" not in store.get("PRODUCT#prd_2", "PRODUCT")
    assert _messages() == []


def test_sweeper_sends_what_a_dead_writer_left(stack, monkeypatch):
    from chalicelib.core import clock
    from chalicelib.events import outbox

    # The process "dies" between the commit and the queue: publish never happens.
    monkeypatch.setattr(outbox, "publish", lambda events: None)
    event = outbox.new_event("order.created", {"id": "ord_1"})
    outbox.transact([{"Put": {"Item": {"PK": "ORDER#ord_1", "SK": "ORDER"}}}], [event])
    monkeypatch.undo()
    assert _messages() == []
    assert outbox.sweep() == 0  # too fresh: its writer may still be publishing it
    clock.advance(outbox.SWEEP_AFTER + 1)
    assert outbox.sweep() == 1
    assert [m["id"] for m in _messages()] == [event["id"]]
    assert outbox.sweep() == 0


def test_erasure_rewrites_the_copies_registered_and_keeps_other_links(stack, monkeypatch):
    """privacy knows no kind of copy: each registers its rewrite under its link prefix.
    The outbox event (the origin) is rewritten first; a link of a prefix nobody
    registered fails the erasure (closed) and is kept, as is a link whose copy does not
    exist yet, for a later erasure."""
    from chalicelib.events import outbox, privacy
    from chalicelib.store import table as store

    subject = "live#cus_1"
    event = outbox.new_event("customer.updated", {"id": "cus_1", "email": "ada@example.org"},
                             subject=subject, personal={"email": None})
    outbox.transact([], [event])
    pk = privacy.subject_pk(subject)
    for copy in ("copy1", "copy2"):
        store.put(privacy.link_item(subject, f"TST#{copy}", 4102444800))
    with pytest.raises(privacy.UnregisteredCopies, match="TST#"):
        privacy.erase(subject)  # the event is rewritten, but TST# copies nobody can
    kept = json.loads(store.get(f"OUTBOX#{event['id']}", "EVENT")["event"])
    assert kept["data"] == {"id": "cus_1"}
    assert store.get(pk, f"EVT#{event['id']}") is None
    assert store.get(pk, "TST#copy1") and store.get(pk, "TST#copy2")

    order: list[str] = []

    def rewrite(copy_id: str) -> int:
        order.append(copy_id)
        return 1 if copy_id == "copy1" else 0  # copy2 is still being made

    monkeypatch.setitem(privacy._REWRITES, "TST#", (rewrite, False))
    assert privacy.erase(subject) == 1
    assert order == ["copy1", "copy2"]
    assert store.get(pk, "TST#copy1") is None
    assert store.get(pk, "TST#copy2") is not None


def test_publish_keeps_what_the_queue_refused_pending(stack, monkeypatch):
    """send_message_batch refuses entries one by one without raising: a refused event
    keeps its pending mark, so the sweeper sends it later; the others are cleared."""
    from chalicelib.core import aws, clock
    from chalicelib.events import outbox
    from chalicelib.store import table as store

    events = [outbox.new_event("order.created", {"id": f"ord_{i}"}) for i in range(3)]
    store.transact([put for e in events for put in outbox.outbox_puts(e)])
    sqs = aws.client("sqs")
    real = sqs.send_message_batch

    def refuse_second(**kwargs):
        entries = kwargs["Entries"]
        resp = real(**{**kwargs, "Entries": [e for e in entries if e["Id"] != "1"]})
        resp["Failed"] = [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]
        return resp

    monkeypatch.setattr(sqs, "send_message_batch", refuse_second)
    outbox.publish(events)
    monkeypatch.undo()
    pending = [bool(store.get(f"OUTBOX#{e['id']}", "EVENT").get("GSI2PK")) for e in events]
    assert pending == [False, True, False]
    clock.advance(outbox.SWEEP_AFTER + 1)
    assert outbox.sweep() == 1
    assert sorted(m["id"] for m in _messages()) == sorted(e["id"] for e in events)


def test_deferred_publishes_once_at_its_end_in_batches(stack, monkeypatch):
    """A bulk writer's events are committed one transaction at a time but sent together:
    nothing reaches the queue before the block ends, then all of them, 10 per call."""
    from chalicelib.events import outbox
    from chalicelib.store import table as store

    calls = []
    real = outbox.publish
    monkeypatch.setattr(outbox, "publish", lambda events: (calls.append(len(events)),
                                                           real(events)))
    events = [outbox.new_event("product.created", {"id": f"prd_d{i}"}) for i in range(12)]
    with outbox.deferred():
        for i, event in enumerate(events):
            outbox.transact([{"Put": {"Item": {"PK": f"PRODUCT#prd_d{i}", "SK": "PRODUCT"}}}],
                            [event])
            with outbox.deferred():   # nested: the outer block publishes
                pass
        assert calls == [] and _messages() == []
        assert "GSI2PK" in store.get(f"OUTBOX#{events[0]['id']}", "EVENT")  # pending
    assert calls == [12]
    assert sorted(m["id"] for m in _messages()) == sorted(e["id"] for e in events)
    assert outbox.sweep() == 0


def test_deferred_events_are_left_pending_for_the_sweeper_when_the_block_dies(
        stack, monkeypatch):
    from chalicelib.events import outbox

    event = outbox.new_event("product.created", {"id": "prd_dead"})
    with pytest.raises(RuntimeError), outbox.deferred():
        outbox.transact([{"Put": {"Item": {"PK": "PRODUCT#prd_dead", "SK": "PRODUCT"}}}],
                        [event])
        monkeypatch.setattr(outbox, "publish", lambda events: None)  # the writer dies
        raise RuntimeError("died mid-chunk")
    monkeypatch.undo()
    monkeypatch.setattr(outbox, "SWEEP_AFTER", -1)
    assert outbox.sweep() == 1
    assert [m["id"] for m in _messages()] == [event["id"]]
