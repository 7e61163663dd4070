"""Slack pacing: a burst of alerts through ``SlackSink`` to one channel and to three.

    .venv/bin/python benchmarks/bench_slack_pacing.py [--alerts 8]

Slack accepts about one message per second per channel; the sink reserves each post's
slot in Redis (``Store.reserve_slot``), so replicas sharing a Redis share the pace. Three
scenarios, each a burst of ``--alerts`` SPAM alerts per channel sent at once:

* one channel, one sink;
* three channels (``SLACK_CHANNEL_BY_POPUP``), one sink: channels are paced apart;
* one channel, two sinks (two replicas) on the same Redis: the pace is shared.

Everything is loopback and bounded: a private ``EmbeddedRedis``, the fake Slack Web API
of the test suite (``tests/support/slack_fixtures.py``) in a thread, and at most
``--alerts`` posts per channel (so about ``--alerts`` seconds per scenario). Printed:
messages per second per channel, the spacing between consecutive posts (min, median,
p95, max) and the time to drain the burst. Exits non-zero if an alert was not posted
or two posts to one channel came closer than the pacing interval allows.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from notifier.clickfono.models import Call
from notifier.clickfono.simulator import Popup, make_record
from notifier.config import load_settings
from notifier.embedded_redis import EmbeddedRedis
from notifier.events import Event, event_id
from notifier.sinks.slack import PACE_SECONDS, SlackSink
from notifier.store import Store
from tests.support.slack_fixtures import FakeSlack

MAX_ALERTS = 60
TOLERANCE = 0.05
"""Seconds of scheduling jitter allowed below the pacing interval between two posts."""


@dataclass(frozen=True)
class Result:
    name: str
    drain: float
    per_channel: dict[str, list[float]]
    """Arrival times (monotonic) of the accepted posts, per channel."""
    failed: int


def popup(n: int) -> Popup:
    return Popup(f"00000000-0000-0000-0000-{n:012d}", f"Popup {n}")


def spam_alerts(popup_index: int, count: int, scenario: str) -> list[Event]:
    """``count`` SPAM alerts about distinct calls of one popup (each starts a thread)."""
    alerts = []
    for n in range(count):
        record = make_record(popup=popup(popup_index), status="SPAM", uuid=f"{popup_index}-{n}")
        call = Call.validate(record).payload()
        alerts.append(
            Event(
                type="call.spam",
                id=event_id(scenario, popup_index, n),
                detected_at=datetime.now(UTC),
                call=call,
                previous_status="En cola",
            )
        )
    return alerts


def make_sink(fake: FakeSlack, store: Store, channels: int) -> SlackSink:
    mapping = {popup(i).uuid: f"#bench-{i}" for i in range(channels)}
    settings = load_settings(
        {
            "CLICKFONO_TOKEN": "bench",
            "SLACK_BOT_TOKEN": fake.token,
            "SLACK_CHANNEL": "#bench-0",
            "SLACK_CHANNEL_BY_POPUP": json.dumps(mapping),
            "SLACK_API_URL": fake.base_url,
            "SLACK_STORM_THRESHOLD": "1000",  # a burst, not a digest
        }
    )
    return SlackSink(settings, store)


async def scenario(name: str, redis_url: str, channels: int, replicas: int, alerts: int) -> Result:
    """Send ``alerts`` per channel at once, split across ``replicas`` sinks."""
    fake = FakeSlack().start()
    store = Store.from_url(redis_url, prefix=f"bench-{name}")
    sinks = [make_sink(fake, store, channels) for _ in range(replicas)]
    try:
        events = [e for c in range(channels) for e in spam_alerts(c, alerts, name)]
        shares: list[Sequence[Event]] = [events[i::replicas] for i in range(replicas)]
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(s.send(share) for s, share in zip(sinks, shares, strict=True))
        )
        drain = time.monotonic() - started
        failed = sum(o is not None for batch in outcomes for o in batch)
        per_channel: dict[str, list[float]] = {}
        for request in fake.calls("chat.postMessage"):
            if request.ok:
                per_channel.setdefault(str(request.body["channel"]), []).append(request.at)
        return Result(name, drain, per_channel, failed)
    finally:
        for sink in sinks:
            await sink.aclose()
        await store.aclose()
        fake.stop()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(result: Result, alerts: int) -> bool:
    """Print one scenario; True when every alert was posted, paced."""
    posted = sum(len(times) for times in result.per_channel.values())
    print(f"{result.name}: {posted} posts, drained in {result.drain:.2f} s")
    print(
        f"  {'channel':<10} {'posts':>5} {'msg/s':>6}  spacing s: "
        f"{'min':>5} {'median':>6} {'p95':>5} {'max':>5}"
    )
    ok = result.failed == 0
    for channel, times in sorted(result.per_channel.items()):
        times.sort()
        gaps = [b - a for a, b in itertools.pairwise(times)]
        span = times[-1] - times[0]
        rate = (len(times) - 1) / span if span > 0 else float("inf")
        if gaps:
            spacing = (
                f"{min(gaps):5.3f} {statistics.median(gaps):6.3f} "
                f"{percentile(gaps, 0.95):5.3f} {max(gaps):5.3f}"
            )
        else:
            spacing = "    -      -     -     -"
        print(f"  {channel:<10} {len(times):>5} {rate:6.2f}  {'':>10} {spacing}")
        ok = ok and len(times) == alerts and all(g >= PACE_SECONDS - TOLERANCE for g in gaps)
    if not ok:
        print(f"  FAILED: {result.failed} failed sends, or a post came too early")
    return ok


async def run(alerts: int) -> bool:
    redis = EmbeddedRedis().start()
    try:
        results = [
            await scenario("one channel", redis.url, channels=1, replicas=1, alerts=alerts),
            await scenario("three channels", redis.url, channels=3, replicas=1, alerts=alerts),
            await scenario(
                "one channel, two replicas", redis.url, channels=1, replicas=2, alerts=alerts
            ),
        ]
    finally:
        redis.cleanup()
    print(
        f"SlackSink burst of {alerts} alerts per channel; pacing interval {PACE_SECONDS:g} s "
        "per channel, reserved in a private Redis; fake Slack Web API on 127.0.0.1"
    )
    ok = True
    for result in results:
        ok = report(result, alerts) and ok
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--alerts", type=int, default=8, help=f"alerts per channel (1-{MAX_ALERTS})"
    )
    args = parser.parse_args()
    if not 1 <= args.alerts <= MAX_ALERTS:
        parser.error(f"--alerts must be between 1 and {MAX_ALERTS}")
    return 0 if asyncio.run(run(args.alerts)) else 1


if __name__ == "__main__":
    sys.exit(main())
