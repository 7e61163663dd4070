"""Settings: the only module that reads environment variables.

``load_settings()`` reads the process environment (or a given mapping), validates every
variable of SPEC.md strictly and raises ``ConfigError`` with one line per problem, each
naming the variable and what it expects. A variable set to an empty string is a value,
not "unset": it is accepted only where empty is meaningful (the variables whose default
is empty) and otherwise reported, so a mistyped template cannot silently change
behaviour. Secrets (tokens, passwords, and URLs that may embed credentials) are
``SecretStr`` and never appear in messages or in ``repr(settings)``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import fnmatch
import json
import math
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from notifier.errors import ConfigError
from notifier.events import ALERT_TYPES, PUBLIC_TYPES
from notifier.hours import BusinessCalendar, WeeklySchedule, holiday_checker, parse_business_hours

ALERT_EVENTS = ",".join(ALERT_TYPES)
DEFAULT_EVENTS = ALERT_EVENTS + ",notifier.source_*,report.*"
"""SPEC.md's SLACK_EVENTS/EMAIL_EVENTS default: the alerts, Clickfono episodes (agents must
know when alerts have stopped) and reports (sent only when enabled)."""
EVENT_TYPES = PUBLIC_TYPES
"""Every type a ``*_EVENTS`` filter may name (from the registry in events.py)."""
_GLOB_CHARS = re.compile(r"[*?\[]")
_URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.\-]*://)[^/@\s]*@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# Secret values of the configuration being loaded, hidden wherever a value is shown.
_HIDDEN: ContextVar[tuple[str, ...]] = ContextVar("_HIDDEN", default=())


def _show(value: object, limit: int = 80) -> str:
    """A value quoted for a one-line message: secrets and URL credentials masked, control
    characters escaped, long values shortened."""
    text = str(value)
    for secret in _HIDDEN.get():
        text = text.replace(secret, "[REDACTED]")
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"'{text}'"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Event-type patterns of one sink: exact names, ``*`` or globs such as ``call.*``."""

    patterns: tuple[str, ...]

    def admits(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, p) for p in self.patterns)

    @classmethod
    def parse(cls, text: str) -> EventFilter:
        """Parse ``call.spam,call.*``; raise ValueError for an empty list or a pattern that
        matches no known event type."""
        patterns = tuple(p.strip() for p in text.split(",") if p.strip())
        if not patterns:
            raise ValueError(
                f"expected comma-separated event types, or globs such as call.* or *, "
                f"got {_show(text)}"
            )
        known = ", ".join(EVENT_TYPES)
        for pattern in patterns:
            if any(fnmatch.fnmatchcase(t, pattern) for t in EVENT_TYPES):
                continue
            if _GLOB_CHARS.search(pattern):
                raise ValueError(f"glob {_show(pattern)} matches no event type (known: {known})")
            raise ValueError(
                f"unknown event type {_show(pattern)} "
                f"(known: {known}; globs such as call.* are allowed)"
            )
        return cls(patterns)


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


CsvList = Annotated[tuple[str, ...], NoDecode]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]

# What each variable expects, for type and range errors; custom validators word their own.
_EXPECTED: dict[str, str] = {
    "clickfono_token": "the Clickfono API token",
    "clickfono_popup_uuids": "comma-separated popup UUIDs",
    "clickfono_timeout": "a positive number of seconds",
    "notifier_poll_interval": "a positive number",
    "notifier_rollover_grace": "a whole number of minutes, 0 or more",
    "notifier_queue_alert_minutes": "a number of minutes, 0 or more (0 disables)",
    "notifier_baseline": "'silent' or 'notify'",
    "notifier_retry_schedule": "comma-separated seconds such as 5,30,120",
    "notifier_language": "'es' or 'en'",
    "notifier_mask_pii": "true or false",
    "notifier_console": "true or false",
    "notifier_http_port": "a port number from 0 to 65535 (0 disables)",
    "notifier_state_ttl_days": "a whole number of days, 1 or more",
    "slack_storm_threshold": "a whole number, 1 or more",
    "smtp_port": "a port number from 1 to 65535",
    "smtp_security": "'starttls', 'tls' or 'none'",
    "email_to": "comma-separated email addresses",
    "log_level": "one of debug, info, warning, error",
    "log_format": "'json' or 'console'",
    "notifier_lease_ttl": "a number of seconds, 3 or more",
    "notifier_claim_timeout": "a positive number of seconds (the delivery claim)",
    "notifier_dead_letter_days": "a positive number of days",
    "notifier_sink_failing_minutes": "a positive number of minutes",
    "slack_escalate_minutes": "a number of minutes, 0 or more (0 disables)",
    "redis_cluster": "true or false",
    "notifier_webhook_concurrency": "a whole number, 1 or more",
    "webhook_timeout": "a positive number of seconds",
    "notifier_unavailable_cycles": "a whole number, 1 or more",
}


def _http_url_problem(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme not in ("http", "https") or not parts.hostname


class Settings(BaseSettings):
    """Every variable of SPEC.md, typed and validated. Field name = variable name.

    Built by ``load_settings``; the model itself reads no environment (its only source is
    the values passed in), so tests and callers get exactly what they pass.
    """

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    clickfono_token: SecretStr
    clickfono_base_url: str = "https://clickandtalk.medularis.com"
    clickfono_popup_uuids: CsvList = ()
    clickfono_timeout: PositiveSeconds = 10.0

    notifier_poll_interval: PositiveSeconds = 30.0
    notifier_timezone: str = "America/Santiago"
    notifier_business_hours: str = "mon-fri 09:00-18:00"
    notifier_holidays: str = ""
    notifier_rollover_grace: Annotated[int, Field(ge=0)] = 120
    notifier_queue_alert_minutes: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 15
    notifier_baseline: Literal["silent", "notify"] = "silent"
    notifier_retry_schedule: CsvList = ("5", "30", "120", "600", "1800", "3600", "10800", "21600")
    notifier_language: Literal["es", "en"] = "es"
    notifier_mask_pii: bool = False
    notifier_console: bool = False
    notifier_http_port: Annotated[int, Field(ge=0, le=65535)] = 8080

    redis_url: SecretStr = SecretStr("redis://localhost:6379/0")
    notifier_redis_prefix: str = "clickfono"
    notifier_state_ttl_days: Annotated[int, Field(ge=1)] = 3

    slack_bot_token: SecretStr = SecretStr("")
    slack_channel: str = ""
    slack_webhook_url: SecretStr = SecretStr("")
    slack_api_url: str = "https://slack.com/api/"
    slack_channel_by_popup: str = ""
    slack_events: str = DEFAULT_EVENTS
    slack_storm_threshold: Annotated[int, Field(ge=1)] = 20

    smtp_host: str = ""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    email_from: str = ""
    email_to: CsvList = ()
    email_events: str = DEFAULT_EVENTS

    webhook_url: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    webhook_events: str = "*"

    apprise_urls: SecretStr = SecretStr("")
    apprise_events: str = DEFAULT_EVENTS

    slack_app_token: SecretStr = SecretStr("")
    slack_escalate_minutes: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 10
    slack_escalate_mention: str = ""

    notifier_claim_timeout: PositiveSeconds = 15.0
    notifier_dead_letter_days: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 14
    notifier_daily_summary_at: str = ""

    redis_cluster: bool = False
    redis_sentinels: CsvList = ()
    redis_sentinel_master: str = "mymaster"
    redis_tls_ca: str = ""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    # Extensions beyond SPEC.md's table (documented in the README).
    notifier_lease_ttl: Annotated[float, Field(ge=3, allow_inf_nan=False)] = 15.0
    notifier_sink_failing_minutes: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 5
    notifier_webhook_concurrency: Annotated[int, Field(ge=1)] = 16
    notifier_unavailable_cycles: Annotated[int, Field(ge=1)] = 3
    webhook_timeout: PositiveSeconds = 10.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings is the one reader of the environment; the model never reads it.
        return (init_settings,)

    _csv = field_validator(
        "clickfono_popup_uuids",
        "email_to",
        "notifier_retry_schedule",
        "redis_sentinels",
        mode="before",
    )(_split_csv)

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if text and not text.startswith("xapp-"):
            raise ValueError(
                "expected a Slack app-level token starting with xapp- (scope "
                "connections:write; value hidden)"
            )
        return value

    @field_validator("slack_escalate_mention")
    @classmethod
    def _mention(cls, value: str) -> str:
        for part in value.split():
            if not re.fullmatch(
                r"<(!here|!channel|!everyone|!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+)>", part
            ):
                raise ValueError(
                    "expected Slack mentions such as <!here>, <!subteam^S0123> or <@U0123>, "
                    f"got {_show(part)}"
                )
        return value

    @field_validator("notifier_daily_summary_at")
    @classmethod
    def _summary_at(cls, value: str) -> str:
        text = value.strip()
        if text and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
            raise ValueError(
                f"expected a local time HH:MM such as 18:30, or empty, got {_show(value)}"
            )
        return text

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(
                    "expected comma-separated host:port of Redis Sentinels such as "
                    f"sentinel-0:26379,sentinel-1:26379, got {_show(','.join(value))}"
                )
        return value

    @field_validator("redis_tls_ca")
    @classmethod
    def _tls_ca(cls, value: str) -> str:
        if value and not os.path.isfile(value):
            raise ValueError(f"expected the path of a readable CA bundle file, got {_show(value)}")
        return value

    @field_validator(
        "log_level",
        "log_format",
        "notifier_baseline",
        "notifier_language",
        "smtp_security",
        mode="before",
    )
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("clickfono_token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("required, but set to an empty value")
        return value

    @field_validator("clickfono_base_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if _http_url_problem(value):
            raise ValueError(f"expected an http(s) URL such as https://host/, got {_show(value)}")
        return value

    @field_validator("webhook_url", "slack_webhook_url")
    @classmethod
    def _secret_http_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if text and _http_url_problem(text):
            raise ValueError("expected an http(s) URL such as https://host/path (value hidden)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "expected a redis://, rediss:// or unix:// URL such as "
                "redis://localhost:6379/0 (value hidden)"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if text:
            body = text.removeprefix("whsec_")
            try:
                decoded = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
            except (binascii.Error, ValueError):
                decoded = b""
            if not text.startswith("whsec_") or not decoded:
                raise ValueError("expected a Standard Webhooks secret such as whsec_<base64 bytes>")
        return value

    @field_validator("notifier_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"expected an IANA time zone such as America/Santiago, got {_show(value)}"
            ) from None
        return value

    @field_validator("notifier_business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_business_hours(value)  # its ValueError says what is wrong and what to write
        return value

    @field_validator("notifier_holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        code = value.strip().upper()
        try:
            holiday_checker(code)
        except ValueError:
            raise ValueError(
                f"expected an ISO country code supported by the holidays package, such as "
                f"CL, got {_show(value)}"
            ) from None
        return code

    @field_validator("notifier_retry_schedule")
    @classmethod
    def _schedule(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        def ok(item: str) -> bool:
            try:
                seconds = float(item)
            except ValueError:
                return False
            return math.isfinite(seconds) and seconds >= 0

        if not value or not all(ok(item) for item in value):
            raise ValueError(
                f"expected comma-separated seconds such as 5,30,120, got {_show(','.join(value))}"
            )
        return value

    @field_validator("notifier_redis_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.:\-]+", value):
            raise ValueError(
                f"expected a non-empty name of letters, digits and _ . : - only, got {_show(value)}"
            )
        return value

    @field_validator("slack_channel_by_popup")
    @classmethod
    def _channel_map(cls, value: str) -> str:
        if value.strip():
            try:
                mapping = json.loads(value)
            except json.JSONDecodeError:
                mapping = None
            if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and k and isinstance(v, str) and v for k, v in mapping.items()
            ):
                raise ValueError(
                    "expected a JSON object of popup UUID to channel such as "
                    f'{{"popup-uuid": "#channel"}}, got {_show(value)}'
                )
        return value

    @field_validator("slack_events", "email_events", "webhook_events", "apprise_events")
    @classmethod
    def _events(cls, value: str) -> str:
        EventFilter.parse(value)
        return value

    @field_validator("apprise_urls")
    @classmethod
    def _apprise_urls(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip():
            # Parsed by Apprise itself (nothing is sent); imported only when configured.
            from notifier.sinks.apprise import parse_targets

            parse_targets(value.get_secret_value())  # its ValueError never shows a token
        return value

    @field_validator("smtp_host")
    @classmethod
    def _smtp_host(cls, value: str) -> str:
        if value and (re.search(r"[\s/]", value) or re.fullmatch(r"[^:]+:\d*", value)):
            raise ValueError(
                f"expected a host name such as smtp.example.com (no scheme; the port goes "
                f"in SMTP_PORT), "
                f"got {_show(value)}"
            )
        return value

    @field_validator("email_from")
    @classmethod
    def _email_from(cls, value: str) -> str:
        if value and "@" not in parseaddr(value)[1]:
            raise ValueError(
                f"expected an email address such as alerts@example.com, got {_show(value)}"
            )
        return value

    @field_validator("email_to")
    @classmethod
    def _email_to(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if "@" not in parseaddr(address)[1]:
                raise ValueError(
                    f"expected comma-separated email addresses, got {_show(','.join(value))}"
                )
        return value

    # Typed views, computed once.

    @cached_property
    def callbacks_enabled(self) -> bool:
        """The callback loop runs when Socket Mode is configured: an app token and a bot token."""
        return bool(
            self.slack_app_token.get_secret_value().strip()
            and self.slack_bot_token.get_secret_value().strip()
        )

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.notifier_timezone)

    @cached_property
    def schedule(self) -> WeeklySchedule:
        return parse_business_hours(self.notifier_business_hours)

    @cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.schedule, self.zone, holiday_checker(self.notifier_holidays))

    @cached_property
    def retry_schedule(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.notifier_retry_schedule)

    @cached_property
    def channel_by_popup(self) -> dict[str, str]:
        raw = self.slack_channel_by_popup.strip()
        return dict(json.loads(raw)) if raw else {}

    @property
    def slack_enabled(self) -> bool:
        """Slack is on with a bot token and a channel (or popup map), or a webhook URL."""
        has_bot = bool(self.slack_bot_token.get_secret_value())
        has_hook = bool(self.slack_webhook_url.get_secret_value())
        return has_hook or (has_bot and bool(self.slack_channel or self.channel_by_popup))

    @property
    def email_enabled(self) -> bool:
        """Email is on when SMTP_HOST and EMAIL_TO are both set."""
        return bool(self.smtp_host and self.email_to)

    @property
    def webhook_enabled(self) -> bool:
        """The outbound webhook is on when WEBHOOK_URL is set."""
        return bool(self.webhook_url.get_secret_value())

    @property
    def apprise_enabled(self) -> bool:
        """The apprise sinks (one per URL) are on when APPRISE_URLS is set."""
        return bool(self.apprise_urls.get_secret_value().strip())

    def cross_check(self) -> None:
        """Rules that span several variables; raises ConfigError naming the variable."""
        if self.slack_bot_token.get_secret_value() and not (
            self.slack_channel or self.channel_by_popup
        ):
            raise ConfigError(
                "SLACK_CHANNEL: required when SLACK_BOT_TOKEN is set "
                "(or set SLACK_CHANNEL_BY_POPUP)"
            )
        if self.slack_app_token.get_secret_value() and not self.slack_bot_token.get_secret_value():
            raise ConfigError(
                "SLACK_APP_TOKEN: needs SLACK_BOT_TOKEN too (buttons are posted and updated "
                "through the Web API)"
            )
        if self.redis_cluster and self.redis_sentinels:
            raise ConfigError(
                "REDIS_SENTINELS: set either REDIS_CLUSTER=true or REDIS_SENTINELS, not both"
            )
        if self.email_enabled and not self.email_from:
            raise ConfigError("EMAIL_FROM: required when SMTP_HOST and EMAIL_TO are set")


_SECRETS = frozenset(
    name for name, info in Settings.model_fields.items() if info.annotation is SecretStr
)
"""Every variable typed SecretStr: tokens, passwords, and URLs that may embed credentials."""


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so the log redactor can hide it wherever it appears."""
    found = []
    for name in sorted(_SECRETS):
        value = getattr(settings, name).get_secret_value().strip()
        # A Redis URL is a secret only when it carries credentials.
        if value and (name != "redis_url" or "@" in value):
            found.append(value)
    return found


def _describe(error: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    variable = field.upper() or "configuration"
    if error["type"] == "missing":
        return f"{variable}: required but not set"
    if error["type"] == "value_error":
        return f"{variable}: {error.get('ctx', {}).get('error', error['msg'])}"
    expected = _EXPECTED.get(field, "a text value")
    got = "" if field in _SECRETS or field not in values else f", got {_show(values[field])}"
    return f"{variable}: expected {expected}{got}"


def _secret_values(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The secret values being loaded (4 characters or more), longest first."""
    found = []
    for field in _SECRETS:
        raw = values.get(field)
        secret = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
        if isinstance(secret, str) and len(secret.strip()) >= 4:
            found.append(secret.strip())
    return tuple(sorted(found, key=len, reverse=True))


PREFIXES = (
    "CLICKFONO_",
    "NOTIFIER_",
    "SLACK_",
    "SMTP_",
    "EMAIL_",
    "WEBHOOK_",
    "APPRISE_",
    "REDIS_",
)
"""An environment variable with one of these prefixes is meant for us."""
# What Kubernetes injects per Service: X_SERVICE_HOST, X_SERVICE_PORT(_NAME), X_PORT
# (=tcp://host:port) and X_PORT_6379_TCP(_PROTO|_PORT|_ADDR). Not any name with "_PORT":
# NOTIFIER_HTTP_PORTT is a typo to name.
_KUBERNETES_SERVICE = re.compile(
    r"_SERVICE_HOST$|_SERVICE_PORT(_\w+)?$|_PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?$"
)
_KUBERNETES_PORT = re.compile(r"(tcp|udp|sctp)://", re.IGNORECASE)


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """One warning per variable that has our prefix but is not ours, naming the closest
    known variable when there is one. Variables Kubernetes injects for Services
    (``REDIS_PORT=tcp://…``, ``*_SERVICE_HOST``, ``*_PORT_*``) are not ours to judge."""
    source = os.environ if env is None else env
    known = sorted(name.upper() for name in Settings.model_fields)
    warnings = []
    for name in sorted(source):
        upper = name.upper()
        if not upper.startswith(PREFIXES) or upper in known:
            continue
        if _KUBERNETES_SERVICE.search(upper) or (
            upper.endswith("_PORT") and _KUBERNETES_PORT.match(source[name])
        ):
            continue
        shown = _show(name, 60).strip("'")
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{shown} is not a known variable{hint}")
    return warnings


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``env`` (default: the process environment) plus overrides.

    Variable names are matched case-insensitively, and surrounding whitespace is
    stripped from values. Raises ConfigError whose message is one line (one
    ``VARIABLE: expected ...`` part per problem, joined by '; '), never a traceback.
    """
    source = os.environ if env is None else env
    values: dict[str, Any] = {
        k.lower(): v.strip() if isinstance(v, str) else v
        for k, v in source.items()
        if k.lower() in Settings.model_fields
    }
    values.update(overrides)
    # A secret pasted into another variable is still never shown in a message.
    hidden = _HIDDEN.set(_secret_values(values))
    try:
        settings = Settings.model_validate(values)
        settings.cross_check()
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e, values) for e in exc.errors())) from None
    finally:
        _HIDDEN.reset(hidden)
    return settings
