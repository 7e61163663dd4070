"""Fail loud (issue 11) through the CLI, as real subprocesses.

Bad and unknown variables, no sink, connection errors against a closed port and against a
TLS server whose CA nobody trusts, every command's ``--help``, ``dead-letters replay``
with an unknown id, and ``check``'s table before its error line in one file. Each
command runs as ``python -m notifier`` (``tests/support/process.py``) against the
simulator and the suite's private Redis.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.clickfono.simulator import Simulator, make_record
from tests.integration.conftest import SANTIAGO
from tests.support.process import clean_env, last_line
from tests.support.process import run_notifier as notifier
from tests.support.redis_server import free_port
from tests.support.tls_server import UntrustedTlsServer, openssl_available

pytestmark = pytest.mark.slow

ERROR = "clickfono-notifier: error: "
WARNING = "clickfono-notifier: warning: "
REDIS_PASSWORD = "r3dis-Pa55-91c2"
UNKNOWN_CA = "TLS certificate not trusted: unable to get local issuer certificate"


def today() -> str:
    return datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()


def env_for(simulator: Simulator, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "CLICKFONO_TOKEN": "test-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "CLICKFONO_TIMEOUT": "2",
        "REDIS_URL": redis_url,
        "NOTIFIER_REDIS_PREFIX": "loud",
        "NOTIFIER_HTTP_PORT": "0",
        "NOTIFIER_CONSOLE": "true",
        "LOG_FORMAT": "json",
        **extra,
    }


@pytest.fixture
def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on."""
    return free_port()


@pytest.fixture
def untrusted_tls(tmp_path: Path) -> Iterator[UntrustedTlsServer]:
    """A TLS server on 127.0.0.1 with a certificate signed by a throwaway CA."""
    if not openssl_available():
        pytest.skip("needs the openssl command to make a certificate")
    server = UntrustedTlsServer(tmp_path / "tls").start()
    try:
        yield server
    finally:
        server.stop()


# Variables


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("run", "NOTIFIER_POLL_INTERVAL", "soon"),
        ("once", "NOTIFIER_CLAIM_TIMEOUT", "0"),
    ],
)
def test_a_bad_variable_exits_2_with_one_line_naming_it(
    simulator: Simulator, redis_url: str, command: str, variable: str, value: str
) -> None:
    """A bad value exits 2 with exactly one stderr line that names the variable, before
    reaching Clickfono."""
    done = notifier(command, env=env_for(simulator, redis_url, **{variable: value}))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [last_line(done.stderr)]
    assert last_line(done.stderr).startswith(f"{ERROR}{variable}: ")
    assert done.stdout == ""
    assert not simulator.requests


def test_unknown_variables_get_one_warning_each_with_the_closest_name(
    simulator: Simulator, redis_url: str
) -> None:
    """Each misspelt variable with one of our prefixes is warned about once, naming the
    closest known variable and never its value; Kubernetes service variables are not."""
    simulator.set_calls(today(), [make_record(uuid="c1", status="En cola")])
    typos = {
        "NOTIFIER_POLL_INTERVALL": "5",
        "SLACK_WEBOOK_URL": "https://hooks.example.invalid/T000/B000/hush-7d1e",
        "WEBHOOK_SECRETT": "whsec_not-shown-4f2a",
        "NOTIFIER_ZZQX": "1",
        "NOTIFIER_HTTP_PORTT": "9100",  # has "_PORT" in it, but Kubernetes' names differ
    }
    kubernetes = {
        "REDIS_PORT": "tcp://10.0.0.7:6379",
        "REDIS_SERVICE_HOST": "10.0.0.7",
        "REDIS_SERVICE_PORT": "6379",
        "REDIS_PORT_6379_TCP": "tcp://10.0.0.7:6379",
        "REDIS_PORT_6379_TCP_ADDR": "10.0.0.7",
        "NOTIFIER_SERVICE_HOST": "10.0.0.8",
        "NOTIFIER_PORT_8080_TCP_PORT": "8080",
        "CLICKFONO_NOTIFIER_SERVICE_PORT_HTTP": "8080",
    }
    done = notifier("once", env=env_for(simulator, redis_url, **typos, **kubernetes))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith(WARNING)]
    assert sorted(warnings) == sorted(
        [
            f"{WARNING}NOTIFIER_POLL_INTERVALL is not a known variable; "
            "did you mean NOTIFIER_POLL_INTERVAL?",
            f"{WARNING}SLACK_WEBOOK_URL is not a known variable; did you mean SLACK_WEBHOOK_URL?",
            f"{WARNING}WEBHOOK_SECRETT is not a known variable; did you mean WEBHOOK_SECRET?",
            f"{WARNING}NOTIFIER_ZZQX is not a known variable",
            f"{WARNING}NOTIFIER_HTTP_PORTT is not a known variable; "
            "did you mean NOTIFIER_HTTP_PORT?",
        ]
    )
    for value in typos.values():
        if len(value) > 1:
            assert value not in done.stderr + done.stdout


@pytest.mark.parametrize("command", ["run", "once"])
def test_no_sink_exits_2_naming_the_variables_that_enable_one(
    simulator: Simulator, redis_url: str, command: str
) -> None:
    """Without a sink ``run`` and ``once`` refuse to start (exit 2) with one line naming
    every variable that enables a sink, and poll nobody."""
    env = env_for(simulator, redis_url)
    del env["NOTIFIER_CONSOLE"]
    done = notifier(command, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [last_line(done.stderr)]
    line = last_line(done.stderr)
    assert line.startswith(f"{ERROR}no sink is configured")
    for variable in (
        "NOTIFIER_CONSOLE",
        "SLACK_BOT_TOKEN",
        "SLACK_CHANNEL",
        "SLACK_WEBHOOK_URL",
        "SMTP_HOST",
        "EMAIL_TO",
        "WEBHOOK_URL",
        "APPRISE_URLS",
    ):
        assert variable in line
    assert not simulator.requests


# Errors say where


def test_redis_refused_names_host_and_port_without_the_password(
    simulator: Simulator, closed_port: int
) -> None:
    """Redis on a closed port: exit 1, one error naming 127.0.0.1:PORT and "connection
    refused", and neither the password nor the user of REDIS_URL."""
    url = f"redis://notifier:{REDIS_PASSWORD}@127.0.0.1:{closed_port}/0"
    done = notifier("once", env=env_for(simulator, url))
    assert done.returncode == 1
    assert (
        last_line(done.stderr)
        == f"{ERROR}Redis unavailable at 127.0.0.1:{closed_port}: connection refused"
    )
    assert REDIS_PASSWORD not in done.stdout + done.stderr
    assert "notifier:" not in done.stderr.replace("clickfono-notifier:", "")


def _clickfono_refused(
    simulator: Simulator, redis_url: str, port: int, grace: str
) -> list[dict[str, object]]:
    """Runs ``once`` against a closed Clickfono port with NOTIFIER_ROLLOVER_GRACE=grace;
    checks the exit and the single error line, and returns the retry log lines."""
    env = env_for(
        simulator,
        redis_url,
        CLICKFONO_BASE_URL=f"http://127.0.0.1:{port}",
        NOTIFIER_ROLLOVER_GRACE=grace,
    )
    done = notifier("once", env=env)
    assert done.returncode == 1
    assert last_line(done.stderr) == (
        f"{ERROR}Clickfono unreachable at 127.0.0.1:{port}: connection refused (all popups)"
    )
    assert [line for line in done.stderr.splitlines() if line.startswith(ERROR)] == [
        last_line(done.stderr)
    ]
    assert '"callable"' not in done.stderr and "stamina" not in done.stderr
    assert "test-token" not in done.stderr
    retries = [
        json.loads(line) for line in done.stderr.splitlines() if '"clickfono_retrying"' in line
    ]
    assert all(f"127.0.0.1:{port}: connection refused" in str(line["error"]) for line in retries), (
        done.stderr
    )
    return retries


def test_clickfono_refused_names_host_and_port_and_logs_our_own_retries(
    simulator: Simulator, redis_url: str, closed_port: int
) -> None:
    """Clickfono on a closed port, outside the rollover grace: exit 1 with one error naming
    127.0.0.1:PORT and "connection refused"; each retry is our clickfono_retrying line, not
    stamina's, and names the day it fetches."""
    retries = _clickfono_refused(simulator, redis_url, closed_port, grace="0")
    assert [line["attempt"] for line in retries] == [1, 2]
    assert len({line["day"] for line in retries}) == 1


def test_clickfono_refused_during_the_rollover_retries_each_day_under_its_own_name(
    simulator: Simulator, redis_url: str, closed_port: int
) -> None:
    """Within the rollover grace (1440 minutes: always) today's and yesterday's lists are
    both fetched: each day logs its own two retries, naming it, and still one error line."""
    retries = _clickfono_refused(simulator, redis_url, closed_port, grace="1440")
    by_day: dict[str, list[object]] = {}
    for line in retries:
        by_day.setdefault(str(line["day"]), []).append(line["attempt"])
    assert len(by_day) == 2, retries
    assert all(attempts == [1, 2] for attempts in by_day.values()), by_day
    earlier, later = sorted(by_day)
    assert (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).days == 1


def test_check_behind_an_unknown_ca_prints_its_table_then_its_error_in_one_file(
    simulator: Simulator, untrusted_tls: UntrustedTlsServer, tmp_path: Path
) -> None:
    """Redis (rediss://) and Clickfono (https) behind a certificate from an unknown CA:
    ``check``'s rows name 127.0.0.1:PORT and the verification message, and with stdout and
    stderr in one file the whole table comes before the error line; no password shown."""
    where = f"127.0.0.1:{untrusted_tls.port}"
    env = env_for(
        simulator,
        f"rediss://:{REDIS_PASSWORD}@{where}/0",
        CLICKFONO_BASE_URL=f"https://{where}",
        CLICKFONO_TIMEOUT="1",
    )
    output = tmp_path / "check.log"
    with output.open("w") as both:
        code = subprocess.run(
            [sys.executable, "-m", "notifier", "check"],
            env=clean_env(env),
            stdout=both,
            stderr=subprocess.STDOUT,
            timeout=60,
            check=False,
        ).returncode
    text = output.read_text()
    lines = text.strip().splitlines()
    assert code == 1
    assert lines[-1] == f"{ERROR}check failed: redis, clickfono"
    rows = [i for i, line in enumerate(lines) if re.match(r"^\S+(?: \S+)?\s+(ok|FAIL)\s", line)]
    assert [lines[i].split()[0] for i in rows] == ["configuration", "redis", "clickfono", "sink"]
    assert rows[-1] == len(lines) - 2, "the table, then the error line"
    assert lines[rows[1]].endswith(f"FAIL  Redis unavailable at {where}: {UNKNOWN_CA}")
    assert f"Clickfono unreachable at {where}: {UNKNOWN_CA}" in lines[rows[2]]
    assert "Traceback" not in text and REDIS_PASSWORD not in text
    assert untrusted_tls.handshakes >= 2


# Help and dead letters


HELP = {
    "run": ["NOTIFIER_POLL_INTERVAL", "NOTIFIER_CLAIM_TIMEOUT", "REDIS_URL", "WEBHOOK_*"],
    "once": ["CLICKFONO_TOKEN", "NOTIFIER_RETRY_SCHEDULE", "REDIS_URL", "SLACK_*"],
    "check": ["CLICKFONO_TOKEN", "REDIS_URL", "SMTP_*"],
    "demo": ["REDIS_URL"],
    "dead-letters": ["REDIS_URL", "NOTIFIER_REDIS_PREFIX"],
    "simulate": ["none"],
    "schema": ["none"],
}


HELP_SCRIPT = """
import contextlib, io, json, sys
from notifier.cli import main
texts = {}
for command in sys.argv[1:]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([command, "--help"])
    texts[command] = out.getvalue()
print(json.dumps(texts))
"""


def test_every_command_help_lists_its_variables_and_exit_codes() -> None:
    """Each command's ``--help`` says what it does, the variables it reads and its exit
    codes (``simulate`` its defaults too)."""
    done = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT, *HELP],
        env=clean_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr == ""
    for command, text in json.loads(done.stdout).items():
        description = text.split("\n\n")[1]
        assert len(description.split()) >= 8, text
        variables = text.split("environment variables:")[1].split("exit codes:")[0]
        for name in HELP[command]:
            assert name in variables, f"{command} --help does not list {name}"
        exits = text.split("exit codes:")[1]
        assert re.match(r" 0 \w", exits), text
        if command != "schema":
            assert re.search(r"; 1 \w", exits), text
        if command == "simulate":
            for default in ("(default: 127.0.0.1)", "(default: 8081)", "(default: 7)"):
                assert default in text


def test_replaying_an_unknown_dead_letter_prints_only_the_error(
    simulator: Simulator, redis_url: str
) -> None:
    """``dead-letters replay nope`` exits 1 and prints one error line and nothing else."""
    done = notifier("dead-letters", "replay", "nope", env=env_for(simulator, redis_url))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"{ERROR}no dead letter with id nope"]
