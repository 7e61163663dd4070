"""A sink that keeps failing is announced to the other sinks, by a real ``run`` process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.clickfono.simulator import Simulator, make_record
from tests.integration.conftest import SANTIAGO
from tests.support.process import NotifierProcess
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver


@pytest.mark.slow
def test_failing_webhook_is_announced_on_the_console_once_then_its_recovery(
    simulator: Simulator,
    redis_url: str,
    webhook_receiver: WebhookReceiver,
    processes: list[NotifierProcess],
) -> None:
    """With the webhook answering 500, the console (the other sink) shows one
    notifier.sink_failing with the waiting events; when the webhook heals, one
    notifier.sink_recovered, and the held alerts arrive."""
    day = datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()
    now = datetime.now(UTC)
    simulator.set_calls(
        day, [make_record(uuid=f"s{n}", status="En cola", call_at=now) for n in range(3)]
    )
    webhook_receiver.fail(500)
    env = {
        "CLICKFONO_TOKEN": "test-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "REDIS_URL": redis_url,
        "NOTIFIER_REDIS_PREFIX": "episodes",
        "NOTIFIER_POLL_INTERVAL": "0.5",
        "NOTIFIER_BASELINE": "notify",
        "NOTIFIER_RETRY_SCHEDULE": ",".join(["0.3"] * 40),
        "NOTIFIER_SINK_FAILING_MINUTES": "0.03",
        "NOTIFIER_CONSOLE": "true",
        "WEBHOOK_URL": webhook_receiver.url,
        "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
        "WEBHOOK_EVENTS": "call.*",
    }
    process = NotifierProcess(env, name="episodes").start()
    processes.append(process)
    wait_for(
        lambda: "notifier.sink_failing" in process.stdout, timeout=30, message="the announcement"
    )
    failing_line = next(
        line for line in process.stdout.splitlines() if "notifier.sink_failing" in line
    )
    assert "webhook" in failing_line
    webhook_receiver.heal()
    wait_for(
        lambda: "notifier.sink_recovered" in process.stdout, timeout=30, message="the recovery"
    )
    wait_for(
        lambda: (
            {a.payload["data"]["call"]["uuid"] for a in webhook_receiver.alerts if a.accepted}
            == {"s0", "s1", "s2"}
        ),
        timeout=30,
        message="the held alerts",
    )
    assert process.stdout.count("notifier.sink_failing") == 1
    assert process.stdout.count("notifier.sink_recovered") == 1
