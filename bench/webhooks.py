"""Webhook benchmarks (issue 8, section 5, "Webhook throughput"); the delivery engine in
one process (DynamoDB calls, our CPU, the MODEL) is bench/webhook_engine.py, run apart:
 - in the local stack (`python -m devstack`, as `make run`): latency from an API write
   (POST /products) to its first delivery attempt, one at a time; a burst of 200 orders
   created at once (32 clients): write-to-first-attempt p50/p99 and the queue's drain
   time; and the retry timer's accuracy (scheduled nextAttemptAt vs the retry's arrival).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
BURST = 200
BURST_CLIENTS = 32


def burst(api: Any, base: str, n: int = BURST, clients: int = BURST_CLIENTS) -> dict[str, Any]:
    """n orders created at once through the API by `clients` threads, each with its own
    keep-alive connection: from each order's write (its 201) to its webhook's first
    attempt, and from the first request to the last first attempt (the queue drained)."""
    import httpx

    from tests.webhook_receiver import Receiver

    tag = str(int(time.time() * 1000))
    cust = api.post("/api/v1/customers", json={"email": f"burst-{tag}@example.com",
                                                "name": "Burst"}).json()["data"]
    prod = api.post("/api/v1/products", json={"sku": f"BURST-{tag}", "name": "burst",
                                               "price": "1.00"}).json()["data"]
    local = threading.local()
    written: dict[str, float] = {}
    api_ms: list[float] = []

    def create(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, headers=dict(api.headers), timeout=60)
        sent = time.time()
        resp = local.client.post("/api/v1/orders", json={
            "customerId": cust["id"], "items": [{"productId": prod["id"], "quantity": 1,
                                                 "price": "1.00"}],
            "shippingAddress": {"street": "1 Main St", "city": "Springfield",
                                "zip": "62704", "country": "US"}})
        done = time.time()
        assert resp.status_code == 201, resp.text
        written[resp.json()["data"]["id"]] = done
        api_ms.append((done - sent) * 1000)

    with Receiver() as rcv:
        api.post("/api/v1/webhooks", json={"url": rcv.url, "events": ["order.created"]})
        started = time.time()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(create, range(n)))
        last_write = time.time()
        got = rcv.wait_for(n, timeout=300)
    firsts = {json.loads(r.body)["data"]["id"]: r.at for r in got
              if r.headers.get("x-webhook-attempt") == "1"}
    latencies = [(firsts[oid] - at) * 1000 for oid, at in written.items()]
    return {"orders": n, "clients": clients,
            "writeToFirstAttempt": {"p50Ms": round(percentile(latencies, 50), 1),
                                    "p99Ms": round(percentile(latencies, 99), 1),
                                    "maxMs": round(max(latencies), 1)},
            "apiP50Ms": round(percentile(api_ms, 50), 1),
            "writesSeconds": round(last_write - started, 2),
            "drainSeconds": round(max(firsts.values()) - started, 2),
            "drainAfterLastWriteSeconds": round(max(firsts.values()) - last_write, 2)}


def local_stack(n_latency: int = 40, n_timer: int = 30) -> dict[str, Any]:
    """Against the local stack started as `make run` starts it."""
    import httpx

    from tests.e2e.conftest import _child_env, _free_port, _stop, _wait_healthy
    from tests.webhook_receiver import Action, Receiver

    port, aws_port = _free_port(), _free_port()
    env = _child_env(port, aws_port)
    env["GATEHOUSE_BURST_LIMIT"] = "100000"
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait_healthy(proc, base), "local stack did not start"
        from tests.e2e.conftest import ADMIN_SECRET

        token = httpx.post(f"{base}/api/v1/oauth/token",
                           data={"grant_type": "client_credentials"},
                           auth=("admin", ADMIN_SECRET)).json()["access_token"]
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                           timeout=10)
        with Receiver() as rcv:
            api.post("/api/v1/webhooks", json={"url": rcv.url, "events": ["product.created"]})
            latencies = []
            for i in range(n_latency):
                before = len(rcv.requests)
                sent = time.time()
                resp = api.post("/api/v1/products", json={
                    "sku": f"B-{i}-{int(sent)}", "name": "bench", "price": "1.00"})
                assert resp.status_code == 201, resp.text
                got = rcv.wait_for(before + 1, timeout=15)[before]
                latencies.append((got.at - sent) * 1000)
        with Receiver() as rcv:
            seen: set[str] = set()

            def first_fails(req: Any) -> Action:
                wid = req.headers["webhook-id"]
                if wid in seen:
                    return Action(200)
                seen.add(wid)
                return Action(500)

            rcv.decide = first_fails
            hook = api.post("/api/v1/webhooks", json={
                "url": rcv.url, "events": ["product.updated"]}).json()["data"]
            for _ in range(n_timer):
                api.post(f"/api/v1/webhooks/{hook['id']}/test")
            rcv.wait_for(2 * n_timer, timeout=60)
            burst_result = burst(api, base)
            time.sleep(0.5)
            from chalicelib.core.clock import parse_iso

            arrivals = {r.headers["webhook-id"]: r.at for r in rcv.requests
                        if r.headers["x-webhook-attempt"] == "2"}
            errors = []
            cursor = None
            while True:
                page = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries",
                               params={"perPage": 100, **({"cursor": cursor} if cursor else {})}
                               ).json()
                for d in page["data"]:
                    scheduled = parse_iso(d["attempts"][0]["nextAttemptAt"])
                    errors.append(abs(arrivals[d["eventId"]] - scheduled) * 1000)
                cursor = page["pagination"]["nextCursor"]
                if not cursor:
                    break
        api.close()
    finally:
        _stop(proc)
        log.close()
    return {
        "burst": burst_result,
        "writeToAttempt": {"n": len(latencies), "p50Ms": round(percentile(latencies, 50), 1),
                           "p99Ms": round(percentile(latencies, 99), 1)},
        "retryTimer": {"n": len(errors), "p50ErrorMs": round(percentile(errors, 50), 1),
                       "p99ErrorMs": round(percentile(errors, 99), 1),
                       "maxErrorMs": round(max(errors), 1)},
    }


def run() -> dict[str, Any]:
    return local_stack()


def rows(result: dict[str, Any], eng: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The table's rows (what, measured, goal), with the engine's (bench/webhook_engine)."""
    calls, cpu, model, moto = eng["calls"], eng["cpu"], eng["model"], eng["moto"]
    split, bur = cpu["modelStore"], result["burst"]
    ops = ", ".join(f"{op} {n}" for op, n in sorted(calls["byOperation"].items()))
    return [
        ("webhook DynamoDB calls", f"{calls['writesPerDelivery']} writes/delivery, "
         f"{calls['readsPerBatch']} reads/batch of 10 ({ops} for {calls['deliveries']})",
         "2 writes + 1 read/batch"),
        ("webhook CPU/delivery, ours (moto's off)", f"{cpu['oursMsPerDelivery']} ms (moto's "
         f"{cpu['motoMsPerDelivery']} ms subtracted)", "<= 1 ms"),
        ("  vs a store answering at once", f"{split['msPerDelivery']} ms: the SDK (boto3) "
         f"{split['sdkMsPerDelivery']} ms, the rest {split['withoutSdkMsPerDelivery']} ms",
         "report"),
        ("MODEL: invocation of 10, 5 ms store", f"{model['perSecond']}/s = "
         f"{model['ofKeepAliveLimit']:.0%} of the receiver's keep-alive limit "
         f"{model['receiverKeepAliveLimitPerSecond']}/s; "
         f"{model['invocationsAtOnceForGoal']} invocations at once reach 50%",
         ">= 50% of limit"),
        ("  MODEL: one invocation's time", f"p50 {model['p50Ms']} ms, p99 {model['p99Ms']} "
         f"ms (one by one: {model['serialPerSecond']}/s); "
         f"{model['ofNewConnectionLimit']:.0%} of the new-connection limit "
         f"{model['receiverNewConnectionLimitPerSecond']}/s", "report"),
        ("  invocations of 10 against moto", f"{moto['perSecond']}/s "
         f"({moto['ofKeepAliveLimit']:.0%}); HTTP side alone {moto['httpSideAlonePerSecond']}"
         f"/s ({moto['httpSideAloneOfKeepAliveLimit']:.0%})", "report"),
        ("API write -> first attempt, one by one", f"p50 {result['writeToAttempt']['p50Ms']} "
         f"ms, p99 {result['writeToAttempt']['p99Ms']} ms", "report"),
        (f"burst of {bur['orders']} orders: write -> 1st attempt",
         f"p50 {bur['writeToFirstAttempt']['p50Ms']} ms, p99 "
         f"{bur['writeToFirstAttempt']['p99Ms']} ms", "report"),
        ("  queue drained", f"{bur['drainSeconds']} s after the first write "
         f"({bur['drainAfterLastWriteSeconds']} s after the last)", "report"),
        ("retry timer error", f"p50 {result['retryTimer']['p50ErrorMs']} ms, "
         f"p99 {result['retryTimer']['p99ErrorMs']} ms", "report"),
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
