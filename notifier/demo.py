"""``clickfono-notifier demo``: the simulator, a Redis, and the daemon printing alerts.

With SLACK_* or WEBHOOK_URL (or SMTP_*/EMAIL_*) in the environment the same alerts also
go there, which is how ops rehearse their wiring before pointing at the real Clickfono.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from datetime import datetime, time

from notifier.clickfono.simulator import DEMO_BURST, ZONE, Simulator
from notifier.commands import open_app
from notifier.config import load_settings, secret_values
from notifier.daemon import Daemon
from notifier.embedded_redis import EmbeddedRedis, free_port
from notifier.logs import configure, register_secrets

DEMO_TOKEN = "demo-token"  # noqa: S105 - the simulator's own token, not a secret
DEMO_SPEED = 60.0
"""Simulated seconds per real second: a call's life of a few minutes shows in seconds."""
DEMO_SEED = 7
DEMO_PREFIX = "clickfono-demo"


def _demo_morning() -> datetime:
    """Today at 08:57 in Santiago: the first calls arrive just before opening time (out of
    hours) and the rest in business hours, so every kind of alert shows within seconds."""
    today = datetime.now(ZONE).date()
    return datetime.combine(today, time(8, 57), tzinfo=ZONE)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_demo() -> int:
    env = dict(os.environ)
    embedded: EmbeddedRedis | None = None
    if not env.get("REDIS_URL"):
        embedded = await asyncio.to_thread(EmbeddedRedis().start)
        env["REDIS_URL"] = embedded.url
    simulator: Simulator | None = None
    simulator_port, port = free_port(), free_port()
    env.update(
        {
            "CLICKFONO_TOKEN": DEMO_TOKEN,
            "CLICKFONO_BASE_URL": f"http://127.0.0.1:{simulator_port}",
            "CLICKFONO_POPUP_UUIDS": "",
            "NOTIFIER_CONSOLE": "true",
            "NOTIFIER_POLL_INTERVAL": env.get("NOTIFIER_POLL_INTERVAL", "2"),
            # Waits are measured on the real clock while the simulator runs 60x faster.
            "NOTIFIER_QUEUE_ALERT_MINUTES": env.get("NOTIFIER_QUEUE_ALERT_MINUTES", "0.25"),
            # Always its own prefix: the demo wipes it, and must never touch a deployment's.
            "NOTIFIER_REDIS_PREFIX": DEMO_PREFIX,
            "NOTIFIER_HTTP_PORT": str(port),
            "LOG_FORMAT": env.get("LOG_FORMAT", "console"),
            "LOG_LEVEL": env.get("LOG_LEVEL", "warning"),
        }
    )
    try:
        settings = load_settings(env)
        configure(settings.log_level, settings.log_format)
        register_secrets(secret_values(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with open_app(settings) as app:
            # A fresh demo state each run, so the first alerts come within seconds.
            await app.store.reset()
            # The simulated clock starts now, so the burst's changes land after the baseline.
            simulator = Simulator(
                DEMO_TOKEN,
                seed=DEMO_SEED,
                speed=DEMO_SPEED,
                burst=DEMO_BURST * 3,
                start_at=_demo_morning(),
            ).start("127.0.0.1", simulator_port)
            _say(
                f"Clickfono simulator: {simulator.base_url}/calls/list "
                f"(speed {DEMO_SPEED:g}x, simulated time {simulator.now():%H:%M} in Santiago)"
            )
            _say(
                f"Redis: {'embedded, port ' + str(embedded.port) if embedded else 'REDIS_URL'}; "
                f"health and metrics: http://127.0.0.1:{port}/metrics"
            )
            _say(
                f"Sinks: {', '.join(s.name for s in app.sinks)}. The first cycle records "
                "today's calls silently; alerts follow as calls change. Ctrl-C stops.\n"
            )
            daemon = Daemon(settings, app.store, app.client, app.sinks)
            await daemon.run(stop)
    finally:
        if simulator is not None:
            simulator.stop()
        if embedded is not None:
            with contextlib.suppress(Exception):
                embedded.cleanup()
    _say("demo stopped")
    return 0
