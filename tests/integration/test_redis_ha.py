"""Redis as it runs in production: Cluster, Sentinel, a primary turned read-only, TLS.

Real topologies from ``tests.support.redis_topologies`` on 127.0.0.1; the stories run
real ``run`` processes through a slot migration and a Sentinel failover.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.clickfono.simulator import Simulator, make_record
from notifier.errors import StoreError
from notifier.events import Event, event_id
from notifier.store import AnswerMark, DayChanges, Store, Topology
from tests.integration.conftest import SANTIAGO
from tests.support import redis_topologies as topologies
from tests.support.process import NotifierProcess
from tests.support.redis_topologies import RedisClusterTopology, SentinelTopology, TlsRedis
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

redis_cluster = topologies.redis_cluster
redis_sentinel = topologies.redis_sentinel
redis_tls = topologies.redis_tls

DAY = "2026-12-01"
PREFIX = "ha"


def spam(n: int) -> Event:
    return Event("call.spam", event_id("ha", n), datetime.now(UTC), call={"uuid": f"c{n}"})


_ROUNDS = iter(range(1_000_000))


async def exercise(store: Store) -> None:
    """A staged commit (MULTI/EXEC + script), a read of it, and one delivery round."""
    n = next(_ROUNDS)
    changes = DayChanges({"c1": "snap"}, {"*": AnswerMark("d", None, 1, "t1")}, {"*": "index"})
    assert await store.commit("", {"last_success": "1.0"}, {DAY: changes}, {"webhook": [spam(n)]})
    state = await store.load_cycle_state([DAY])
    assert state.answers[DAY]["*"] == AnswerMark("d", None, 1, "t1")
    assert (await store.load_indexes({DAY: ["*"]}))[DAY] == {"*": "index"}
    [item] = await store.take("webhook", 30)
    await store.ack("webhook", [item.event.id])
    assert await store.queue_depths(["webhook"]) == {"webhook": (0, 0)}


async def test_cluster_store_works_from_a_node_that_does_not_own_the_slot(
    redis_cluster: RedisClusterTopology,
) -> None:
    """With REDIS_CLUSTER=true any node will do: scripts and MULTI/EXEC reach the owner of
    the prefix's slot, and describe() names it; without it, the MOVED gets a hint."""
    owner = redis_cluster.owner(PREFIX)
    other = next(n for n in redis_cluster.primaries() if n.port != owner.port)
    url = f"redis://127.0.0.1:{other.port}/0"
    store = Store.connect(Topology(url, cluster=True), PREFIX)
    try:
        await exercise(store)
        summary, _ = await store.describe()
        assert summary.startswith("cluster mode") and f"127.0.0.1:{owner.port}" in summary
    finally:
        await store.aclose()
    plain = Store.from_url(url, PREFIX)
    try:
        with pytest.raises(StoreError, match="set REDIS_CLUSTER=true"):
            await plain.describe()
    finally:
        await plain.aclose()


async def test_cluster_store_follows_a_slot_migration(redis_cluster: RedisClusterTopology) -> None:
    """After the prefix's slot moves to another node, the next operations simply work."""
    store = Store.connect(Topology(redis_cluster.url, cluster=True), PREFIX)
    try:
        await exercise(store)
        before = redis_cluster.owner(PREFIX)
        redis_cluster.migrate_slot(PREFIX)
        assert redis_cluster.owner(PREFIX).port != before.port
        await exercise(store)
    finally:
        await store.aclose()


async def test_sentinel_store_finds_the_new_primary_after_a_failover(
    redis_sentinel: SentinelTopology,
) -> None:
    """Through REDIS_SENTINELS the store writes to the primary, and after SENTINEL FAILOVER
    it writes to the new one within seconds, without a restart."""
    sentinels = tuple(f"{h}:{p}" for h, p in redis_sentinel.sentinel_addresses)
    topology = Topology("redis://", sentinels=sentinels, master=redis_sentinel.master_name)
    store = Store.connect(topology, PREFIX)
    try:
        await exercise(store)
        summary, _ = await store.describe()
        assert summary.startswith("sentinel mode")
        redis_sentinel.failover()
        began = time.monotonic()
        deadline = began + 30
        while True:
            try:
                await exercise(store)
                break
            except StoreError:
                assert time.monotonic() < deadline, "the store never reached the new primary"
                await asyncio.sleep(0.2)
        new_summary, _ = await store.describe()
        assert new_summary != summary
    finally:
        await store.aclose()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[topologies.RedisNode, topologies.RedisNode]]:
    """Two plain servers for a primary that turns into a replica and back."""
    config = {"save": "", "appendonly": "no"}
    a = topologies.RedisNode("a", tmp_path / "a", config).start()
    b = topologies.RedisNode("b", tmp_path / "b", config).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


async def test_a_primary_turned_read_only_is_reported_then_followed(
    two_servers: tuple[topologies.RedisNode, topologies.RedisNode],
) -> None:
    """A primary demoted under the store answers READONLY: a clear error, not a stuck
    pool; once it is a primary again the next commit works without a restart."""
    primary, other = two_servers
    store = Store.from_url(f"redis://127.0.0.1:{primary.port}/0", PREFIX)
    try:
        await exercise(store)
        primary.execute("REPLICAOF", "127.0.0.1", str(other.port))
        with pytest.raises(StoreError, match="READONLY: this is a replica"):
            await exercise(store)
        primary.execute("REPLICAOF", "NO", "ONE")
        await exercise(store)
    finally:
        await store.aclose()


async def test_tls_with_a_private_ca(redis_tls: TlsRedis) -> None:
    """rediss:// with REDIS_TLS_CA verifies the server; without it the error names the
    certificate problem."""
    url = redis_tls.url
    trusted = Store.connect(Topology(url, tls_ca=str(redis_tls.files.ca_cert)), PREFIX)
    try:
        await exercise(trusted)
    finally:
        await trusted.aclose()
    untrusted = Store.from_url(url, PREFIX)
    try:
        with pytest.raises(StoreError, match="TLS certificate not trusted"):
            await untrusted.ping()
    finally:
        await untrusted.aclose()


# Stories with real `run` processes.


def _story(
    simulator: Simulator,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    redis_env: dict[str, str],
    failover: Callable[[], None],
) -> float:
    """Two waves of changes around a failover; returns seconds from the failover to the
    next delivered event. Asserts every change arrives once (one id per change)."""
    day = datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()
    now = datetime.now(UTC)
    records = [make_record(uuid=f"h{n:02d}", status="En cola", call_at=now) for n in range(20)]
    simulator.set_calls(day, records)
    env = {
        "CLICKFONO_TOKEN": "test-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "NOTIFIER_REDIS_PREFIX": PREFIX,
        "NOTIFIER_POLL_INTERVAL": "0.5",
        "NOTIFIER_LEASE_TTL": "3",
        "NOTIFIER_RETRY_SCHEDULE": ",".join(["0.5"] * 60),
        "WEBHOOK_URL": receiver.url,
        "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
        "WEBHOOK_EVENTS": "call.spam",
        **redis_env,
    }
    process = NotifierProcess(env, name="ha").start()
    processes.append(process)
    wait_for(lambda: process.get("/readyz") == 200, timeout=30, message="the first cycle")

    def arrived() -> set[str]:
        return {a.payload["data"]["call"]["uuid"] for a in receiver.alerts if a.accepted}

    first = [r["uuid"] for r in records[:10]]
    for uuid in first:
        simulator.set_status(uuid, "SPAM")
    wait_for(lambda: arrived() >= set(first), timeout=30, message="the first wave")
    failover()
    failed_over = time.monotonic()
    second = [r["uuid"] for r in records[10:]]
    for uuid in second:
        simulator.set_status(uuid, "SPAM")
    wait_for(lambda: arrived() & set(second), timeout=30, message="a delivery after failover")
    recovered = time.monotonic() - failed_over
    wait_for(lambda: arrived() == set(first + second), timeout=30, message="every change")
    accepted = [a for a in receiver.alerts if a.accepted]
    ids = {a.payload["data"]["call"]["uuid"]: set() for a in accepted}
    for a in accepted:
        ids[a.payload["data"]["call"]["uuid"]].add(a.webhook_id)
    assert all(len(v) == 1 for v in ids.values()), "one id per change"
    assert "Traceback" not in process.stderr
    return recovered


@pytest.mark.slow
def test_run_follows_a_cluster_slot_migration(
    redis_cluster: RedisClusterTopology,
    simulator: Simulator,
    webhook_receiver: WebhookReceiver,
    processes: list[NotifierProcess],
) -> None:
    """`run` on a 3-primary cluster keeps delivering across a migration of its slot."""
    seconds = _story(
        simulator,
        webhook_receiver,
        processes,
        {"REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "true"},
        lambda: redis_cluster.migrate_slot(PREFIX),
    )
    print(f"cluster slot migration -> next delivery: {seconds:.2f} s")
    assert seconds < 30


@pytest.mark.slow
def test_run_follows_a_sentinel_failover(
    redis_sentinel: SentinelTopology,
    simulator: Simulator,
    webhook_receiver: WebhookReceiver,
    processes: list[NotifierProcess],
) -> None:
    """`run` through Sentinel keeps delivering after SENTINEL FAILOVER, without a restart."""
    sentinels = ",".join(f"{h}:{p}" for h, p in redis_sentinel.sentinel_addresses)
    seconds = _story(
        simulator,
        webhook_receiver,
        processes,
        {
            "REDIS_URL": "redis://",
            "REDIS_SENTINELS": sentinels,
            "REDIS_SENTINEL_MASTER": redis_sentinel.master_name,
        },
        lambda: redis_sentinel.failover(),
    )
    print(f"sentinel failover -> next delivery: {seconds:.2f} s")
    assert seconds < 30


redis_cluster_with_replicas = topologies.redis_cluster_with_replicas


@pytest.mark.slow
def test_run_follows_a_cluster_primary_failover(
    request: pytest.FixtureRequest,
    redis_cluster_with_replicas: RedisClusterTopology,
    simulator: Simulator,
    webhook_receiver: WebhookReceiver,
    processes: list[NotifierProcess],
) -> None:
    """`run` keeps delivering when the primary owning its slot fails over to its replica
    (with the soak only: `make soak`, to keep CI short)."""
    if float(request.config.getoption("--soak-seconds")) <= 20:
        pytest.skip("the second cluster story runs with the soak (make soak)")
    cluster = redis_cluster_with_replicas
    seconds = _story(
        simulator,
        webhook_receiver,
        processes,
        {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true"},
        lambda: cluster.failover(cluster.owner(PREFIX)),
    )
    print(f"cluster primary failover -> next delivery: {seconds:.2f} s")
    assert seconds < 30
