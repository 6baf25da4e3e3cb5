"""The webhook delivery engine in this process (issue 8, section 5, "Webhook throughput"),
against a loopback receiver in its own process that answers in 10 ms:

 1. DynamoDB calls per delivery, by operation, over SQS batches of 10 (the batch size
    app.py asks for) against moto. Goal: 2 writes per delivery, plus 1 read per batch.
 2. Our own CPU per delivery: this process's CPU over those batches less what moto
    spends answering (timed in each thread around moto's botocore stub). Goal <= 1 ms.
    A profile of the same batches (one CPU-time cProfile per thread) says where it goes.
 3. A MODEL, not a measurement of AWS: the engine against a store whose every call
    answers after 5 ms of waiting and no CPU (botocore still builds, signs and parses
    each call; a before-send handler sleeps, then answers from memory), one invocation
    of 1,000 deliveries. Deliveries/s as a share of the receiver's limit (measured in
    the same run by a minimal client); goal >= 50%. One after another, a delivery would
    take 2 x 5 ms + 10 ms: 50/s. The same invocation against moto is reported beside it:
    there moto's CPU per call is the bound (the emulator's, not the engine's).
"""

from __future__ import annotations

import asyncio
import cProfile
import hashlib
import json
import os
import pstats
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
STORE_WAIT = 0.005  # the model store's answer time (seconds)
RECEIVER_WAIT = 0.010


@contextmanager
def receiver() -> Iterator[str]:
    """The receiver in its own process (its capacity must not share our GIL)."""
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}/hooks"
    finally:
        proc.terminate()
        proc.wait()


def capacity(url: str, n: int, concurrency: int = 200) -> float:
    """Requests per second the receiver answers when hammered by a minimal client (raw
    asyncio streams, one connection per request, `concurrency` at once): the limit this
    bench has always compared with."""
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


def capacity_keepalive(url: str, n: int, connections: int = 64) -> float:
    """The same with keep-alive connections (the receiver's threads are not started per
    request): what the receiver can answer at most."""
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    request = b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"

    async def main() -> float:
        left = [n]

        async def one_connection() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            while left[0] > 0:
                left[0] -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                size = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(size)
            writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        return n / (time.perf_counter() - started)

    return asyncio.run(main())


def send_all(reqs: list[Any]) -> None:
    """Every request concurrently through the engine's transport: the HTTP side alone."""
    from chalicelib.webhooks.delivery import transport

    async def main() -> None:
        clients = transport.Clients()
        try:
            await asyncio.gather(*(transport.send(r, clients) for r in reqs))
        finally:
            await clients.close()

    if reqs:
        asyncio.run(main())


class Fixture:
    """A webhook of the admin user to the receiver, and pending deliveries made by
    fan-out, as queue records (the messages fan-out sent)."""

    def __init__(self, url: str) -> None:
        from chalicelib.auth.users import service as users
        from chalicelib.core.principal import Principal
        from chalicelib.webhooks import service
        from chalicelib.webhooks.models import CreateWebhook

        admin_user = users.user_by_name("admin")
        assert admin_user is not None
        # Fan-out sends only what a webhook's owner may read now: the owner must exist.
        actor = Principal("client", "admin", str(admin_user["userId"]), frozenset({"admin"}))
        self.hook_id = service.create(actor, CreateWebhook(url=url,
                                                           events=["product.created"]))["id"]
        self.made = 0

    def records(self, n: int) -> list[dict[str, Any]]:
        """n new deliveries, their messages taken off the webhooks queue."""
        from chalicelib.core import aws
        from chalicelib.events import outbox
        from chalicelib.webhooks import worker

        for start in range(0, n, 10):
            events = [outbox.new_event("product.created", {"id": f"prd_{self.made + i}"})
                      for i in range(min(10, n - start))]
            self.made += len(events)
            assert worker.fan_out_batch({"Records": [
                {"messageId": e["id"], "body": json.dumps(e)} for e in events]}) == {
                "batchItemFailures": []}
        sqs, url = aws.client("sqs"), aws.queue_url("webhooks")
        records: list[dict[str, Any]] = []
        while len(records) < n:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            assert got, f"{len(records)} of {n} messages on the queue"
            for m in got:
                records.append({"messageId": m["MessageId"], "body": m["Body"]})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return records


def deliver(records: list[dict[str, Any]], size: int = 10) -> None:
    from chalicelib.webhooks import worker

    for start in range(0, len(records), size):
        result = worker.deliver_batch({"Records": records[start:start + size]})
        assert result == {"batchItemFailures": []}, result


def delivered(records: list[dict[str, Any]]) -> int:
    from chalicelib.webhooks.delivery import repo

    found = repo.batch_get([json.loads(r["body"])["deliveryId"] for r in records])
    return sum(1 for i in found.values() if i["status"] == "delivered")


# -- 1. DynamoDB calls ------------------------------------------------------------------

READS = ("GetItem", "BatchGetItem", "Query", "Scan")


def calls_per_delivery(fx: Fixture, batches: int = 10) -> dict[str, Any]:
    from bench.harness import DynamoCounter

    records = fx.records(10 * batches)
    counter = DynamoCounter()
    deliver(records)
    by_op = Counter(counter.calls)
    assert delivered(records) == len(records)
    reads = sum(by_op[op] for op in READS)
    writes = sum(n for op, n in by_op.items() if op not in READS)
    return {"deliveries": len(records), "batches": batches, "byOperation": dict(by_op),
            "writesPerDelivery": round(writes / len(records), 2),
            "readsPerBatch": round(reads / batches, 2)}


# -- 2. our CPU --------------------------------------------------------------------------

class MotoCpu:
    """CPU seconds moto spends answering, summed over threads (its botocore stub runs in
    the calling thread)."""

    def __init__(self) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        self.seconds = 0.0
        self._lock = threading.Lock()
        self._cls = BotocoreStubber
        self._real = BotocoreStubber.__call__
        outer = self

        def timed(stub: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return outer._real(stub, *args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with outer._lock:
                    outer.seconds += spent

        BotocoreStubber.__call__ = timed  # type: ignore[method-assign]

    def close(self) -> None:
        self._cls.__call__ = self._real  # type: ignore[method-assign]


_GROUPS = (("moto", ("/moto/",)), ("chalicelib", ("/chalicelib/",)),
           ("botocore/boto3", ("/botocore/", "/boto3/", "/s3transfer/")),
           ("httpx/httpcore/h11", ("/httpx/", "/httpcore/", "/h11/", "/anyio/")),
           ("powertools", ("/aws_lambda_powertools/",)),
           ("cryptography", ("/cryptography/",)), ("asyncio", ("/asyncio/",)))


_ENTRIES = {  # where a delivery's CPU goes, by entry point (cumulative, moto included)
    "botocore API calls": ("/botocore/client.py", "_make_api_call"),
    "  of which moto answering": ("/moto/core/botocore_stubber.py", "__call__"),
    "claim (attempt.prepare)": ("/delivery/attempt.py", "prepare"),
    "outcome (attempt.finish)": ("/delivery/attempt.py", "finish"),
    "HTTP attempt (transport.send)": ("/delivery/transport.py", "send"),
    "batch read (Batch._read)": ("/delivery/batch.py", "_read"),
}


def _group(filename: str) -> str:
    for name, marks in _GROUPS:
        if any(m in filename for m in marks):
            return name
    return "other (stdlib: json, threading, logging, ...)"


def profile(records: list[dict[str, Any]]) -> pstats.Stats:
    """The batches under a CPU-time cProfile per thread: the event loop's (this thread)
    and each DynamoDB step on the pool."""
    from chalicelib.webhooks.delivery import batch

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    real_step = batch._step

    def step(fn: Callable[..., None], job: Any) -> bool:
        prof = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(prof)
        prof.enable()
        try:
            return real_step(fn, job)
        finally:
            prof.disable()

    batch._step = step  # type: ignore[assignment]
    main = cProfile.Profile(time.thread_time)
    try:
        main.enable()
        deliver(records)
    finally:
        main.disable()
        batch._step = real_step  # type: ignore[assignment]
    stats = pstats.Stats(main)
    for prof in profiles:
        stats.add(prof)
    return stats


def cpu_per_delivery(fx: Fixture, n: int = 200, n_profiled: int = 100) -> dict[str, Any]:
    records = fx.records(n)
    deliver(fx.records(20))  # warm: pools, imports, the keyring
    moto = MotoCpu()
    try:
        started = time.process_time()
        deliver(records)
        total = time.process_time() - started
    finally:
        moto.close()
    assert delivered(records) == n
    stats = profile(fx.records(n_profiled))
    by_group: Counter[str] = Counter()
    ours: list[tuple[float, str]] = []
    for (filename, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        by_group[_group(filename)] += own
        if _group(filename) != "moto":
            ours.append((own, f"{os.path.basename(filename)}:{line} {name}"))
    profiled = sum(by_group.values())
    top = sorted(ours, reverse=True)[:10]
    per = 1000 / n_profiled
    entries: dict[str, float] = {}
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for label, (mark, fn) in _ENTRIES.items():
            if mark in filename and name == fn:
                entries[label] = max(entries.get(label, 0.0), row[3])
    return {
        "deliveries": n, "processCpuMs": round(total * 1000, 1),
        "motoCpuMs": round(moto.seconds * 1000, 1),
        "oursMsPerDelivery": round((total - moto.seconds) * 1000 / n, 3),
        "motoMsPerDelivery": round(moto.seconds * 1000 / n, 3),
        "profile": {"note": "CPU time under cProfile (inflated by it); shares per group",
                    "msPerDelivery": {g: round(s * per, 3)
                                      for g, s in by_group.most_common()},
                    "share": {g: round(s / profiled, 3) for g, s in by_group.most_common()},
                    "topOwnTimeOutsideMoto": [f"{round(s * per, 3)} ms  {where}"
                                              for s, where in top],
                    "cumulativeMsPerDelivery": {k: round(v * per, 3)
                                                for k, v in entries.items()}},
    }


# -- 3. the engine against a model store ---------------------------------------------

class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class ModelStore:
    """Answers DynamoDB, SQS and Secrets Manager calls from memory after STORE_WAIT of
    sleeping (no CPU). Reads answer the items it was given; writes succeed."""

    def __init__(self, items: dict[tuple[str, str], dict[str, Any]], secret: str) -> None:
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        self.items = {k: {a: ser.serialize(v) for a, v in item.items()}
                      for k, item in items.items()}
        self.secret = secret
        self.wait = STORE_WAIT
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def attach(self) -> None:
        from chalicelib.core import aws

        for client in (aws.client("dynamodb"), aws.resource("dynamodb").meta.client,
                       aws.client("sqs"), aws.client("secretsmanager")):
            client.meta.events.register_first("before-send", self.answer)

    def answer(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        target = request.headers.get("X-Amz-Target") or b""
        op = (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".", 1)[-1]
        body = json.loads(request.body or b"{}")
        with self._lock:
            self.calls[op] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.wait:
                time.sleep(self.wait)  # the network and the store: waiting, no CPU
        finally:
            with self._lock:
                self.in_flight -= 1
        out = json.dumps(self._reply(op, body)).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"},
                           _Raw(out))  # type: ignore[arg-type]

    def _reply(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        if op == "BatchGetItem":
            found = {}
            for table, asked in body["RequestItems"].items():
                keys = [(k["PK"]["S"], k["SK"]["S"]) for k in asked["Keys"]]
                found[table] = [self.items[k] for k in keys if k in self.items]
            return {"Responses": found, "UnprocessedKeys": {}}
        if op == "GetItem":
            key = (body["Key"]["PK"]["S"], body["Key"]["SK"]["S"])
            return {"Item": self.items[key]} if key in self.items else {}
        if op == "Query":
            return {"Items": [], "Count": 0, "ScannedCount": 0}
        if op == "SendMessageBatch":
            return {"Successful": [
                {"Id": e["Id"], "MessageId": e["Id"],
                 "MD5OfMessageBody": hashlib.md5(e["MessageBody"].encode()).hexdigest()}  # noqa: S324
                for e in body["Entries"]], "Failed": []}
        if op == "GetSecretValue":
            return {"Name": body.get("SecretId"), "SecretString": self.secret}
        if body.get("ReturnValues", "NONE") != "NONE" and "Key" in body:
            key = (body["Key"]["PK"]["S"], body["Key"]["SK"]["S"])
            return {"Attributes": self.items.get(key, body["Key"])}
        return {}  # UpdateItem, PutItem, DeleteItem, TransactWriteItems: done


def model_records(fx: Fixture, n: int) -> tuple[list[dict[str, Any]],
                                               dict[tuple[str, str], Any]]:
    """n pending deliveries as fan-out makes them, their messages, and what the
    invocation reads (the deliveries, the webhook and its owner), kept in memory only:
    the model store answers with them."""
    from chalicelib.auth.owners import user_key
    from chalicelib.events import outbox
    from chalicelib.store import table as store
    from chalicelib.webhooks import repo as webhooks
    from chalicelib.webhooks.delivery import queue, repo

    hook = store.get(*webhooks.key(fx.hook_id), consistent=True)
    assert hook is not None
    owner = store.get(*user_key(str(hook["owner"])), consistent=True)
    assert owner is not None
    items: dict[tuple[str, str], Any] = {webhooks.key(fx.hook_id): hook,
                                         user_key(str(hook["owner"])): owner}
    records = []
    for i in range(n):
        event = outbox.new_event("product.created", {"id": f"prd_model_{i}"})
        item = repo.new_item(event, hook, json.dumps(outbox.public_body(event)))
        items[repo.key(item["id"])] = item
        records.append({"messageId": f"m{i}", "body": queue.body(queue.message(item, 0))})
    return records, items


@contextmanager
def without_sdk(items: dict[tuple[str, str], Any]) -> Iterator[None]:
    """store's reads and writes answered from memory at its own API: no botocore."""
    from chalicelib.store import table as store

    real = store.batch_get, store.update

    def batch_get(keys: list[tuple[str, str]], consistent: bool = False) -> dict[Any, Any]:
        return {k: dict(items[k]) for k in keys if k in items}

    def update(*_: Any, returns: bool = True, **__: Any) -> dict[str, Any]:
        return {}

    store.batch_get, store.update = batch_get, update  # type: ignore[assignment]
    try:
        yield
    finally:
        store.batch_get, store.update = real  # type: ignore[assignment]


def cpu_of(records: list[dict[str, Any]]) -> float:
    """CPU ms per delivery over batches of 10."""
    started = time.process_time()
    deliver(records)
    return (time.process_time() - started) * 1000 / len(records)


def one_invocation(records: list[dict[str, Any]]) -> float:
    from chalicelib.webhooks import worker

    started = time.perf_counter()
    result = worker.deliver_batch({"Records": records})
    took = time.perf_counter() - started
    assert result == {"batchItemFailures": []}, result
    return took


def _log(message: str) -> None:
    print(f"  webhook engine: {message}", file=sys.stderr, flush=True)


def run(n_moto: int = 200, n_model: int = 1000) -> dict[str, Any]:
    from bench.harness import in_process_stack

    os.environ["GATEHOUSE_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    out: dict[str, Any] = {}
    with receiver() as url:
        with in_process_stack():
            from chalicelib.core import aws
            from chalicelib.core.settings import get_settings, reset_settings
            from chalicelib.webhooks.delivery import transport

            reset_settings()
            fx = Fixture(url)
            out["calls"] = calls_per_delivery(fx)
            _log(f"calls {out['calls']}")
            out["cpu"] = cpu_per_delivery(fx)
            _log(f"cpu {out['cpu']['oursMsPerDelivery']} ms per delivery")
            # One invocation against moto, and the HTTP side alone (no store).
            records = fx.records(n_moto)
            took = one_invocation(records)
            moto_rate = delivered(records) / took
            reqs = [transport.Request(url, {"content-type": "application/json"},
                                      repo_body(records[0]), 30) for _ in range(n_model)]
            started = time.perf_counter()
            send_all(reqs)
            http_rate = n_model / (time.perf_counter() - started)
            records, items = model_records(fx, n_model)
            secret = aws.client("secretsmanager").get_secret_value(
                SecretId=get_settings().secret_id)["SecretString"]
        limit = capacity(url, n_model)
        limit_keepalive = capacity_keepalive(url, 2 * n_model)
        _log(f"moto {moto_rate:.1f}/s, HTTP alone {http_rate:.1f}/s, receiver {limit:.1f}/s "
             f"({limit_keepalive:.1f}/s keep-alive)")
        # Out of moto: fresh clients, answered by the model. The model keeps no writes,
        # so the same deliveries are pending for every run.
        aws.reset()
        store = ModelStore(items, secret)
        store.attach()
        try:
            took = one_invocation(records)
            calls = dict(store.calls)
            deliver(records[:100])  # warm for the CPU runs
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
    rate = n_model / took
    out["model"] = {
        "note": f"MODEL: every store call answers after {STORE_WAIT * 1000:g} ms, no CPU",
        "deliveries": n_model, "seconds": round(took, 2), "perSecond": round(rate, 1),
        "receiverLimitPerSecond": round(limit, 1), "ofLimit": round(rate / limit, 3),
        "receiverKeepAliveLimitPerSecond": round(limit_keepalive, 1),
        "ofKeepAliveLimit": round(rate / limit_keepalive, 3),
        "serialPerSecond": round(1 / (2 * STORE_WAIT + RECEIVER_WAIT), 1),
        "storeCalls": calls, "storeCallsInFlightMax": store.max_in_flight}
    out["moto"] = {"deliveries": n_moto, "perSecond": round(moto_rate, 1),
                   "ofLimit": round(moto_rate / limit, 3),
                   "httpSideAlonePerSecond": round(http_rate, 1),
                   "httpSideAloneOfLimit": round(http_rate / limit, 3)}
    _log(f"model {out['model']}")
    return out


def repo_body(rec: dict[str, Any]) -> str:
    from chalicelib.webhooks.delivery import repo

    item = repo.get(json.loads(rec["body"])["deliveryId"])
    assert item is not None
    return str(item["body"])


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
