"""Differential check of the call index: skipping unchanged calls changes nothing.

    .venv/bin/python benchmarks/check_index.py [--rounds 60] [--calls 600] [--seed 1]

Four deployments poll the same simulator (manual mode, three popups) with the same clock:

* ``full``: a new Poller each cycle, its stored call index deleted first, so it loads and
  diffs every call as the notifier did before the index existed (the oracle);
* ``idx``: one Poller throughout (the index it committed is kept in memory);
* ``fresh``: a new Poller each cycle (the stored index is loaded and decoded);
* ``shared``: two Pollers on one prefix taking turns at random, as replicas after a lease
  handover do (each must notice the other's commits).

Each round randomly changes statuses (waiting ones included, so queue alerts fall due as
the clock advances up to six minutes a round), retry and durations alone, ``call_at``
(schedule rule), moves calls between popups, removes calls and brings them back, adds
calls, puts calls back as they were a few rounds ago, or changes nothing. After every
cycle each deployment must have raised the same events (same ids) and stored the same
snapshots as ``full``, and none may plan its next forced diff later than ``full``.
Exits 1 on the first difference.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notifier.clickfono.client import ClickfonoClient
from notifier.clickfono.simulator import Simulator, make_record, vendor_time
from notifier.config import EventFilter, load_settings
from notifier.cycle import Poller
from notifier.embedded_redis import EmbeddedRedis
from notifier.store import Store

SANTIAGO = ZoneInfo("America/Santiago")
STATUSES = (
    "Conectada",
    "No Conectada",
    "Intentos terminados",
    "SPAM",
    "En cola",
    "Fuera de horario",
    "En ejecución",
    "Por ejecutar",
    "Estado nuevo",  # unknown statuses are kept and reported
)
POPUPS = tuple(f"14f1cc88-6ce8-11e9-b8f9-{n:012d}" for n in range(3))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)  # 09:30 in Santiago

    def __call__(self) -> datetime:
        return self.now


def call_at(rng: random.Random, day: datetime) -> str:
    # Mostly inside business hours, sometimes before 09:00 or after 18:00 (schedule rule).
    hour = rng.choice([7, 9, 10, 11, 12, 14, 15, 16, 19, 21])
    local = day.astimezone(SANTIAGO).replace(hour=hour, minute=rng.randrange(60), second=0)
    return vendor_time(local)


def new_record(rng: random.Random, clock: Clock) -> dict[str, Any]:
    return make_record(
        rng=rng,
        call_at=call_at(rng, clock.now),
        status=rng.choice(STATUSES),
        popup_uuid=rng.choice(POPUPS),
        retry=str(rng.randrange(3)),
    )


def mutate(
    rng: random.Random,
    live: list[dict[str, Any]],
    gone: list[dict[str, Any]],
    clock: Clock,
    earlier: list[tuple[dict[str, Any], dict[str, Any]]],
) -> str:
    kinds = ["status", "status", "fields", "call_at", "move", "remove", "back", "add"]
    kind = rng.choice([*kinds, "revert", "none"])
    n = rng.randrange(1, 12)
    if kind == "none" or not live:
        return "none"
    if kind == "revert":
        # Calls going back to a state of a few rounds ago: a stale index (say, a replica's
        # kept in memory after another replica committed) would take them for unchanged.
        for record, before in earlier[-n:]:
            record.clear()
            record.update(before)
        return kind
    for _ in range(n):
        record = rng.choice(live)
        earlier.append((record, dict(record)))
        del earlier[:-40]
        if kind == "status":
            record["status"] = rng.choice([s for s in STATUSES if s != record["status"]])
        elif kind == "fields":  # one field alone: each must count as a change
            name = rng.choice(["retry", "duration_company", "duration_customer", "enqueued"])
            if name == "enqueued":
                record["enqueued"] = not record["enqueued"]
            else:
                record[name] = str(int(record[name] or 0) + 1)
        elif kind == "call_at":
            # Aim at running or connected calls: their call_at decides the schedule rule.
            running = [r for r in live if r["status"] in ("En ejecución", "Conectada")]
            record = rng.choice(running or live)
            record["call_at"] = call_at(rng, clock.now)
        elif kind == "move":
            record["popup_uuid"] = rng.choice(POPUPS)
        elif kind == "remove" and len(live) > 10:
            live.remove(record)
            gone.append(record)
        elif kind == "back" and gone:
            back = gone.pop(rng.randrange(len(gone)))
            if rng.random() < 0.5:
                back["status"] = rng.choice(STATUSES)
            live.append(back)
        elif kind == "add":
            live.append(new_record(rng, clock))
    return kind


async def main(rounds: int, calls: int, seed: int) -> int:
    rng = random.Random(seed)
    clock = Clock()
    redis_server = EmbeddedRedis().start()
    simulator = Simulator("check-token", clock=clock).start()
    stores: dict[str, Store] = {}
    clients: list[ClickfonoClient] = []

    def poller(prefix: str) -> Poller:
        settings = load_settings(
            {
                "CLICKFONO_TOKEN": "check-token",
                "CLICKFONO_BASE_URL": simulator.base_url,
                "CLICKFONO_POPUP_UUIDS": ",".join(POPUPS),
                "REDIS_URL": redis_server.url,
                "NOTIFIER_REDIS_PREFIX": prefix,
                "NOTIFIER_HTTP_PORT": "0",
            }
        )
        if prefix not in stores:
            stores[prefix] = Store.from_url(redis_server.url, prefix)
        client = ClickfonoClient(simulator.base_url, "check-token", popups=POPUPS, timeout=5)
        clients.append(client)
        return Poller(
            settings, client, stores[prefix], {"webhook": EventFilter(("*",))}, clock=clock
        )

    try:
        idx = poller("idx")
        replicas = (poller("shared"), poller("shared"))
        day = clock.now.astimezone(SANTIAGO).date().isoformat()
        live = [new_record(rng, clock) for _ in range(calls)]
        gone: list[dict[str, Any]] = []
        earlier: list[tuple[dict[str, Any], dict[str, Any]]] = []
        totals = {"events": 0, "skipped_answers": 0, "queued_too_long": 0}
        for n in range(rounds):
            kind = "baseline" if n == 0 else mutate(rng, live, gone, clock, earlier)
            simulator.set_calls(day, live)
            full = poller("full")
            await stores["full"].redis.delete(stores["full"].key("index", day))
            reports = {
                "full": await full.run_cycle(),
                "idx": await idx.run_cycle(),
                "fresh": await poller("fresh").run_cycle(),
                "shared": await rng.choice(replicas).run_cycle(),
            }
            events = {p: sorted((e.id, e.type) for e in r.events) for p, r in reports.items()}
            snaps = {p: await s.redis.hgetall(s.key("snap", day)) for p, s in stores.items()}
            marks = {
                p: (await s.load_cycle_state([day])).answers.get(day, {}) for p, s in stores.items()
            }
            problems = []
            for prefix in ("idx", "fresh", "shared"):
                if events[prefix] != events["full"]:
                    diff = set(events[prefix]) ^ set(events["full"])
                    problems.append(f"{prefix}: events differ: {sorted(diff)[:4]}")
                if snaps[prefix] != snaps["full"]:
                    a, b = snaps[prefix], snaps["full"]
                    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                    problems.append(f"{prefix}: snapshots differ for {keys[:4]}")
                for key, mark_b in marks["full"].items():
                    mark_a = marks[prefix].get(key)
                    if mark_a is None or mark_a.digest != mark_b.digest:
                        problems.append(f"{prefix} {key}: marks differ {mark_a} {mark_b}")
                    elif mark_b.deadline is not None and (
                        mark_a.deadline is None or mark_a.deadline > mark_b.deadline
                    ):
                        problems.append(f"{prefix} {key}: deadline later {mark_a} {mark_b}")
            if problems:
                print(f"round {n} ({kind}, {clock.now:%H:%M:%S}): " + "; ".join(problems))
                return 1
            totals["events"] += len(events["full"])
            totals["skipped_answers"] += reports["idx"].answers_unchanged
            totals["queued_too_long"] += sum(t == "call.queued_too_long" for _, t in events["full"])
            clock.now += timedelta(seconds=rng.choice([10, 30, 30, 60, 120, 360]))
        print(
            f"ok: {rounds} rounds, {len(live)} live calls, {totals['events']} events, "
            f"{totals['skipped_answers']} answers skipped by digest, "
            f"{totals['queued_too_long']} queue alerts; "
            f"identical events and snapshots with and without the call index"
        )
        return 0
    finally:
        for client in clients:
            await client.aclose()
        for store in stores.values():
            await store.aclose()
        simulator.stop()
        redis_server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rounds, args.calls, args.seed)))
