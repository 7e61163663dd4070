"""The callback loop end to end: real ``run`` processes, a real Redis, a fake Slack that
speaks Socket Mode over a real websocket, the Clickfono simulator and a webhook receiver
that checks every ``callback.*`` payload against the published contract.

Figures (click to ack, click to ``chat.update``, reconnect time) are printed with
``-s``; the 100-click measurement runs with ``NOTIFIER_BENCH_CLICKS=1`` (it takes about
two minutes: updates are paced at one per second per channel, as Slack asks).

Measured on the 2-core CI machine, one replica (2026-12-01): click to ack median 1.2 ms,
max 85 ms; click to ``chat.update`` median 21.7 ms, max 390 ms (100 clicks, each 1.1 s
after the previous update). Reconnect: a close frame 5 to 70 ms, a reset without one
about 5 s (the SDK's monitor tick, ``ping_interval``). A click while Redis is down is
acked and the agent gets the "No pudimos registrar tu clic" note within 0.1 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.clickfono.simulator import Simulator, make_record
from notifier.store import Store
from tests.support.process import NotifierProcess, run_command
from tests.support.redis_server import RedisServer
from tests.support.slack_fixtures import SlackRequest
from tests.support.slack_socket import FakeSlackSocket
from tests.support.wait import async_wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

pytestmark = pytest.mark.slow

SANTIAGO = ZoneInfo("America/Santiago")
CHANNEL = "C0ALERTS"
PREFIX = "cbloop"
MENTION = "<!subteam^S0ONCALL>"
NUMBER = "+56987654321"


def today() -> str:
    return datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A signature-verifying webhook receiver that validates payloads against the contract."""
    with WebhookReceiver(WEBHOOK_TEST_SECRET).start() as started:
        yield started


@pytest.fixture
async def state(redis_url: str) -> AsyncIterator[Store]:
    """The deployment's store, to read what the processes wrote (threads, claims)."""
    store = Store.from_url(redis_url, PREFIX)
    yield store
    await store.aclose()


def env_for(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    *,
    app_token: bool = True,
    **extra: str,
) -> dict[str, str]:
    env = {
        "CLICKFONO_TOKEN": "test-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "CLICKFONO_TIMEOUT": "2",
        "REDIS_URL": redis_url,
        "NOTIFIER_REDIS_PREFIX": PREFIX,
        "NOTIFIER_POLL_INTERVAL": "0.5",
        "NOTIFIER_LEASE_TTL": "3",
        "NOTIFIER_CLAIM_TIMEOUT": "3",
        "NOTIFIER_RETRY_SCHEDULE": "0.2,0.5,1,1,1,1,1,1,1,1",
        "SLACK_BOT_TOKEN": slack_socket.token,
        "SLACK_CHANNEL": CHANNEL,
        "SLACK_API_URL": slack_socket.base_url,
        "SLACK_ESCALATE_MINUTES": "0",
        "WEBHOOK_URL": receiver.url,
        "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
        "WEBHOOK_TIMEOUT": "2",
        "LOG_LEVEL": "info",
        **extra,
    }
    if app_token:
        env["SLACK_APP_TOKEN"] = slack_socket.app_token
    return env


def spawn(processes: list[NotifierProcess], env: dict[str, str], name: str) -> NotifierProcess:
    process = NotifierProcess(env, name=name).start()
    processes.append(process)
    return process


async def ready(process: NotifierProcess) -> None:
    """Wait for the first successful cycle (the silent baseline)."""
    await async_wait_for(
        lambda: process.get("/readyz") == 200, timeout=20, message=f"{process.name} ready"
    )


def call(uuid: str, status: str, number: str = NUMBER, **fields: Any) -> dict[str, Any]:
    return make_record(
        uuid=uuid, status=status, call_at=datetime.now(UTC), caller_number=number, **fields
    )


def action_ids(body: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in body.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def texts(body: dict[str, Any]) -> str:
    out = [str(body.get("text", ""))]
    for block in body.get("blocks", []):
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [e.get("text", "") for e in block.get("elements", []) if isinstance(e, dict)]
        out += [f["text"] for f in block.get("fields", [])]
    return "\n".join(str(t) for t in out)


def parents(slack_socket: FakeSlackSocket, call_uuid: str) -> list[SlackRequest]:
    """The posts that started the call's thread (not replies)."""
    return [
        r
        for r in slack_socket.calls("chat.postMessage")
        if r.ok and not r.body.get("thread_ts") and call_uuid in texts(r.body)
    ]


def updates(slack_socket: FakeSlackSocket, ts: str) -> list[SlackRequest]:
    return [r for r in slack_socket.calls("chat.update") if r.ok and r.body.get("ts") == ts]


def replies(slack_socket: FakeSlackSocket, ts: str) -> list[SlackRequest]:
    return [
        r for r in slack_socket.calls("chat.postMessage") if r.ok and r.body.get("thread_ts") == ts
    ]


def notes(slack_socket: FakeSlackSocket, user: str) -> list[str]:
    return [
        str(r.body.get("text"))
        for r in slack_socket.calls("chat.postEphemeral")
        if r.body.get("user") == user
    ]


def callback_events(receiver: WebhookReceiver, kind: str) -> list[dict[str, Any]]:
    seen: dict[str | None, dict[str, Any]] = {}
    for d in receiver.alerts:
        if d.accepted and d.verified and d.payload and d.payload["type"] == kind:
            seen[d.webhook_id] = d.payload
    return list(seen.values())


async def posted(slack_socket: FakeSlackSocket, state: Store, call_uuid: str) -> str:
    """Wait for the call's parent message; its ``ts``."""
    await async_wait_for(
        lambda: parents(slack_socket, call_uuid), timeout=20, message=f"the alert of {call_uuid}"
    )
    ts = await async_wait_for(
        lambda: state.get_thread(CHANNEL, call_uuid), message="the thread saved"
    )
    return str(ts)


async def update_with(
    slack_socket: FakeSlackSocket, ts: str, text: str, after: int = 0
) -> SlackRequest:
    """Wait for a ``chat.update`` of ``ts`` (beyond the first ``after``) that shows ``text``."""

    def found() -> SlackRequest | None:
        hits = [u for u in updates(slack_socket, ts)[after:] if text in texts(u.body)]
        return hits[-1] if hits else None

    return await async_wait_for(found, timeout=15, message=f"an update showing {text!r}")


def leads(process: NotifierProcess) -> bool:
    return re.search(r"^clickfono_leader 1(\.0)?$", process.text("/metrics"), re.M) is not None


async def connected(slack_socket: FakeSlackSocket, count: int = 1) -> None:
    await async_wait_for(
        lambda: (
            len([c for c in slack_socket.open_connections() if c.hello_at and not c.silent])
            >= count
        ),
        timeout=20,
        message=f"{count} Socket Mode connection(s)",
    )


async def test_claim_done_and_release(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """Claim shows the holder and done/release; release brings the claim button back; a
    bystander's done is refused with the holder named; done by the holder removes the
    buttons; each change reaches the webhook as callback.* with the user and the time."""
    simulator.set_calls(today(), [])
    replica = spawn(processes, env_for(simulator, redis_url, slack_socket, receiver), "replica")
    await ready(replica)
    await connected(slack_socket)
    simulator.upsert(call("cb-1", "Intentos terminados"))
    ts = await posted(slack_socket, state, "cb-1")
    assert action_ids(parents(slack_socket, "cb-1")[0].body) == [
        "clickfono.claim",
        "clickfono.done",
    ]

    acks = [
        await slack_socket.click("clickfono.claim", "cb-1", user="U0ANA", ts=ts, channel=CHANNEL)
    ]
    claimed = await update_with(slack_socket, ts, "Lo toma <@U0ANA> a las")
    assert action_ids(claimed.body) == ["clickfono.done", "clickfono.release"]
    await async_wait_for(lambda: callback_events(receiver, "callback.claimed"), message="claimed")
    [event] = callback_events(receiver, "callback.claimed")
    assert event["data"]["user_id"] == "U0ANA"
    assert event["data"]["call"]["uuid"] == "cb-1"

    before = len(updates(slack_socket, ts))
    acks.append(await slack_socket.click("clickfono.release", "cb-1", user="U0ANA", ts=ts))
    released = await async_wait_for(
        lambda: [u for u in updates(slack_socket, ts)[before:] if "Lo toma" not in texts(u.body)],
        timeout=15,
        message="the released message",
    )
    assert action_ids(released[-1].body) == ["clickfono.claim", "clickfono.done"]
    await async_wait_for(lambda: callback_events(receiver, "callback.released"), message="released")

    acks.append(await slack_socket.click("clickfono.claim", "cb-1", user="U0BETO", ts=ts))
    await update_with(slack_socket, ts, "Lo toma <@U0BETO>")
    acks.append(await slack_socket.click("clickfono.done", "cb-1", user="U0ANA", ts=ts))
    [refused] = await async_wait_for(
        lambda: notes(slack_socket, "U0ANA"), message="the refusal note"
    )
    assert "<@U0BETO>" in refused and "solo esa persona" in refused

    acks.append(await slack_socket.click("clickfono.done", "cb-1", user="U0BETO", ts=ts))
    closed = await update_with(slack_socket, ts, "Cerrada por <@U0BETO> a las")
    assert action_ids(closed.body) == []
    await async_wait_for(lambda: callback_events(receiver, "callback.done"), message="done")
    assert [e["data"]["user_id"] for e in callback_events(receiver, "callback.done")] == ["U0BETO"]
    assert len(callback_events(receiver, "callback.claimed")) == 2
    assert max(acks) < 3.0
    print(f"\nclick->ack over {len(acks)} clicks: max {max(acks) * 1000:.1f} ms")


async def test_two_clicks_on_two_replicas_give_one_owner(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """Two agents claiming at once through two replicas' connections: one owner, one
    callback.claimed, and the other agent is told who has the call."""
    simulator.set_calls(today(), [])
    env = env_for(simulator, redis_url, slack_socket, receiver)
    first = spawn(processes, env, "first")
    spawn(processes, env, "second")
    await ready(first)
    await connected(slack_socket, 2)
    simulator.upsert(call("cb-race", "Intentos terminados"))
    ts = await posted(slack_socket, state, "cb-race")
    one, two = [c for c in slack_socket.open_connections() if c.hello_at][-2:]
    envelopes = await asyncio.gather(
        slack_socket.push_click("clickfono.claim", "cb-race", "U0ANA", ts, CHANNEL, one),
        slack_socket.push_click("clickfono.claim", "cb-race", "U0BETO", ts, CHANNEL, two),
    )
    for envelope in envelopes:
        await async_wait_for(
            lambda e=envelope: slack_socket.ack_for(e), timeout=3, message="an ack"
        )
    assert {slack_socket.ack_for(e).connection_id for e in envelopes} == {one.id, two.id}  # type: ignore[union-attr]
    await async_wait_for(lambda: callback_events(receiver, "callback.claimed"), message="a claim")
    record = await state.callback_record("cb-race")
    owner = record.state.user_id
    loser = "U0BETO" if owner == "U0ANA" else "U0ANA"
    assert owner in ("U0ANA", "U0BETO")
    [note] = await async_wait_for(lambda: notes(slack_socket, loser), message="the loser's note")
    assert f"<@{owner}>" in note
    await update_with(slack_socket, ts, f"Lo toma <@{owner}>")
    assert not notes(slack_socket, owner)
    assert [e["data"]["user_id"] for e in callback_events(receiver, "callback.claimed")] == [owner]


async def test_a_dropped_socket_is_reopened_and_clicks_work_again(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """A connection closed by Slack, then one reset without a close frame, are each
    replaced by the replica on its own, and a click after each is acked and applied."""
    simulator.set_calls(today(), [])
    replica = spawn(processes, env_for(simulator, redis_url, slack_socket, receiver), "replica")
    await ready(replica)
    await connected(slack_socket)
    simulator.upsert(call("cb-drop", "Intentos terminados"))
    ts = await posted(slack_socket, state, "cb-drop")
    timings = {}
    for how in ("close", "reset"):
        [old] = [c for c in slack_socket.open_connections() if c.hello_at]
        dropped = time.monotonic()
        await slack_socket.drop(how=how)  # type: ignore[arg-type]
        new = await slack_socket.wait_for_connection(newer_than=old.id, timeout=20)
        timings[how] = new.hello_at - dropped  # type: ignore[operator]
        action = "clickfono.claim" if how == "close" else "clickfono.release"
        assert await slack_socket.click(action, "cb-drop", user="U0ANA", ts=ts) < 3.0
    await async_wait_for(lambda: callback_events(receiver, "callback.released"), message="applied")
    print(
        "\nreconnect after a drop: "
        + ", ".join(f"{how} {seconds * 1000:.0f} ms" for how, seconds in timings.items())
    )
    assert timings["close"] < 5 and timings["reset"] < 20


async def test_an_escalation_fires_once_even_when_the_leader_restarts(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """An unclaimed alert gets exactly one broadcast reminder in its thread, mentioning
    SLACK_ESCALATE_MENTION and the wait, through a kill -9 of the leader before it is due
    and another after it was sent; a claimed one gets none."""
    simulator.set_calls(today(), [])
    env = env_for(
        simulator,
        redis_url,
        slack_socket,
        receiver,
        SLACK_ESCALATE_MINUTES="0.1",
        SLACK_ESCALATE_MENTION=MENTION,
    )
    first = spawn(processes, env, "first")
    await ready(first)
    await connected(slack_socket)
    simulator.upsert(call("cb-late", "Intentos terminados", number="+56911111111"))
    simulator.upsert(call("cb-taken", "Intentos terminados", number="+56922222222"))
    ts = await posted(slack_socket, state, "cb-late")
    taken_ts = await posted(slack_socket, state, "cb-taken")
    await slack_socket.click("clickfono.claim", "cb-taken", user="U0ANA", ts=taken_ts)
    await update_with(slack_socket, taken_ts, "Lo toma <@U0ANA>")  # applied, not only acked
    first.kill()  # before the reminder is due (6 s after the alert)
    second = spawn(processes, env, "second")
    third = spawn(processes, env, "third")
    reminders = await async_wait_for(
        lambda: replies(slack_socket, ts), timeout=30, message="the reminder in the thread"
    )
    [reminder] = reminders
    assert reminder.body["reply_broadcast"] is True
    assert MENTION in reminder.body["text"]
    assert "Nadie ha tomado esta llamada" in reminder.body["text"]
    # The leader that sent it dies; whoever leads next must not send it again. A later
    # alert's reminder proves the new leader's reminder loop ran.
    [leader] = [p for p in (second, third) if leads(p)]
    leader.kill()
    [survivor] = [p for p in (second, third) if p is not leader]
    await async_wait_for(lambda: leads(survivor), timeout=20, message="a new leader")
    simulator.upsert(call("cb-later", "Intentos terminados", number="+56933333333"))
    later_ts = await posted(slack_socket, state, "cb-later")
    await async_wait_for(
        lambda: replies(slack_socket, later_ts), timeout=30, message="the later alert's reminder"
    )
    assert len(replies(slack_socket, ts)) == 1
    assert replies(slack_socket, taken_ts) == []


async def test_a_connected_call_resolves_the_numbers_open_callbacks(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """A later Conectada call from the same number closes its open callback (message says
    the customer was reached, callback.resolved); a third request says "3.ª solicitud
    hoy"; the number is stored only as a keyed hash."""
    simulator.set_calls(today(), [])
    replica = spawn(processes, env_for(simulator, redis_url, slack_socket, receiver), "replica")
    await ready(replica)
    simulator.upsert(call("cb-open", "Intentos terminados"))
    ts = await posted(slack_socket, state, "cb-open")
    simulator.upsert(
        make_record(
            uuid="cb-back",
            status="Conectada",
            call_at=datetime.now(UTC) + timedelta(seconds=1),
            caller_number="+56 9 8765 4321",
        )
    )
    resolved = await update_with(slack_socket, ts, "Cliente contactado a las")
    assert action_ids(resolved.body) == []
    await async_wait_for(lambda: callback_events(receiver, "callback.resolved"), message="resolved")
    [event] = callback_events(receiver, "callback.resolved")
    assert event["data"]["call"]["uuid"] == "cb-open"

    simulator.upsert(
        make_record(
            uuid="cb-third",
            status="Intentos terminados",
            call_at=datetime.now(UTC) + timedelta(seconds=2),
            caller_number=NUMBER,
        )
    )
    third_ts = await posted(slack_socket, state, "cb-third")

    def shows_repeat() -> bool:
        bodies = [
            parents(slack_socket, "cb-third")[0].body,
            *(u.body for u in updates(slack_socket, third_ts)),
        ]
        return any("3.ª solicitud hoy" in texts(b) for b in bodies)

    await async_wait_for(shows_repeat, timeout=15, message="3.ª solicitud hoy")
    keys = [k async for k in state.redis.scan_iter(match=f"*{PREFIX}*")]
    index = [k for k in keys if ":callback:number:" in k]
    assert len(index) == 1 and re.fullmatch(r"[0-9a-f]{32}", index[0].rsplit(":", 1)[1])
    assert await state.redis.zcard(index[0]) == 3
    assert not any("987654321" in k for k in keys)


async def test_follow_ups_are_broadcast_in_the_thread(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """A second alert about a call goes into its thread with reply_broadcast, and the
    parent is updated to it, buttons still there."""
    simulator.set_calls(today(), [])
    replica = spawn(processes, env_for(simulator, redis_url, slack_socket, receiver), "replica")
    await ready(replica)
    simulator.upsert(call("cb-follow", "Fuera de horario"))
    ts = await posted(slack_socket, state, "cb-follow")
    simulator.set_status("cb-follow", "Intentos terminados")
    [reply] = await async_wait_for(
        lambda: replies(slack_socket, ts), timeout=15, message="the follow-up"
    )
    assert reply.body["reply_broadcast"] is True
    parent = await update_with(slack_socket, ts, "Intentos terminados")
    assert action_ids(parent.body) == ["clickfono.claim", "clickfono.done"]
    assert action_ids(reply.body) == []


async def test_no_buttons_without_an_app_token(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """Without SLACK_APP_TOKEN alerts carry no buttons and no socket is opened."""
    simulator.set_calls(today(), [])
    env = env_for(simulator, redis_url, slack_socket, receiver, app_token=False)
    replica = spawn(processes, env, "replica")
    await ready(replica)
    simulator.upsert(call("cb-plain", "Intentos terminados"))
    await posted(slack_socket, state, "cb-plain")
    assert action_ids(parents(slack_socket, "cb-plain")[0].body) == []
    assert slack_socket.calls("apps.connections.open") == []
    assert slack_socket.connections == []


async def test_a_click_while_redis_is_down_tells_the_agent(
    simulator: Simulator,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
) -> None:
    """A click that arrives while Redis is down is acked and the agent is told at once that
    it was not recorded; once Redis is back the same click works."""
    server = RedisServer(persistent=True).start()
    store = Store.from_url(server.url, PREFIX)
    try:
        simulator.set_calls(today(), [])
        replica = spawn(
            processes, env_for(simulator, server.url, slack_socket, receiver), "replica"
        )
        await ready(replica)
        await connected(slack_socket)
        simulator.upsert(call("cb-down", "Intentos terminados"))
        ts = await posted(slack_socket, store, "cb-down")
        server.stop()
        started = time.monotonic()
        assert await slack_socket.click("clickfono.claim", "cb-down", user="U0ANA", ts=ts) < 3.0
        [note] = await async_wait_for(
            lambda: notes(slack_socket, "U0ANA"), timeout=20, message="the failure note"
        )
        told = time.monotonic() - started
        assert "No pudimos registrar tu clic" in note
        server.start()
        await connected(slack_socket)
        await slack_socket.click("clickfono.claim", "cb-down", user="U0ANA", ts=ts)
        await update_with(slack_socket, ts, "Lo toma <@U0ANA>")
        print(f"\nclick while Redis is down: acked, agent told after {told:.2f} s")
    finally:
        await store.aclose()
        server.cleanup()


def test_check_verifies_the_app_token(
    simulator: Simulator, redis_url: str, slack_socket: FakeSlackSocket, receiver: WebhookReceiver
) -> None:
    """`check` has a "slack socket" row: ok with the app token Slack accepts, FAIL naming
    Slack's error (never the token) with another; it opens no websocket."""
    simulator.set_calls(today(), [])
    good = run_command(["check"], env_for(simulator, redis_url, slack_socket, receiver))
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^slack socket\s+ok\s+apps.connections.open ok", good.stdout, re.M)
    wrong = "xapp-1-A0000-not-the-right-token"
    env = {**env_for(simulator, redis_url, slack_socket, receiver), "SLACK_APP_TOKEN": wrong}
    bad = run_command(["check"], env)
    assert bad.returncode == 1
    assert re.search(r"^slack socket\s+FAIL\s+.*invalid_auth", bad.stdout, re.M)
    assert wrong not in bad.stdout + bad.stderr
    assert slack_socket.connections == []


@pytest.mark.skipif(
    not os.environ.get("NOTIFIER_BENCH_CLICKS"), reason="set NOTIFIER_BENCH_CLICKS=1 (~2 min)"
)
@pytest.mark.timeout(300)
async def test_measure_click_to_ack_and_to_update(
    simulator: Simulator,
    redis_url: str,
    slack_socket: FakeSlackSocket,
    receiver: WebhookReceiver,
    processes: list[NotifierProcess],
    state: Store,
) -> None:
    """100 clicks (claim/release alternating), each 1.1 s after the last update so that
    pacing (one send per second per channel) is not what is measured: ack and update
    latencies, median and max."""
    simulator.set_calls(today(), [])
    replica = spawn(processes, env_for(simulator, redis_url, slack_socket, receiver), "replica")
    await ready(replica)
    await connected(slack_socket)
    simulator.upsert(call("cb-bench", "Intentos terminados"))
    ts = await posted(slack_socket, state, "cb-bench")
    ack_ms, update_ms = [], []
    for n in range(100):
        await asyncio.sleep(1.1)  # a measured gap, not a wait for a condition
        before = len(updates(slack_socket, ts))
        action = "clickfono.claim" if n % 2 == 0 else "clickfono.release"
        clicked = time.monotonic()
        ack_ms.append(await slack_socket.click(action, "cb-bench", user="U0ANA", ts=ts) * 1000)
        update = await async_wait_for(
            lambda b=before: updates(slack_socket, ts)[b:],
            timeout=10,
            interval=0.002,
            message="update",
        )
        update_ms.append((update[0].at - clicked) * 1000)
    print(
        f"\nclick->ack: median {statistics.median(ack_ms):.1f} ms, max {max(ack_ms):.1f} ms"
        f"\nclick->chat.update: median {statistics.median(update_ms):.1f} ms, "
        f"max {max(update_ms):.1f} ms"
    )
    assert max(ack_ms) < 3000
