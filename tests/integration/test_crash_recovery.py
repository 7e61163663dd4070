"""Crash recovery (issue 11) with real ``clickfono-notifier run`` processes.

kill -9 three times mid-delivery of a 3,000-event burst, then a restart with the default
NOTIFIER_CLAIM_TIMEOUT (15 s) that must deliver everything within 30 s; and two replicas,
one stopped with SIGSTOP for 30 s mid-delivery and then continued. "In flight" is read
from Redis when the replica is dead or stopped (``tests/support/crash_story.py``): the
events it had sent and not acknowledged. Only those may arrive twice.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.clickfono.simulator import Simulator, make_record
from tests.support.crash_story import Burst, kill_three_times
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WebhookReceiver

pytestmark = pytest.mark.slow


@pytest.fixture
def bursts() -> Iterator[list[Burst]]:
    """Bursts made by a test; every process they started is killed at its end."""
    made: list[Burst] = []
    yield made
    for burst in made:
        burst.kill_all()


def stopped(pid: int) -> bool:
    """The process is in the stopped state (``T`` in /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def assert_one_id_per_change(burst: Burst) -> None:
    ids = burst.ids_per_change()
    assert set(ids) >= burst.expected
    several = {change: found for change, found in ids.items() if len(found) != 1}
    assert several == {}, "one webhook-id per change"


def test_kill_9_three_times_then_everything_within_30_s_of_the_restart(
    simulator: Simulator, redis_url: str, webhook_receiver: WebhookReceiver, bursts: list[Burst]
) -> None:
    """kill -9 ``run`` three times while 3,000 events are being delivered: a restart with
    the default claim timeout delivers every event within 30 s, one id per change, and
    only events in flight at a kill arrive twice."""
    webhook_receiver.latency = 0.05
    burst = Burst(
        simulator,
        redis_url,
        webhook_receiver,
        "crash",
        calls=1500,
        env={"NOTIFIER_WEBHOOK_CONCURRENCY": "16"},
    )
    bursts.append(burst)
    assert len(burst.expected) == 3000
    report = kill_three_times(burst, kills=3, catch_up_limit=30.0)

    assert all(report.in_flight), "every kill must happen while sends are in flight"
    assert report.delivered_before_restart < len(burst.expected)
    assert burst.arrived() == burst.expected
    assert burst.depths() == (0, 0)
    assert_one_id_per_change(burst)
    in_flight = set().union(*report.in_flight)
    assert set(report.duplicates) <= in_flight, "a duplicate that was not in flight"
    assert sum(report.duplicates.values()) <= sum(map(len, report.in_flight))
    burst.take_truncated_violations()
    print(
        f"\ncrash story: catch-up {report.catch_up:.1f} s after the restart, "
        f"{len(burst.expected) - report.delivered_before_restart} events left at it; "
        f"in flight at the kills {[len(s) for s in report.in_flight]}, "
        f"duplicates {sum(report.duplicates.values())}"
    )


STOP_SECONDS = 30.0


def test_sigstop_for_30_s_corrupts_nothing_and_duplicates_only_in_flight(
    simulator: Simulator, redis_url: str, webhook_receiver: WebhookReceiver, bursts: list[Burst]
) -> None:
    """Two replicas; one is stopped with SIGSTOP for 30 s mid-delivery (twice the default
    claim timeout) and continued: the other delivers everything meanwhile, nothing is
    corrupted (empty outbox, no dead letters, one id per change, new changes still flow)
    and only the stopped replica's in-flight sends arrive twice."""
    burst = Burst(
        simulator,
        redis_url,
        webhook_receiver,
        "sigstop",
        calls=200,
        env={"NOTIFIER_WEBHOOK_CONCURRENCY": "8"},
    )
    bursts.append(burst)
    stopped_one = burst.start("stopped")
    other = burst.start("other")
    burst.wait_baseline()
    webhook_receiver.latency = 0.1
    burst.turn_spam()
    wait_for(
        lambda: (
            len(burst.accepted()) >= len(burst.expected) // 4
            and bool(burst.in_flight_of(stopped_one))
        ),
        timeout=30,
        interval=0.01,
        message="the replica to stop with sends in flight",
    )
    assert stopped_one.proc is not None
    stopped_one.proc.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    in_flight = burst.in_flight_of(stopped_one)
    assert in_flight, "the stop must happen while the replica has sends in flight"
    assert stopped(stopped_one.proc.pid)

    # The other replica takes the stopped one's batch once its claim runs out.
    wait_for(
        lambda: burst.arrived() >= burst.expected and burst.depths() == (0, 0),
        timeout=STOP_SECONDS - 2,
        interval=0.05,
        message="every event from the other replica while one is stopped",
    )
    assert stopped(stopped_one.proc.pid)
    wait_for(
        lambda: time.monotonic() - stopped_at >= STOP_SECONDS,
        timeout=STOP_SECONDS,
        interval=0.05,
        message="the 30 s stop",
    )
    log_before = len(stopped_one.stderr)
    stopped_one.proc.send_signal(signal.SIGCONT)
    wait_for(
        lambda: any(
            word in stopped_one.stderr[log_before:]
            for word in ('"delivery_taken_over"', '"delivered"')
        ),
        timeout=15,
        message="the continued replica to settle its batch",
    )

    # Nothing corrupted, and both replicas still work: a new call is alerted once.
    assert burst.depths() == (0, 0)
    assert burst.arrived() == burst.expected
    assert_one_id_per_change(burst)
    simulator.upsert(make_record(uuid="after-stop", status="SPAM"))
    after = {("call.created", "after-stop"), ("call.spam", "after-stop")}
    wait_for(lambda: burst.arrived() >= after, timeout=15, message="a change after the stop")
    wait_for(lambda: burst.depths() == (0, 0), message="an empty outbox after the stop")
    assert stopped_one.alive and other.alive
    assert stopped_one.get("/healthz") == 200 and other.get("/healthz") == 200
    assert [c for c in burst.ids_per_change() if c[1] == "after-stop"] != []
    assert_one_id_per_change(burst)

    duplicates = burst.duplicates()
    extra = set(duplicates) - in_flight
    print(
        f"\nSIGSTOP story: {len(in_flight)} sends in flight at the stop, "
        f"{sum(duplicates.values())} duplicates, {len(extra)} of them not in flight"
    )
    assert not extra, (
        f"{len(extra)} events sent again after SIGCONT that were not in flight at the stop"
    )
    assert sum(duplicates.values()) <= len(in_flight)
