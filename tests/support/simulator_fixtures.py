"""Fixtures for the Clickfono simulator: the tests' upstream, and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from notifier.clickfono.client import ClickfonoClient
from notifier.clickfono.simulator import Simulator

__all__ = ["clickfono_client_factory", "simulator", "simulator_factory"]

TEST_TOKEN = "test-token"
QUICK_BACKOFF = (0.01, 0.05)
"""Retry waits small enough that retry tests take milliseconds."""


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A started manual-mode simulator on 127.0.0.1 (free port) that accepts ``test-token``."""
    with Simulator(TEST_TOKEN).start() as started:
        yield started


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., Simulator]]:
    """Starts simulators with any ``Simulator`` arguments (token defaults to ``test-token``)."""
    started: list[Simulator] = []

    def factory(token: str = TEST_TOKEN, **kwargs: Any) -> Simulator:
        instance = Simulator(token, **kwargs).start()
        started.append(instance)
        return instance

    try:
        yield factory
    finally:
        for instance in started:
            instance.stop()


@pytest.fixture
async def clickfono_client_factory() -> AsyncIterator[Callable[..., ClickfonoClient]]:
    """Builds ClickfonoClients with quick test defaults (2 s deadline, 10 ms backoff)."""
    clients: list[ClickfonoClient] = []

    def factory(base_url: str, token: str = TEST_TOKEN, **kwargs: Any) -> ClickfonoClient:
        kwargs.setdefault("timeout", 2.0)
        kwargs.setdefault("attempts", 3)
        kwargs.setdefault("backoff", QUICK_BACKOFF)
        client = ClickfonoClient(base_url, token, **kwargs)
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        for client in clients:
            await client.aclose()
