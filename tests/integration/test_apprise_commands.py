"""``once``, ``check`` and ``dead-letters`` with APPRISE_URLS, as real subprocesses.

Two Apprise URLs (``json://`` and ``form://``) point at two local receivers; each URL
carries a fake token that must never appear in any output.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from notifier.clickfono.simulator import Simulator, make_record
from tests.integration.test_commands import base_env, notifier, today
from tests.support.webhook_fixtures import WebhookReceiver

pytestmark = [pytest.mark.slow]

TOKEN = "apprise-T0ken-5f8e2c71d9ab"
PASSWORD = "apprise-Pa55-0c4e9b"


@pytest.fixture
def chats() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    """Two chat endpoints: one reached with json://, one with form://."""
    first, second = WebhookReceiver().start(), WebhookReceiver().start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def apprise_env(chats: tuple[WebhookReceiver, WebhookReceiver], **extra: str) -> dict[str, str]:
    json_chat, form_chat = chats
    return {
        "APPRISE_URLS": f"json://127.0.0.1:{json_chat.port}/hooks/{TOKEN}, "
        f"form://agent:{PASSWORD}@127.0.0.1:{form_chat.port}/in",
        **extra,
    }


def test_once_delivers_to_every_url_and_check_shows_no_token(
    simulator: Simulator, redis_url: str, chats: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    """A new SPAM call reaches both URLs once with the Spanish title; check lists each URL
    as parsing, by scheme and host; no output contains a token."""
    json_chat, form_chat = chats
    simulator.set_calls(today(), [make_record(uuid="c1", status="En cola")])
    env = base_env(simulator, redis_url, **apprise_env(chats))
    assert notifier("once", env=env).returncode == 0
    simulator.set_status("c1", "SPAM")
    done = notifier("once", env=env)
    checked = notifier("check", env=env)
    assert done.returncode == 0, done.stderr
    assert [a.payload["title"] for a in json_chat.alerts] == ["Llamada marcada como SPAM"]
    form = [parse_qs(a.body.decode()) for a in form_chat.alerts]
    assert [f["title"] for f in form] == [["Llamada marcada como SPAM"]]
    rows = [line for line in checked.stdout.splitlines() if line.startswith("sink apprise-")]
    assert len(rows) == 2 and all(" ok " in row for row in rows), checked.stdout
    assert f"json://127.0.0.1:{json_chat.port}: parses as JSON" in checked.stdout
    everything = done.stdout + done.stderr + checked.stdout + checked.stderr
    assert TOKEN not in everything and PASSWORD not in everything


def test_a_failing_url_goes_to_dead_letters_alone_and_replays(
    simulator: Simulator, redis_url: str, chats: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    """With one URL answering 500, its events become dead letters of that URL's sink only;
    the other URL gets each event once; replay delivers them once it is back."""
    json_chat, form_chat = chats
    form_chat.fail(500)
    simulator.set_calls(today(), [make_record(uuid="c1", status="SPAM")])
    env = base_env(
        simulator,
        redis_url,
        NOTIFIER_BASELINE="notify",
        NOTIFIER_RETRY_SCHEDULE="0",
        **apprise_env(chats),
    )
    first, second = notifier("once", env=env), notifier("once", env=env)
    assert (first.returncode, second.returncode) == (1, 1)
    listed = notifier("dead-letters", "list", env=env)
    rows = listed.stdout.strip().splitlines()[1:]
    assert len(rows) == 1 and "call.spam" in rows[0] and "answered HTTP 500" in rows[0]
    assert f"apprise form://127.0.0.1:{form_chat.port}" in rows[0]
    assert len(json_chat.alerts) == 1
    form_chat.heal()
    replayed = notifier("dead-letters", "replay", "--all", env=env)
    assert replayed.returncode == 0, replayed.stderr
    third = notifier("once", env=env)
    assert third.returncode == 0, third.stderr
    assert replayed.stdout.strip() == "queued 1 dead letter(s) for delivery"
    assert [a.status for a in form_chat.alerts] == [500, 500, 200]
    assert len(json_chat.alerts) == 1
    everything = "".join(d.stdout + d.stderr for d in (first, second, listed))
    assert TOKEN not in everything and PASSWORD not in everything
