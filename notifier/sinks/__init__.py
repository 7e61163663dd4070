"""The sink registry: one module per sink behind the Protocol in ``base``.

Adding a sink is one module and one ``SinkSpec`` line in ``SINKS``: its name (the
outbox key), when the settings enable it, the variable holding its event filter, the
variables that enable it (for the "no sink" error) and where its class lives. The
module is imported only when the sink is enabled, so a library that only one sink
needs (slack-sdk, aiosmtplib, apprise) is never loaded otherwise.

A spec with ``many`` builds several sinks, one per destination, each named
``<name>-<suffix>`` with its own outbox, retries and dead letters: ``apprise`` makes one
sink per URL of ``APPRISE_URLS``, because Apprise answers one outcome for all its URLs
and a retry must go only to the URL that failed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from notifier.config import EventFilter, Settings

if TYPE_CHECKING:
    from notifier.sinks.base import Sink, SlackState


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """How one kind of sink is found, enabled, filtered and built."""

    name: str
    """The sink's name: outbox keys, metrics labels and dead letters use it."""
    target: str
    """``module:Class``; the class takes the settings (and the shared state when
    ``with_state``)."""
    enabled: Callable[[Settings], bool]
    events_variable: str | None
    """The Settings field of its ``*_EVENTS`` filter; None receives every event."""
    enabled_by: str
    """The variables that turn it on, for messages."""
    with_state: bool = False
    """Its class also takes the store's SlackState (threads, pacing, message updates)."""
    many: bool = False
    """``target`` is a ``module:function`` of the settings that returns several sinks, each
    named ``<name>-<suffix>``."""

    def build(self, settings: Settings, state: SlackState) -> list[Sink]:
        module_name, _, class_name = self.target.partition(":")
        cls: Any = getattr(importlib.import_module(module_name), class_name)
        if self.many:
            return list(cls(settings))
        sink: Sink = cls(settings, state) if self.with_state else cls(settings)
        return [sink]

    def owns(self, sink_name: str) -> bool:
        """True for this spec's sink, or one of its sinks when ``many``."""
        return sink_name == self.name or (self.many and sink_name.startswith(self.name + "-"))

    def event_filter(self, settings: Settings) -> EventFilter:
        if self.events_variable is None:
            return EventFilter(("*",))
        return EventFilter.parse(str(getattr(settings, self.events_variable)))


SINKS: tuple[SinkSpec, ...] = (
    SinkSpec(
        "console",
        "notifier.sinks.console:ConsoleSink",
        lambda s: s.notifier_console,
        None,
        "NOTIFIER_CONSOLE=true",
    ),
    SinkSpec(
        "slack",
        "notifier.sinks.slack:SlackSink",
        lambda s: s.slack_enabled,
        "slack_events",
        "SLACK_BOT_TOKEN with SLACK_CHANNEL, or SLACK_WEBHOOK_URL",
        with_state=True,
    ),
    SinkSpec(
        "email",
        "notifier.sinks.email:EmailSink",
        lambda s: s.email_enabled,
        "email_events",
        "SMTP_HOST with EMAIL_TO",
    ),
    SinkSpec(
        "webhook",
        "notifier.sinks.webhook:WebhookSink",
        lambda s: s.webhook_enabled,
        "webhook_events",
        "WEBHOOK_URL",
    ),
    SinkSpec(
        "apprise",
        "notifier.sinks.apprise:build_apprise_sinks",
        lambda s: s.apprise_enabled,
        "apprise_events",
        "APPRISE_URLS",
        many=True,
    ),
)
"""Every sink, in the order they are built (console first)."""


def spec(name: str) -> SinkSpec | None:
    return next((s for s in SINKS if s.owns(name)), None)


CALLBACKS_OUTBOX = "callbacks"
"""The outbox of the callback loop's own bookkeeping (notifier.callbacks.CallbackBook): not
a sink anyone configures, but its dead letters are listed and replayed like any other."""


def sink_names(settings: Settings | None = None) -> tuple[str, ...]:
    """Every registered sink's name (dead letters are listed across all of them), plus,
    with ``settings``, the names of the configured sinks of ``many`` specs, and the
    callback loop's outbox."""
    names = [s.name for s in SINKS]
    names.append(CALLBACKS_OUTBOX)
    if settings is not None and settings.apprise_enabled:
        from notifier.sinks.apprise import parse_targets

        names += [t.name for t in parse_targets(settings.apprise_urls.get_secret_value())]
    return tuple(names)


def enabled_specs(settings: Settings) -> list[SinkSpec]:
    return [s for s in SINKS if s.enabled(settings)]


def how_to_enable() -> str:
    """``SLACK_BOT_TOKEN with SLACK_CHANNEL, or …``: what turns any sink on."""
    return "; ".join(s.enabled_by for s in SINKS)


def build_sinks(settings: Settings, state: SlackState) -> list[Sink]:
    """The sinks that the settings enable, in registry order."""
    return [sink for s in enabled_specs(settings) for sink in s.build(settings, state)]


def sink_filter(settings: Settings, name: str) -> EventFilter:
    """The event filter of the sink called ``name``; an unregistered sink receives all."""
    found = spec(name)
    return EventFilter(("*",)) if found is None else found.event_filter(settings)


def sink_filters(settings: Settings, sinks: list[Sink]) -> dict[str, EventFilter]:
    """Each built sink's event filter; an internal consumer (the callback book) names its
    own patterns."""
    return {
        s.name: EventFilter(tuple(patterns))
        if (patterns := getattr(s, "event_patterns", None))
        else sink_filter(settings, s.name)
        for s in sinks
    }
