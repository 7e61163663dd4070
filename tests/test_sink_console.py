"""The console sink: one readable line per event, masked like Slack and email."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from notifier import events as ev
from notifier.config import load_settings
from notifier.events import Event
from notifier.sinks.console import ConsoleSink
from tests.support.samples import SPEC_CALL

DETECTED = datetime(2026, 11, 24, 13, 5, 9, tzinfo=UTC)


def sink(stream: io.StringIO, **env: str) -> ConsoleSink:
    return ConsoleSink(load_settings({"CLICKFONO_TOKEN": "t", **env}), stream, colour=False)


def exhausted() -> Event:
    return Event(
        type=ev.CALL_ATTEMPTS_EXHAUSTED,
        id="evt_1",
        detected_at=DETECTED,
        call=SPEC_CALL,
        previous_status="En cola",
    )


@pytest.mark.parametrize(
    ("mask", "shown", "hidden"),
    [
        ("false", ["+56 9 8765 4321", "Juan Perez"], []),
        ("true", ["+56 9 **** 4321", "J. P."], ["8765", "Juan"]),
    ],
)
async def test_call_line_shows_change_popup_and_caller(
    mask: str, shown: list[str], hidden: list[str]
) -> None:
    """A call event prints local time, type, the status change, popup and caller."""
    out = io.StringIO()
    assert await sink(out, NOTIFIER_MASK_PII=mask).send([exhausted()]) == [None]
    line = out.getvalue().strip()
    assert line.startswith("10:05:09  call.attempts_exhausted")
    assert "En cola → Intentos terminados" in line and "Pruebas Clickfono" in line
    assert all(s in line for s in shown) and not any(h in line for h in hidden)
    assert "\033[" not in line


async def test_operational_event_line_shows_the_error() -> None:
    """A notifier.* event prints its error, one line."""
    out = io.StringIO()
    event = Event(
        type=ev.SOURCE_UNAVAILABLE,
        id="evt_2",
        detected_at=DETECTED,
        detail={"error": "Clickfono answered HTTP 503"},
    )
    await sink(out).send([event])
    assert out.getvalue() == "10:05:09  notifier.source_unavailable  Clickfono answered HTTP 503\n"


async def test_colour_wraps_the_line() -> None:
    """With colour on, an alert line is wrapped in an ANSI colour and reset."""
    out = io.StringIO()
    console = ConsoleSink(load_settings({"CLICKFONO_TOKEN": "t"}), out, colour=True)
    await console.send([exhausted()])
    assert out.getvalue().startswith("\033[1;33m") and out.getvalue().endswith("\033[0m\n")


def test_customer_text_cannot_drive_the_terminal() -> None:
    """Escape sequences and carriage returns in a customer's name are printed as '?'."""
    import io

    from notifier.config import load_settings
    from notifier.events import Event
    from notifier.sinks.console import ConsoleSink
    from tests.support.samples import SPEC_CALL

    call = {**SPEC_CALL, "additionals": {"Nombre": "Ana\x1b[2J\x1b]0;pwned\x07\rX"}}
    sink = ConsoleSink(load_settings({"CLICKFONO_TOKEN": "t"}), io.StringIO(), colour=False)
    line = sink.format(Event("call.spam", "evt_1", datetime.now(UTC), call=call))
    assert "\x1b" not in line and "\r" not in line and "\x07" not in line
    assert "Ana?[2J?]0;pwned??X" in line
