"""Catch-up time after ``kill -9`` of ``run`` with 3,000 events queued (issue 11).

Each run: a private Redis prefix, the simulator with 1,500 calls waiting in queue, a
``clickfono-notifier run`` subprocess delivering to the suite's webhook receiver (some
latency per request, NOTIFIER_WEBHOOK_CONCURRENCY). All calls turn SPAM in one simulator
change (3,000 events). As soon as the first events are accepted and requests are in
flight, the process is killed with SIGKILL and started again with the default
NOTIFIER_CLAIM_TIMEOUT (15 s). The catch-up time runs from the restart (before its Popen)
until every event has been accepted. Duplicates are counted by webhook-id, and checked to
be events in flight at the kill (read from Redis: owner-tagged, unacknowledged, received).
Before each run, the same burst is delivered by a process that is never killed, timed from
the simulator change: the floor the catch-up is compared with (``--no-reference`` skips
it).

    .venv/bin/python benchmarks/bench_crash_recovery.py            # 5 runs, median
    .venv/bin/python benchmarks/bench_crash_recovery.py --runs 3 --kills 3 --json

``--kills 3`` kills three times (at 20/40/60 % delivered, as the test does) before the
final restart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from notifier.clickfono.simulator import Simulator
from notifier.embedded_redis import EmbeddedRedis
from tests.support.crash_story import Burst, kill_three_times
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver


def reference_run(redis_url: str, run: int, args: argparse.Namespace) -> float:
    """Seconds to deliver the same burst with no crash, from the simulator change to the
    last event: the floor a catch-up is compared with (a catch-up also pays one start)."""
    with (
        Simulator("test-token").start() as simulator,
        WebhookReceiver(WEBHOOK_TEST_SECRET, check_contract=False) as receiver,
    ):
        env = {"NOTIFIER_WEBHOOK_CONCURRENCY": str(args.concurrency)}
        burst = Burst(simulator, redis_url, receiver, f"reference{run}", args.calls, env=env)
        try:
            burst.start("reference")
            burst.wait_baseline()
            receiver.latency = args.latency
            started = time.monotonic()
            burst.turn_spam()
            wait_for(
                lambda: burst.arrived() >= burst.expected,
                timeout=args.limit,
                interval=0.01,
                message="the reference delivery",
            )
            return time.monotonic() - started
        finally:
            burst.kill_all()


def one_run(redis_url: str, run: int, args: argparse.Namespace) -> dict[str, Any]:
    with (
        Simulator("test-token").start() as simulator,
        WebhookReceiver(WEBHOOK_TEST_SECRET, check_contract=False) as receiver,
    ):
        receiver.latency = args.latency
        env = {"NOTIFIER_WEBHOOK_CONCURRENCY": str(args.concurrency)}
        if args.claim_timeout:
            env["NOTIFIER_CLAIM_TIMEOUT"] = str(args.claim_timeout)
        burst = Burst(simulator, redis_url, receiver, f"bench{run}", args.calls, env=env)
        total = len(burst.expected)

        def progress(k: int) -> int:
            # One kill: right after the first accepted event, with ~all events queued.
            return 1 if args.kills == 1 else total * k // (args.kills + 2)

        started = time.monotonic()
        try:
            report = kill_three_times(
                burst, kills=args.kills, catch_up_limit=args.limit, progress=progress
            )
        finally:
            burst.kill_all()
        in_flight = set().union(*report.in_flight)
        return {
            "events": total,
            "queued_at_restart": total - report.delivered_before_restart,
            "catch_up_s": round(report.catch_up, 2),
            "in_flight_at_kills": [len(s) for s in report.in_flight],
            "duplicates": sum(report.duplicates.values()),
            "duplicates_not_in_flight": len(set(report.duplicates) - in_flight),
            "truncated_bodies": len(burst.truncated()),
            "run_s": round(time.monotonic() - started, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1500, help="two events per call")
    parser.add_argument("--kills", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05, help="receiver seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--claim-timeout", type=float, default=0, help="0: the default")
    parser.add_argument("--limit", type=float, default=120, help="give up after (s)")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the no-crash run before each"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    redis = EmbeddedRedis().start()
    try:
        results = []
        for run in range(args.runs):
            reference = None if args.no_reference else reference_run(redis.url, run, args)
            result = one_run(redis.url, run, args)
            result["no_crash_s"] = None if reference is None else round(reference, 2)
            results.append(result)
            if not args.json:
                print(f"run {run + 1}: {result}", flush=True)
    finally:
        redis.cleanup()
    catch_up = [r["catch_up_s"] for r in results]
    floors = [r["no_crash_s"] for r in results if r["no_crash_s"] is not None]
    summary = {
        "runs": results,
        "median_catch_up_s": statistics.median(catch_up),
        "median_no_crash_s": statistics.median(floors) if floors else None,
        "min_catch_up_s": min(catch_up),
        "max_catch_up_s": max(catch_up),
        "duplicates": [r["duplicates"] for r in results],
        "settings": vars(args),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"catch-up after kill -9 x{args.kills} at {results[0]['events']} events: "
            f"median {summary['median_catch_up_s']} s "
            f"(min {summary['min_catch_up_s']}, max {summary['max_catch_up_s']}) against "
            f"{summary['median_no_crash_s']} s for the same burst with no crash; "
            f"duplicates {summary['duplicates']} "
            f"(in flight at the kills {[r['in_flight_at_kills'] for r in results]})"
        )


if __name__ == "__main__":
    main()
