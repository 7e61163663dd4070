"""Settings: the only module that reads environment variables."""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from notifier.errors import ConfigError
from notifier.hours import BusinessCalendar, WeeklySchedule, holiday_checker, parse_business_hours

ALERT_EVENTS = (
    "call.spam,call.attempts_exhausted,call.outside_business_hours,call.queued_too_long"
)
EVENT_TYPES = (
    "call.created",
    "call.status_changed",
    "call.spam",
    "call.attempts_exhausted",
    "call.outside_business_hours",
    "call.queued_too_long",
    "notifier.source_unauthorized",
    "notifier.source_unavailable",
    "notifier.source_recovered",
)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Event-type patterns of one sink: exact names, ``*`` or globs such as ``call.*``."""

    patterns: tuple[str, ...]

    def admits(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, p) for p in self.patterns)

    @classmethod
    def parse(cls, text: str) -> EventFilter:
        patterns = tuple(p.strip() for p in text.split(",") if p.strip())
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(t, pattern) for t in EVENT_TYPES):
                raise ValueError(f"'{pattern}' matches no event type")
        return cls(patterns)


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


CsvList = Annotated[tuple[str, ...], NoDecode]
PositiveSeconds = Annotated[float, Field(gt=0)]

# What each variable expects, for one-line errors; fields not listed use pydantic's words.
_EXPECTED: dict[str, str] = {
    "clickfono_timeout": "a positive number of seconds",
    "notifier_poll_interval": "a positive number",
    "notifier_rollover_grace": "a whole number of minutes, 0 or more",
    "notifier_queue_alert_minutes": "a number of minutes, 0 or more",
    "notifier_baseline": "'silent' or 'notify'",
    "notifier_language": "'es' or 'en'",
    "notifier_mask_pii": "true or false",
    "notifier_console": "true or false",
    "notifier_http_port": "a port number from 0 to 65535",
    "notifier_state_ttl_days": "a whole number of days, 1 or more",
    "slack_storm_threshold": "a whole number, 1 or more",
    "smtp_port": "a port number from 1 to 65535",
    "smtp_security": "'starttls', 'tls' or 'none'",
    "log_level": "one of debug, info, warning, error",
    "log_format": "'json' or 'console'",
    "notifier_lease_ttl": "a positive number of seconds",
    "notifier_claim_timeout": "a positive number of seconds",
    "notifier_webhook_concurrency": "a whole number, 1 or more",
    "notifier_unavailable_cycles": "a whole number, 1 or more",
}
_SECRETS = {"clickfono_token", "slack_bot_token", "slack_webhook_url", "smtp_password",
            "webhook_secret", "webhook_url", "redis_url"}


class Settings(BaseSettings):
    """Every variable of SPEC.md, typed and validated. Field name = variable name."""

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
    notifier_queue_alert_minutes: Annotated[float, Field(ge=0)] = 15
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
    slack_events: str = ALERT_EVENTS
    slack_storm_threshold: Annotated[int, Field(ge=1)] = 20

    smtp_host: str = ""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    email_from: str = ""
    email_to: CsvList = ()
    email_events: str = ALERT_EVENTS

    webhook_url: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    webhook_events: str = "*"

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    # Extensions beyond SPEC.md's table (documented in the README).
    notifier_lease_ttl: PositiveSeconds = 15.0
    notifier_claim_timeout: PositiveSeconds = 120.0
    notifier_webhook_concurrency: Annotated[int, Field(ge=1)] = 16
    notifier_unavailable_cycles: Annotated[int, Field(ge=1)] = 3

    _csv = field_validator("clickfono_popup_uuids", "email_to", "notifier_retry_schedule",
                           mode="before")(_split_csv)

    @field_validator("log_level", "log_format", "notifier_baseline", "notifier_language",
                     "smtp_security", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("clickfono_token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("required, and must not be empty")
        return value

    @field_validator("clickfono_base_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http(s) URL, got '{value}'")
        return value

    @field_validator("webhook_url", "slack_webhook_url")
    @classmethod
    def _secret_http_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if text:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("expected an http(s) URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        if urlsplit(value.get_secret_value()).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("notifier_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as America/Santiago, "
                             f"got '{value}'") from None
        return value

    @field_validator("notifier_business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_business_hours(value)
        return value

    @field_validator("notifier_holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        value = value.strip().upper()
        if value:
            import holidays

            if value not in holidays.list_supported_countries():
                raise ValueError(f"expected an ISO country code such as CL, got '{value}'")
        return value

    @field_validator("notifier_retry_schedule")
    @classmethod
    def _schedule(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ok = float(item) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"expected comma-separated seconds such as 5,30,120, "
                                 f"got '{','.join(value)}'")
        return value

    @field_validator("notifier_redis_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.:\-]+", value):
            raise ValueError(f"expected letters, digits and _.:- only, got '{value}'")
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
                isinstance(k, str) and isinstance(v, str) and v for k, v in mapping.items()
            ):
                raise ValueError('expected a JSON object such as {"popup-uuid": "#channel"}')
        return value

    @field_validator("slack_events", "email_events", "webhook_events")
    @classmethod
    def _events(cls, value: str) -> str:
        EventFilter.parse(value)
        return value

    # Typed views, computed once.

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

    def event_filter(self, sink: str) -> EventFilter:
        text = {"slack": self.slack_events, "email": self.email_events,
                "webhook": self.webhook_events}.get(sink, "*")
        return EventFilter.parse(text)

    @property
    def slack_enabled(self) -> bool:
        has_bot = bool(self.slack_bot_token.get_secret_value())
        has_hook = bool(self.slack_webhook_url.get_secret_value())
        return has_hook or (has_bot and bool(self.slack_channel or self.channel_by_popup))

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.email_to)

    @property
    def webhook_enabled(self) -> bool:
        return bool(self.webhook_url.get_secret_value())

    def cross_check(self) -> None:
        """Rules that span several variables; raises ConfigError naming the variable."""
        if self.slack_bot_token.get_secret_value() and not (
            self.slack_channel or self.channel_by_popup
        ):
            raise ConfigError("SLACK_CHANNEL: required when SLACK_BOT_TOKEN is set")
        if self.email_enabled and not self.email_from:
            raise ConfigError("EMAIL_FROM: required when SMTP_HOST and EMAIL_TO are set")
        if self.notifier_lease_ttl < 3:
            raise ConfigError("NOTIFIER_LEASE_TTL: expected at least 3 seconds")


def _describe(error: Mapping[str, Any], env: Mapping[str, str]) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "configuration"
    variable = field.upper()
    if error["type"] == "missing":
        return f"{variable}: required but not set"
    raw = next((v for k, v in env.items() if k.upper() == variable), None)
    got = "" if field in _SECRETS or raw is None else f", got '{raw}'"
    if error["type"] == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        return f"{variable}: {message}" + ("" if "got '" in message else got)
    expected = _EXPECTED.get(field)
    if expected:
        return f"{variable}: expected {expected}{got}"
    return f"{variable}: {error['msg']}{got}"


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``env`` (default: the process environment) plus overrides.

    Raises ConfigError with one line per problem, joined by '; ', never a traceback.
    """
    source = dict(os.environ if env is None else env)
    values: dict[str, Any] = {
        k.lower(): v for k, v in source.items() if k.lower() in Settings.model_fields
    }
    values.update(overrides)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e, source) for e in exc.errors())) from None
    settings.cross_check()
    return settings
