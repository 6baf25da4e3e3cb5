"""Fixtures shared by the component tests of integrations: the local ERP and a
receiver of pushes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.component.integration_sync_helpers import serve_erp
from tests.erp_server import Erp
from tests.webhook_receiver import Receiver


@pytest.fixture
def erp() -> Iterator[Erp]:
    """The local paginated ERP (tests/erp_server.py), stopped after the test."""
    yield from serve_erp()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP receiver (tests/webhook_receiver.py)."""
    with Receiver() as rcv:
        yield rcv
