"""The webhook delivery engine in this process (issue 8, section 5, "Webhook throughput"),
against a loopback receiver in its own process that answers in 10 ms. Every invocation
gets an SQS batch of 10 messages, the batch size app.py asks for.

 1. DynamoDB calls per delivery, by operation, against moto. Goal: 2 writes per
    delivery, plus 1 read per batch.
 2. Our own CPU per delivery: this process's CPU less what moto spends answering, with a
    per-thread CPU profile (bench/webhook_cpu.py). Goal <= 1 ms.
 3. A MODEL, not a measurement of AWS: the engine against a store whose every call
    answers after 5 ms of waiting and no CPU (bench/webhook_model.py), invocations of 10
    one after another. Reported: one invocation's rate as a share of what the receiver
    answers over keep-alive connections (its limit; the engine keeps its connections for
    the batch), and how many invocations at once (Lambda runs them side by side, each in
    its own environment) reach the goal of 50% of that limit. One delivery after another
    would take 2 x 5 ms + 10 ms: 50/s. The same invocations against moto are reported
    beside it: there moto's CPU per call is the bound (the emulator's, not the engine's).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import Counter
from typing import Any

from bench.stats import percentile
from bench.webhook_fixture import Fixture, deliver, delivered

BATCH = 10  # app.py: the webhooks queue's batch_size
GOAL_OF_LIMIT = 0.5
RECEIVER_WAIT = 0.010
READS = ("GetItem", "BatchGetItem", "Query", "Scan")


def calls_per_delivery(fx: Fixture, batches: int = 10) -> dict[str, Any]:
    from bench.harness import DynamoCounter

    records = fx.records(BATCH * batches)
    counter = DynamoCounter()
    deliver(records, BATCH)
    by_op = Counter(counter.calls)
    assert delivered(records) == len(records)
    reads = sum(by_op[op] for op in READS)
    writes = sum(n for op, n in by_op.items() if op not in READS)
    return {"deliveries": len(records), "batches": batches, "byOperation": dict(by_op),
            "writesPerDelivery": round(writes / len(records), 2),
            "readsPerBatch": round(reads / batches, 2)}


def cpu_of(records: list[dict[str, Any]]) -> float:
    """CPU ms per delivery over batches of 10."""
    started = time.process_time()
    deliver(records, BATCH)
    return (time.process_time() - started) * 1000 / len(records)


def invocations(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The records as invocations of BATCH, one after another: wall time of each."""
    from chalicelib.webhooks import worker

    took = []
    for start in range(0, len(records), BATCH):
        began = time.perf_counter()
        result = worker.deliver_batch({"Records": records[start:start + BATCH]})
        took.append(time.perf_counter() - began)
        assert result == {"batchItemFailures": []}, result
    p50 = percentile(took, 50)
    return {"invocations": len(took), "p50Ms": round(p50 * 1000, 1),
            "p99Ms": round(percentile(took, 99) * 1000, 1),
            "perSecond": round(len(records) / sum(took), 1)}


def http_alone(url: str, body: str, n: int) -> float:
    """Deliveries/s of the transport alone (no store), batches of BATCH one after another."""
    from bench.webhook_receiver import send_all
    from chalicelib.webhooks.delivery import transport

    started = time.perf_counter()
    for _ in range(n // BATCH):
        send_all([transport.Request(url, {"content-type": "application/json"}, body, 30)
                  for _ in range(BATCH)])
    return n / (time.perf_counter() - started)


def _log(message: str) -> None:
    print(f"  webhook engine: {message}", file=sys.stderr, flush=True)


def run(n_moto: int = 200, n_model: int = 1000) -> dict[str, Any]:
    from bench.harness import in_process_stack
    from bench.webhook_cpu import cpu_per_delivery
    from bench.webhook_model import STORE_WAIT, ModelStore, model_records, without_sdk
    from bench.webhook_receiver import capacity, capacity_keepalive, receiver

    os.environ["GATEHOUSE_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    out: dict[str, Any] = {}
    with receiver() as url:
        with in_process_stack():
            from chalicelib.core import aws
            from chalicelib.core.settings import get_settings, reset_settings

            reset_settings()
            fx = Fixture(url)
            out["calls"] = calls_per_delivery(fx)
            _log(f"calls {out['calls']}")
            out["cpu"] = cpu_per_delivery(fx)
            _log(f"cpu {out['cpu']['oursMsPerDelivery']} ms per delivery")
            records = fx.records(n_moto)
            on_moto = invocations(records)
            assert delivered(records) == n_moto
            http_rate = http_alone(url, repo_body(records[0]), n_model)
            records, items = model_records(fx, n_model)
            secret = aws.client("secretsmanager").get_secret_value(
                SecretId=get_settings().secret_id)["SecretString"]
        limit_keepalive = capacity_keepalive(url, 2 * n_model)
        limit_new = capacity(url, n_model)
        _log(f"moto {on_moto}, HTTP alone {http_rate:.1f}/s, receiver keep-alive "
             f"{limit_keepalive:.1f}/s (new connections {limit_new:.1f}/s)")
        # Out of moto: fresh clients, answered by the model. The model keeps no writes,
        # so the same deliveries are pending for every run.
        aws.reset()
        store = ModelStore(items, secret)
        store.attach()
        try:
            deliver(records[:50], BATCH)  # warm: clients, the keyring
            store.calls.clear()
            store.max_in_flight = 0
            model = invocations(records)
            calls = dict(store.calls)
            store.wait = 0.0
            with_sdk = cpu_of(records[:300])
            with without_sdk(items):
                without = cpu_of(records[:300])
        finally:
            aws.reset()
    out["cpu"]["modelStore"] = {
        "note": "batches of 10 against the model store answering at once, no moto",
        "msPerDelivery": round(with_sdk, 3), "withoutSdkMsPerDelivery": round(without, 3),
        "sdkMsPerDelivery": round(with_sdk - without, 3)}
    goal_rate = GOAL_OF_LIMIT * limit_keepalive
    out["model"] = {
        "note": f"MODEL: every store call answers after {STORE_WAIT * 1000:g} ms, no CPU; "
                f"invocations of {BATCH} one after another",
        "deliveries": n_model, **model,
        "receiverKeepAliveLimitPerSecond": round(limit_keepalive, 1),
        "ofKeepAliveLimit": round(model["perSecond"] / limit_keepalive, 3),
        "receiverNewConnectionLimitPerSecond": round(limit_new, 1),
        "ofNewConnectionLimit": round(model["perSecond"] / limit_new, 3),
        "goalPerSecond": round(goal_rate, 1),
        "invocationsAtOnceForGoal": math.ceil(goal_rate / model["perSecond"]),
        "serialPerSecond": round(1 / (2 * STORE_WAIT + RECEIVER_WAIT), 1),
        "storeCalls": calls, "storeCallsInFlightMax": store.max_in_flight}
    out["moto"] = {"deliveries": n_moto, **on_moto,
                   "ofKeepAliveLimit": round(on_moto["perSecond"] / limit_keepalive, 3),
                   "httpSideAlonePerSecond": round(http_rate, 1),
                   "httpSideAloneOfKeepAliveLimit": round(http_rate / limit_keepalive, 3)}
    _log(f"model {out['model']}")
    return out


def repo_body(rec: dict[str, Any]) -> str:
    from chalicelib.webhooks.delivery import repo

    item = repo.get(json.loads(rec["body"])["deliveryId"])
    assert item is not None
    return str(item["body"])


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
