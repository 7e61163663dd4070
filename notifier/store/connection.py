"""The Redis connection: the topology, the client, and redis-py's errors turned into ours.

Three topologies, each with redis-py's own client (no client of ours):

- one server (``REDIS_URL``), with TLS verified against ``REDIS_TLS_CA`` for rediss://;
- Redis Cluster (``REDIS_CLUSTER=true``): ``RedisCluster`` follows the slot map through
  MOVED/ASK during resharding and through primary failovers. Every key of a deployment
  shares one hash tag, so scripts and MULTI/EXEC run on one node and a cycle still
  costs a constant number of round trips;
- Sentinel (``REDIS_SENTINELS``): the primary of ``REDIS_SENTINEL_MASTER`` is asked of
  the Sentinels on every new connection.

Failover gaps are handled here, at our boundary. redis-py keeps pooled connections to a
primary that has since turned into a replica (its retries do not ask Sentinel again:
redis/redis-py#3874, #3560), so every command answers READONLY until the process
restarts. On READONLY, or on a connection error, ``errors()`` drops the pool's
connections (Cluster: re-reads the slot map): the next command connects afresh, and a
Sentinel pool then asks the Sentinels where the primary is now. The poll loop and the
delivery workers retry on their own schedule, and every script is safe to repeat, so a
failover costs a few failed commands and loses nothing.

This is the one place that catches redis-py's exceptions: everything above sees
``StoreError`` and ``LeaseLost`` only, naming the node and the cause, never credentials.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript
from redis.connection import parse_url
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    MovedError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

from notifier.errors import LeaseLost, StoreError, describe_cause, host_port
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
    "transition": scripts.TRANSITION,
    "register": scripts.REGISTER,
}


def now_ms() -> int:
    return int(time.time() * 1000)


def unavailable(where: str, exc: BaseException) -> StoreError:
    """Our error for a failed Redis command: the node tried and why, never credentials."""
    if isinstance(exc, ReadOnlyError):
        return StoreError(f"Redis at {where} is read-only (READONLY: this is a replica)")
    if isinstance(exc, MovedError):
        return StoreError(
            f"Redis at {where} answered MOVED {exc.slot_id} {exc.host}:{exc.port}: it is a "
            "cluster node; set REDIS_CLUSTER=true"
        )
    if isinstance(exc, ResponseError) and str(exc).startswith("MOVED"):
        return StoreError(
            f"Redis at {where} answered {exc}: it is a cluster node; set REDIS_CLUSTER=true"
        )
    return StoreError(f"Redis unavailable at {where}: {describe_cause(exc)}")


@dataclass(frozen=True, slots=True)
class Topology:
    """How to reach Redis: the variables REDIS_URL, REDIS_CLUSTER, REDIS_SENTINELS,
    REDIS_SENTINEL_MASTER and REDIS_TLS_CA."""

    url: str
    cluster: bool = False
    sentinels: tuple[str, ...] = ()
    master: str = "mymaster"
    tls_ca: str = ""

    @property
    def mode(self) -> str:
        return "cluster" if self.cluster else "sentinel" if self.sentinels else "standalone"

    @property
    def where(self) -> str:
        """The nodes an error message names (never credentials)."""
        if self.sentinels:
            return f"primary {self.master!r} of sentinels {','.join(self.sentinels)}"
        if self.cluster:
            return f"cluster via {host_port(self.url)}"
        return host_port(self.url)


# Short timeouts and one quick retry: a command gives up within ~10 s, less than the 15 s
# lease; the poll loop and the workers own the long backoff.
_TIMEOUTS: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 5}


def _quick_retry() -> Retry:
    return Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=1)


def connect(topology: Topology | str) -> Any:
    """redis-py's client for the topology (``Redis`` or ``RedisCluster``)."""
    if isinstance(topology, str):
        topology = Topology(topology)
    tls: dict[str, Any] = {}
    if topology.tls_ca and topology.url.startswith("rediss://"):
        tls = {"ssl_ca_certs": topology.tls_ca}
    if topology.cluster:
        return RedisCluster.from_url(
            topology.url, decode_responses=True, retry=_quick_retry(), **_TIMEOUTS, **tls
        )
    if topology.sentinels:
        options = parse_url(topology.url)  # type: ignore[no-untyped-call]
        auth = {k: options[k] for k in ("username", "password", "db") if options.get(k)}
        if topology.url.startswith("rediss://"):
            auth |= {"ssl": True, **tls}
        nodes = []
        for item in topology.sentinels:
            host, _, port = item.rpartition(":")
            nodes.append((host, int(port)))
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            nodes, sentinel_kwargs=dict(_TIMEOUTS), **_TIMEOUTS
        )
        return sentinel.master_for(
            topology.master, decode_responses=True, retry=_quick_retry(), **auth
        )
    return aioredis.Redis.from_url(
        topology.url,
        decode_responses=True,
        health_check_interval=30,
        retry=_quick_retry(),
        **_TIMEOUTS,
        **tls,
    )


class StoreBase:
    """The client, the keys and the scripts that every part of the store shares."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        ttl_days: int = 3,
        topology: Topology | None = None,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.ttl_seconds = ttl_days * 86400
        if topology is None:
            kwargs = getattr(client, "connection_pool", None)
            kwargs = getattr(kwargs, "connection_kwargs", {})
            url = f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
            topology = Topology(url)
        self.topology = topology
        self.where = topology.where
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(src) for name, src in _SCRIPTS.items()
        }

    @contextlib.asynccontextmanager
    async def errors(self) -> AsyncIterator[None]:
        """Translate redis-py's errors raised inside the block into StoreError; after a
        READONLY or a lost connection, start afresh (see the module docstring)."""
        try:
            yield
        except RedisError as exc:
            await self._after_failure(exc)
            raise unavailable(self.where, exc) from None

    async def _after_failure(self, exc: RedisError) -> None:
        if not isinstance(exc, ReadOnlyError | RedisConnectionError | RedisTimeoutError):
            return
        with contextlib.suppress(Exception):
            if isinstance(self.redis, RedisCluster):
                await self.redis.nodes_manager.initialize()
            else:
                await self.redis.connection_pool.disconnect()

    def key(self, *parts: str) -> str:
        """A key of this deployment (``{prefix}:part:…``)."""
        return self.keys.key(*parts)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> None:
        async with self.errors():
            await self.redis.ping()

    async def follow_failover(self) -> None:
        """Sentinel mode: ask the Sentinels where the primary is; when it moved, idle
        connections to the old one are dropped (redis-py's get_master_address does it).
        Called every few seconds, so writes stop reaching a demoted primary quickly even
        before it answers READONLY. A commit that still reached it is lost with its
        snapshot, so the next cycle detects the same change again: delayed, not lost. An
        acknowledgement lost that way repeats one delivery (same id); a claim lost that
        way was acked to the agent, whose message keeps showing the old state until they
        click again (the window is one health tick, about 5 s)."""
        if self.topology.sentinels:
            async with self.errors():
                await self.redis.connection_pool.get_master_address()

    async def describe(self) -> tuple[str, list[str]]:
        """What ``check`` reports: the mode and the node that owns this deployment's slot,
        after a write probe (which fails with a hint on MOVED or READONLY), and warnings
        such as a server that keeps nothing on disk, though the outbox lives there."""
        probe = self.keys.key("check")
        warnings: list[str] = []
        async with self.errors():
            await self.redis.set(probe, "1", ex=10)
            if isinstance(self.redis, RedisCluster):
                slot = self.redis.keyslot(probe)
                node = self.redis.get_node_from_key(probe)
                where = f"{node.host}:{node.port}" if node else "?"
                summary = f"cluster mode, slot {slot} of prefix {self.prefix} on {where}"
                persistence = await self.redis.info("persistence", target_nodes=node)
                save = await self._config_save(node)
            else:
                persistence = await self.redis.info("persistence")
                save = await self._config_save(None)
                if self.topology.sentinels:
                    host, port = await self.redis.connection_pool.get_master_address()
                    summary = f"sentinel mode, primary {self.topology.master!r} at {host}:{port}"
                else:
                    summary = f"standalone at {self.where}"
        if str(persistence.get("aof_enabled", "1")) == "0" and save == "":
            warnings.append(
                "the server keeps nothing on disk (appendonly no, no save): a Redis restart "
                "loses the outbox and every pending alert"
            )
        return summary, warnings

    async def _config_save(self, node: Any) -> str | None:
        """CONFIG GET save, or None where CONFIG is not allowed (managed services, ACLs)."""
        try:
            if node is not None:
                reply = await self.redis.config_get("save", target_nodes=node)
            else:
                reply = await self.redis.config_get("save")
        except ResponseError:
            return None
        return str(reply.get("save", "")) if isinstance(reply, dict) else None

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._scripts[script](keys=list(keys), args=list(args))
        except ResponseError as exc:
            if str(exc).startswith("LEASELOST"):
                raise LeaseLost("the poll lease is held by another replica") from None
            await self._after_failure(exc)
            if isinstance(exc, ReadOnlyError | MovedError) or str(exc).startswith("MOVED"):
                raise unavailable(self.where, exc) from None
            raise StoreError(f"Redis at {self.where} refused {script}: {exc}") from None
        except RedisError as exc:
            await self._after_failure(exc)
            raise unavailable(self.where, exc) from None

    async def reset(self) -> int:
        """Delete every key of this prefix (the demo starts fresh); returns how many."""
        deleted = 0
        async with self.errors():
            batch: list[str] = []
            async for key in self.redis.scan_iter(match=self.keys.pattern(), count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += await self.redis.delete(*batch)
                    batch = []
            if batch:
                deleted += await self.redis.delete(*batch)
        return deleted
