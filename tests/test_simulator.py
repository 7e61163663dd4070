"""The Clickfono simulator: its HTTP contract, its generated day, its manual mode and faults."""

from __future__ import annotations

import json
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from notifier.clickfono import simulator as simulator_module
from notifier.clickfono import simulator_calls, simulator_day, simulator_http
from notifier.clickfono.models import CallStatus, parse_calls
from notifier.clickfono.simulator import (
    PATH,
    VENDOR_EXAMPLE_BODY,
    ZONE,
    Fault,
    Popup,
    SimulatedCalls,
    Simulator,
    demo_start,
    format_rut,
    generate_day,
    local_midnight,
    make_record,
    vendor_time,
)
from tests.support.simulator_fixtures import TEST_TOKEN
from tests.support.wait import wait_for

Factory = Callable[..., Simulator]

# The vendor's two example records, as the API page shows them (minus its syntax errors).
VENDOR_RECORD: dict[str, Any] = {
    "uuid": "a93460bbf8402e15b9b0afddc05d5e8d",
    "status": "Conectada",
    "call_number_company": "56223456789",
    "retry": "3",
    "duration_company": "117",
    "duration_customer": "95",
    "call_at": "2019/04/02 10:05:03 -0300",
    "enqueued": False,
    "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
    "popup_name": "Pruebas Clickfono",
    "additionals": {"Nombre": "Juan Perez", "Rut": "11.111.111-1"},
    "caller_number": "+56987654321",
}

TUESDAY = date(2026, 3, 3)
SATURDAY = date(2026, 3, 7)
FINAL = {
    CallStatus.CONNECTED,
    CallStatus.NOT_CONNECTED,
    CallStatus.ATTEMPTS_EXHAUSTED,
    CallStatus.SPAM,
    CallStatus.OUT_OF_HOURS,
}
NEXT: dict[str | None, set[str]] = {
    None: {CallStatus.SCHEDULED, CallStatus.SPAM, CallStatus.OUT_OF_HOURS},
    CallStatus.SCHEDULED: {CallStatus.QUEUED, CallStatus.SPAM, CallStatus.OUT_OF_HOURS},
    CallStatus.QUEUED: {CallStatus.RUNNING},
    CallStatus.RUNNING: {
        CallStatus.CONNECTED,
        CallStatus.NOT_CONNECTED,
        CallStatus.ATTEMPTS_EXHAUSTED,
    },
    CallStatus.NOT_CONNECTED: {CallStatus.QUEUED},
}
"""The generated day's only status moves (a ``No Conectada`` with retries left re-queues)."""


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def get(
    sim: Simulator,
    *,
    token: str | None = TEST_TOKEN,
    path: str = PATH,
    timeout: float = 5.0,
    **params: str,
) -> httpx.Response:
    headers = {} if token is None else {"security-token": token}
    return httpx.get(sim.base_url + path, params=params, headers=headers, timeout=timeout)


def rut_is_valid(text: str) -> bool:
    """Independent RUT check: dotted body, modulo 11 with weights 2..7 from the right."""
    match = re.fullmatch(r"(\d{1,2})\.(\d{3})\.(\d{3})-([0-9K])", text)
    if not match:
        return False
    digits = "".join(match.groups()[:3])
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(digits)))
    expected = {11: "0", 10: "K"}.get(11 - total % 11, str(11 - total % 11))
    return match[4] == expected


def generated(factory: Factory, at: datetime, **kwargs: Any) -> Simulator:
    """A generated-mode simulator (seed 7) frozen at ``at`` unless told otherwise."""
    kwargs.setdefault("seed", 7)
    kwargs.setdefault("speed", 0)
    return factory(start_at=at, **kwargs)


# --------------------------------------------------------------------------- HTTP contract


@pytest.mark.parametrize("token", [None, "", "wrong-token", TEST_TOKEN + "x"])
def test_missing_or_wrong_token_is_401(simulator: Simulator, token: str | None) -> None:
    """A request without the configured security-token, or with another one, gets 401."""
    simulator.upsert(make_record(call_at=simulator.now()))
    response = get(simulator, token=token)
    assert response.status_code == 401
    assert simulator.requests[-1].token_ok is False
    assert simulator.requests[-1].token_sent is (token is not None)


def test_right_token_with_calls_is_200_json_list_served_as_set(simulator: Simulator) -> None:
    """With the right token, the day's records come back as a JSON list exactly as set."""
    records = [make_record(call_at=local(TUESDAY, 10)), make_record(call_at=local(TUESDAY, 11))]
    simulator.set_calls(TUESDAY, records)
    response = get(simulator, date=TUESDAY.isoformat())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == records


def test_valid_query_without_calls_is_204_with_empty_body(simulator: Simulator) -> None:
    """A day with no calls answers 204 and no body."""
    response = get(simulator, date="2019-04-02")
    assert response.status_code == 204
    assert response.content == b""


def test_date_filter_keeps_only_that_days_calls(simulator: Simulator) -> None:
    """``date`` selects one local day's list; other days' calls are not included."""
    monday, tuesday = make_record(status="SPAM"), make_record(status="Conectada")
    simulator.set_calls("2026-03-02", [monday])
    simulator.set_calls(TUESDAY, [tuesday])
    assert get(simulator, date="2026-03-02").json() == [monday]
    assert get(simulator, date="2026-03-03").json() == [tuesday]


def test_default_date_is_simulated_today_in_santiago(simulator_factory: Factory) -> None:
    """Without ``date`` the list is today's in Santiago, even when UTC is already tomorrow."""
    late_evening = datetime(2026, 3, 4, 2, 30, tzinfo=UTC)  # 2026-03-03 23:30 -03:00
    sim = simulator_factory(clock=lambda: late_evening)
    record = make_record(call_at=local(TUESDAY, 23))
    sim.set_calls(TUESDAY, [record])
    sim.set_calls("2026-03-04", [make_record()])
    assert get(sim).json() == [record]


def test_popup_filter_keeps_only_that_popup(simulator: Simulator) -> None:
    """``popup_uuid`` narrows the list to one popup's calls."""
    sales, support = Popup("p-ventas", "Ventas Web"), Popup("p-soporte", "Soporte Técnico")
    ours, theirs = make_record(popup=sales), make_record(popup=support)
    simulator.set_calls(TUESDAY, [ours, theirs])
    assert get(simulator, date="2026-03-03", popup_uuid="p-ventas").json() == [ours]
    assert get(simulator, date="2026-03-03", popup_uuid="p-soporte").json() == [theirs]
    assert len(get(simulator, date="2026-03-03").json()) == 2


def test_unknown_popup_is_404_and_known_popup_without_calls_is_204(simulator: Simulator) -> None:
    """An unknown popup_uuid gets 404; a known popup with nothing that day gets 204."""
    simulator.add_popup(Popup("p-quiet", "Cobranzas"))
    assert get(simulator, popup_uuid="p-unknown").status_code == 404
    assert get(simulator, popup_uuid="p-quiet").status_code == 204


def test_popup_stays_known_after_its_calls_are_removed(simulator: Simulator) -> None:
    """A popup seen in a record keeps answering 204 (not 404) once its calls are gone."""
    record = make_record(popup=Popup("p-ventas", "Ventas Web"))
    simulator.upsert(record)
    simulator.remove(record["uuid"])
    assert get(simulator, popup_uuid="p-ventas").status_code == 204


@pytest.mark.parametrize("path", ["/", "/calls", "/calls/list/", "/calls/listx", "/api/calls/list"])
def test_other_paths_are_404(simulator: Simulator, path: str) -> None:
    """Only /calls/list exists; any other path answers 404."""
    assert get(simulator, path=path).status_code == 404


@pytest.mark.parametrize("bad", ["2019/04/02", "02-04-2019", "2019-02-30", "yesterday"])
def test_malformed_date_is_400(simulator: Simulator, bad: str) -> None:
    """A ``date`` that is not a real YYYY-MM-DD day is rejected with 400."""
    assert get(simulator, date=bad).status_code == 400


def test_other_methods_are_405(simulator: Simulator) -> None:
    """calls/list is GET only."""
    response = httpx.post(simulator.base_url + PATH, headers={"security-token": TEST_TOKEN})
    assert response.status_code == 405


def test_request_log_records_path_params_and_token_match_but_never_the_token(
    simulator_factory: Factory,
) -> None:
    """Each request is logged with its path, params and whether the token matched, not the token."""
    secret = "s3cr3t-clickfono-token"
    sim = simulator_factory(token=secret)
    get(sim, token=secret, date="2026-03-03", popup_uuid="p-1")
    get(sim, token="nope", date="2026-03-03")
    first, second = sim.requests
    assert (first.path, first.params, first.token_ok) == (
        PATH,
        {"date": "2026-03-03", "popup_uuid": "p-1"},
        True,
    )
    assert second.token_ok is False
    assert first.finished is not None and first.status == 404
    assert secret not in repr(sim.requests)


# --------------------------------------------------------------------------- record shape


def test_generated_records_have_the_vendor_example_shape(simulator_factory: Factory) -> None:
    """Generated records have the example's keys in its order, its value types and formats."""
    sim = generated(simulator_factory, local(TUESDAY, 18))
    records = get(sim).json()
    assert len(records) > 20
    for record in records:
        assert list(record) == list(VENDOR_RECORD)
        for key, value in record.items():
            assert type(value) is type(VENDOR_RECORD[key]), key
        assert re.fullmatch(r"[0-9a-f]{32}", record["uuid"])
        assert record["status"] in set(CallStatus)
        assert re.fullmatch(r"562\d{8}", record["call_number_company"])
        assert re.fullmatch(r"\+569\d{8}", record["caller_number"])
        for key in ("retry", "duration_company", "duration_customer"):
            assert record[key].isdigit(), key
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} -0[34]00", record["call_at"])
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", record["popup_uuid"])
        assert set(record["additionals"]) == {"Nombre", "Rut"}
        assert len(record["additionals"]["Nombre"].split()) >= 2


def test_generated_records_pass_the_call_model(simulator_factory: Factory) -> None:
    """Every generated record validates as a Call; none is rejected."""
    sim = generated(simulator_factory, local(TUESDAY, 18))
    parsed = parse_calls(get(sim).content)
    assert parsed.rejected == ()
    assert len(parsed.calls) > 20


def test_generated_ruts_have_correct_check_digits(simulator_factory: Factory) -> None:
    """Every generated RUT's check digit is right (checked with an independent algorithm)."""
    sim = generated(simulator_factory, local(TUESDAY + timedelta(days=1), 6))
    ruts = [record["additionals"]["Rut"] for record in get(sim, date="2026-03-03").json()]
    assert len(ruts) > 50
    assert all(rut_is_valid(rut) for rut in ruts), [r for r in ruts if not rut_is_valid(r)]


@pytest.mark.parametrize(
    ("number", "expected"),
    [(11_111_111, "11.111.111-1"), (12_345_678, "12.345.678-5"), (5_126_663, "5.126.663-3")],
)
def test_format_rut_matches_known_ruts(number: int, expected: str) -> None:
    """format_rut gives the published check digits of well-known RUTs."""
    assert format_rut(number) == expected
    assert rut_is_valid(expected)


def test_rut_validator_rejects_a_wrong_check_digit() -> None:
    """The test's own RUT check fails a wrong digit, so the RUT tests can fail."""
    assert not rut_is_valid("11.111.111-2")


def test_popups_are_a_few_spanish_named_ones(simulator_factory: Factory) -> None:
    """A generated simulator has 3-4 popups with Spanish names such as Soporte Técnico."""
    sim = generated(simulator_factory, local(TUESDAY, 12))
    names = [popup.name for popup in sim.popups]
    assert 3 <= len(names) <= 4
    assert {"Ventas Web", "Soporte Técnico"} <= set(names)
    popup = sim.popups[1]
    served = get(sim, popup_uuid=popup.uuid).json()
    assert served and {record["popup_name"] for record in served} == {popup.name}


# --------------------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2019-04-02T13:05:03Z", "2019/04/02 10:05:03 -0300"),
        ("2026-07-15T12:00:00Z", "2026/07/15 08:00:00 -0400"),
        # DST ends 2026-04-05 00:00 -03 -> 2026-04-04 23:00 -04: the hour repeats.
        ("2026-04-05T02:30:00Z", "2026/04/04 23:30:00 -0300"),
        ("2026-04-05T03:30:00Z", "2026/04/04 23:30:00 -0400"),
        # DST starts 2026-09-06 00:00 -04 -> 01:00 -03: the hour is skipped.
        ("2026-09-06T03:30:00Z", "2026/09/05 23:30:00 -0400"),
        ("2026-09-06T04:30:00Z", "2026/09/06 01:30:00 -0300"),
    ],
)
def test_vendor_time_uses_the_offset_in_force_at_that_instant(instant: str, expected: str) -> None:
    """call_at is Santiago wall time with that instant's own offset, right across DST changes."""
    assert vendor_time(datetime.fromisoformat(instant)) == expected


@pytest.mark.parametrize("day", [date(2026, 4, 4), date(2026, 4, 5), date(2026, 9, 6)])
def test_generated_offsets_and_dates_are_right_around_dst_changes(
    simulator_factory: Factory, day: date
) -> None:
    """On DST change days every call_at carries its instant's offset and the listed date."""
    sim = generated(simulator_factory, local_midnight(day + timedelta(days=2)))
    records = get(sim, date=day.isoformat()).json()
    assert records
    for record in records:
        instant = datetime.strptime(record["call_at"], "%Y/%m/%d %H:%M:%S %z")
        assert instant.utcoffset() == instant.astimezone(ZONE).utcoffset()
        assert instant.astimezone(ZONE).date() == day


def test_dst_days_have_their_real_length() -> None:
    """The local day is 25 h when DST ends and 23 h when it starts."""
    assert local_midnight(date(2026, 4, 5)) - local_midnight(date(2026, 4, 4)) == timedelta(
        hours=25
    )
    assert local_midnight(date(2026, 9, 7)) - local_midnight(date(2026, 9, 6)) == timedelta(
        hours=23
    )


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_date_and_time_give_identical_answers(simulator_factory: Factory) -> None:
    """Two simulators with one seed, at one simulated time, answer byte for byte the same."""
    one = generated(simulator_factory, local(TUESDAY, 15))
    two = generated(simulator_factory, local(TUESDAY, 15))
    assert get(one).content == get(two).content
    assert get(one, date="2026-03-02").content == get(two, date="2026-03-02").content
    assert generate_day(7, TUESDAY) == generate_day(7, TUESDAY)


def test_another_seed_gives_another_day(simulator_factory: Factory) -> None:
    """A different seed generates different calls."""
    one = generated(simulator_factory, local(TUESDAY, 15), seed=7)
    two = generated(simulator_factory, local(TUESDAY, 15), seed=8)
    assert {r["uuid"] for r in get(one).json()}.isdisjoint({r["uuid"] for r in get(two).json()})


def test_state_depends_on_simulated_time_not_on_how_it_got_there(
    simulator_factory: Factory,
) -> None:
    """Advancing in one jump or in many small steps gives the same answer and history."""
    jump = generated(simulator_factory, local(TUESDAY, 9))
    steps = generated(simulator_factory, local(TUESDAY, 9))
    jump.advance(7200)
    for _ in range(120):
        steps.advance(60)
    assert jump.records() == steps.records()
    assert jump.history == steps.history


def test_simulated_calls_hold_the_day_without_any_http(simulator_factory: Factory) -> None:
    """The day state alone (no server) holds what the server answers at that instant."""
    at = local(TUESDAY, 15)
    calls = SimulatedCalls(seed=7, start_at=at, speed=0)
    served = generated(simulator_factory, at)
    assert calls.records() == get(served).json() != []
    assert calls.history == served.history
    assert not hasattr(calls, "base_url")


def test_the_simulator_import_path_re_exports_the_split_modules() -> None:
    """``notifier.clickfono.simulator`` names the very objects its three modules define."""
    assert simulator_module.Simulator is simulator_http.Simulator
    assert simulator_module.serve is simulator_http.serve
    assert simulator_module.make_record is simulator_day.make_record
    assert issubclass(Simulator, simulator_calls.SimulatedCalls)
    for name in simulator_module.__all__:
        assert getattr(simulator_module, name) is not None, name


# --------------------------------------------------------------------------- progression


def test_a_generated_day_follows_the_documented_lifecycle(simulator_factory: Factory) -> None:
    """Every call moves Por ejecutar → En cola → En ejecución → a final status, as history says."""
    sim = generated(simulator_factory, local_midnight(TUESDAY))
    sim.advance(28 * 3600)  # the whole day and its late calls' endings
    by_call: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for change in sim.history:
        if change.day == TUESDAY:
            by_call[change.uuid].append((change.old, change.new))
    assert len(by_call) > 100
    final_now = {r["uuid"]: r["status"] for r in get(sim, date="2026-03-03").json()}
    for uuid, moves in by_call.items():
        assert moves[0][0] is None, uuid
        for (old, new), following in zip(moves, [*moves[1:], None], strict=True):
            assert new in NEXT[old], (uuid, old, new)
            assert following is None or following[0] == new
        assert moves[-1][1] in FINAL
        assert final_now[uuid] == moves[-1][1]  # the oracle agrees with the answers
    assert set(final_now) == set(by_call)


def test_a_weekday_shows_every_documented_status(simulator_factory: Factory) -> None:
    """One generated weekday includes every documented status, retries and out-of-hours calls."""
    sim = generated(simulator_factory, local_midnight(TUESDAY))
    sim.advance(28 * 3600)
    changes = [c for c in sim.history if c.day == TUESDAY]
    assert {c.new for c in changes} == set(CallStatus)
    records = get(sim, date="2026-03-03").json()
    assert max(int(r["retry"]) for r in records) >= 2


def test_out_of_hours_requests_are_rejected_or_anomalously_dialled(
    simulator_factory: Factory,
) -> None:
    """Fuera de horario only follows out-of-hours requests; some of those run anyway at night."""
    sim = generated(simulator_factory, local_midnight(TUESDAY))
    sim.advance(28 * 3600)
    call_at = {
        r["uuid"]: datetime.strptime(r["call_at"], "%Y/%m/%d %H:%M:%S %z").astimezone(ZONE)
        for r in get(sim, date="2026-03-03").json()
    }

    def in_hours(uuid: str) -> bool:
        return call_at[uuid].weekday() < 5 and 9 <= call_at[uuid].hour < 18

    changes = [c for c in sim.history if c.day == TUESDAY]
    rejected = {c.uuid for c in changes if c.new == CallStatus.OUT_OF_HOURS}
    dialled_late = {
        c.uuid
        for c in changes
        if c.new in (CallStatus.RUNNING, CallStatus.CONNECTED) and not in_hours(c.uuid)
    }
    assert rejected and not any(in_hours(uuid) for uuid in rejected)
    assert dialled_late


def test_statuses_change_as_simulated_time_advances(simulator_factory: Factory) -> None:
    """A queued call's answer changes once the clock passes its next step; history records it."""
    sim = generated(simulator_factory, local(TUESDAY, 11))
    queued = next(r for r in get(sim).json() if r["status"] == CallStatus.QUEUED)
    before = len(sim.history)

    def status() -> str:
        return next(r["status"] for r in get(sim).json() if r["uuid"] == queued["uuid"])

    for _ in range(200):
        if status() != CallStatus.QUEUED:
            break
        sim.advance(60)
    assert status() == CallStatus.RUNNING
    assert any(
        c.uuid == queued["uuid"] and (c.old, c.new) == (CallStatus.QUEUED, CallStatus.RUNNING)
        for c in sim.history[before:]
    )


def test_retry_only_grows_and_enqueued_matches_status(simulator_factory: Factory) -> None:
    """Sampled through the day, retry never decreases and enqueued is true exactly when queued."""
    sim = generated(simulator_factory, local(TUESDAY, 8))
    last_retry: dict[str, int] = {}
    for _ in range(60):
        for record in sim.records():
            retry = int(record["retry"])
            assert retry >= last_retry.get(record["uuid"], 0)
            last_retry[record["uuid"]] = retry
            if record["status"] == CallStatus.QUEUED:
                assert record["enqueued"] is True
            elif record["status"] != CallStatus.NOT_CONNECTED:
                assert record["enqueued"] is False
        sim.advance(600)
    assert max(last_retry.values()) >= 2


def test_speed_makes_simulated_time_run_faster(simulator_factory: Factory) -> None:
    """At speed 600 simulated time passes a simulated minute within a fraction of a second."""
    start = local(TUESDAY, 10)
    sim = simulator_factory(seed=7, start_at=start, speed=600)
    wait_for(lambda: sim.now() >= start + timedelta(minutes=1), timeout=3, message="sim minute")
    assert sim.now() < start + timedelta(hours=1)


def test_clock_callable_drives_simulated_time(simulator_factory: Factory) -> None:
    """With a clock callable, simulated now is that clock plus any advance."""
    current = [local(TUESDAY, 10)]
    sim = simulator_factory(seed=7, clock=lambda: current[0])
    assert sim.now() == current[0]
    current[0] += timedelta(hours=2)
    sim.advance(30)
    assert sim.now() == local(TUESDAY, 12) + timedelta(seconds=30)


def test_demo_burst_at_midnight_is_listed_from_the_first_request(
    simulator_factory: Factory,
) -> None:
    """A burst starting at local midnight stays in that day's list, visible at once."""
    sim = generated(simulator_factory, local_midnight(TUESDAY), burst=8)
    assert get(sim).status_code == 200


@pytest.mark.parametrize("start", [local(TUESDAY, 11, 7), local(TUESDAY, 2, 41)])
def test_demo_burst_changes_calls_right_after_the_start(
    simulator_factory: Factory, start: datetime
) -> None:
    """With a burst, several calls change within 20 real seconds at speed 120 (2400 sim s)."""
    sim = generated(simulator_factory, start, burst=8)
    sim.advance(2400)
    changed = {c.uuid for c in sim.changes_since(start)}
    assert len(changed) >= 5
    if start.hour < 9:  # at night, the burst shows the out-of-hours anomalies too
        assert any(c.new == CallStatus.CONNECTED for c in sim.changes_since(start))


@pytest.mark.parametrize(
    ("now", "speed", "expected"),
    [
        (local(TUESDAY, 10), 1, local(TUESDAY, 10)),  # plenty of day left
        (local(TUESDAY, 10), 60, local(TUESDAY, 9)),  # 15 real min = 15 sim h before midnight
        (local(TUESDAY, 22, 53), 60, local(TUESDAY, 9)),
        (local(TUESDAY, 22, 53), 0, local(TUESDAY, 22, 53)),  # a frozen clock never rolls over
        (local(TUESDAY, 2), 120, local(TUESDAY, 0)),  # never before today's midnight
    ],
)
def test_demo_start_leaves_the_demo_a_simulated_day_to_run_in(
    now: datetime, speed: float, expected: datetime
) -> None:
    """The demo starts now, or early enough that the simulated date outlasts 15 real minutes."""
    assert demo_start(speed, now=now) == expected


# --------------------------------------------------------------------------- manual mode


def test_upsert_set_status_and_remove_drive_answers_and_history(simulator: Simulator) -> None:
    """Manual edits show up in the next answer, and each status change lands in history."""
    record = make_record(call_at=simulator.now())
    simulator.upsert(record)
    simulator.set_status(record["uuid"], "En cola", retry="1", enqueued=True)
    served = get(simulator).json()
    assert [(r["status"], r["retry"], r["enqueued"]) for r in served] == [("En cola", "1", True)]
    simulator.remove(record["uuid"])
    assert get(simulator).status_code == 204
    moves = [(c.uuid, c.old, c.new) for c in simulator.history]
    assert moves == [
        (record["uuid"], None, "Por ejecutar"),
        (record["uuid"], "Por ejecutar", "En cola"),
    ]


def test_a_removed_call_that_returns_is_a_change_only_if_its_status_differs(
    simulator: Simulator,
) -> None:
    """Like the notifier's kept snapshot, history diffs a returning call against its last status."""
    same, other = make_record(status="En cola"), make_record(status="En cola")
    for record in (same, other):
        simulator.upsert(record)
        simulator.remove(record["uuid"])
    simulator.upsert(same)
    simulator.upsert({**other, "status": "SPAM"})
    assert [(c.uuid, c.old, c.new) for c in simulator.history[2:]] == [
        (other["uuid"], "En cola", "SPAM")
    ]


def test_set_calls_records_only_real_status_changes(simulator: Simulator) -> None:
    """Replacing a day's list logs new calls and changed statuses, not unchanged ones."""
    kept, changed = make_record(status="En cola"), make_record(status="En cola")
    simulator.set_calls(TUESDAY, [kept, changed])
    simulator.set_calls(TUESDAY, [kept, {**changed, "status": "SPAM"}])
    assert [(c.old, c.new) for c in simulator.history] == [
        (None, "En cola"),
        (None, "En cola"),
        ("En cola", "SPAM"),
    ]


def test_unknown_uuids_raise_key_error(simulator: Simulator) -> None:
    """set_status and remove refuse a uuid the simulator does not have."""
    with pytest.raises(KeyError):
        simulator.set_status("missing", "SPAM")
    with pytest.raises(KeyError):
        simulator.remove("missing")


def test_upsert_needs_a_uuid(simulator: Simulator) -> None:
    """upsert refuses a record without uuid; set_calls serves such records as given."""
    record = make_record()
    del record["uuid"]
    with pytest.raises(ValueError, match="uuid"):
        simulator.upsert(record)
    simulator.set_calls(TUESDAY, [record])
    assert get(simulator, date="2026-03-03").json() == [record]


def test_edited_generated_call_leaves_its_timeline(simulator_factory: Factory) -> None:
    """After set_status on a generated call, advancing time no longer moves it."""
    sim = generated(simulator_factory, local(TUESDAY, 11))
    target = next(r for r in sim.records() if r["status"] == CallStatus.QUEUED)
    sim.set_status(target["uuid"], "SPAM")
    sim.advance(6 * 3600)
    assert [r["status"] for r in sim.records() if r["uuid"] == target["uuid"]] == ["SPAM"]
    assert [c.new for c in sim.history if c.uuid == target["uuid"]][-1] == "SPAM"


def test_mutate_random_makes_n_changes_including_new_calls(simulator: Simulator) -> None:
    """mutate_random changes n calls to other statuses, creating calls too, all in history."""
    for _ in range(3):
        simulator.upsert(make_record(call_at=simulator.now()))
    before = len(simulator.history)
    made = simulator.mutate_random(40, random.Random(3))
    assert len(made) == 40
    assert list(simulator.history[before:]) == made
    assert all(change.old != change.new for change in made)
    assert any(change.old is None for change in made)
    served = {r["uuid"]: r["status"] for r in get(simulator).json()}
    latest = {change.uuid: change.new for change in made}
    assert {uuid: served[uuid] for uuid in latest} == latest


def test_concurrent_requests_and_edits_stay_consistent(simulator_factory: Factory) -> None:
    """Parallel requests during random edits all get whole, valid answers, each one logged."""
    sim = generated(simulator_factory, local(TUESDAY, 11), speed=60)

    def fetch_many(_: int) -> list[int]:
        with httpx.Client(headers={"security-token": TEST_TOKEN}, timeout=5) as client:
            statuses = []
            for _ in range(15):
                response = client.get(sim.base_url + PATH)
                assert parse_calls(response.content).rejected == ()
                statuses.append(response.status_code)
            return statuses

    with ThreadPoolExecutor(6) as pool:
        pending = pool.map(fetch_many, range(6))
        rng = random.Random(5)
        for _ in range(30):
            sim.mutate_random(2, rng)
        results = [status for batch in pending for status in batch]
    assert results == [200] * 90
    assert len(sim.requests) == 90
    assert all(r.status == 200 for r in sim.requests)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("code", [500, 502, 503, 401, 204])
def test_status_fault_answers_that_code_for_the_next_n_requests(
    simulator: Simulator, code: int
) -> None:
    """An injected status answers exactly the next ``times`` requests, then normal ones resume."""
    simulator.upsert(make_record(call_at=simulator.now()))
    simulator.inject(Fault.http(code), times=2)
    assert [get(simulator).status_code for _ in range(3)] == [code, code, 200]
    assert [r.fault for r in simulator.requests] == ["status", "status", None]
    assert simulator.pending_faults == 0


def test_204_fault_has_no_body(simulator: Simulator) -> None:
    """A 204 fault sends no body, like the real 204."""
    simulator.inject(Fault.http(204))
    assert get(simulator).content == b""


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (Fault.not_json(), lambda body: body.lstrip().startswith(b"<!DOCTYPE html>")),
        (Fault.not_list(), lambda body: isinstance(json.loads(body), dict)),
        (Fault.vendor_example(), lambda body: body == VENDOR_EXAMPLE_BODY),
    ],
)
def test_body_faults_answer_200_with_an_unusable_body(
    simulator: Simulator, fault: Fault, check: Callable[[bytes], bool]
) -> None:
    """Body faults answer 200 with HTML, a JSON object, or the vendor's malformed example."""
    simulator.inject(fault)
    response = get(simulator)
    assert response.status_code == 200
    assert check(response.content)


def test_vendor_example_fault_is_the_published_invalid_json(simulator: Simulator) -> None:
    """The vendor_example body holds the example's calls but is not valid JSON."""
    simulator.inject(Fault.vendor_example())
    body = get(simulator).content
    assert b"a93460bbf8402e15b9b0afddc05d5e8d" in body and b"\xc2\xa0" in body
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_hang_stalls_longer_than_a_client_waits(simulator: Simulator) -> None:
    """A hang keeps the answer back, so a client with a short timeout gives up."""
    simulator.inject(Fault.hang(10))
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        get(simulator, timeout=0.3)
    assert time.monotonic() - started < 3


def test_hang_then_answers_normally(simulator: Simulator) -> None:
    """After the stall the normal answer is sent."""
    simulator.inject(Fault.hang(0.3))
    started = time.monotonic()
    response = get(simulator)
    assert response.status_code == 204
    assert time.monotonic() - started >= 0.3


def test_trickle_sends_the_normal_body_a_few_bytes_at_a_time(simulator: Simulator) -> None:
    """A trickle delivers the real list in many small chunks spread over the given time."""
    record = make_record(call_at=simulator.now())
    simulator.upsert(record)
    simulator.inject(Fault.trickle(0.6, interval=0.03))
    started = time.monotonic()
    chunks: list[bytes] = []
    url = simulator.base_url + PATH
    with httpx.stream("GET", url, headers={"security-token": TEST_TOKEN}, timeout=5) as response:
        chunks.extend(response.iter_raw())
    assert time.monotonic() - started >= 0.5
    assert len(chunks) >= 5
    assert json.loads(b"".join(chunks)) == [record]


def test_reset_breaks_the_connection_mid_response(simulator: Simulator) -> None:
    """A reset sends headers and part of the body, then the connection breaks."""
    simulator.upsert(make_record(call_at=simulator.now()))
    simulator.inject(Fault.reset())
    with pytest.raises(httpx.TransportError):
        get(simulator)
    assert simulator.requests[-1].fault == "reset"
    assert simulator.requests[-1].status is None
    assert get(simulator).status_code == 200


def test_fault_for_one_popup_leaves_the_others_alone(simulator: Simulator) -> None:
    """A fault scoped to a popup hits only that popup's requests."""
    simulator.add_popup(Popup("p-1", "Ventas Web"))
    simulator.add_popup(Popup("p-2", "Cobranzas"))
    simulator.inject(Fault.http(503), popup="p-2")
    assert get(simulator, popup_uuid="p-1").status_code == 204
    assert get(simulator, popup_uuid="p-2").status_code == 503
    assert get(simulator, popup_uuid="p-2").status_code == 204


def test_stop_ends_stalled_answers_at_once(simulator_factory: Factory) -> None:
    """Stopping the simulator drops a request that is stalled in a hang."""
    sim = simulator_factory()
    sim.inject(Fault.hang(60))
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(get, sim, timeout=30)
        wait_for(lambda: sim.requests, timeout=5, message="the request to arrive")
        started = time.monotonic()
        sim.stop()
        with pytest.raises(httpx.TransportError):
            pending.result(timeout=10)
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- the command


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_simulate_command_serves_a_changing_day_and_stops_cleanly(
    stop_signal: signal.Signals,
) -> None:
    """``simulate`` prints where it listens, shows changes within seconds, and stops cleanly."""
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier", "simulate", "--port", "0", "--speed", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=20)
        match = re.search(r"http://127\.0\.0\.1:\d+/calls/list", line)
        assert match, line
        headers = {"security-token": "demo-token"}
        first = httpx.get(match[0], headers=headers, timeout=5)
        assert first.status_code == 200
        wait_for(
            lambda: httpx.get(match[0], headers=headers, timeout=5).content != first.content,
            timeout=20,
            message="a call to change",
        )
    finally:
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Traceback" not in stderr
