"""``once``, ``check`` and ``dead-letters`` as real subprocesses, and what they print.

Every command runs as ``python -m notifier`` (``tests/support/process.py``) against the
simulator, the private Redis and real local sinks: the signature-verifying webhook
receiver, the fake Slack Web API and aiosmtpd. Exit codes and output are SPEC.md's:
0 success, 1 a runtime failure, 2 invalid configuration; logs on stderr, tables on
stdout, a failing command's last stderr line one clear error, never a secret.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.clickfono.simulator import Simulator, make_record
from tests.integration.conftest import SANTIAGO
from tests.support.process import NotifierProcess, last_line
from tests.support.process import run_notifier as notifier
from tests.support.redis_server import free_port
from tests.support.slack_fixtures import FakeSlack
from tests.support.smtp_fixtures import SmtpServer
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

pytestmark = [
    pytest.mark.slow,
    # The test SMTP server requires AUTH without TLS on loopback (SMTP_SECURITY=none).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

ERROR = "clickfono-notifier: error: "
SMTP_USER = "notifier"
SMTP_PASSWORD = "smtp-Pa55-7f3c9a1e"
CONSOLE_LINE = re.compile(r"^(\x1b\[[0-9;]*m)?\d{2}:\d{2}:\d{2}  (call|notifier)\.")


def today() -> str:
    return datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()


def base_env(simulator: Simulator, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "CLICKFONO_TOKEN": "test-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "CLICKFONO_TIMEOUT": "2",
        "REDIS_URL": redis_url,
        "NOTIFIER_REDIS_PREFIX": "commands",
        "NOTIFIER_HTTP_PORT": "0",
        "LOG_FORMAT": "json",
        # Always open: which events a change makes must not depend on when the suite runs.
        "NOTIFIER_BUSINESS_HOURS": "mon-sun 00:00-24:00",
        **extra,
    }


def webhook_env(receiver: WebhookReceiver, url: str | None = None) -> dict[str, str]:
    return {
        "WEBHOOK_URL": url or receiver.url,
        "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
        "WEBHOOK_TIMEOUT": "2",
    }


def slack_env(fake: FakeSlack, token: str | None = None) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": token or fake.token,
        "SLACK_CHANNEL": "#alertas",
        "SLACK_API_URL": fake.base_url,
    }


def email_env(server: SmtpServer) -> dict[str, str]:
    return {
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "none",
        "SMTP_USERNAME": SMTP_USER,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "EMAIL_FROM": "alertas@example.com",
        "EMAIL_TO": "ops@example.com",
    }


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith(ERROR)]


def log_records(stderr: str) -> list[dict[str, Any]]:
    """The JSON log records on stderr (every line but the final error line)."""
    return [json.loads(line) for line in stderr.splitlines() if not line.startswith(ERROR)]


@pytest.fixture
def authed_smtp(smtp_server_factory: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain SMTP server that requires the test login."""
    return smtp_server_factory(auth=(SMTP_USER, SMTP_PASSWORD))


# once and dead-letters


def dead_letter_rows(stdout: str) -> list[str]:
    lines = stdout.strip().splitlines()
    assert lines[0].split()[:5] == ["ID", "SINK", "TYPE", "CALL", "TRIES"]
    assert lines[0].endswith("LAST ERROR")
    return lines[1:]


def test_failed_deliveries_become_dead_letters_that_list_and_replay(
    simulator: Simulator, redis_url: str, webhook_receiver: WebhookReceiver
) -> None:
    """``once`` exits 1 while deliveries fail and their events end in dead letters;
    ``dead-letters list`` shows them without secrets, and ``replay ID`` / ``--all``
    deliver each exactly once, after which ``once`` exits 0."""
    receiver = webhook_receiver
    now = datetime.now(UTC)
    simulator.set_calls(
        today(),
        [
            make_record(uuid="spam-call", status="SPAM", call_at=now),
            make_record(uuid="lost-call", status="Intentos terminados", call_at=now),
        ],
    )
    env = base_env(
        simulator,
        redis_url,
        NOTIFIER_BASELINE="notify",
        NOTIFIER_RETRY_SCHEDULE="0",
        **webhook_env(receiver),
    )
    receiver.fail(500)

    first = notifier("once", env=env)
    assert first.returncode == 1
    assert last_line(first.stderr) == ERROR + "4 deliveries failed (0 moved to dead letters)"
    assert len(error_lines(first)) == 1
    second = notifier("once", env=env)
    assert second.returncode == 1
    assert last_line(second.stderr) == ERROR + "4 deliveries failed (4 moved to dead letters)"
    assert len(receiver.alerts) == 8 and not receiver.accepted_ids()

    listed = notifier("dead-letters", "list", env=env)
    assert listed.returncode == 0
    rows = dead_letter_rows(listed.stdout)
    assert len(rows) == 4
    by_change: dict[tuple[str, str], str] = {}
    for row in rows:
        event_id, sink, kind, call, tries = row.split()[:5]
        assert (sink, tries) == ("webhook", "2")
        assert row.endswith("webhook answered HTTP 500")
        by_change[(kind, call)] = event_id
    assert set(by_change) == {
        ("call.created", "spam-call"),
        ("call.spam", "spam-call"),
        ("call.created", "lost-call"),
        ("call.attempts_exhausted", "lost-call"),
    }
    for secret in (f"127.0.0.1:{receiver.port}", WEBHOOK_TEST_SECRET, "test-token"):
        assert secret not in listed.stdout + listed.stderr

    receiver.heal()
    spam_id = by_change[("call.spam", "spam-call")]
    replayed = notifier("dead-letters", "replay", spam_id, env=env)
    assert replayed.returncode == 0
    assert replayed.stdout.strip() == "queued 1 dead letter(s) for delivery"
    delivered = notifier("once", env=env)
    assert delivered.returncode == 0, delivered.stderr
    assert receiver.accepted_ids() == [spam_id]
    assert len(dead_letter_rows(notifier("dead-letters", "list", env=env).stdout)) == 3

    replayed = notifier("dead-letters", "replay", "--all", env=env)
    assert replayed.stdout.strip() == "queued 3 dead letter(s) for delivery"
    assert notifier("once", env=env).returncode == 0
    assert sorted(receiver.accepted_ids()) == sorted(by_change.values())
    assert all(a.verified for a in receiver.alerts)
    assert notifier("dead-letters", "list", env=env).stdout.strip() == "no dead letters"
    quiet = notifier("once", env=env)
    assert quiet.returncode == 0 and not error_lines(quiet)
    assert len(receiver.accepted_ids()) == 4


def test_replay_needs_ids_or_all_and_rejects_unknown_ids(
    simulator: Simulator, redis_url: str
) -> None:
    """``replay`` without ids is a usage error (2) and an unknown id a failure (1)."""
    env = base_env(simulator, redis_url)
    bare = notifier("dead-letters", "replay", env=env)
    assert bare.returncode == 2
    assert last_line(bare.stderr) == ERROR + "dead-letters replay: name event ids or pass --all"
    unknown = notifier("dead-letters", "replay", "evt_000000000000000000000000", env=env)
    assert unknown.returncode == 1
    assert (
        last_line(unknown.stderr) == ERROR + "no dead letter with id evt_000000000000000000000000"
    )


def test_once_exits_1_with_one_clear_line_when_clickfono_rejects_the_token(
    simulator: Simulator, redis_url: str, webhook_receiver: WebhookReceiver
) -> None:
    """A 401 from Clickfono makes ``once`` exit 1 with one clear last stderr line (JSON
    logs before it), and the webhook still hears notifier.source_unauthorized."""
    simulator.set_calls(today(), [make_record(uuid="c1", status="SPAM")])
    env = base_env(simulator, redis_url, **webhook_env(webhook_receiver))
    env["CLICKFONO_TOKEN"] = "rejected-token-5e1f"
    done = notifier("once", env=env)
    assert done.returncode == 1
    assert last_line(done.stderr) == ERROR + "Clickfono rejected the token (HTTP 401)"
    assert len(error_lines(done)) == 1
    assert any(r["event"] == "cycle_failed" for r in log_records(done.stderr))
    assert done.stdout == ""
    assert "rejected-token-5e1f" not in done.stderr
    assert [a.payload["type"] for a in webhook_receiver.alerts] == ["notifier.source_unauthorized"]


def test_once_exits_0_when_every_delivery_succeeded(
    simulator: Simulator, redis_url: str, webhook_receiver: WebhookReceiver
) -> None:
    """A clean run exits 0: a silent baseline first, then the new SPAM call's two events."""
    simulator.set_calls(today(), [make_record(uuid="c1", status="En cola")])
    env = base_env(simulator, redis_url, **webhook_env(webhook_receiver))
    baseline = notifier("once", env=env)
    assert baseline.returncode == 0 and not webhook_receiver.alerts
    simulator.set_status("c1", "SPAM")
    done = notifier("once", env=env)
    assert done.returncode == 0, done.stderr
    assert not error_lines(done)
    assert sorted(a.payload["type"] for a in webhook_receiver.alerts if a.accepted) == [
        "call.spam",
        "call.status_changed",
    ]


def test_once_loads_no_library_of_a_feature_it_does_not_use(
    simulator: Simulator, redis_url: str, webhook_receiver: WebhookReceiver
) -> None:
    """A webhook-only `once` never imports Prometheus, the Slack SDK, aiohttp, structlog,
    the daemon or the callback loop: a CronJob pays only for what it uses."""
    simulator.set_calls(today(), [make_record(uuid="c1", status="En cola")])
    env = base_env(simulator, redis_url, **webhook_env(webhook_receiver))
    done = notifier("once", env=env | {"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    # importlib.import_module (the sink registry) bypasses -X importtime's report, but
    # the webhook sink's own imports show that late imports are seen.
    assert {"notifier.cycle", "notifier.delivery", "standardwebhooks"} <= imported
    unused = ("prometheus_client", "slack_sdk", "aiohttp", "structlog", "apprise", "aiosmtplib")
    ours = ("notifier.daemon", "notifier.metrics", "notifier.callbacks", "notifier.socket_mode")
    assert sorted(m for m in imported if m.split(".")[0] in unused or m in ours) == []


@pytest.mark.parametrize("command", ["once", "check"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLICKFONO_TOKEN", None),
        ("NOTIFIER_RETRY_SCHEDULE", "5,soon"),
        ("WEBHOOK_EVENTS", "call.spma"),
        ("NOTIFIER_POLL_INTERVAL", "-1"),
        ("WEBHOOK_SECRET", "hunter2-not-a-whsec"),
    ],
)
def test_an_invalid_variable_exits_2_naming_it(
    simulator: Simulator,
    redis_url: str,
    webhook_receiver: WebhookReceiver,
    command: str,
    variable: str,
    value: str | None,
) -> None:
    """An invalid or missing variable exits 2 with one stderr line that names it (and
    never echoes a secret value)."""
    env = base_env(simulator, redis_url, **webhook_env(webhook_receiver))
    if value is None:
        del env[variable]
    else:
        env[variable] = value
    done = notifier(command, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [last_line(done.stderr)]
    assert last_line(done.stderr).startswith(f"{ERROR}{variable}: ")
    assert done.stdout == ""
    if variable == "WEBHOOK_SECRET":
        assert str(value) not in done.stderr
    assert not webhook_receiver.deliveries and not simulator.requests


# check


def check_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """The table as {name: (status, detail)}."""
    rows: dict[str, tuple[str, str]] = {}
    for line in stdout.strip().splitlines():
        match = re.match(r"^(\S+(?: \S+)?)\s+(ok|FAIL)\s+(.*)$", line)
        assert match, f"not a table row: {line!r}"
        rows[match[1]] = (match[2], match[3])
    return rows


def assert_nothing_alerted(receiver: WebhookReceiver, slack: FakeSlack, smtp: SmtpServer) -> None:
    assert receiver.alerts == []
    assert [r.method for r in slack.requests if r.method != "auth.test"] == []
    assert smtp.messages == []


def test_check_reaches_everything_without_alerting_anyone(
    simulator: Simulator,
    redis_url: str,
    webhook_receiver: WebhookReceiver,
    slack_api: FakeSlack,
    authed_smtp: SmtpServer,
) -> None:
    """``check`` prints one ok row per dependency (Redis, Clickfono, each sink), exits 0,
    and the webhook, Slack and SMTP servers record no alert."""
    simulator.set_calls(today(), [make_record(uuid="c1", status="SPAM")])
    env = base_env(
        simulator,
        redis_url,
        **webhook_env(webhook_receiver),
        **slack_env(slack_api),
        **email_env(authed_smtp),
    )
    done = notifier("check", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = check_rows(done.stdout)
    assert list(rows) == [
        "configuration",
        "redis",
        "clickfono",
        "sink slack",
        "sink email",
        "sink webhook",
    ]
    assert {status for status, _ in rows.values()} == {"ok"}
    assert "token accepted" in rows["clickfono"][1]
    assert f"logged in as {SMTP_USER}" in rows["sink email"][1]
    assert_nothing_alerted(webhook_receiver, slack_api, authed_smtp)
    assert webhook_receiver.probes and [r.method for r in slack_api.requests] == ["auth.test"]
    assert authed_smtp.logins == [SMTP_USER]
    assert [r.status for r in simulator.requests] == [200]


BREAKAGES: dict[str, Callable[[dict[str, Any]], str]] = {}


def _breaks(row: str) -> Callable[[Callable[[dict[str, Any]], None]], Any]:
    def register(func: Callable[[dict[str, Any]], None]) -> Any:
        def apply(ctx: dict[str, Any]) -> str:
            func(ctx)
            return row

        BREAKAGES[func.__name__] = apply
        return func

    return register


@_breaks("redis")
def redis_down(ctx: dict[str, Any]) -> None:
    ctx["env"]["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"


@_breaks("clickfono")
def token_rejected(ctx: dict[str, Any]) -> None:
    ctx["env"]["CLICKFONO_TOKEN"] = "not-the-simulator-token"


@_breaks("sink slack")
def slack_token_revoked(ctx: dict[str, Any]) -> None:
    ctx["env"]["SLACK_BOT_TOKEN"] = "xoxb-revoked-0000"


@_breaks("sink email")
def smtp_down(ctx: dict[str, Any]) -> None:
    ctx["smtp"].stop()


@_breaks("sink webhook")
def webhook_down(ctx: dict[str, Any]) -> None:
    ctx["receiver"].stop()


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_check_exits_1_and_names_the_one_dependency_that_is_down(
    simulator: Simulator,
    redis_url: str,
    webhook_receiver: WebhookReceiver,
    slack_api: FakeSlack,
    authed_smtp: SmtpServer,
    breakage: str,
) -> None:
    """With one dependency down ``check`` marks only its row FAIL, exits 1, names it in
    the last stderr line, and still alerts no one."""
    env = base_env(
        simulator,
        redis_url,
        **webhook_env(webhook_receiver),
        **slack_env(slack_api),
        **email_env(authed_smtp),
    )
    row = BREAKAGES[breakage]({"env": env, "smtp": authed_smtp, "receiver": webhook_receiver})
    done = notifier("check", env=env)
    assert done.returncode == 1
    rows = check_rows(done.stdout)
    assert [name for name, (status, _) in rows.items() if status == "FAIL"] == [row]
    assert last_line(done.stderr) == f"{ERROR}check failed: {row}"
    assert_nothing_alerted(webhook_receiver, slack_api, authed_smtp)
    for secret in ("not-the-simulator-token", "xoxb-revoked-0000", SMTP_PASSWORD):
        assert secret not in done.stdout + done.stderr


# Secrets and caller numbers never reach an output.


def leaks(text: str, secrets: list[str], numbers: list[str]) -> list[str]:
    """Secret values and caller numbers (any formatting of their digits) found in text."""
    found = [s for s in secrets if s in text]
    digits = re.sub(r"\D", "", text)
    found += [n for n in numbers if re.sub(r"\D", "", n) in digits]
    return found


def outputs_without_console(stdout: str, stderr: str) -> str:
    """stderr, and stdout without the console sink's own lines (a sink, not a log)."""
    kept = [line for line in stdout.splitlines() if not CONSOLE_LINE.match(line)]
    return "\n".join([*kept, stderr])


def test_no_secret_or_caller_number_reaches_any_output(
    simulator_factory: Callable[..., Simulator],
    redis_url: str,
    webhook_receiver: WebhookReceiver,
    slack_api: FakeSlack,
    authed_smtp: SmtpServer,
    processes: list[NotifierProcess],
) -> None:
    """With every secret set and failures injected (webhook 500s, Slack errors, SMTP
    down, a rejected token), no output of ``once``, ``check``, ``dead-letters`` or
    ``run`` at debug level contains a secret or a caller number, apart from the console
    sink's own lines."""
    token = "cf-token-9b2e4d7a61"
    upstream = simulator_factory(token=token)
    now = datetime.now(UTC)
    records = [
        make_record(uuid=f"c{n}", status=status, call_at=now)
        for n, status in enumerate(["SPAM", "Intentos terminados"])
    ]
    upstream.set_calls(today(), records)
    hook_token = "hook-query-token-55aa1c"
    env = base_env(
        upstream,
        redis_url,
        CLICKFONO_TOKEN=token,
        NOTIFIER_BASELINE="notify",
        NOTIFIER_RETRY_SCHEDULE="0",
        NOTIFIER_CONSOLE="true",
        LOG_LEVEL="debug",
        **webhook_env(webhook_receiver, f"{webhook_receiver.url}?token={hook_token}"),
        **slack_env(slack_api),
        **email_env(authed_smtp),
    )
    secrets = [token, hook_token, WEBHOOK_TEST_SECRET, slack_api.token, SMTP_PASSWORD]
    secrets += [f"127.0.0.1:{webhook_receiver.port}"]
    numbers = [str(r["caller_number"]) for r in records]
    outputs: list[tuple[str, str]] = []

    # Failures: the webhook answers 500, Slack fails 4 requests, SMTP is down; with one retry
    # the second run moves the failures to dead letters, with their errors.
    webhook_receiver.fail(500)
    slack_api.fail(4, error="internal_error")
    authed_smtp.stop()
    runs = [["once"], ["check"], ["once"], ["dead-letters", "list"]]
    for args in runs:
        done = notifier(*args, env=env)
        assert done.returncode == (0 if args[0] == "dead-letters" else 1), done.stderr
        outputs.append((" ".join(args), outputs_without_console(done.stdout, done.stderr)))
    sinks = {row.split()[1] for row in dead_letter_rows(done.stdout)}
    assert sinks == {"webhook", "slack", "email"}
    rejected = notifier("once", env={**env, "CLICKFONO_TOKEN": "cf-wrong-token-77c2"})
    assert rejected.returncode == 1
    outputs.append(("once (401)", outputs_without_console(rejected.stdout, rejected.stderr)))
    secrets.append("cf-wrong-token-77c2")

    # The daemon: everything recovers, dead letters are replayed, new changes flow.
    webhook_receiver.heal()
    authed_smtp.start()
    assert notifier("dead-letters", "replay", "--all", env=env).returncode == 0
    upstream.set_calls(today(), [{**r, "status": "Conectada"} for r in records])
    daemon_env = {k: v for k, v in env.items() if k != "NOTIFIER_HTTP_PORT"}
    daemon = NotifierProcess({**daemon_env, "NOTIFIER_POLL_INTERVAL": "0.3"}, name="secrets")
    processes.append(daemon.start())

    def connected() -> int:
        return sum(
            a.accepted
            and a.payload["type"] == "call.status_changed"
            and a.payload["data"]["call"]["status"] == "Conectada"
            for a in webhook_receiver.alerts
        )

    wait_for(lambda: connected() == len(records), timeout=20, message="the new changes")
    wait_for(lambda: authed_smtp.messages, timeout=20, message="the replayed email")

    def console_changes() -> list[str]:
        lines = filter(CONSOLE_LINE.match, daemon.stdout.splitlines())
        return [line for line in lines if "call.status_changed" in line]

    wait_for(lambda: len(console_changes()) == len(records), message="the console sink's lines")
    assert daemon.terminate() == 0
    outputs.append(("run", outputs_without_console(daemon.stdout, daemon.stderr)))

    # The check itself can fail: the console sink's lines do hold caller numbers.
    console = notifier(
        "once",
        env=base_env(
            upstream,
            redis_url,
            CLICKFONO_TOKEN=token,
            NOTIFIER_BASELINE="notify",
            NOTIFIER_CONSOLE="true",
            NOTIFIER_REDIS_PREFIX="console-only",
        ),
    )
    assert leaks(console.stdout, [], numbers) and not leaks(console.stderr, [], numbers)

    everything = "\n".join(text for _, text in outputs)
    for failure in (
        "webhook answered HTTP 500",
        "Slack chat.postMessage failed: internal_error",
        f"SMTP 127.0.0.1:{authed_smtp.port} failed",
        "Clickfono rejected the token (HTTP 401)",
    ):
        assert failure in everything, f"the failure paths were exercised: {failure}"
    found = {name: leaks(text, secrets, numbers) for name, text in outputs}
    assert found == {name: [] for name, _ in outputs}
