"""The sink registry: a sink is one module and one SinkSpec line, imported only when enabled."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from notifier import sinks
from notifier.config import load_settings
from notifier.delivery import DeliveryWorker
from notifier.events import Event, event_id
from notifier.sinks import SinkSpec
from notifier.store import Store
from tests.support import memory_sink

MEMORY = SinkSpec(
    "memory",
    "tests.support.memory_sink:MemorySink",
    lambda s: s.notifier_console,  # piggybacks on a variable, as a real sink has its own
    "webhook_events",
    "NOTIFIER_CONSOLE=true",
)


@pytest.fixture
def with_memory_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one registry line a new sink needs."""
    monkeypatch.setattr(sinks, "SINKS", (*sinks.SINKS, MEMORY))
    memory_sink.RECEIVED.clear()
    memory_sink.FAILING.clear()


def spam(n: int) -> Event:
    return Event("call.spam", event_id("spam", n), datetime.now(UTC), call={"uuid": f"c{n}"})


@pytest.mark.usefixtures("with_memory_sink")
async def test_a_registered_sink_is_built_filtered_delivered_and_dead_lettered(
    store: Store,
) -> None:
    """A sink added with one SinkSpec is built, gets its filter, delivers from its own
    outbox and lists its dead letters, with no other change anywhere."""
    settings = load_settings(
        {"CLICKFONO_TOKEN": "t", "NOTIFIER_CONSOLE": "true", "WEBHOOK_EVENTS": "call.spam"}
    )
    built = sinks.build_sinks(settings, store)
    assert [s.name for s in built] == ["console", "memory"]
    memory = built[1]
    assert sinks.sink_filters(settings, built)["memory"].patterns == ("call.spam",)
    assert "memory" in sinks.sink_names()
    assert "NOTIFIER_CONSOLE=true" in sinks.how_to_enable()

    await store.commit("", {}, {}, {"memory": [spam(1)]})
    worker = DeliveryWorker(store, memory, retry_schedule=())
    assert (await worker.deliver_batch()).delivered == 1
    assert [e.id for e in memory_sink.RECEIVED] == [spam(1).id]

    memory_sink.FAILING.append("memory is full")
    await store.commit("", {}, {}, {"memory": [spam(2)]})
    assert (await worker.deliver_batch()).dead == 1
    [letter] = await store.dead_letters(sinks.sink_names())
    assert (letter.sink, letter.error) == ("memory", "memory is full")


def test_a_disabled_sink_does_not_load_its_library() -> None:
    """With only the webhook configured, Slack's, email's and Apprise's libraries stay
    unloaded: the registry imports a sink's module only when the sink is enabled."""
    script = (
        "import sys\n"
        "from notifier.config import load_settings\n"
        "from notifier import sinks\n"
        "s = load_settings({'CLICKFONO_TOKEN': 't', 'WEBHOOK_URL': 'http://127.0.0.1:9/h'})\n"
        "built = sinks.build_sinks(s, None)\n"
        "print([b.name for b in built])\n"
        "print(sorted(m for m in ('slack_sdk', 'aiosmtplib', 'apprise', 'aiohttp') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out == ["['webhook']", "[]"]
