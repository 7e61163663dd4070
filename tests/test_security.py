"""No output ever contains a secret (SPEC.md), and bandit finds nothing of medium or high
severity in the package.

Every command runs as a real process with every secret variable set to a unique value,
against real local services that make it fail (a rejecting webhook receiver, a fake Slack
that refuses the bot token, an SMTP server that refuses the password, a Clickfono 401, a
Redis that refuses the password), with debug logging. Every byte of stdout, stderr and
log files is then searched for each secret and for each secret's inner parts.
"""

from __future__ import annotations

import base64
import json
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from notifier.clickfono.simulator import Fault, Simulator, make_record
from tests.support.process import NotifierProcess, clean_env, run_command
from tests.support.redis_server import RedisServer, free_port
from tests.support.slack_fixtures import FakeSlack
from tests.support.smtp_fixtures import SmtpServer
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WebhookReceiver

pytestmark = [
    pytest.mark.slow,
    # The test SMTP server takes AUTH without TLS on purpose (it must refuse a password).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

PACKAGE = Path(__file__).resolve().parents[1] / "notifier"


def _secret(label: str) -> str:
    return f"{label}{secrets.token_hex(12)}"


CLICKFONO_TOKEN = _secret("cftok")
SLACK_BOT_TOKEN = "xoxb-" + _secret("slack")
SLACK_HOOK_KEY = _secret("hookkey")
SMTP_PASSWORD = _secret("smtppw")
WEBHOOK_SIGNING_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
WEBHOOK_SECRET = "whsec_" + WEBHOOK_SIGNING_KEY
WEBHOOK_QUERY_TOKEN = _secret("whqtok")
REDIS_PASSWORD = _secret("redispw")


@dataclass
class World:
    """Local services that make every command fail somewhere, and the secret env."""

    redis_port: int
    simulator: Simulator
    receiver: WebhookReceiver
    slack: FakeSlack
    smtp: SmtpServer
    outputs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return f"redis://default:{REDIS_PASSWORD}@127.0.0.1:{self.redis_port}/0"

    @property
    def webhook_url(self) -> str:
        return f"{self.receiver.url}?token={WEBHOOK_QUERY_TOKEN}"

    @property
    def slack_webhook_url(self) -> str:
        return f"{self.slack.webhook_url}?key={SLACK_HOOK_KEY}"

    def env(self, prefix: str, **extra: str) -> dict[str, str]:
        return {
            "CLICKFONO_TOKEN": CLICKFONO_TOKEN,
            "CLICKFONO_BASE_URL": self.simulator.base_url,
            "CLICKFONO_TIMEOUT": "2",
            "REDIS_URL": self.redis_url,
            "NOTIFIER_REDIS_PREFIX": prefix,
            "NOTIFIER_BASELINE": "notify",
            "NOTIFIER_RETRY_SCHEDULE": "0",
            "NOTIFIER_POLL_INTERVAL": "0.5",
            "NOTIFIER_UNAVAILABLE_CYCLES": "1",
            "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
            "SLACK_CHANNEL": "#alerts",
            "SLACK_API_URL": self.slack.base_url,
            "SLACK_WEBHOOK_URL": self.slack_webhook_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_SECURITY": "none",
            "SMTP_USERNAME": "notifier",
            "SMTP_PASSWORD": SMTP_PASSWORD,
            "EMAIL_FROM": "notifier@example.com",
            "EMAIL_TO": "ops@example.com",
            "WEBHOOK_URL": self.webhook_url,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "WEBHOOK_TIMEOUT": "2",
            "LOG_LEVEL": "debug",
            **extra,
        }

    def command(self, label: str, args: list[str], env: dict[str, str], code: int) -> str:
        """Run one command; check its exit code; keep its output for the secret search."""
        result = run_command(args, env, timeout=60)
        output = result.stdout + result.stderr
        self.outputs.append((label, output))
        assert result.returncode == code, f"{label}: exit {result.returncode}\n{output}"
        assert_clean(label, output)
        return output


NEEDLES = {
    "CLICKFONO_TOKEN": CLICKFONO_TOKEN,
    "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
    "SLACK_WEBHOOK_URL key": SLACK_HOOK_KEY,
    "SMTP_PASSWORD": SMTP_PASSWORD,
    "WEBHOOK_SECRET": WEBHOOK_SECRET,
    "WEBHOOK_SECRET key": WEBHOOK_SIGNING_KEY,
    "WEBHOOK_URL token": WEBHOOK_QUERY_TOKEN,
    "REDIS_URL password": REDIS_PASSWORD,
}
"""Whole secrets and the secret parts of URLs (a URL's host alone is not secret)."""


def assert_clean(label: str, output: str) -> None:
    """``output`` holds no secret, whole or as the secret part of a URL, and no traceback."""
    leaked = [name for name, value in NEEDLES.items() if value in output]
    assert not leaked, f"{label} printed {leaked}:\n{output[-3000:]}"
    assert "Traceback" not in output, f"{label} printed a traceback:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """A password-protected Redis, Clickfono with today's alerts, and failing sinks."""
    server = RedisServer().start()
    client = redis.Redis(port=server.port)
    client.config_set("requirepass", REDIS_PASSWORD)
    client.close()
    simulator = Simulator(CLICKFONO_TOKEN).start()
    now = datetime.now(UTC)
    for status in ("SPAM", "Conectada"):  # one Slack alert: pacing adds no wait
        simulator.upsert(make_record(call_at=now, status=status))
    receiver = WebhookReceiver(WEBHOOK_SECRET).start()
    receiver.fail(500)  # until the module ends: every delivery fails
    slack = FakeSlack().start()  # knows another bot token: invalid_auth
    smtp = SmtpServer(auth=("notifier", "another-password")).start()
    try:
        yield World(server.port, simulator, receiver, slack, smtp)
    finally:
        smtp.stop()
        slack.stop()
        receiver.stop()
        simulator.stop()
        server.cleanup()


def test_bandit_finds_nothing_of_medium_or_high_severity() -> None:
    """``bandit -r notifier`` reports no medium or high severity issue."""
    bandit = Path(sys.executable).with_name("bandit")
    result = subprocess.run(
        [str(bandit), "-q", "-r", str(PACKAGE), "-f", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    assert not report["errors"], report["errors"]
    serious = [
        f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}"
        for r in report["results"]
        if r["issue_severity"] in ("MEDIUM", "HIGH")
    ]
    assert not serious, "\n".join(serious)
    assert report["metrics"]["_totals"]["loc"] > 1000  # it really scanned the package


def test_once_check_and_dead_letters_never_print_a_secret(world: World) -> None:
    """once (failing sinks, 401, refused Redis password), check and dead-letters stay clean."""
    env = world.env("sec-cmds")
    first = world.command("once (sinks failing)", ["once"], env, 1)
    assert "deliveries failed" in first
    world.command("once (retries exhausted)", ["once"], env, 1)
    listing = world.command("dead-letters list", ["dead-letters", "list"], env, 0)
    assert "webhook" in listing and "slack" in listing and "email" in listing
    replay = world.command("dead-letters replay", ["dead-letters", "replay", "--all"], env, 0)
    assert "queued" in replay and "queued 0" not in replay
    world.command("dead-letters replay (unknown id)", ["dead-letters", "replay", "evt_x"], env, 1)
    table = world.command("check", ["check"], env, 1)
    assert "FAIL" in table

    world.simulator.inject(Fault.http(401), times=3)
    rejected = world.command("once (token rejected)", ["once"], env, 1)
    assert "rejected the token" in rejected
    world.simulator.clear_faults()

    wrong = world.env("sec-cmds", REDIS_URL=world.redis_url.replace(REDIS_PASSWORD, "nope1234"))
    world.command("once (Redis refuses the password)", ["once"], wrong, 1)
    world.command("check (Redis refuses the password)", ["check"], wrong, 1)

    hook_only = world.env("sec-hook", SLACK_BOT_TOKEN="")
    world.slack.fail(50, status=500)
    world.command("once (Slack webhook failing)", ["once"], hook_only, 1)
    assert world.slack.calls("webhook"), "the Slack webhook was never tried"
    assert world.receiver.alerts and world.smtp.logins == []


def test_run_never_logs_a_secret(world: World) -> None:
    """The daemon, with every sink failing and Clickfono then rejecting the token, logs
    no secret."""
    daemon = NotifierProcess(world.env("sec-run"), name="security")
    before = len(world.receiver.alerts)
    daemon.start()
    try:
        wait_for(lambda: len(world.receiver.alerts) > before, 20, message="a failed delivery")
        served = len(world.simulator.requests)
        world.simulator.inject(Fault.http(401), times=5)
        wait_for(
            lambda: any(r.status == 401 for r in world.simulator.requests[served:]),
            20,
            message="the daemon to meet a 401",
        )
        wait_for(lambda: "source_unauthorized" in daemon.stderr or "rejected" in daemon.stderr, 20)
    finally:
        code = daemon.terminate()
    output = daemon.stdout + daemon.stderr
    assert code == 0, output[-2000:]
    assert '"delivery_failed"' in output and "rejected the token" in output
    assert_clean("run", output)


def test_demo_never_prints_a_secret(world: World) -> None:
    """``demo`` with every secret in its environment and failing sinks prints none."""
    env = clean_env(world.env("sec-demo", NOTIFIER_HTTP_PORT=str(free_port())))
    before = len(world.receiver.alerts)
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: len(world.receiver.alerts) > before or proc.poll() is not None,
            45,
            message="the demo to deliver (and fail) an alert",
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-2000:]
    assert "demo stopped" in text
    assert len(world.receiver.alerts) > before, text[-2000:]
    assert_clean("demo", text)


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("run", "NOTIFIER_POLL_INTERVAL", "-1"),
        ("run", "NOTIFIER_POLL_INTERVAL", CLICKFONO_TOKEN),  # a secret in the wrong place
        ("once", "WEBHOOK_URL", f"ftp://hooks.example/?token={WEBHOOK_QUERY_TOKEN}"),
        ("check", "SLACK_WEBHOOK_URL", f"hooks.slack.example/{SLACK_HOOK_KEY}"),
        ("run", "REDIS_URL", f"http://default:{REDIS_PASSWORD}@127.0.0.1:1/0"),
        ("once", "WEBHOOK_SECRET", f"whsec_{WEBHOOK_QUERY_TOKEN}!"),
        ("check", "SMTP_PORT", SMTP_PASSWORD),
    ],
    ids=lambda v: v if v.isupper() or v in ("run", "once", "check") else "",
)
def test_bad_configuration_never_echoes_a_secret(
    world: World, command: str, variable: str, value: str
) -> None:
    """A configuration error exits 2 naming the variable, without any secret."""
    output = world.command(
        f"{command} with a bad {variable}", [command], world.env("sec-bad", **{variable: value}), 2
    )
    last = output.strip().splitlines()[-1]
    assert last.startswith("clickfono-notifier: error:") and variable in last
