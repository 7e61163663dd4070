"""The daily summary's pure rules: tables of calls, waits and callbacks -> one summary per popup."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.claims import ClaimState, Status
from notifier.summary import Callback, PopupSummary, is_unreached, open_callbacks, summarise

SANTIAGO = ZoneInfo("America/Santiago")
DAY = date(2026, 11, 24)
VENTAS = "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0"
SOPORTE = "2b0c9a4e-6ce8-11e9-b8f9-001d09ef4aa0"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=SANTIAGO)


def open_9_to_18(instant: datetime) -> bool:
    return 9 <= instant.astimezone(SANTIAGO).hour < 18


def call(
    uuid: str,
    status: str,
    when: datetime,
    number: str = "+56911111111",
    popup: str = VENTAS,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "status": status,
        "call_at": when.isoformat(),
        "caller_number": number,
        "popup_uuid": popup,
        "popup_name": "Ventas Web" if popup == VENTAS else "Soporte Técnico",
        "enqueued": False,
        "additionals": {"Nombre": "Juan Pérez"},
        **fields,
    }


def one(calls: list[dict[str, Any]], **kwargs: Any) -> PopupSummary:
    [summary] = summarise(DAY, calls, zone=SANTIAGO, is_open=open_9_to_18, **kwargs)
    return summary


@pytest.mark.parametrize(
    ("status", "enqueued", "unreached"),
    [
        ("Intentos terminados", False, True),
        ("No Conectada", False, True),
        ("No Conectada", None, True),
        ("No Conectada", True, False),  # a retry is pending: Clickfono is still trying
        ("Fuera de horario", False, True),
        ("Conectada", False, False),
        ("SPAM", False, False),
        ("En cola", True, False),
        ("En ejecución", False, False),
        ("Estado Nuevo", False, False),
    ],
)
def test_which_calls_leave_a_customer_unreached(
    status: str, enqueued: bool | None, unreached: bool
) -> None:
    """Unreached: attempts used up, not connected with no retry pending, or never dialled."""
    assert is_unreached({"status": status, "enqueued": enqueued}) is unreached


def test_counts_rate_spam_and_out_of_hours() -> None:
    """Totals by status, Conectada over non-SPAM calls, SPAM, and out of hours by status or time."""
    summary = one(
        [
            call("a", "Conectada", at(10)),
            call("b", "Conectada", at(11), "+56922222222"),
            call("c", "Intentos terminados", at(12), "+56933333333"),
            call("d", "SPAM", at(13)),
            call("e", "SPAM", at(7)),  # SPAM out of hours counts as SPAM only
            call("f", "Fuera de horario", at(7, 30), "+56944444444"),
            call("g", "Conectada", at(8, 15), "+56955555555"),  # dialled before opening
        ]
    )
    assert summary.total == 7
    assert summary.calls_by_status == {
        "Conectada": 3,
        "Intentos terminados": 1,
        "Fuera de horario": 1,
        "SPAM": 2,
    }
    assert list(summary.calls_by_status) == [
        "Conectada",
        "Intentos terminados",
        "Fuera de horario",
        "SPAM",
    ]
    assert summary.connected_rate == 0.6  # 3 of 5 customers
    assert summary.spam == 2
    assert summary.out_of_hours == 2
    assert summary.date == "2026-11-24"
    assert summary.popup_name == "Ventas Web"


@pytest.mark.parametrize(
    ("later", "waiting"),
    [
        (None, ["first"]),
        (call("later", "Conectada", at(15)), []),  # called back: the customer got through
        (call("later", "No Conectada", at(15)), ["first", "later"]),  # tried again, unreached
        (call("earlier", "Conectada", at(9)), ["first"]),  # connected before: not a call back
        (call("other", "Conectada", at(15), "+56999999999"), ["first"]),  # someone else
        (call("later", "Conectada", at(15), popup=SOPORTE), []),  # same number, other popup
    ],
)
def test_an_unreached_customer_waits_until_a_later_call_connects(
    later: dict[str, Any] | None, waiting: list[str]
) -> None:
    """Unreached, then a Conectada call from the same number later that day: no longer waiting."""
    calls = [call("first", "Intentos terminados", at(12))]
    if later is not None:
        calls.append(later)
    summaries = summarise(DAY, calls, zone=SANTIAGO, is_open=open_9_to_18)
    ventas = next(s for s in summaries if s.popup_uuid == VENTAS)
    assert [c["uuid"] for c in ventas.waiting_callback] == waiting


def _callback(status: Status, claimed_after: float | None = None) -> Callback:
    alerted = at(12, 1)
    claimed = None if claimed_after is None else alerted + timedelta(seconds=claimed_after)
    return Callback(ClaimState(status, "U1", claimed or alerted), alerted, claimed, VENTAS)


@pytest.mark.parametrize(
    ("status", "waiting"),
    [
        (Status.UNCLAIMED, True),
        (Status.CLAIMED, True),
        (Status.DONE, False),
        (Status.RESOLVED, False),
    ],
)
def test_with_the_callback_loop_only_open_callbacks_wait(status: Status, waiting: bool) -> None:
    """A callback's state wins over the calls: open waits, done or resolved does not."""
    summary = one(
        [call("first", "Intentos terminados", at(12))],
        callbacks={"first": _callback(status, 60)},
    )
    assert bool(summary.waiting_callback) is waiting


def test_a_callback_closed_by_an_agent_ends_the_wait_even_without_a_connected_call() -> None:
    """An agent who called from their own phone marks it done: the customer no longer waits."""
    summary = one(
        [call("x", "Fuera de horario", at(7))], callbacks={"x": _callback(Status.DONE, 30)}
    )
    assert summary.waiting_callback == ()


def test_median_time_to_claim_counts_claimed_callbacks_only() -> None:
    """Median of alert-to-claim delays; callbacks never claimed are not in the sample."""
    calls = [
        call(u, "Intentos terminados", at(12), f"+5691111111{i}") for i, u in enumerate("abcd")
    ]
    summary = one(
        calls,
        callbacks={
            "a": _callback(Status.CLAIMED, 60),
            "b": _callback(Status.DONE, 300),
            "c": _callback(Status.DONE, 120),
            "d": _callback(Status.UNCLAIMED),
        },
    )
    assert summary.median_claim_seconds == 120
    assert summary.claimed == 3
    assert one(calls).median_claim_seconds is None


def test_longest_wait_is_the_longest_observed_wait_of_the_popups_calls() -> None:
    """The longest wait comes from the waits the notifier observed, per popup."""
    calls = [call("a", "Conectada", at(10)), call("b", "Conectada", at(11), popup=SOPORTE)]
    summaries = summarise(
        DAY,
        calls,
        zone=SANTIAGO,
        is_open=open_9_to_18,
        waits={"a": 1260.4, "b": 95.0, "zz": 99999.0},
    )
    assert [(s.popup_name, s.longest_wait) for s in summaries] == [
        ("Soporte Técnico", 95),
        ("Ventas Web", 1260),
    ]
    assert one([call("a", "Conectada", at(10))]).longest_wait is None


def test_configured_popups_without_calls_get_an_empty_summary() -> None:
    """A configured popup with no calls today still gets its summary, with zeros."""
    summaries = summarise(DAY, [], zone=SANTIAGO, is_open=open_9_to_18, popups=[SOPORTE])
    assert [(s.popup_uuid, s.popup_name, s.total, s.connected_rate) for s in summaries] == [
        (SOPORTE, None, 0, 0.0)
    ]


def test_detail_round_trips_and_matches_the_payload_contract() -> None:
    """detail() holds SPEC's fields and reads back into the same summary (late included)."""
    summary = one(
        [call("a", "Intentos terminados", at(12)), call("b", "SPAM", at(13))],
        waits={"a": 61.0},
        late=True,
    )
    detail = summary.detail()
    for name in ("popup_uuid", "popup_name", "date", "total", "calls_by_status"):
        assert name in detail
    assert detail["connected_rate"] == 0.0 and detail["late"] is True
    assert [c["uuid"] for c in detail["waiting_callback"]] == ["a"]
    back = PopupSummary.from_detail(detail)
    assert back == PopupSummary(**{**vars_of(summary), "claimed": 0})


def vars_of(summary: PopupSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in PopupSummary.__slots__}


def test_open_callbacks_are_counted_by_popup() -> None:
    """The gauge counts unclaimed and claimed callbacks per popup, never closed ones."""
    counts = open_callbacks(
        [
            _callback(Status.UNCLAIMED),
            _callback(Status.CLAIMED, 5),
            _callback(Status.DONE, 5),
            Callback(ClaimState(), popup_uuid=SOPORTE, popup_name="Soporte Técnico"),
        ]
    )
    assert counts == {(VENTAS, None): 2, (SOPORTE, "Soporte Técnico"): 1}
