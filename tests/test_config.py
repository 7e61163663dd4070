"""Configuration: SPEC.md defaults, parsing, strict one-line errors, secrets, sinks, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from notifier.config import ALERT_EVENTS, DEFAULT_EVENTS, EVENT_TYPES, Settings, load_settings
from notifier.errors import ConfigError
from notifier.sinks import sink_filter

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-9f8e7d6c5b4a"
BASE = {"CLICKFONO_TOKEN": TOKEN}


def settings_with(**env: str) -> Settings:
    return load_settings({**BASE, **env})


def config_error(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    return str(info.value)


def as_env_text(value: Any) -> str:
    """A setting written back the way SPEC.md's table writes it."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(as_env_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- defaults --------------------------------------------------------------------------

SPEC_DEFAULTS = [
    ("CLICKFONO_BASE_URL", "https://clickandtalk.medularis.com"),
    ("CLICKFONO_POPUP_UUIDS", ""),
    ("CLICKFONO_TIMEOUT", "10"),
    ("NOTIFIER_POLL_INTERVAL", "30"),
    ("NOTIFIER_TIMEZONE", "America/Santiago"),
    ("NOTIFIER_BUSINESS_HOURS", "mon-fri 09:00-18:00"),
    ("NOTIFIER_HOLIDAYS", ""),
    ("NOTIFIER_ROLLOVER_GRACE", "120"),
    ("NOTIFIER_QUEUE_ALERT_MINUTES", "15"),
    ("NOTIFIER_BASELINE", "silent"),
    ("NOTIFIER_RETRY_SCHEDULE", "5,30,120,600,1800,3600,10800,21600"),
    ("NOTIFIER_LANGUAGE", "es"),
    ("NOTIFIER_MASK_PII", "false"),
    ("NOTIFIER_CONSOLE", "false"),
    ("NOTIFIER_HTTP_PORT", "8080"),
    ("REDIS_URL", "redis://localhost:6379/0"),
    ("NOTIFIER_REDIS_PREFIX", "clickfono"),
    ("NOTIFIER_STATE_TTL_DAYS", "3"),
    ("SLACK_BOT_TOKEN", ""),
    ("SLACK_CHANNEL", ""),
    ("SLACK_WEBHOOK_URL", ""),
    ("SLACK_API_URL", "https://slack.com/api/"),
    ("SLACK_CHANNEL_BY_POPUP", ""),
    (
        "SLACK_EVENTS",
        "call.spam,call.attempts_exhausted,call.outside_business_hours,call.queued_too_long,"
        "notifier.source_*,report.*",
    ),
    ("SLACK_STORM_THRESHOLD", "20"),
    ("SMTP_HOST", ""),
    ("SMTP_PORT", "587"),
    ("SMTP_USERNAME", ""),
    ("SMTP_PASSWORD", ""),
    ("SMTP_SECURITY", "starttls"),
    ("EMAIL_FROM", ""),
    ("EMAIL_TO", ""),
    (
        "EMAIL_EVENTS",
        "call.spam,call.attempts_exhausted,call.outside_business_hours,call.queued_too_long,"
        "notifier.source_*,report.*",
    ),
    ("WEBHOOK_URL", ""),
    ("WEBHOOK_SECRET", ""),
    ("WEBHOOK_EVENTS", "*"),
    ("LOG_LEVEL", "info"),
    ("LOG_FORMAT", "json"),
]


@pytest.mark.parametrize(("variable", "default"), SPEC_DEFAULTS)
def test_default_matches_spec(variable: str, default: str) -> None:
    """With only CLICKFONO_TOKEN set, each variable has SPEC.md's default."""
    settings = settings_with()
    assert as_env_text(getattr(settings, variable.lower())) == default


def test_default_events_constant_matches_spec() -> None:
    """DEFAULT_EVENTS is SPEC.md's default for SLACK_EVENTS and starts with the four alerts."""
    assert dict(SPEC_DEFAULTS)["SLACK_EVENTS"] == DEFAULT_EVENTS
    assert DEFAULT_EVENTS.startswith(ALERT_EVENTS + ",")


def test_token_is_required() -> None:
    """Without CLICKFONO_TOKEN the error says the variable is required."""
    assert config_error({}) == "CLICKFONO_TOKEN: required but not set"


def test_given_env_is_the_only_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_settings(env) ignores the process environment, and load_settings() reads it."""
    monkeypatch.setenv("NOTIFIER_POLL_INTERVAL", "77")
    monkeypatch.setenv("CLICKFONO_TOKEN", "from-process-env")
    assert load_settings(BASE).notifier_poll_interval == 30
    from_process = load_settings()
    assert from_process.notifier_poll_interval == 77
    assert from_process.clickfono_token.get_secret_value() == "from-process-env"


def test_overrides_win_over_env() -> None:
    """Keyword overrides replace values from the environment mapping."""
    settings = load_settings({**BASE, "NOTIFIER_POLL_INTERVAL": "5"}, notifier_poll_interval=0.5)
    assert settings.notifier_poll_interval == 0.5


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    [
        (
            "CLICKFONO_POPUP_UUIDS",
            " a-1, b-2,,c-3 ",
            "clickfono_popup_uuids",
            ("a-1", "b-2", "c-3"),
        ),
        (
            "EMAIL_TO",
            "ops@example.com, boss@example.com",
            "email_to",
            ("ops@example.com", "boss@example.com"),
        ),
        ("NOTIFIER_RETRY_SCHEDULE", "1, 2.5,60", "retry_schedule", (1.0, 2.5, 60.0)),
        (
            "NOTIFIER_RETRY_SCHEDULE",
            "5,30,120,600,1800,3600,10800,21600",
            "retry_schedule",
            (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 10800.0, 21600.0),
        ),
        ("NOTIFIER_HOLIDAYS", "cl", "notifier_holidays", "CL"),
        ("NOTIFIER_MASK_PII", "TRUE", "notifier_mask_pii", True),
        ("NOTIFIER_CONSOLE", "1", "notifier_console", True),
        ("NOTIFIER_BASELINE", "Notify", "notifier_baseline", "notify"),
        ("LOG_LEVEL", "DEBUG", "log_level", "debug"),
        ("NOTIFIER_HTTP_PORT", "0", "notifier_http_port", 0),
        ("NOTIFIER_QUEUE_ALERT_MINUTES", "0", "notifier_queue_alert_minutes", 0),
        ("NOTIFIER_POLL_INTERVAL", " 2.5 ", "notifier_poll_interval", 2.5),
        (
            "SLACK_CHANNEL_BY_POPUP",
            '{"p-1": "#sales", "p-2": "C0123"}',
            "channel_by_popup",
            {"p-1": "#sales", "p-2": "C0123"},
        ),
        ("SLACK_CHANNEL_BY_POPUP", "", "channel_by_popup", {}),
    ],
)
def test_parsing(variable: str, value: str, attribute: str, expected: object) -> None:
    """Lists, numbers, booleans, literals and the popup map parse into typed values."""
    assert getattr(settings_with(**{variable: value}), attribute) == expected


@pytest.mark.parametrize(
    ("variable", "sink"),
    [("SLACK_EVENTS", "slack"), ("EMAIL_EVENTS", "email"), ("WEBHOOK_EVENTS", "webhook")],
)
@pytest.mark.parametrize(
    ("value", "admitted", "refused"),
    [
        (
            "call.*",
            {"call.created", "call.spam", "call.queued_too_long"},
            {"notifier.source_recovered"},
        ),
        ("*", set(EVENT_TYPES), set()),
        ("call.spam, notifier.*", {"call.spam", "notifier.source_unauthorized"}, {"call.created"}),
        ("call.status_changed", {"call.status_changed"}, {"call.spam", "call.created"}),
    ],
)
def test_event_filters(
    variable: str, sink: str, value: str, admitted: set[str], refused: set[str]
) -> None:
    """SLACK_EVENTS, EMAIL_EVENTS and WEBHOOK_EVENTS accept exact types, * and globs."""
    event_filter = sink_filter(settings_with(**{variable: value}), sink)
    assert {t for t in admitted if event_filter.admits(t)} == admitted
    assert {t for t in refused if event_filter.admits(t)} == set()


def test_default_event_filters() -> None:
    """By default Slack and email get the alerts, Clickfono episodes and reports; the
    webhook gets everything."""
    settings = settings_with()
    admitted = {
        *ALERT_EVENTS.split(","),
        "notifier.source_unauthorized",
        "notifier.source_unavailable",
        "notifier.source_recovered",
        "report.daily_summary",
    }
    for sink in ("slack", "email"):
        assert {t for t in EVENT_TYPES if sink_filter(settings, sink).admits(t)} == admitted
    assert all(sink_filter(settings, "webhook").admits(t) for t in EVENT_TYPES)


def test_typed_views() -> None:
    """zone, schedule and calendar come from NOTIFIER_TIMEZONE, _BUSINESS_HOURS and _HOLIDAYS."""
    settings = settings_with(
        NOTIFIER_TIMEZONE="America/Santiago",
        NOTIFIER_BUSINESS_HOURS="mon-fri 09:00-18:00",
        NOTIFIER_HOLIDAYS="CL",
    )
    assert settings.zone.key == "America/Santiago"
    assert len(settings.schedule.days[0]) == 1
    assert settings.calendar.is_open(datetime.fromisoformat("2026-11-24T10:00:00-03:00"))
    assert not settings.calendar.is_open(datetime.fromisoformat("2026-09-18T10:00:00-03:00"))


# --- bad values ------------------------------------------------------------------------

_KNOWN = ", ".join(EVENT_TYPES)
_EXAMPLE = "e.g. 'mon-fri 09:00-13:00,14:00-18:00; sat 10:00-14:00'"

BAD_VALUES = [
    (
        "NOTIFIER_POLL_INTERVAL",
        "abc",
        "NOTIFIER_POLL_INTERVAL: expected a positive number, got 'abc'",
    ),
    ("NOTIFIER_POLL_INTERVAL", "0", "NOTIFIER_POLL_INTERVAL: expected a positive number, got '0'"),
    (
        "NOTIFIER_POLL_INTERVAL",
        "inf",
        "NOTIFIER_POLL_INTERVAL: expected a positive number, got 'inf'",
    ),
    ("NOTIFIER_POLL_INTERVAL", "", "NOTIFIER_POLL_INTERVAL: expected a positive number, got ''"),
    (
        "CLICKFONO_TIMEOUT",
        "-1",
        "CLICKFONO_TIMEOUT: expected a positive number of seconds, got '-1'",
    ),
    (
        "NOTIFIER_ROLLOVER_GRACE",
        "1.5",
        "NOTIFIER_ROLLOVER_GRACE: expected a whole number of minutes, 0 or more, got '1.5'",
    ),
    (
        "NOTIFIER_QUEUE_ALERT_MINUTES",
        "-1",
        "NOTIFIER_QUEUE_ALERT_MINUTES: expected a number of minutes, 0 or more (0 disables), got "
        "'-1'",
    ),
    (
        "NOTIFIER_STATE_TTL_DAYS",
        "0",
        "NOTIFIER_STATE_TTL_DAYS: expected a whole number of days, 1 or more, got '0'",
    ),
    (
        "SLACK_STORM_THRESHOLD",
        "many",
        "SLACK_STORM_THRESHOLD: expected a whole number, 1 or more, got 'many'",
    ),
    ("NOTIFIER_MASK_PII", "maybe", "NOTIFIER_MASK_PII: expected true or false, got 'maybe'"),
    ("NOTIFIER_CONSOLE", "si", "NOTIFIER_CONSOLE: expected true or false, got 'si'"),
    (
        "NOTIFIER_HTTP_PORT",
        "70000",
        "NOTIFIER_HTTP_PORT: expected a port number from 0 to 65535 (0 disables), got '70000'",
    ),
    (
        "NOTIFIER_HTTP_PORT",
        "tcp://10.0.0.7:8080",
        "NOTIFIER_HTTP_PORT: expected a port number from 0 to 65535 (0 disables), got "
        "'tcp://10.0.0.7:8080'",
    ),
    ("SMTP_PORT", "0", "SMTP_PORT: expected a port number from 1 to 65535, got '0'"),
    ("NOTIFIER_BASELINE", "loud", "NOTIFIER_BASELINE: expected 'silent' or 'notify', got 'loud'"),
    ("NOTIFIER_LANGUAGE", "fr", "NOTIFIER_LANGUAGE: expected 'es' or 'en', got 'fr'"),
    ("SMTP_SECURITY", "ssl", "SMTP_SECURITY: expected 'starttls', 'tls' or 'none', got 'ssl'"),
    (
        "LOG_LEVEL",
        "verbose",
        "LOG_LEVEL: expected one of debug, info, warning, error, got 'verbose'",
    ),
    ("LOG_FORMAT", "xml", "LOG_FORMAT: expected 'json' or 'console', got 'xml'"),
    (
        "NOTIFIER_TIMEZONE",
        "Mars/Olympus",
        "NOTIFIER_TIMEZONE: expected an IANA time zone such as America/Santiago, got "
        "'Mars/Olympus'",
    ),
    (
        "NOTIFIER_TIMEZONE",
        "../../etc/passwd",
        "NOTIFIER_TIMEZONE: expected an IANA time zone such as America/Santiago, got "
        "'../../etc/passwd'",
    ),
    (
        "NOTIFIER_HOLIDAYS",
        "XX",
        "NOTIFIER_HOLIDAYS: expected an ISO country code supported by the holidays package, such "
        "as CL, got 'XX'",
    ),
    (
        "NOTIFIER_BUSINESS_HOURS",
        "mon-fri 25:00-26:00",
        "NOTIFIER_BUSINESS_HOURS: bad time range '25:00-26:00' (use HH:MM-HH:MM)",
    ),
    (
        "NOTIFIER_BUSINESS_HOURS",
        "weekdays 09:00-18:00",
        "NOTIFIER_BUSINESS_HOURS: unknown day 'weekdays' in 'weekdays 09:00-18:00' (use mon, "
        "tue, wed, thu, fri, sat, sun or a range such as mon-fri)",
    ),
    (
        "NOTIFIER_BUSINESS_HOURS",
        "",
        f"NOTIFIER_BUSINESS_HOURS: no rules (expected days and time ranges, {_EXAMPLE})",
    ),
    (
        "NOTIFIER_RETRY_SCHEDULE",
        "5,abc",
        "NOTIFIER_RETRY_SCHEDULE: expected comma-separated seconds such as 5,30,120, got '5,abc'",
    ),
    (
        "NOTIFIER_RETRY_SCHEDULE",
        "5,-1",
        "NOTIFIER_RETRY_SCHEDULE: expected comma-separated seconds such as 5,30,120, got '5,-1'",
    ),
    (
        "NOTIFIER_RETRY_SCHEDULE",
        "",
        "NOTIFIER_RETRY_SCHEDULE: expected comma-separated seconds such as 5,30,120, got ''",
    ),
    (
        "NOTIFIER_REDIS_PREFIX",
        "my prefix",
        "NOTIFIER_REDIS_PREFIX: expected a non-empty name of letters, digits and _ . : - only, "
        "got 'my prefix'",
    ),
    (
        "NOTIFIER_REDIS_PREFIX",
        "{slot}",
        "NOTIFIER_REDIS_PREFIX: expected a non-empty name of letters, digits and _ . : - only, "
        "got '{slot}'",
    ),
    (
        "SLACK_CHANNEL_BY_POPUP",
        "p-1=#sales",
        "SLACK_CHANNEL_BY_POPUP: expected a JSON object of popup UUID to channel such as "
        '{"popup-uuid": "#channel"}, got \'p-1=#sales\'',
    ),
    (
        "SLACK_CHANNEL_BY_POPUP",
        '{"p-1": 5}',
        "SLACK_CHANNEL_BY_POPUP: expected a JSON object of popup UUID to channel such as "
        '{"popup-uuid": "#channel"}, got \'{"p-1": 5}\'',
    ),
    (
        "SLACK_EVENTS",
        "call.spam,call.hangup",
        f"SLACK_EVENTS: unknown event type 'call.hangup' (known: {_KNOWN}; globs such as call.* "
        "are allowed)",
    ),
    (
        "EMAIL_EVENTS",
        "sms.*",
        f"EMAIL_EVENTS: glob 'sms.*' matches no event type (known: {_KNOWN})",
    ),
    (
        "WEBHOOK_EVENTS",
        " , ",
        "WEBHOOK_EVENTS: expected comma-separated event types, or globs such as call.* or *, got "
        "','",
    ),
    (
        "CLICKFONO_BASE_URL",
        "clickandtalk.medularis.com",
        "CLICKFONO_BASE_URL: expected an http(s) URL such as https://host/, got "
        "'clickandtalk.medularis.com'",
    ),
    (
        "SLACK_API_URL",
        "ftp://slack.com/api/",
        "SLACK_API_URL: expected an http(s) URL such as https://host/, got 'ftp://slack.com/api/'",
    ),
    (
        "WEBHOOK_URL",
        "example.com/hook",
        "WEBHOOK_URL: expected an http(s) URL such as https://host/path (value hidden)",
    ),
    (
        "SLACK_WEBHOOK_URL",
        "hooks.slack.com/services/T0/B0/x",
        "SLACK_WEBHOOK_URL: expected an http(s) URL such as https://host/path (value hidden)",
    ),
    (
        "REDIS_URL",
        "localhost:6379",
        "REDIS_URL: expected a redis://, rediss:// or unix:// URL such as "
        "redis://localhost:6379/0 (value hidden)",
    ),
    (
        "WEBHOOK_SECRET",
        "plain-secret",
        "WEBHOOK_SECRET: expected a Standard Webhooks secret such as whsec_<base64 bytes>",
    ),
    (
        "EMAIL_TO",
        "ops@example.com,ops",
        "EMAIL_TO: expected comma-separated email addresses, got 'ops@example.com,ops'",
    ),
    (
        "EMAIL_FROM",
        "alerts",
        "EMAIL_FROM: expected an email address such as alerts@example.com, got 'alerts'",
    ),
    (
        "SMTP_HOST",
        "smtp.example.com:587",
        "SMTP_HOST: expected a host name such as smtp.example.com (no scheme; the port goes in "
        "SMTP_PORT), got 'smtp.example.com:587'",
    ),
    ("CLICKFONO_TOKEN", "   ", "CLICKFONO_TOKEN: required, but set to an empty value"),
    (
        "NOTIFIER_LEASE_TTL",
        "1",
        "NOTIFIER_LEASE_TTL: expected a number of seconds, 3 or more, got '1'",
    ),
]


@pytest.mark.parametrize(("variable", "value", "message"), BAD_VALUES)
def test_bad_value_message(variable: str, value: str, message: str) -> None:
    """A bad value is a ConfigError of exactly one line naming the variable and what it expects."""
    text = config_error({**BASE, variable: value})
    assert text == message
    assert "\n" not in text


def test_bad_value_with_newline_stays_on_one_line() -> None:
    """Control characters in a shown value are escaped, so the message stays one line."""
    text = config_error({**BASE, "NOTIFIER_BASELINE": "silent\nnotify"})
    assert text == "NOTIFIER_BASELINE: expected 'silent' or 'notify', got 'silent\\nnotify'"


def test_several_bad_values_are_all_reported_on_one_line() -> None:
    """Two bad variables give one line naming both."""
    text = config_error({**BASE, "NOTIFIER_POLL_INTERVAL": "abc", "SMTP_PORT": "x"})
    assert "\n" not in text
    assert "NOTIFIER_POLL_INTERVAL: expected a positive number, got 'abc'" in text
    assert "SMTP_PORT: expected a port number from 1 to 65535, got 'x'" in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SLACK_BOT_TOKEN": "xoxb-1-2-3"},
            "SLACK_CHANNEL: required when SLACK_BOT_TOKEN is set (or set SLACK_CHANNEL_BY_POPUP)",
        ),
        (
            {"SMTP_HOST": "smtp.example.com", "EMAIL_TO": "ops@example.com"},
            "EMAIL_FROM: required when SMTP_HOST and EMAIL_TO are set",
        ),
    ],
)
def test_cross_variable_rules(env: dict[str, str], message: str) -> None:
    """Rules spanning several variables name the missing one."""
    assert config_error({**BASE, **env}) == message


# --- secrets ---------------------------------------------------------------------------

SECRET = "Zq8-hidden-Xv3"


@pytest.mark.parametrize(
    "env",
    [
        {"CLICKFONO_TOKEN": SECRET, "NOTIFIER_POLL_INTERVAL": "abc"},
        {"CLICKFONO_TOKEN": SECRET, "CLICKFONO_BASE_URL": f"ftp://host/?t={SECRET}"},
        {**BASE, "WEBHOOK_URL": f"ftp://user:{SECRET}@example.com/hook"},
        {**BASE, "SLACK_WEBHOOK_URL": f"hooks.slack.com/services/{SECRET}"},
        {**BASE, "REDIS_URL": f"http://:{SECRET}@redis:6379/0"},
        {**BASE, "WEBHOOK_SECRET": f"whsec_{SECRET}!"},
        {**BASE, "SMTP_PASSWORD": SECRET, "SMTP_PORT": "x"},
        {**BASE, "SLACK_BOT_TOKEN": SECRET},
        {**BASE, "CLICKFONO_BASE_URL": f"https://user:{SECRET}@"},
    ],
)
def test_secret_never_in_error_message(env: dict[str, str]) -> None:
    """Whatever is wrong, a ConfigError never repeats a secret value."""
    text = config_error(env)
    assert SECRET not in text
    assert ":" in text  # still names a variable


def test_secrets_hidden_in_repr() -> None:
    """repr() and str() of Settings show no token, password, secret or credentialed URL."""
    secrets = {
        "CLICKFONO_TOKEN": "tok-aaaa-1111",
        "SLACK_BOT_TOKEN": "xoxb-bbbb-2222",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/cccc-3333",
        "SMTP_PASSWORD": "pw-dddd-4444",
        "WEBHOOK_URL": "https://user:eeee-5555@example.com/hook",
        "WEBHOOK_SECRET": "whsec_ZmZmZi02NjY2LXNlY3JldA==",
        "REDIS_URL": "redis://:gggg-7777@redis:6379/0",
    }
    settings = load_settings({**secrets, "SLACK_CHANNEL": "#alerts"})
    shown = repr(settings) + str(settings)
    leaked = [name for name, value in secrets.items() if value in shown]
    assert leaked == []
    assert settings.webhook_secret.get_secret_value() == secrets["WEBHOOK_SECRET"]


# --- sink enablement -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "slack", "email", "webhook"),
    [
        ({}, False, False, False),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL": "#alerts"}, True, False, False),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL_BY_POPUP": '{"p": "#a"}'},
            True,
            False,
            False,
        ),
        ({"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x"}, True, False, False),
        ({"SLACK_CHANNEL": "#alerts"}, False, False, False),
        (
            {
                "SMTP_HOST": "smtp.example.com",
                "EMAIL_TO": "ops@example.com",
                "EMAIL_FROM": "n@example.com",
            },
            False,
            True,
            False,
        ),
        ({"SMTP_HOST": "smtp.example.com", "EMAIL_FROM": "n@example.com"}, False, False, False),
        ({"EMAIL_TO": "ops@example.com", "EMAIL_FROM": "n@example.com"}, False, False, False),
        ({"WEBHOOK_URL": "https://example.com/hook"}, False, False, True),
        ({"WEBHOOK_SECRET": "whsec_c2VjcmV0"}, False, False, False),
    ],
)
def test_sink_enablement(env: dict[str, str], slack: bool, email: bool, webhook: bool) -> None:
    """Slack needs a bot token and channel or a webhook URL; email SMTP_HOST and EMAIL_TO;
    the webhook WEBHOOK_URL."""
    settings = settings_with(**env)
    assert (settings.slack_enabled, settings.email_enabled, settings.webhook_enabled) == (
        slack,
        email,
        webhook,
    )


# --- end to end through the real command line -------------------------------------------

_OURS = ("CLICKFONO_", "NOTIFIER_", "SLACK_", "SMTP_", "EMAIL_", "WEBHOOK_")


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any variable the notifier reads, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(_OURS) and k.upper() != "REDIS_URL"
    }
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"CLICKFONO_TOKEN": TOKEN, "NOTIFIER_POLL_INTERVAL": "abc"},
            "NOTIFIER_POLL_INTERVAL: expected a positive number, got 'abc'",
        ),
        ({}, "CLICKFONO_TOKEN: required but not set"),
    ],
)
def test_cli_config_error_exits_2_with_one_line(extra: dict[str, str], expected: str) -> None:
    """`python -m notifier once` with a bad configuration exits 2 with one clean stderr line."""
    result = run_cli("once", env=clean_env(**extra))
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_console_script_help_exits_0() -> None:
    """`clickfono-notifier --help` prints usage and exits 0."""
    script = Path(sys.executable).with_name("clickfono-notifier")
    result = subprocess.run(
        [str(script), "--help"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: clickfono-notifier" in result.stdout


def test_module_help_exits_0() -> None:
    """`python -m notifier --help` prints the same usage and exits 0."""
    result = run_cli("--help", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert "usage: clickfono-notifier" in result.stdout
