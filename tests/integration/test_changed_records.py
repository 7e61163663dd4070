"""A cycle validates only the records whose raw JSON it has not seen: what it reports and
raises stays what validating every record gave."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime

import pytest

from notifier.clickfono.models import CallRecords, ParsedCalls
from notifier.clickfono.simulator import Simulator
from tests.integration.conftest import SANTIAGO, Clock, Deployment, record

TEN_AM = datetime(2026, 11, 24, 10, 0, tzinfo=SANTIAGO)


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records each cycle validated (appended per ``CallRecords.validate`` call)."""
    counts: list[int] = []
    original = CallRecords.validate

    def counting(self: CallRecords, positions: Collection[int]) -> ParsedCalls:
        counts.append(len(positions))
        return original(self, positions)

    monkeypatch.setattr(CallRecords, "validate", counting)
    return counts


async def test_only_records_whose_json_changed_are_validated(
    simulator: Simulator, deployment: Deployment, clock: Clock, validated: list[int]
) -> None:
    """After the baseline, a fresh poller (as ``once``) validates just the changed record and
    still counts and diffs the answer as a whole."""
    simulator.set_calls(clock.today, [record(f"c{i}", "En cola", TEN_AM) for i in range(20)])
    await deployment.cycle()
    assert validated == [20]
    simulator.set_status("c3", "SPAM")
    clock.advance(seconds=30)
    report = await deployment.cycle()
    assert validated == [20, 1]
    assert report.calls_seen == 20 and report.records_rejected == 0
    assert sorted(e.type for e in report.events) == ["call.spam", "call.status_changed"]
    assert {e.call_uuid for e in report.events} == {"c3"}


async def test_a_bad_record_is_reported_every_cycle_until_it_is_fixed(
    simulator: Simulator, deployment: Deployment, clock: Clock, validated: list[int]
) -> None:
    """An invalid record never enters the index: it is validated and counted as rejected in
    every cycle that reads the answer, and diffed as a new call once it is valid."""
    simulator.set_calls(
        clock.today, [record("c1", "En cola", TEN_AM), record("c2", "SPAM", "not a date")]
    )
    first = await deployment.cycle()
    assert (first.calls_seen, first.records_rejected) == (1, 1)
    simulator.set_status("c1", "Conectada")
    clock.advance(seconds=30)
    second = await deployment.cycle()
    assert (second.calls_seen, second.records_rejected) == (1, 1)
    assert validated[-1] == 2  # the changed c1 and the still invalid c2
    assert [e.type for e in second.events] == ["call.status_changed"]
    simulator.upsert(record("c2", "SPAM", TEN_AM))
    clock.advance(seconds=30)
    third = await deployment.cycle()
    assert (third.calls_seen, third.records_rejected) == (2, 0)
    assert validated[-1] == 1
    assert sorted(e.type for e in third.events) == ["call.created", "call.spam"]


async def test_an_index_an_earlier_version_stored_is_replaced_after_one_full_diff(
    simulator: Simulator,
    deployment: Deployment,
    clock: Clock,
    validated: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After an upgrade the version-1 index (hex lines) is not read: the first cycle
    validates and diffs every call, raises nothing for unchanged calls and logs no error;
    the next cycle reads the index it stored."""
    simulator.set_calls(clock.today, [record(f"c{i}", "En cola", TEN_AM) for i in range(20)])
    await deployment.cycle()
    key = deployment.store.keys.index(clock.today, "*")
    await deployment.store.redis.set(key, '{"v":1,"waits":[]}\n' + "ab" * 20)
    simulator.set_status("c3", "SPAM")
    clock.advance(seconds=30)
    upgraded = await deployment.cycle()
    assert validated == [20, 20]
    assert {e.call_uuid for e in upgraded.events} == {"c3"}
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert [r["level"] for r in logged if r["event"] == "call_index_outdated"] == ["info"]
    assert not [r for r in logged if r["level"] == "error"]
    simulator.set_status("c4", "SPAM")
    clock.advance(seconds=30)
    await deployment.cycle()
    assert validated == [20, 20, 1]
