"""Today's calls by popup and status (clickfono_calls_today), kept in the answer marks.

The real cycle against the simulator and Redis: the baseline counts every call, a change
moves one call between statuses, a new leader reads the same counts without diffing,
and an answer whose mark has no tally yet (an older version wrote it) is counted again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

import redis

from notifier import metrics
from notifier.clickfono.simulator import Popup, Simulator
from notifier.daemon import Daemon
from notifier.store import AnswerMark
from notifier.summary import Callback
from tests.integration.conftest import SANTIAGO, Deployment, record
from tests.support.recording_sink import RecordingSink

VENTAS = Popup("14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0", "Ventas Web")
SOPORTE = Popup("2b0c9a4e-6ce8-11e9-b8f9-001d09ef4aa0", "Soporte Técnico")
AT = datetime(2026, 11, 24, 9, 30, tzinfo=SANTIAGO)


def _calls(simulator: Simulator) -> None:
    simulator.set_calls(
        "2026-11-24",
        [
            record("a1", "En cola", AT, popup=VENTAS),
            record("a2", "Conectada", AT, popup=VENTAS),
            record("a3", "SPAM", AT, popup=VENTAS),
            record("b1", "Conectada", AT, popup=SOPORTE),
        ],
    )


async def test_calls_today_follow_changes_and_survive_a_new_leader(
    simulator: Simulator, deployment_factory: Callable[..., Deployment]
) -> None:
    """Counts by popup and status after the baseline, after a change, and from a new poller."""
    _calls(simulator)
    first = deployment_factory()
    report = await first.cycle()
    assert report.calls_today == {
        (VENTAS.uuid, "Ventas Web", "En cola"): 1,
        (VENTAS.uuid, "Ventas Web", "Conectada"): 1,
        (VENTAS.uuid, "Ventas Web", "SPAM"): 1,
        (SOPORTE.uuid, "Soporte Técnico", "Conectada"): 1,
    }
    simulator.set_status("a1", "Intentos terminados")
    first.clock.advance(seconds=30)
    changed = await first.cycle()
    assert changed.calls_today[VENTAS.uuid, "Ventas Web", "Intentos terminados"] == 1
    assert (VENTAS.uuid, "Ventas Web", "En cola") not in changed.calls_today
    assert sum(changed.calls_today.values()) == 4

    # Another replica takes over: nothing changed upstream, so nothing is diffed, and it
    # still reports every popup and status, not only the answers that changed.
    first.clock.advance(seconds=30)
    successor = await deployment_factory().cycle()
    assert successor.answers_unchanged == 1
    assert successor.calls_today == changed.calls_today


async def test_an_answer_without_a_tally_is_counted_again(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], redis_url: str
) -> None:
    """A mark written before tallies existed makes the next cycle count the answer whole."""
    _calls(simulator)
    deployment = deployment_factory()
    baseline = await deployment.cycle()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        key = "{it}:answers:2026-11-24"
        for answer, text in client.hgetall(key).items():
            mark = AnswerMark.decode(text)
            assert mark is not None and mark.tally is not None
            old = AnswerMark(mark.digest, mark.deadline, mark.calls, mark.index)
            client.hset(key, answer, old.encode())
    finally:
        client.close()
    deployment.clock.advance(seconds=30)
    again = await deployment.cycle()
    assert again.events == ()
    assert again.calls_today == baseline.calls_today


class FakeCallbacks:
    """The callback loop's answer: two open callbacks on Ventas Web."""

    async def callbacks(self, day: date, call_uuids: Sequence[str]) -> Mapping[str, Callback]:
        return {}

    async def open_by_popup(self, day: date) -> Mapping[tuple[str, str], int]:
        return {(VENTAS.uuid, "Ventas Web"): 2}


async def test_the_leader_exports_calls_today_and_open_callbacks(
    simulator: Simulator, deployment_factory: Callable[..., Deployment]
) -> None:
    """After a cycle the leader's /metrics has every popup's calls by status, and open
    callbacks per popup (0 where none is open)."""
    _calls(simulator)
    deployment = deployment_factory()
    daemon = Daemon(deployment.settings, deployment.store, deployment.client, [RecordingSink()])
    daemon.poller.clock = daemon.summaries.clock = deployment.clock
    daemon.summaries.callbacks = FakeCallbacks()
    token = await deployment.store.acquire_lease(daemon.holder, 30)
    daemon.lease_value = f"{token}|{daemon.holder}"
    assert await daemon.cycle_once()
    text = metrics.render().decode()
    for line in (
        'clickfono_calls_today{popup="Ventas Web",status="En cola"} 1.0',
        'clickfono_calls_today{popup="Ventas Web",status="SPAM"} 1.0',
        'clickfono_calls_today{popup="Soporte Técnico",status="Conectada"} 1.0',
        'clickfono_open_callbacks{popup="Ventas Web"} 2.0',
        'clickfono_open_callbacks{popup="Soporte Técnico"} 0.0',
    ):
        assert line in text
