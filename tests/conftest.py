"""Shared fixtures: a private Redis per session, flushed before every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from notifier.store import Store
from tests.support.redis_server import RedisServer


def pytest_configure(config: pytest.Config) -> None:
    """Retries are logged as our own lines and stamina exports no metric of its own, in
    tests as in the commands (cli.py turns stamina's hooks off the same way)."""
    import stamina.instrumentation

    stamina.instrumentation.set_on_retry_hooks([])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=20.0,
        help="duration of the chaos soak test (default: a short CI run)",
    )


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server this test session started itself, on a free port."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The private server's URL, with every database flushed before the test."""
    client = redis.Redis(port=redis_server.port)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    """A Store on the private server under the prefix ``test``."""
    instance = Store.from_url(redis_url, prefix="test", ttl_days=3)
    try:
        yield instance
    finally:
        await instance.aclose()


from tests.support.simulator_fixtures import *  # noqa: E402,F403
from tests.support.slack_fixtures import *  # noqa: E402,F403
from tests.support.slack_socket import slack_socket  # noqa: E402,F401
from tests.support.smtp_fixtures import *  # noqa: E402,F403
from tests.support.webhook_fixtures import *  # noqa: E402,F403
