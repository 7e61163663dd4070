"""What bench_cycle.py and bench_scale.py share: a private Redis, the body server, a real
Poller wired as in tests/integration/conftest.py, a Redis round-trip counter, the floor.

Round trips are counted on the client side by wrapping redis-py's asyncio
``AbstractConnection.send_packed_command`` (one call per command or per pipeline: the
request half of a round trip) and ``read_response`` (one per reply). The server side is
cross-checked with ``INFO commandstats`` deltas, read over a separate synchronous client
that the counter does not see.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.asyncio.connection import AbstractConnection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bodyserver import BodyServer

from notifier.clickfono.client import ClickfonoClient
from notifier.config import EventFilter, load_settings
from notifier.cycle import CycleReport, Poller
from notifier.embedded_redis import EmbeddedRedis
from notifier.store import Store

PREFIX = "bench"
TOKEN = "bench-token"


class RoundTrips:
    """Counts requests (sends), replies and bytes sent on every asyncio Redis connection."""

    def __init__(self) -> None:
        self.sends = 0
        self.replies = 0
        self.bytes_sent = 0
        send = AbstractConnection.send_packed_command
        read = AbstractConnection.read_response
        counter = self

        async def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
            counter.sends += 1
            if isinstance(command, str | bytes):
                counter.bytes_sent += len(command)
            else:
                command = list(command)
                counter.bytes_sent += sum(len(c) for c in command)
            await send(self, command, check_health)

        async def counted_read(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.replies += 1
            return await read(self, *args, **kwargs)

        AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
        AbstractConnection.read_response = counted_read  # type: ignore[method-assign]

    def snapshot(self) -> tuple[int, int, int]:
        return self.sends, self.replies, self.bytes_sent


class GcTimer:
    """Total time spent in the cyclic garbage collector (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.collections = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started
            self.collections += 1


class Clock:
    """Tuesday 2026-11-24 10:00 in Santiago (13:00 UTC); each cycle is one poll interval
    later, so no rollover grace (one date polled) and no queue timer falls due."""

    def __init__(self, step: float = 30.0) -> None:
        self.now = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
        self.step = timedelta(seconds=step)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> None:
        self.now += self.step


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Reset the kernel's high-water mark of this process's RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_since_reset_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@dataclass
class CycleFigures:
    label: str
    total: float
    phases: dict[str, float]
    gc: float
    rss_before: float
    rss_peak: float
    sends: int
    replies: int
    bytes_sent: int
    commands: dict[str, int]
    events: int
    unchanged: int
    calls: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Bench:
    """One deployment against one body server and one private Redis."""

    calls: int
    popups: int = 1
    rt: RoundTrips = field(default_factory=RoundTrips)
    gc_timer: GcTimer = field(default_factory=GcTimer)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self._floor_http: httpx.AsyncClient | None = None
        self.redis_server = EmbeddedRedis().start()
        self.sync = redis.Redis(port=self.redis_server.port, decode_responses=True)
        self.server = BodyServer(self.calls, self.popups)
        env = {
            "CLICKFONO_TOKEN": TOKEN,
            "CLICKFONO_BASE_URL": self.server.base_url,
            "CLICKFONO_POPUP_UUIDS": ",".join(self.server.popups),
            "CLICKFONO_TIMEOUT": "60",
            "REDIS_URL": self.redis_server.url,
            "NOTIFIER_REDIS_PREFIX": PREFIX,
            "NOTIFIER_HTTP_PORT": "0",
        }
        self.settings = load_settings(env)
        self.store = Store.from_url(self.redis_server.url, PREFIX)
        self.client = ClickfonoClient(
            self.server.base_url,
            TOKEN,
            popups=self.settings.clickfono_popup_uuids,
            timeout=60,
        )
        self.poller = Poller(
            self.settings,
            self.client,
            self.store,
            {"webhook": EventFilter(("*",))},
            clock=self.clock,
        )

    def close(self) -> None:
        self.server.stop()
        self.sync.close()
        self.redis_server.cleanup()

    async def aclose(self) -> None:
        if self._floor_http is not None:
            await self._floor_http.aclose()
        await self.client.aclose()
        await self.store.aclose()

    def commandstats(self) -> Counter[str]:
        stats = self.sync.info("commandstats")
        return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})

    def mutate(self, fraction: float, round_: int) -> int:
        answer = httpx.post(
            f"{self.server.base_url}/_mutate",
            params={"fraction": fraction, "round": round_},
            timeout=300,
        )
        answer.raise_for_status()
        return int(answer.json()["changed"])

    async def cycle(self, label: str) -> tuple[CycleFigures, CycleReport]:
        self.clock.tick()
        before_rt = self.rt.snapshot()
        before_cmd = self.commandstats()
        before_gc = self.gc_timer.total
        rss_before = current_rss_mb()
        reset_peak_rss()
        started = time.perf_counter()
        report = await self.poller.run_cycle()
        total = time.perf_counter() - started
        rss_peak = peak_rss_since_reset_mb()
        gc_time = self.gc_timer.total - before_gc
        after_rt = self.rt.snapshot()
        commands = self.commandstats() - before_cmd
        commands.pop("info", None)
        figures = CycleFigures(
            label=label,
            total=total,
            phases={**report.timings, "rest": total - sum(report.timings.values())},
            gc=gc_time,
            rss_before=rss_before,
            rss_peak=rss_peak,
            sends=after_rt[0] - before_rt[0],
            replies=after_rt[1] - before_rt[1],
            bytes_sent=after_rt[2] - before_rt[2],
            commands=dict(commands),
            events=len(report.events),
            unchanged=report.answers_unchanged,
            calls=report.calls_seen,
        )
        return figures, report

    async def floor(self, repeat: int = 1, *, gc_paused: bool = False) -> dict[str, float]:
        """Fetch the same bodies over the same HTTP (httpx, keep-alive, concurrently per
        popup, as the client does) and ``json.loads`` each: the cost no cycle can avoid.

        The median of ``repeat`` runs. Benchmarks call it next to each measured cycle,
        so that a busy machine slows the floor and the cycle alike. ``gc_paused`` holds
        the cyclic GC off during ``json.loads``, as the cycle does while it validates:
        the stricter floor, so that the cycle's GC pause cannot flatter the ratio."""
        targets = self.server.popups or (None,)
        fetches, totals, gcs = [], [], []
        if self._floor_http is None:
            self._floor_http = httpx.AsyncClient(timeout=60)
        http = self._floor_http
        url = f"{self.server.base_url}/calls/list"

        async def get(popup: str | None) -> bytes:
            params = {"date": "2026-11-24"} | ({"popup_uuid": popup} if popup else {})
            response = await http.get(url, params=params)
            response.raise_for_status()
            return response.content

        for _ in range(repeat):
            before_gc = self.gc_timer.total
            started = time.perf_counter()
            bodies = await asyncio.gather(*(get(p) for p in targets))
            fetched = time.perf_counter()
            if gc_paused:
                gc.disable()
            try:
                for body in bodies:
                    json.loads(body)
            finally:
                gc.enable()
            done = time.perf_counter()
            fetches.append(fetched - started)
            totals.append(done - started)
            gcs.append(self.gc_timer.total - before_gc)
        return {
            "fetch": statistics.median(fetches),
            "total": statistics.median(totals),
            "gc": statistics.median(gcs),
        }

    def floor_rss_mb(self) -> float:
        """Peak RSS of a separate process that only fetches the same bodies (httpx) and
        json.loads them all, keeping every decoded list alive as a cycle keeps its calls."""
        code = (
            # VmHWM, not ru_maxrss: an exec'd child's ru_maxrss includes its parent's RSS.
            "import httpx, json, sys\n"
            "url, popups = sys.argv[1], sys.argv[2:] or [None]\n"
            "kept = []\n"
            "with httpx.Client(timeout=60) as http:\n"
            "    for p in popups:\n"
            "        params = {'date': '2026-11-24'} | ({'popup_uuid': p} if p else {})\n"
            "        kept.append(json.loads(http.get(url, params=params).content))\n"
            "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]\n"
            "print(int(hwm.split()[1]) / 1024)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, f"{self.server.base_url}/calls/list", *self.server.popups],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return float(done.stdout.strip())

    def key_memory(self) -> dict[str, int]:
        """``MEMORY USAGE`` (all samples) of every key under the prefix, by kind."""
        out: Counter[str] = Counter()
        for key in self.sync.scan_iter(f"{{{PREFIX}}}:*", count=1000):
            kind = key.split(":")[1]
            out[kind] += int(self.sync.memory_usage(key, samples=0) or 0)
        return dict(out)


@contextmanager
def bench(calls: int, popups: int = 1) -> Iterator[Bench]:
    b = Bench(calls, popups)
    try:
        yield b
    finally:
        b.close()


def median_of(rows: list[CycleFigures], pick: Callable[[CycleFigures], float]) -> float:
    return statistics.median(pick(r) for r in rows)


async def measure(
    calls: int, popups: int, cycles: int, unchanged: int, change: float, repeat: int
) -> dict[str, Any]:
    """The silent baseline, then ``cycles`` cycles each after ``change`` of the calls
    changed (with the plain and the GC-paused floor measured just before and after each),
    then ``unchanged`` cycles over identical bodies. Returns the figures as plain data."""
    with bench(calls, popups) as b:
        await b.floor(1)  # warm the floor's connection
        rss_ready = current_rss_mb()
        baseline, _ = await b.cycle("baseline")
        changed, floors, strict, ratios, strict_ratios = [], [], [], [], []
        for n in range(cycles):
            b.mutate(change, n + 1)
            plain = [await b.floor(repeat)]
            nogc = [await b.floor(repeat, gc_paused=True)]
            figures, report = await b.cycle("changed")
            plain.append(await b.floor(repeat))
            nogc.append(await b.floor(repeat, gc_paused=True))
            assert report.calls_seen == calls
            changed.append(figures)
            floors.append({k: (plain[0][k] + plain[1][k]) / 2 for k in plain[0]})
            strict.append({k: (nogc[0][k] + nogc[1][k]) / 2 for k in nogc[0]})
            ratios.append(figures.total / floors[-1]["total"])
            strict_ratios.append(figures.total / strict[-1]["total"])
        quiet = []
        for _ in range(unchanged):
            figures, report = await b.cycle("unchanged")
            assert report.answers_unchanged == max(popups, 1) and not report.events
            quiet.append(figures)
        memory = b.key_memory()
        floor_rss = b.floor_rss_mb()
        await b.aclose()
    phases = sorted({k for f in changed for k in f.phases})
    return {
        "calls": calls,
        "popups": popups,
        "floor": {k: statistics.median(f[k] for f in floors) for k in floors[0]},
        "floor_nogc": {k: statistics.median(f[k] for f in strict) for k in strict[0]},
        "floor_best": min(f["total"] for f in floors),
        "floor_nogc_best": min(f["total"] for f in strict),
        "cycle_best": min(f.total for f in changed),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "ratio_nogc": statistics.median(strict_ratios),
        "ratios_nogc": strict_ratios,
        "baseline": baseline.as_dict(),
        "cycles": [f.as_dict() for f in changed],
        "floors": floors,
        "changed": {
            "total": median_of(changed, lambda f: f.total),
            "phases": {k: median_of(changed, lambda f, k=k: f.phases.get(k, 0.0)) for k in phases},
            "sends": sorted({f.sends for f in changed}),
            "replies": sorted({f.replies for f in changed}),
            "bytes_sent": median_of(changed, lambda f: f.bytes_sent),
            "commands": changed[-1].commands,
            "events": median_of(changed, lambda f: f.events),
            "gc": median_of(changed, lambda f: f.gc),
            "rss_before": median_of(changed, lambda f: f.rss_before),
            "rss_peak": max(f.rss_peak for f in changed),
        },
        "unchanged": {
            "total": median_of(quiet, lambda f: f.total),
            "fetch": median_of(quiet, lambda f: f.phases.get("fetch", 0.0)),
            "sends": sorted({f.sends for f in quiet}),
            "rss_peak": max(f.rss_peak for f in quiet),
            "commands": quiet[-1].commands,
        },
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": peak_rss_mb(),
        "floor_rss_mb": floor_rss,
        "redis_memory": memory,
    }


def run_child(script: str, calls: int, args: Any, popups: int | None = None) -> dict[str, Any]:
    """Run ``script --child CALLS`` in a fresh process (its own peak RSS) and return the
    JSON it prints last."""
    command = [
        sys.executable,
        script,
        "--child",
        str(calls),
        "--cycles",
        str(args.cycles),
        "--unchanged",
        str(args.unchanged),
        "--change",
        str(args.change),
        "--repeat",
        str(args.repeat),
        *(["--popups", str(popups)] if popups is not None else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{calls} calls: the measuring process failed")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
