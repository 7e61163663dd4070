"""One module per sink behind the Protocol in ``base``; ``build_sinks`` picks the enabled ones."""

from __future__ import annotations

from notifier.config import EventFilter, Settings
from notifier.sinks.base import Sink, SlackState


def build_sinks(settings: Settings, state: SlackState) -> list[Sink]:
    """The sinks that the settings enable, console first."""
    sinks: list[Sink] = []
    if settings.notifier_console:
        from notifier.sinks.console import ConsoleSink

        sinks.append(ConsoleSink(settings))
    if settings.slack_enabled:
        from notifier.sinks.slack import SlackSink

        sinks.append(SlackSink(settings, state))
    if settings.email_enabled:
        from notifier.sinks.email import EmailSink

        sinks.append(EmailSink(settings))
    if settings.webhook_enabled:
        from notifier.sinks.webhook import WebhookSink

        sinks.append(WebhookSink(settings))
    return sinks


def sink_filters(settings: Settings, sinks: list[Sink]) -> dict[str, EventFilter]:
    """Each enabled sink's event filter; the console shows every event."""
    return {
        s.name: EventFilter(("*",)) if s.name == "console" else settings.event_filter(s.name)
        for s in sinks
    }
