"""The chaos soak: SPEC.md's guarantees under a seeded storm of faults, checked by a model.

Two ``clickfono-notifier run`` replicas share a persistent Redis (AOF, fsync always) and
deliver to a real webhook receiver (every event) and the fake Slack (the alert types).
The simulator's calls change at random while a seeded schedule kills replicas with
kill -9, restarts or crashes Redis, breaks the receiver (500, 429, hangs, resets, down),
rate-limits Slack and makes Clickfono fail (5xx, 401, malformed, slow, reset).

The oracle. The notifier can only report what it fetched: a call that changes twice
between two polls shows one net change. So mutations are made in small batches and the
next batch waits until Redis holds, for every call, a snapshot with the status the
simulator now serves ("the batch is processed"; a snapshot is committed atomically with
the events it produced). The sequence of processed states is then exactly what the
notifier observed, and the model derives from it the events that must arrive:
``call.created`` / ``call.status_changed`` per change, ``call.spam`` and
``call.attempts_exhausted`` when a call becomes so, ``call.outside_business_hours`` the
first time a call is ``Fuera de horario`` (the business hours cover the whole week and
queue alerts are off, so no rule depends on timing).

At the end the faults stop, every replica runs again, and the test waits (with a
deadline) for the outboxes to empty. Then: missing events (must be 0), extra distinct
events for one change (must be 0), content mismatches (must be 0), duplicates (each must
follow a kill -9, a receiver outage or a Redis restart closely), dead letters (must be 0:
the retry schedule outlasts every injected outage), and the daemons' logs must hold no
crash. The report is printed and written to ``$SOAK_REPORT`` (default: a temporary file).

    make soak                                    # 20 minutes: --soak-seconds=1200
    SOAK_SEED=7 SOAK_REPORT=soak.txt .venv/bin/python -m pytest -q tests/soak \\
        --soak-seconds=300                       # any length, any seed
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.clickfono.models import CallStatus
from notifier.clickfono.simulator import DEFAULT_POPUP, Fault, Popup, Simulator
from notifier.diff import Snapshot
from notifier.errors import StoreError
from notifier.store import Store
from tests.support.process import NotifierProcess
from tests.support.redis_server import RedisServer
from tests.support.slack_fixtures import FakeSlack
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

pytestmark = pytest.mark.soak

TOKEN = "soak-token"
PREFIX = "soak"
SANTIAGO = ZoneInfo("America/Santiago")
DEFAULT_SEED = 20261124
RETRY_SCHEDULE = "0.5,1,1,2,2,3,3,4,4,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5"
"""About 100 s of retries: longer than any outage the schedule injects (≤ 6 s each)."""
GATE_TIMEOUT = 120.0
"""A processed batch must show in Redis within this, whatever the faults: liveness."""
DRAIN_TIMEOUT = 240.0
SLACK_TYPES = {"call.spam", "call.attempts_exhausted", "call.outside_business_hours"}
"""SLACK_EVENTS' default (queued_too_long is off here)."""
POPUPS = (
    DEFAULT_POPUP,
    Popup("5b1c0e6e-0001-4d1a-9a8e-000000000001", "Ventas Web"),
    Popup("5b1c0e6e-0002-4d1a-9a8e-000000000002", "Soporte"),
    Popup("5b1c0e6e-0003-4d1a-9a8e-000000000003", "Cobranzas"),
)
CHANNELS = {popup.uuid: f"#soak-{i}" for i, popup in enumerate(POPUPS)}
"""One Slack channel per popup: Slack paces posts per channel (about 1 per second)."""
DUPLICATE_WINDOWS = {"kill": 60.0, "receiver_down": 3.0, "redis": 20.0}
"""A duplicate is explained by such an event at most this long after the first
acceptance (a kill -9 before the batch's ack; an answer cut by the receiver going down;
an ack that failed while Redis restarted)."""


# ---------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class Expected:
    type: str
    uuid: str
    status: str
    previous: str | None
    popup: str

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.type, self.uuid, self.status, self.previous)


@dataclass
class Model:
    """The events SPEC.md requires for a sequence of processed states."""

    statuses: dict[str, str] = field(default_factory=dict)
    outside_alerted: set[str] = field(default_factory=set)
    expected: list[Expected] = field(default_factory=list)

    def observe(self, state: dict[str, tuple[str, str]]) -> None:
        """One processed state: call uuid -> (status, popup uuid)."""
        for uuid, (status, popup) in state.items():
            previous = self.statuses.get(uuid)
            if previous == status:
                continue
            kind = "call.created" if previous is None else "call.status_changed"
            found = [kind]
            if status == CallStatus.SPAM.value:
                found.append("call.spam")
            if status == CallStatus.ATTEMPTS_EXHAUSTED.value:
                found.append("call.attempts_exhausted")
            if status == CallStatus.OUT_OF_HOURS.value and uuid not in self.outside_alerted:
                self.outside_alerted.add(uuid)
                found.append("call.outside_business_hours")
            self.expected += [Expected(t, uuid, status, previous, popup) for t in found]
            self.statuses[uuid] = status


# ---------------------------------------------------------------- the world


@dataclass
class World:
    redis: RedisServer
    simulator: Simulator
    receiver: WebhookReceiver
    slack: FakeSlack
    replicas: list[NotifierProcess]
    loop: asyncio.AbstractEventLoop
    store: Store

    def run(self, coro: Any, timeout: float = 5.0) -> Any:
        """Run a store coroutine on the oracle's loop, bounded."""
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def served_state(self) -> dict[str, dict[str, tuple[str, str]]]:
        """Per polled date, what the simulator serves now: uuid -> (status, popup)."""
        today = self.simulator.now().date()
        state: dict[str, dict[str, tuple[str, str]]] = {}
        for day in (today - timedelta(days=1), today):
            records = self.simulator.records(day)
            if records:
                state[day.isoformat()] = {
                    r["uuid"]: (r["status"], r["popup_uuid"]) for r in records
                }
        return state

    def processed(self, state: dict[str, dict[str, tuple[str, str]]]) -> bool:
        """Whether Redis holds every call of ``state`` at the status served."""
        try:
            stored = self.run(self.store.load_snapshots({d: list(c) for d, c in state.items()}))
        except (StoreError, TimeoutError, OSError):
            return False
        for day, calls in state.items():
            for uuid, (status, _) in calls.items():
                text = stored.get(day, {}).get(uuid)
                if text is None or Snapshot.decode(text).status != status:
                    return False
        return True


def replica_env(world_urls: dict[str, str]) -> dict[str, str]:
    return {
        "CLICKFONO_TOKEN": TOKEN,
        "CLICKFONO_BASE_URL": world_urls["clickfono"],
        "CLICKFONO_TIMEOUT": "2",
        "REDIS_URL": world_urls["redis"],
        "NOTIFIER_REDIS_PREFIX": PREFIX,
        "NOTIFIER_POLL_INTERVAL": "0.5",
        "NOTIFIER_LEASE_TTL": "3",
        "NOTIFIER_CLAIM_TIMEOUT": "5",
        "NOTIFIER_RETRY_SCHEDULE": RETRY_SCHEDULE,
        "NOTIFIER_QUEUE_ALERT_MINUTES": "0",
        "NOTIFIER_BASELINE": "notify",
        "NOTIFIER_BUSINESS_HOURS": "mon-sun 00:00-24:00",
        "NOTIFIER_ROLLOVER_GRACE": "1440",  # yesterday is always polled: a run may span midnight
        "NOTIFIER_UNAVAILABLE_CYCLES": "3",
        "WEBHOOK_URL": world_urls["webhook"],
        "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
        "WEBHOOK_EVENTS": "*",
        "WEBHOOK_TIMEOUT": "2",
        "SLACK_BOT_TOKEN": world_urls["slack_token"],
        "SLACK_API_URL": world_urls["slack"],
        "SLACK_CHANNEL": "#soak-default",
        "SLACK_CHANNEL_BY_POPUP": json.dumps(CHANNELS),
        "SLACK_STORM_THRESHOLD": "1000",  # one message per alert, so each is checked by id
        "LOG_LEVEL": "info",
    }


@pytest.fixture
def world() -> Iterator[World]:
    """Persistent Redis, manual simulator, receiver, fake Slack and two replicas."""
    redis_server = RedisServer(persistent=True).start()
    simulator = Simulator(TOKEN).start()
    for popup in POPUPS:
        simulator.add_popup(popup)
    receiver = WebhookReceiver(WEBHOOK_TEST_SECRET).start()
    slack = FakeSlack().start()
    env = replica_env(
        {
            "clickfono": simulator.base_url,
            "redis": redis_server.url,
            "webhook": receiver.url,
            "slack": slack.base_url,
            "slack_token": slack.token,
        }
    )
    replicas = [NotifierProcess(env, name=name) for name in ("replica-a", "replica-b")]
    loop = asyncio.new_event_loop()
    store = Store.from_url(redis_server.url, PREFIX)
    try:
        for replica in replicas:
            replica.start(wait=False)
        for replica in replicas:
            wait_for(lambda r=replica: r.get("/healthz") == 200, 30, message=f"{replica.name}")
        yield World(redis_server, simulator, receiver, slack, replicas, loop, store)
    finally:
        for replica in replicas:
            replica.kill()
        loop.run_until_complete(store.aclose())
        loop.close()
        slack.stop()
        receiver.stop()
        simulator.stop()
        redis_server.cleanup()


# ---------------------------------------------------------------- the fault schedule


@dataclass
class Chaos:
    """A seeded, bounded fault schedule run in a thread until ``stop``."""

    world: World
    rng: random.Random
    log: list[tuple[float, str, str]] = field(default_factory=list)
    """(time.monotonic(), kind, detail) of every fault and repair."""
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _repairs: list[tuple[float, str, Callable[[], None]]] = field(default_factory=list)
    _deck: list[str] = field(default_factory=list)

    KINDS = (
        "kill_replica",
        "redis_restart",
        "redis_crash",
        "receiver_500",
        "receiver_429",
        "receiver_hang",
        "receiver_reset",
        "receiver_down",
        "slack_429",
        "slack_error",
        "upstream_5xx",
        "upstream_401",
        "upstream_malformed",
        "upstream_slow",
        "upstream_reset",
    )

    def times(self, kind: str) -> list[float]:
        return [at for at, k, _ in self.log if k == kind]

    def note(self, kind: str, detail: str = "") -> None:
        self.log.append((time.monotonic(), kind, detail))

    def later(self, seconds: float, what: str, repair: Callable[[], None]) -> None:
        self._repairs.append((time.monotonic() + seconds, what, repair))

    def run(self) -> None:
        try:
            while not self.stop.wait(self.rng.uniform(0.8, 2.0)):
                self._repair(due_only=True)
                self._inject(self._draw())
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            try:
                self._repair(due_only=False)
            except BaseException as exc:
                self.errors.append(exc)

    def _draw(self) -> str:
        # A shuffled deck, not independent draws: a short run still meets every kind.
        if not self._deck:
            self._deck = list(self.KINDS)
            self.rng.shuffle(self._deck)
        return self._deck.pop()

    def _repair(self, *, due_only: bool) -> None:
        now = time.monotonic()
        due = [r for r in self._repairs if not due_only or r[0] <= now]
        self._repairs = [r for r in self._repairs if r not in due]
        for _, what, repair in sorted(due, key=lambda r: r[0]):
            repair()
            self.note("repair", what)

    def _inject(self, kind: str) -> None:
        w, rng = self.world, self.rng
        if kind == "kill_replica":
            alive = [r for r in w.replicas if r.alive]
            if not alive:
                return
            victim = rng.choice(alive)
            victim.kill()
            self.note(kind, victim.name)
            self.later(rng.uniform(0.5, 3.0), f"restart {victim.name}", victim.start)
        elif kind == "redis_restart":
            w.redis.restart()
            self.note(kind)
        elif kind == "redis_crash":
            w.redis.kill()
            self.note(kind, "kill -9")
            w.redis.start()
        elif kind == "receiver_500":
            w.receiver.fail(500)
            self.note(kind)
            self.later(rng.uniform(1.0, 5.0), "receiver heals", w.receiver.heal)
        elif kind == "receiver_429":
            w.receiver.fail(429, times=rng.randint(1, 6), retry_after="1")
            self.note(kind)
        elif kind == "receiver_hang":
            w.receiver.hang(rng.uniform(2.5, 4.0), times=rng.randint(1, 4))
            self.note(kind)
        elif kind == "receiver_reset":
            w.receiver.reset(times=rng.randint(1, 6))
            self.note(kind)
        elif kind == "receiver_down":
            if not w.receiver.running:
                return
            w.receiver.stop()
            self.note(kind)
            self.later(rng.uniform(1.0, 5.0), "receiver back", w.receiver.start)
        elif kind == "slack_429":
            w.slack.rate_limit(rng.randint(1, 3), retry_after=1)
            self.note(kind)
        elif kind == "slack_error":
            w.slack.fail(rng.randint(1, 3), error="internal_error")
            self.note(kind)
        elif kind == "upstream_5xx":
            w.simulator.inject(Fault.http(rng.choice([500, 502, 503])), times=rng.randint(1, 8))
            self.note(kind)
        elif kind == "upstream_401":
            w.simulator.inject(Fault.http(401), times=rng.randint(1, 3))
            self.note(kind)
        elif kind == "upstream_malformed":
            fault = rng.choice([Fault.not_json(), Fault.not_list(), Fault.vendor_example()])
            w.simulator.inject(fault, times=rng.randint(1, 4))
            self.note(kind, fault.kind.value)
        elif kind == "upstream_slow":
            fault = rng.choice([Fault.hang(3.0), Fault.trickle(3.0)])
            w.simulator.inject(fault, times=rng.randint(1, 3))
            self.note(kind, fault.kind.value)
        elif kind == "upstream_reset":
            w.simulator.inject(Fault.reset(), times=rng.randint(1, 3))
            self.note(kind)
        else:  # pragma: no cover
            raise AssertionError(kind)

    def calm(self) -> None:
        """Every fault off and every process up (after ``stop``)."""
        w = self.world
        w.receiver.heal()
        w.receiver.start()
        w.simulator.clear_faults()
        if w.redis.proc is None or w.redis.proc.poll() is not None:
            w.redis.start()
        for replica in w.replicas:
            if not replica.alive:
                replica.start()


# ---------------------------------------------------------------- the soak


_TOKEN = re.compile(r"[A-Za-z0-9_]+")


def test_chaos_soak(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], world: World
) -> None:
    """Under random faults no change is lost, duplicates only follow crashes, none is dead."""
    soak_seconds = float(request.config.getoption("--soak-seconds"))
    seed = int(os.environ.get("SOAK_SEED", DEFAULT_SEED))
    rng = random.Random(seed)
    chaos = Chaos(world, random.Random(seed + 1))
    model = Model()
    started = time.monotonic()
    gates: list[tuple[float, float]] = []
    """(start, seconds) of every processed batch's wait."""
    mutations = 0
    stuck: str | None = None

    thread = threading.Thread(target=chaos.run, name="chaos", daemon=True)
    thread.start()
    try:
        while time.monotonic() - started < soak_seconds:
            mutations += len(world.simulator.mutate_random(rng.randint(1, 3), rng))
            state = world.served_state()
            gate_started = time.monotonic()
            try:
                wait_for(
                    lambda s=state: world.processed(s),
                    GATE_TIMEOUT,
                    interval=0.05,
                    message="a mutation batch to be processed",
                )
            except AssertionError as exc:
                stuck = str(exc)
                break
            gates.append((gate_started, time.monotonic() - gate_started))
            for calls in state.values():
                model.observe(calls)
    finally:
        chaos.stop.set()
        thread.join(60)
    chaos_seconds = time.monotonic() - started
    chaos.calm()

    # Drain: with the faults gone everything queued must arrive and the outboxes empty.
    drain_started = time.monotonic()
    final = world.served_state()
    drained = _wait_quietly(
        lambda: world.processed(final) and _outboxes_empty(world) and world.receiver.in_flight == 0,
        DRAIN_TIMEOUT,
    )
    drain_seconds = time.monotonic() - drain_started
    for calls in final.values():
        model.observe(calls)

    report = _report(world, chaos, model, seed, mutations, gates, chaos_seconds, drain_seconds)
    ready = _wait_quietly(lambda: all(r.get("/readyz") == 200 for r in world.replicas), 30)
    codes = [r.terminate() for r in world.replicas]
    logs = {r.name: r.stderr for r in world.replicas}
    crashes = {
        name: [m for m in ("Traceback", "task_crashed", "cycle_crashed", "sink_crashed") if m in t]
        for name, t in logs.items()
    }
    report["replicas"] = {"exit_codes": codes, "ready_at_end": ready, "crash_markers": crashes}
    report["harness_errors"] = [f"{type(e).__name__}: {e}" for e in chaos.errors]
    if stuck:
        report["harness_errors"].append(stuck)
    text = _render(report)
    _publish(capsys, text)

    assert not chaos.errors, f"the fault schedule failed: {chaos.errors!r}\n{text}"
    assert stuck is None, f"the notifier stopped processing: {stuck}\n{text}"
    assert drained, f"the outboxes did not drain within {DRAIN_TIMEOUT:g}s\n{text}"
    assert report["events"]["expected"] > 0
    assert report["webhook"]["missing"] == [], text
    assert report["slack"]["missing"] == [], text
    assert report["webhook"]["extra_events"] == [], text
    assert report["webhook"]["content_mismatches"] == [], text
    assert report["slack"]["wrong_channel"] == [], text
    assert report["webhook"]["unsigned"] == 0, text
    assert report["duplicates"]["unexplained"] == [], text
    assert report["dead_letters"]["count"] == 0, text
    assert report["operational"]["episodes_without_recovery"] == [], text
    assert ready and codes == [0, 0], text
    assert not any(crashes.values()), text


def _wait_quietly(predicate: Callable[[], bool], timeout: float) -> bool:
    try:
        wait_for(predicate, timeout, interval=0.1)
    except AssertionError:
        return False
    return True


def _outboxes_empty(world: World) -> bool:
    try:
        depths = world.run(world.store.queue_depths(["webhook", "slack"]))
    except (StoreError, TimeoutError, OSError):
        return False
    return all(pending == 0 for pending, _ in depths.values())


# ---------------------------------------------------------------- the report


def _report(
    world: World,
    chaos: Chaos,
    model: Model,
    seed: int,
    mutations: int,
    gates: list[tuple[float, float]],
    chaos_seconds: float,
    drain_seconds: float,
) -> dict[str, Any]:
    alerts = world.receiver.alerts
    accepted = [d for d in alerts if d.accepted]
    by_id: dict[str, list[Any]] = defaultdict(list)
    for delivery in accepted:
        by_id[delivery.webhook_id or ""].append(delivery)

    # Webhook: every expected change by content; distinct ids per change.
    expected_counts = Counter(e.key for e in model.expected)
    ids_per_key: dict[tuple[str, str, str, str | None], set[str]] = defaultdict(set)
    mismatches: list[str] = []
    operational: dict[str, list[dict[str, Any]]] = defaultdict(list)
    popups = {e.uuid: e.popup for e in model.expected}
    for ident, deliveries in by_id.items():
        payload = deliveries[0].payload
        kind = payload.get("type", "")
        if kind.startswith("notifier."):
            operational[kind].append(payload.get("data", {}))
            continue
        call = payload.get("data", {}).get("call") or {}
        key = (kind, call.get("uuid"), call.get("status"), payload["data"].get("previous_status"))
        ids_per_key[key].add(ident)
        if call.get("popup_uuid") != popups.get(call.get("uuid")):
            mismatches.append(f"{ident}: popup {call.get('popup_uuid')}")
        if any(d.payload != payload for d in deliveries[1:]):
            mismatches.append(f"{ident}: redelivered with another body")
    missing = [
        f"{k[0]} {k[1]} {k[3]}->{k[2]} (expected {n}, got {len(ids_per_key.get(k, ()))})"
        for k, n in expected_counts.items()
        if len(ids_per_key.get(k, ())) < n
    ]
    extra = [
        f"{k[0]} {k[1]} {k[3]}->{k[2]}: {len(ids)} ids for {expected_counts.get(k, 0)} changes"
        for k, ids in ids_per_key.items()
        if len(ids) > expected_counts.get(k, 0)
    ]

    # Slack: every alert-type event, found by its id in an accepted post of its channel.
    slack_expected = {
        ident: k for k, ids in ids_per_key.items() if k[0] in SLACK_TYPES for ident in ids
    }
    posts = [r for r in world.slack.calls("chat.postMessage") if r.ok]
    slack_seen: dict[str, list[Any]] = defaultdict(list)
    for post in posts:
        # Agents never see event ids: each post carries its id as the header's block_id.
        for token in set(_TOKEN.findall(json.dumps(post.body.get("blocks", [])))):
            if token in slack_expected or token.startswith("evt_"):
                slack_seen[token].append(post)
    wrong_channel = [
        ident
        for ident, found in slack_seen.items()
        if ident in slack_expected
        and any(p.body.get("channel") != CHANNELS[popups[slack_expected[ident][1]]] for p in found)
    ]

    # Duplicates: the same id accepted more than once, each explained by a nearby fault.
    kills = chaos.times("kill_replica")
    downs = chaos.times("receiver_down")
    restarts = chaos.times("redis_restart") + chaos.times("redis_crash")

    def cause(first: float) -> str | None:
        for name, times in (("kill", kills), ("receiver_down", downs), ("redis", restarts)):
            if any(0 <= at - first <= DUPLICATE_WINDOWS[name] for at in times):
                return name
        return None

    duplicates: Counter[str] = Counter()
    unexplained: list[str] = []
    for sink, groups in (
        ("webhook", {i: [d.received_at for d in ds] for i, ds in by_id.items()}),
        ("slack", {i: [p.at for p in ps] for i, ps in slack_seen.items()}),
    ):
        for ident, times in groups.items():
            if len(times) > 1:
                why = cause(min(times))
                duplicates[f"{sink} after {why}" if why else f"{sink} unexplained"] += (
                    len(times) - 1
                )
                if why is None:
                    unexplained.append(f"{sink} {ident} x{len(times)}")

    dead = world.run(world.store.dead_letters(["webhook", "slack"]))
    recovered = {d.get("since") for d in operational.get("notifier.source_recovered", [])}
    episodes = [
        d.get("since")
        for kind in ("notifier.source_unavailable", "notifier.source_unauthorized")
        for d in operational.get(kind, [])
    ]
    failed_attempts = Counter(
        d.outcome if d.status is None else str(d.status) for d in alerts if not d.accepted
    )
    served = world.simulator.requests
    waits = [seconds for _, seconds in gates]
    slowest = sorted(gates, key=lambda g: -g[1])[:5]
    return {
        "seed": seed,
        "chaos_seconds": round(chaos_seconds, 1),
        "drain_seconds": round(drain_seconds, 1),
        "mutations": mutations,
        "processed_batches": len(gates),
        "gate_seconds": {
            "mean": round(sum(waits) / len(waits), 2) if waits else None,
            "max": round(max(waits), 2) if waits else None,
        },
        "slowest_gates": [
            {
                "seconds": round(seconds, 1),
                "faults_around": [
                    f"{kind} {detail}".strip()
                    for at, kind, detail in chaos.log
                    if start - 10 <= at <= start + seconds and kind != "repair"
                ],
            }
            for start, seconds in slowest
        ],
        "calls": len(model.statuses),
        "events": {
            "expected": len(model.expected),
            "by_type": dict(Counter(e.type for e in model.expected)),
            "slack_expected": len(slack_expected),
        },
        "faults": dict(Counter(k for _, k, _ in chaos.log if k != "repair")),
        "webhook": {
            "attempts": len(alerts),
            "accepted": len(accepted),
            "failed_attempts": dict(failed_attempts),
            "distinct_ids": len(by_id),
            "missing": missing,
            "extra_events": extra,
            "content_mismatches": mismatches,
            "unsigned": sum(1 for d in accepted if not d.verified),
        },
        "slack": {
            "posts_accepted": len(posts),
            "posts_refused": len(world.slack.calls("chat.postMessage")) - len(posts),
            "missing": sorted(set(slack_expected) - set(slack_seen)),
            "unexpected_ids": sorted(
                i for i in slack_seen if i not in slack_expected and i not in by_id
            ),
            "wrong_channel": wrong_channel,
        },
        "duplicates": {
            "total": sum(duplicates.values()),
            "by_cause": dict(duplicates),
            "unexplained": unexplained,
        },
        "dead_letters": {
            "count": len(dead),
            "errors": dict(Counter(f"{d.sink}: {d.error}" for d in dead)),
        },
        "operational": {
            "delivered": {k: len(v) for k, v in operational.items()},
            "episodes_without_recovery": sorted(str(s) for s in set(episodes) - recovered),
        },
        "upstream": {
            "requests": len(served),
            "answers": dict(Counter(str(r.status) for r in served)),
            "faults_served": dict(Counter(r.fault for r in served if r.fault)),
        },
    }


def _render(report: dict[str, Any]) -> str:
    lines = [
        "=" * 72,
        "clickfono-notifier chaos soak "
        f"({datetime.now(UTC).astimezone(SANTIAGO):%Y-%m-%d %H:%M %Z}, seed {report['seed']})",
        "=" * 72,
        f"chaos {report['chaos_seconds']}s, drain {report['drain_seconds']}s; "
        f"{report['mutations']} status changes in {report['processed_batches']} batches "
        f"over {report['calls']} calls (gate mean {report['gate_seconds']['mean']}s, "
        f"max {report['gate_seconds']['max']}s)",
        f"events checked: {report['events']['expected']} "
        f"({report['events']['slack_expected']} also to Slack) {report['events']['by_type']}",
        f"faults injected: {sum(report['faults'].values())} {report['faults']}",
        f"MISSING: webhook {len(report['webhook']['missing'])}, "
        f"slack {len(report['slack']['missing'])}",
        f"extra events for one change: {len(report['webhook']['extra_events'])}; "
        f"content mismatches: {len(report['webhook']['content_mismatches'])}; "
        f"unsigned: {report['webhook']['unsigned']}; "
        f"slack wrong channel: {len(report['slack']['wrong_channel'])}",
        f"DUPLICATES: {report['duplicates']['total']} {report['duplicates']['by_cause']}",
        f"DEAD LETTERS: {report['dead_letters']['count']} {report['dead_letters']['errors']}",
        "",
        json.dumps(report, indent=2, default=str),
    ]
    return "\n".join(lines)


def _publish(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print the report past pytest's capture, and write it to $SOAK_REPORT or a temp file."""
    target = os.environ.get("SOAK_REPORT")
    path = (
        Path(target)
        if target
        else Path(tempfile.mkdtemp(prefix="notifier-soak-")) / "soak-report.txt"
    )
    path.write_text(text + "\n")
    with capsys.disabled():
        print(f"\n{text}\n(report written to {path})")
