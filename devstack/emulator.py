"""The AWS emulator: moto's server, one port for every service.

Anything that talks to moto over HTTP from several threads should start it with
`moto_server(port)` rather than moto's ThreadedMotoServer: it makes DynamoDB's
conditional writes atomic, as DynamoDB's are (the local stack uses it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

HOST = "127.0.0.1"


class _OneDynamoDBCallAtATime:
    """WSGI wrapper: moto's DynamoDB has no locking, so two threads of its server can
    both pass a condition and both write. DynamoDB makes each item write atomic (the
    rate limiter relies on it); serializing DynamoDB calls restores that locally."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def _item_level_transactions() -> None:
    """moto's TransactWriteItems deep-copies every table it touches before it starts (its
    rollback), so each transaction costs as much as the whole table: the local stack's
    writes, all transactional (the outbox), slowed to seconds after a few thousand
    requests. This one checks every condition against the state before the transaction
    (as DynamoDB does), and only then writes, keeping just the touched items for the
    rollback of an invalid update. Calls are serialized (above), so nothing interleaves."""
    import copy

    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_gatehouse_transactions", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        ops: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = []
        seen: set[tuple[str, str]] = set()
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            ident = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if ident in seen:
                raise MultipleTransactionsException()
            seen.add(ident)
            ops.append((op_type, op, table, key))
        errors: list[tuple[str | None, str | None, Any]] = []
        for op_type, op, _table, key in ops:
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                errors.append(("ValidationException", "Unsupported operation", None))
                continue
            current = self.get_item(op["TableName"], key)
            cond = op.get("ConditionExpression")
            if cond is not None and not get_filter_expression(
                    cond, op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues")).expr(current):
                old = (current.to_json()["Attributes"] if current and op.get(
                    "ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None)
                errors.append(("ConditionalCheckFailed", "The conditional request failed",
                               old))
            else:
                errors.append((None, None, None))
        if any(code for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        before = [(table, key, copy.deepcopy(self.get_item(op["TableName"], key)))
                  for op_type, op, table, key in ops if op_type != "ConditionCheck"]
        try:
            for op_type, op, _table, key in ops:
                names, values = op.get("ExpressionAttributeNames"), op.get(
                    "ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(op["TableName"], op["Item"],
                                  expression_attribute_names=names,
                                  expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(op["TableName"], key)
                elif op_type == "Update":
                    self.update_item(op["TableName"], key,
                                     update_expression=op["UpdateExpression"],
                                     expression_attribute_names=names,
                                     expression_attribute_values=values)
        except Exception:  # e.g. an update invalid for the item: undo, then pass it on
            for table, key, item in before:  # put back what was there, or nothing
                if item is not None:
                    table.put_item(item.to_json()["Attributes"])
                else:
                    from moto.dynamodb.models.dynamo_type import DynamoType

                    rng = (DynamoType(key[table.range_key_attr])
                           if table.range_key_attr is not None else None)
                    table.delete_item(DynamoType(key[table.hash_key_attr]), rng)
            raise

    setattr(DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010
    setattr(DynamoDBBackend, "_gatehouse_transactions", True)  # noqa: B010


def moto_server(port: int, host: str = HOST) -> Any:
    """moto's ThreadedMotoServer (not started) with DynamoDB calls serialized and
    transactions that cost what they touch."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    _item_level_transactions()

    class MotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # as moto's, with the DynamoDB wrapper
            app = _OneDynamoDBCallAtATime(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return MotoServer(ip_address=host, port=port, verbose=False)


@contextmanager
def provisioned(stage: str) -> Iterator[str]:
    """The emulator on a free loopback port with infra/ provisioned for `stage`, boto3
    pointed at it for the duration: for tests and benchmarks that need real concurrency
    (an in-process moto mock is not atomic under threads). Yields the endpoint URL."""
    import logging
    import os
    import socket

    from chalicelib.core import aws
    from chalicelib.core.settings import reset_settings
    from devstack.provision import provision

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = int(sock.getsockname()[1])
    server = moto_server(port)
    server.start()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "GATEHOUSE_STAGE")}
    endpoint = f"http://{HOST}:{port}"
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "GATEHOUSE_STAGE": stage})
    reset_settings()
    aws.reset()
    try:
        provision(stage)
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
        aws.reset()


def race(threads: int, per_thread: int, attempt: Callable[[], bool]) -> tuple[int, int]:
    """Every thread starts at once and calls `attempt` `per_thread` times; answers how
    many attempts succeeded and how many were refused."""
    succeeded = [0] * threads
    refused = [0] * threads
    barrier = threading.Barrier(threads)

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            if attempt():
                succeeded[i] += 1
            else:
                refused[i] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(succeeded), sum(refused)
