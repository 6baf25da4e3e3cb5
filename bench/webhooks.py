"""Benchmarks 5-7, webhooks:
 5. throughput of one deliver_batch invocation (1,000 deliveries) to a loopback receiver
    answering in 10 ms, against the receiver's own capacity (the limit, measured in the
    same run) and a sequential loop;
 6. latency from the API write (POST /products) to the first delivery attempt, in the
    local stack (`python -m devstack`, as `make run`);
 7. retry timer accuracy in the local stack: scheduled (nextAttemptAt) vs actual time of
    the retry's arrival, p99 error.
The receiver of 5 runs in its own process (its capacity must not share our GIL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECEIVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # headers and body in one segment (no Nagle/delayed-ACK stall)
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.010)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
class S(ThreadingHTTPServer):
    request_queue_size = 2048  # the listen backlog: read at bind time
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True); s.serve_forever()
"""


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))]


def _receiver() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/hooks"


def _capacity(url: str, n: int, concurrency: int = 200) -> float:
    """Requests per second the receiver answers when hammered by a minimal client (raw
    asyncio streams, one connection per request): its own limit, not a client's."""
    import asyncio
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    request = (b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
               b"Connection: close\r\n\r\n{}")

    async def main() -> float:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                await reader.read()
                writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - started)

    return asyncio.run(main())


def _sequential(url: str, n: int) -> float:
    import httpx

    with httpx.Client() as c:
        started = time.perf_counter()
        for _ in range(n):
            c.post(url, content=b"{}")
        return n / (time.perf_counter() - started)


def send_all(reqs: list[Any]) -> None:
    """Every request concurrently through the engine's transport (the HTTP side alone:
    a batch runs each attempt within its message's coroutine, between DynamoDB steps)."""
    import asyncio

    from chalicelib.webhooks.delivery import transport

    async def main() -> None:
        clients = transport.Clients()
        try:
            await asyncio.gather(*(transport.send(r, clients) for r in reqs))
        finally:
            await clients.close()

    if reqs:
        asyncio.run(main())


def throughput(n: int = 1000) -> dict[str, Any]:
    from bench.harness import in_process_stack

    os.environ["GATEHOUSE_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    proc, url = _receiver()
    try:
        with in_process_stack():
            from chalicelib.core.principal import Principal
            from chalicelib.core.settings import reset_settings
            from chalicelib.events import outbox
            from chalicelib.webhooks import service, worker
            from chalicelib.webhooks.delivery import repo, transport
            from chalicelib.webhooks.models import CreateWebhook

            reset_settings()
            from chalicelib.auth.users import service as users

            # The bootstrap admin client, acting for the admin user: fan-out sends only
            # what a webhook's owner may read now, so the owner must exist.
            admin_user = users.user_by_name("admin")
            assert admin_user is not None
            actor = Principal("client", "admin", str(admin_user["userId"]), frozenset({"admin"}))
            hook_id = service.create(actor, CreateWebhook(url=url, events=["product.created"]))[
                "id"]
            records = []
            for start in range(0, n, 10):
                events = [outbox.new_event("product.created", {"id": f"prd_{i}"})
                          for i in range(start, start + 10)]
                worker.fan_out_batch({"Records": [
                    {"messageId": e["id"], "body": json.dumps(e)} for e in events]})
                records += [{"messageId": f"m{start + i}", "body": json.dumps(
                    {"deliveryId": repo.delivery_id(e["id"], hook_id), "seq": 0})}
                    for i, e in enumerate(events)]
            limit = _capacity(url, n)
            sequential = _sequential(url, 200)
            # The HTTP side alone: the same number of signed requests through the same
            # pools, with no DynamoDB work (here moto, in this process).
            sample = repo.batch_get([json.loads(records[0]["body"])["deliveryId"]])
            body = next(iter(sample.values()))["body"]
            reqs = [transport.Request(url, {"content-type": "application/json"}, body, 30)
                    for _ in records]
            t0 = time.perf_counter()
            send_all(reqs)
            http_seconds = time.perf_counter() - t0
            started = time.perf_counter()
            result = worker.deliver_batch({"Records": records})
            took = time.perf_counter() - started
            assert result == {"batchItemFailures": []}, result
            items = [repo.get(json.loads(r["body"])["deliveryId"]) for r in records]
            delivered = sum(1 for i in items if i and i["status"] == "delivered")
            errors: dict[str, int] = {}
            for i in items:
                for a in (i or {}).get("attempts", []):
                    if a.get("error"):
                        errors[a["error"][:60]] = errors.get(a["error"][:60], 0) + 1
    finally:
        proc.terminate()
        proc.wait()
    rate = delivered / took
    return {"deliveries": n, "delivered": delivered, "seconds": round(took, 2),
            "perSecond": round(rate, 1), "receiverLimitPerSecond": round(limit, 1),
            "sequentialPerSecond": round(sequential, 1),
            "ofLimit": round(rate / limit, 3), "vsSequential": round(rate / sequential, 1),
            "httpPhaseSeconds": round(http_seconds, 2),
            "httpPhasePerSecond": round(n / http_seconds, 1),
            "httpPhaseOfLimit": round(n / http_seconds / limit, 3),
            "errors": errors}


def local_stack(n_latency: int = 40, n_timer: int = 30) -> dict[str, Any]:
    """Benchmarks 6 and 7 against the local stack started as `make run` starts it."""
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
        "writeToAttempt": {"n": len(latencies), "p50Ms": round(_pct(latencies, 50), 1),
                           "p99Ms": round(_pct(latencies, 99), 1)},
        "retryTimer": {"n": len(errors), "p50ErrorMs": round(_pct(errors, 50), 1),
                       "p99ErrorMs": round(_pct(errors, 99), 1),
                       "maxErrorMs": round(max(errors), 1)},
    }


def run() -> dict[str, Any]:
    out = local_stack()
    out["throughput"] = throughput()
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
