"""Multi-cycle stories: the real simulator over HTTP, a real Redis, the real cycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from notifier.clickfono.simulator import Fault, Simulator
from notifier.cycle import Poller
from notifier.errors import SourceMalformed, SourceUnauthorized, SourceUnavailable
from notifier.events import Event
from tests.integration.conftest import SANTIAGO, Clock, Deployment, record

TEN_AM = datetime(2026, 11, 24, 10, 0, tzinfo=SANTIAGO)


class Crash(BaseException):
    """Stands for the process dying at an exact point (kill -9 leaves no cleanup either)."""


async def test_silent_baseline_then_a_new_spam_call(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """The first cycle records today's calls silently; a new SPAM call then raises two events."""
    simulator.set_calls(
        clock.today, [record("c1", "Conectada", TEN_AM), record("c2", "SPAM", TEN_AM)]
    )
    report = await deployment.cycle()
    assert report.baseline and report.events == () and report.calls_seen == 2
    assert await deployment.deliver() == []
    simulator.upsert(record("c3", "SPAM", TEN_AM))
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.created", "call.spam"]


async def test_notify_baseline_emits_the_first_cycle(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], clock: Clock
) -> None:
    """NOTIFIER_BASELINE=notify reports the first cycle's calls as new."""
    deployment = deployment_factory(NOTIFIER_BASELINE="notify")
    simulator.set_calls(clock.today, [record("c1", "SPAM", TEN_AM)])
    assert await deployment.step() == ["call.created", "call.spam"]


async def test_queued_call_ends_with_attempts_exhausted(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """En cola → Intentos terminados raises status_changed and attempts_exhausted with payload."""
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM, retry="1")])
    await deployment.step()
    simulator.set_status("c1", "Intentos terminados", retry="3")
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.status_changed", "call.attempts_exhausted"]
    payload = deployment.sink.received[-1].payload()
    assert payload["data"]["previous_status"] == "En cola"
    assert payload["data"]["call"]["retry"] == 3
    assert payload["data"]["call"]["status"] == "Intentos terminados"


async def test_running_call_at_night_is_outside_business_hours(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """An En ejecución call placed at 23:30 local raises outside_business_hours (schedule)."""
    night = datetime(2026, 11, 24, 23, 30, tzinfo=SANTIAGO)
    simulator.set_calls(clock.today, [record("c1", "En cola", night)])
    await deployment.step()
    simulator.set_status("c1", "En ejecución")
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.status_changed", "call.outside_business_hours"]
    event = deployment.sink.received[-1]
    assert event.reason == "schedule"
    assert event.payload()["data"]["call"]["call_at"] == "2026-11-24T23:30:00-03:00"
    simulator.set_status("c1", "Conectada")
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.status_changed"]  # at most once per call


async def test_fuera_de_horario_status(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """A call becoming Fuera de horario raises outside_business_hours with reason status."""
    simulator.set_calls(clock.today, [record("c1", "Por ejecutar", TEN_AM)])
    await deployment.step()
    simulator.set_status("c1", "Fuera de horario")
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.status_changed", "call.outside_business_hours"]
    assert deployment.sink.received[-1].reason == "status"


async def test_holiday_counts_as_outside_business_hours(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], clock: Clock
) -> None:
    """With NOTIFIER_HOLIDAYS=CL a call connected on Christmas morning is out of hours."""
    deployment = deployment_factory(NOTIFIER_HOLIDAYS="CL")
    clock.now = datetime(2026, 12, 25, 13, 0, tzinfo=UTC)
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=SANTIAGO)
    simulator.set_calls(clock.today, [record("c1", "En cola", christmas)])
    await deployment.step()
    simulator.set_status("c1", "Conectada")
    clock.advance(seconds=30)
    assert "call.outside_business_hours" in await deployment.step()


async def test_quiet_cycle_skips_parsing_and_raises_nothing(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """An unchanged answer is recognised by its digest and skips parsing and diffing."""
    simulator.set_calls(clock.today, [record("c1", "Conectada", TEN_AM)])
    await deployment.cycle()
    clock.advance(seconds=30)
    report = await deployment.cycle()
    assert report.events == () and report.answers_unchanged == 1 and report.calls_seen == 1
    assert report.timings["validate"] < 1.0


async def test_queued_too_long_fires_even_when_the_body_is_unchanged(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """A waiting call's timer forces a diff of an unchanged body once it is due."""
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await deployment.step()
    clock.advance(minutes=10)
    assert (await deployment.cycle()).answers_unchanged == 1
    clock.advance(minutes=6)
    report = await deployment.cycle()
    assert report.answers_unchanged == 0
    assert [e.type for e in report.events] == ["call.queued_too_long"]
    clock.advance(minutes=10)
    assert (await deployment.cycle()).events == ()


async def test_midnight_rollover_polls_yesterday_during_grace(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """Just after midnight yesterday's list is still polled, so its late changes are caught."""
    late = datetime(2026, 11, 24, 23, 50, tzinfo=SANTIAGO)
    clock.now = datetime(2026, 11, 24, 23, 55, tzinfo=SANTIAGO).astimezone(UTC)
    simulator.set_calls("2026-11-24", [record("c1", "En cola", late)])
    await deployment.step()
    clock.now = datetime(2026, 11, 25, 0, 30, tzinfo=SANTIAGO).astimezone(UTC)
    simulator.set_status("c1", "Intentos terminados")
    simulator.set_calls("2026-11-25", [record("c2", "SPAM", clock.now)])
    report = await deployment.cycle()
    assert report.dates == ("2026-11-25", "2026-11-24") and not report.baseline
    assert sorted((e.call_uuid, e.type) for e in report.events) == [
        ("c1", "call.attempts_exhausted"),
        ("c1", "call.status_changed"),
        ("c2", "call.created"),
        ("c2", "call.spam"),
    ]
    clock.now = datetime(2026, 11, 25, 2, 30, tzinfo=SANTIAGO).astimezone(UTC)
    assert (await deployment.cycle()).dates == ("2026-11-25",)
    dates = [r.params.get("date") for r in simulator.requests]
    assert dates[-1] == "2026-11-25" and "2026-11-24" in dates


async def test_two_prefixes_on_one_redis_do_not_interfere(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], clock: Clock
) -> None:
    """Two deployments with different prefixes each get their own baseline and events."""
    first = deployment_factory(prefix="alpha")
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await first.step()
    simulator.set_status("c1", "SPAM")
    second = deployment_factory(prefix="beta")
    assert (await second.cycle()).baseline
    assert await first.step() == ["call.status_changed", "call.spam"]
    assert await second.deliver() == []


async def test_restart_after_missed_changes_reports_them_late(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """Changes made while the notifier was down are emitted next cycle, marked observed_late."""
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await deployment.step()
    simulator.set_status("c1", "En ejecución")
    simulator.set_status("c1", "Intentos terminados")
    clock.advance(minutes=20)  # down for 20 minutes with a 30 s interval
    assert await deployment.step() == ["call.status_changed", "call.attempts_exhausted"]
    assert all(e.observed_late for e in deployment.sink.received)
    assert deployment.sink.received[0].previous_status == "En cola"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http(401), SourceUnauthorized),
        (Fault.http(500), SourceUnavailable),
        (Fault.not_json(), SourceMalformed),
        (Fault.not_list(), SourceMalformed),
        (Fault.vendor_example(), SourceMalformed),
    ],
)
async def test_upstream_failure_changes_no_state(
    simulator: Simulator, deployment: Deployment, clock: Clock, fault: Fault, error: type[Exception]
) -> None:
    """A failed cycle leaves snapshots untouched, so the change is reported once it recovers."""
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await deployment.step()
    simulator.set_status("c1", "SPAM")
    simulator.inject(fault, times=5)
    clock.advance(seconds=30)
    with pytest.raises(error):
        await deployment.cycle()
    snapshots = await deployment.store.load_snapshots({clock.today: ["c1"]})
    assert '"En cola"' in snapshots[clock.today]["c1"]
    simulator.clear_faults()
    clock.advance(seconds=30)
    delivered = await deployment.step()
    assert [t for t in delivered if t.startswith("call.")] == ["call.status_changed", "call.spam"]


async def test_invalid_records_are_skipped_and_the_rest_processed(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """A record that fails validation is skipped; the valid ones in the same answer are diffed."""
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await deployment.step()
    simulator.set_calls(
        clock.today,
        [
            record("c1", "SPAM", TEN_AM),
            {"status": "SPAM", "caller_number": "+56911112222"},
            record("c2", "SPAM", "not a date"),
        ],
    )
    clock.advance(seconds=30)
    report = await deployment.cycle()
    assert report.records_rejected == 2
    assert sorted(e.type for e in report.events) == ["call.spam", "call.status_changed"]


async def test_unknown_status_and_vanishing_calls(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """Unknown statuses are reported as status changes; a vanished call keeps its snapshot."""
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await deployment.step()
    simulator.set_status("c1", "Reagendada")
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.status_changed"]
    simulator.remove("c1")
    clock.advance(seconds=30)
    assert await deployment.step() == []
    simulator.upsert(record("c1", "SPAM", TEN_AM))
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.status_changed", "call.spam"]
    assert deployment.sink.received[-1].previous_status == "Reagendada"


async def test_popup_not_found_is_logged_and_others_still_polled(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], clock: Clock
) -> None:
    """A 404 for one popup does not stop the other popups' calls from being diffed."""
    good = "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0"
    deployment = deployment_factory(
        CLICKFONO_POPUP_UUIDS=f"{good},missing-popup", NOTIFIER_BASELINE="notify"
    )
    simulator.set_calls(clock.today, [record("c1", "SPAM", TEN_AM)])
    report = await deployment.cycle()
    assert report.popups_not_found == ("missing-popup",)
    assert [e.type for e in report.events] == ["call.created", "call.spam"]


async def test_crash_between_diff_and_commit_loses_nothing(
    simulator: Simulator, deployment: Deployment, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the process dies before the atomic commit, the next cycle re-detects the same ids."""
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await deployment.step()
    simulator.set_status("c1", "Intentos terminados")
    clock.advance(seconds=30)
    detected: list[Event] = []

    async def die(*args: object, **kwargs: object) -> int:
        detected.extend(e for batch in args[3].values() for e in batch)  # type: ignore[attr-defined]
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(deployment.store, "commit", die)
        with pytest.raises(Crash):
            await deployment.cycle()
    assert detected and await deployment.deliver() == []
    clock.advance(seconds=30)
    assert await deployment.step() == ["call.status_changed", "call.attempts_exhausted"]
    assert [e.id for e in deployment.sink.received] == [e.id for e in detected]


async def test_crash_between_commit_and_delivery_loses_nothing(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], clock: Clock
) -> None:
    """Events committed by a process that then died are delivered by the next one, once."""
    crashed = deployment_factory()
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await crashed.step()
    simulator.set_status("c1", "SPAM")
    clock.advance(seconds=30)
    await crashed.cycle()  # committed; the process "dies" before delivering
    restarted = deployment_factory()
    clock.advance(seconds=30)
    assert (await restarted.cycle()).events == ()  # not detected twice
    assert await restarted.deliver() == ["call.status_changed", "call.spam"]
    assert await restarted.deliver() == []


async def test_source_outage_episode_events(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], clock: Clock
) -> None:
    """An outage raises source_unavailable once after several cycles, then source_recovered."""
    deployment = deployment_factory(NOTIFIER_UNAVAILABLE_CYCLES="2")
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await deployment.step()
    simulator.inject(Fault.http(503), times=100)
    for _ in range(4):
        clock.advance(seconds=30)
        with pytest.raises(SourceUnavailable):
            await deployment.cycle()
    assert await deployment.deliver() == ["notifier.source_unavailable"]
    simulator.clear_faults()
    clock.advance(seconds=30)
    assert await deployment.step() == ["notifier.source_recovered"]
    simulator.inject(Fault.http(401), times=3)
    clock.advance(seconds=30)
    with pytest.raises(SourceUnauthorized):
        await deployment.cycle()
    assert await deployment.deliver() == ["notifier.source_unauthorized"]
    event = deployment.sink.received[-1]
    assert "token" in event.payload()["data"]["error"] and "test-token" not in str(event.payload())


async def test_fencing_rejects_a_cycle_after_the_lease_moved(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """A cycle holding a stale lease token commits nothing."""
    simulator.set_calls(clock.today, [record("c1", "SPAM", TEN_AM)])
    token = await deployment.store.acquire_lease("me", 30)
    await deployment.store.release_lease("me", token or 0)
    await deployment.store.acquire_lease("other", 30)
    poller: Poller = deployment.poller
    from notifier.errors import LeaseLost

    with pytest.raises(LeaseLost):
        await poller.run_cycle(f"{token}|me")
    assert not (await deployment.store.load_cycle_state([clock.today])).initialized


async def test_a_204_is_a_valid_empty_cycle_and_an_empty_200_fails(
    simulator: Simulator, deployment: Deployment, clock: Clock
) -> None:
    """No calls (204) is a successful cycle; a 200 with an empty body fails it."""
    simulator.set_calls(clock.today, [])
    report = await deployment.cycle()
    assert report.calls_seen == 0 and report.baseline
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    simulator.inject(Fault.empty(), times=1)
    clock.advance(seconds=30)
    with pytest.raises(SourceMalformed, match="empty body"):
        await deployment.cycle()


async def test_a_returning_status_is_seen_after_replicas_take_turns(
    simulator: Simulator, deployment_factory: Callable[..., Deployment], clock: Clock
) -> None:
    """A→B committed by one replica and B→A by the other are both reported, and the first
    replica does not trust its in-memory call index once the other has committed."""
    first, second = deployment_factory(prefix="shared"), deployment_factory(prefix="shared")
    simulator.set_calls(clock.today, [record("c1", "En cola", TEN_AM)])
    await first.step()
    simulator.set_status("c1", "SPAM")
    clock.advance(seconds=30)
    assert await first.step() == ["call.status_changed", "call.spam"]
    simulator.set_status("c1", "En cola")
    clock.advance(seconds=30)
    assert [e.type for e in (await second.cycle()).events] == ["call.status_changed"]
    simulator.set_status("c1", "SPAM")
    clock.advance(seconds=30)
    assert [e.type for e in (await first.cycle()).events] == ["call.status_changed", "call.spam"]
