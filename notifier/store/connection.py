"""The Redis connection: building the client, and turning redis-py's errors into ours.

This is where the topology is decided (one server today; Cluster and Sentinel plug in
here), and the one place that catches redis-py's exceptions: everything above sees
``StoreError`` and ``LeaseLost`` only, with a message that names what failed but never
the URL's credentials.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from notifier.errors import LeaseLost, StoreError, describe_cause
from notifier.store import scripts
from notifier.store.keys import Keys

_SCRIPTS = {
    "acquire": scripts.ACQUIRE,
    "renew": scripts.RENEW,
    "release": scripts.RELEASE,
    "commit": scripts.COMMIT,
    "take": scripts.TAKE,
    "extend": scripts.EXTEND,
    "ack": scripts.ACK,
    "fail": scripts.FAIL,
    "replay": scripts.REPLAY,
    "pace": scripts.PACE,
    "enqueue": scripts.ENQUEUE,
    "prune_dead": scripts.PRUNE_DEAD,
}


def now_ms() -> int:
    return int(time.time() * 1000)


def unavailable(where: str, exc: BaseException) -> StoreError:
    """Our error for a failed Redis command: the node tried and why, never credentials."""
    return StoreError(f"Redis unavailable at {where}: {describe_cause(exc)}")


@contextlib.contextmanager
def redis_errors(where: str) -> Iterator[None]:
    """Turn redis-py's errors into our StoreError at the boundary (no URL, no arguments)."""
    try:
        yield
    except RedisError as exc:
        raise unavailable(where, exc) from None


def connect(url: str) -> aioredis.Redis:
    """A client for one Redis server, with brief reconnect retries only.

    The poll loop and the delivery workers own the long backoff, and every script is
    safe to repeat.
    """
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        # With one retry a command gives up within ~10 s: less than the 15 s lease.
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=1),
    )


class StoreBase:
    """The client, the keys and the scripts that every part of the store shares."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_days: int = 3) -> None:
        self.redis = client
        kwargs = client.connection_pool.connection_kwargs
        self.where = (
            f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
            if "path" not in kwargs
            else str(kwargs["path"])
        )
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.ttl_seconds = ttl_days * 86400
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(src) for name, src in _SCRIPTS.items()
        }

    def errors(self) -> contextlib.AbstractContextManager[None]:
        """Translate redis-py's errors raised inside the block into StoreError."""
        return redis_errors(self.where)

    def key(self, *parts: str) -> str:
        """A key of this deployment (``{prefix}:part:…``)."""
        return self.keys.key(*parts)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> None:
        with self.errors():
            await self.redis.ping()

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._scripts[script](keys=list(keys), args=list(args))
        except ResponseError as exc:
            if str(exc).startswith("LEASELOST"):
                raise LeaseLost("the poll lease is held by another replica") from None
            raise StoreError(f"Redis at {self.where} refused {script}: {exc}") from None
        except RedisError as exc:
            raise unavailable(self.where, exc) from None

    async def reset(self) -> int:
        """Delete every key of this prefix (the demo starts fresh); returns how many."""
        deleted = 0
        with self.errors():
            batch: list[str] = []
            async for key in self.redis.scan_iter(match=self.keys.pattern(), count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += await self.redis.delete(*batch)
                    batch = []
            if batch:
                deleted += await self.redis.delete(*batch)
        return deleted
