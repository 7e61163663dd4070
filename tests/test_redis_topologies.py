"""The test suite's real Redis topologies, proved with redis-py's own clients.

Cluster, Sentinel and TLS servers from ``tests.support.redis_topologies``: each test
starts its own processes on 127.0.0.1 and they are gone when it ends. The ``slow`` ones
(a killed primary, two Sentinel failovers) add about 30 s and run only with ``-m slow``.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from tests.support import redis_topologies as topologies
from tests.support.redis_topologies import (
    RedisClusterTopology,
    SentinelTopology,
    TlsRedis,
    slot_of,
)

# This module's fixtures, until tests/conftest.py star-imports tests.support.redis_topologies.
redis_cluster = topologies.redis_cluster
redis_cluster_with_replicas = topologies.redis_cluster_with_replicas
redis_sentinel = topologies.redis_sentinel
redis_sentinels3 = topologies.redis_sentinels3
redis_tls = topologies.redis_tls

KEY = "{test}:x"


@pytest.fixture
def slow_selected(request: pytest.FixtureRequest) -> None:
    """Skip a slow story unless the run asks for slow tests (``-m slow``)."""
    if "slow" not in str(request.config.getoption("markexpr", "")):
        pytest.skip("slow topology story: run with -m slow")


@asynccontextmanager
async def cluster_client(topology: RedisClusterTopology, port: int) -> AsyncIterator[RedisCluster]:
    """redis-py's asyncio cluster client, started from one node's address only."""
    client = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
    try:
        await client.initialize()
        yield client
    finally:
        await client.aclose()


def serving_port(client: RedisCluster) -> int:
    """The port of the node the client would send ``KEY`` to now."""
    node = client.get_node_from_key(KEY)
    assert node is not None
    return int(node.port)


def test_slot_of_a_hash_tag_is_the_slot_of_every_key_with_it() -> None:
    """A bare tag, a tagged key and redis-py's own key_slot give one slot."""
    assert slot_of("test") == slot_of(KEY) == slot_of("{test}:other") == key_slot(KEY.encode())
    assert slot_of("test") != slot_of("tset")


async def test_cluster_client_sets_gets_and_follows_a_slot_migration(
    redis_cluster: RedisClusterTopology,
) -> None:
    """A cluster client keeps reading and writing a ``{prefix}:`` key across a slot move."""
    before = redis_cluster.owner("test")
    other = next(n for n in redis_cluster.primaries() if n.port != before.port)
    async with cluster_client(redis_cluster, other.port) as client:
        assert await client.set(KEY, "1")
        assert await client.get(KEY) == "1"
        assert serving_port(client) == before.port

        redis_cluster.migrate_slot("test")

        after = redis_cluster.owner("test")
        assert after.port != before.port
        with after.client() as direct:
            assert direct.get(KEY) == "1"  # the key moved with its slot
        assert await client.get(KEY) == "1"  # MOVED, followed
        assert await client.incr("{test}:n") == 1
        assert serving_port(client) == after.port


async def test_cluster_client_follows_a_manual_primary_failover(
    redis_cluster_with_replicas: RedisClusterTopology,
) -> None:
    """After CLUSTER FAILOVER the client finds the promoted replica and nothing is lost."""
    cluster = redis_cluster_with_replicas
    old = cluster.owner("test")
    async with cluster_client(cluster, old.port) as client:
        for n in range(20):
            await client.rpush("{test}:list", n)

        new = cluster.failover(old)

        assert cluster.owner("test").port == new.port != old.port
        assert old.info("replication")["role"] == "slave"
        assert await client.lrange("{test}:list", 0, -1) == [str(n) for n in range(20)]
        await client.rpush("{test}:list", 20)
        assert serving_port(client) == new.port
        with new.client() as direct:
            assert direct.llen("{test}:list") == 21


@pytest.mark.slow
async def test_cluster_client_survives_a_killed_primary(
    slow_selected: None,
    redis_cluster_with_replicas: RedisClusterTopology,
) -> None:
    """SIGKILL on the slot's primary: its replica is elected and the client carries on."""
    cluster = redis_cluster_with_replicas
    victim = cluster.owner("test")
    async with cluster_client(cluster, cluster.primaries()[0].port) as client:
        await client.set(KEY, "kept")
        with victim.client() as direct:
            assert direct.execute_command("WAIT", 1, 2000) == 1  # the replica has it

        cluster.kill(victim)

        assert not victim.alive
        assert cluster.owner("test").port != victim.port
        assert await client.get(KEY) == "kept"
        assert await client.set(KEY, "after")


async def test_sentinel_client_finds_the_primary_before_and_after_failover(
    redis_sentinel: SentinelTopology,
) -> None:
    """Sentinel names the first primary, then the promoted replica after SENTINEL FAILOVER."""
    topology = redis_sentinel
    sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=2, decode_responses=True)
    first = await sentinel.discover_master("notifier")
    assert first == topology.primary.address
    primary = sentinel.master_for("notifier")
    try:
        await primary.set(KEY, "before")
        assert await primary.execute_command("WAIT", 1, 2000) == 1
    finally:
        await primary.aclose()

    new = topology.failover()

    assert new is topology.replica
    assert await sentinel.discover_master("notifier") == new.address != first
    primary = sentinel.master_for("notifier")
    try:
        assert await primary.get(KEY) == "before"
        assert await primary.set(KEY, "after")
    finally:
        await primary.aclose()
    with new.client() as direct:
        assert direct.get(KEY) == "after"
    for client in sentinel.sentinels:
        await client.aclose()


@pytest.mark.slow
async def test_three_sentinels_fail_over_there_and_back(
    slow_selected: None,
    redis_sentinels3: SentinelTopology,
) -> None:
    """With a quorum of 2 of 3 Sentinels, two failovers return the first primary."""
    topology = redis_sentinels3
    sentinel = Sentinel(topology.sentinel_addresses, socket_timeout=2)
    try:
        assert await sentinel.discover_master("notifier") == topology.primary.address
        assert topology.failover(settle=True) is topology.replica
        assert await sentinel.discover_master("notifier") == topology.replica.address
        assert topology.failover() is topology.primary
        assert await sentinel.discover_master("notifier") == topology.primary.address
    finally:
        for client in sentinel.sentinels:
            await client.aclose()


async def test_tls_client_with_the_private_ca_connects(redis_tls: TlsRedis) -> None:
    """``rediss://`` with ``ssl_ca_certs`` set to the private CA reads and writes."""
    client = redis.asyncio.Redis.from_url(redis_tls.url, ssl_ca_certs=str(redis_tls.files.ca_cert))
    try:
        assert await client.set(KEY, "secret")
        assert await client.get(KEY) == b"secret"
    finally:
        await client.aclose()


async def test_tls_client_without_the_ca_fails_certificate_verification(
    redis_tls: TlsRedis,
) -> None:
    """Without the private CA the handshake fails as a certificate verification error."""
    client = redis.asyncio.Redis.from_url(redis_tls.url, socket_connect_timeout=5)
    try:
        with pytest.raises(redis.ConnectionError) as caught:
            await client.ping()
    finally:
        await client.aclose()
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(
        isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
        for e in chain
    ), chain


def test_plain_connections_to_the_tls_port_get_no_answer(redis_tls: TlsRedis) -> None:
    """The TLS server has no plain-text port: a ``redis://`` client cannot talk to it."""
    plain = redis.Redis(port=redis_tls.port, socket_timeout=1, retry=Retry(NoBackoff(), 0))
    with plain, pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        plain.ping()


def test_topologies_leave_no_process_behind(tmp_path: Path) -> None:
    """Leaving the ``with`` block ends every node and Sentinel and frees their ports."""
    cluster = RedisClusterTopology(tmp_path / "c", primaries=3)
    sentinels = SentinelTopology(tmp_path / "s", sentinels=1)
    with cluster, sentinels:
        procs = [node.proc for node in [*cluster.nodes, *sentinels.nodes]]
        assert all(proc is not None and proc.poll() is None for proc in procs)
    assert all(proc is not None and proc.poll() is not None for proc in procs)
    for node in [*cluster.nodes, *sentinels.nodes]:
        assert not node.alive
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(node.address, timeout=1).close()
