"""Apprise sink: Microsoft Teams workflows, Telegram, Google Chat, Discord, ntfy and more.

Imported only when ``APPRISE_URLS`` is set, so the apprise package (and its plugins) is
loaded only by deployments that use it.

One sink per URL. Apprise's ``notify()`` answers one outcome for all the URLs of an
``Apprise`` object, and the outbox keeps delivery state per sink: so every URL of
``APPRISE_URLS`` becomes its own sink, named ``apprise-<scheme>-<id>`` where ``<id>`` is
8 hex characters of the URL's SHA-256 (our own, so an Apprise upgrade never renames a
sink and strands its queue). Each has its
own outbox, retries and dead letters: a retry goes only to the URL that failed, and a
URL that works never gets a duplicate. The name is stable when the list is reordered or
a URL is added, so queued events stay with their destination; a URL whose token changes
is a new destination (its predecessor's queue stays under the old name).

Apprise's plugins block (requests, sockets), so each ``notify()`` runs in a thread of a
small pool shared by all the apprise sinks (``CONCURRENCY`` threads), never on the event
loop. One URL gets its events one at a time, in detection order, so a chat reads in the
order things happened; several URLs are served concurrently. A batch with more than
``STORM_THRESHOLD`` call alerts and changes sends them as one digest message (reports,
operational and callback events are still sent one by one).

Titles and bodies reuse ``messages.py`` (Spanish or English), written in Markdown:
Apprise converts it to each service's own format (HTML, Markdown or plain text).
Customer text is escaped so it can neither format, link nor mention (``@everyone``).

The URLs carry tokens. They never appear in a message, an error or ``check``: a URL is
shown as its scheme, the service's name and, when it is a host name, its host
(``json://127.0.0.1:8080``, ``tgram:// (Telegram)``). Apprise's own log lines can
contain URLs, so the ``apprise`` logger does not propagate to ours; our errors are built
from the outcome only (``HTTP 500``, timeout, failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import apprise

from notifier import events as ev
from notifier import messages, summary_text
from notifier.errors import ConfigError, SinkError
from notifier.events import Event
from notifier.logs import register_secrets
from notifier.messages import Digest, Message, Wording
from notifier.sinks.base import CheckResult, OnOutcome

if TYPE_CHECKING:
    from notifier.config import Settings

__all__ = [
    "CONCURRENCY",
    "STORM_THRESHOLD",
    "AppriseSink",
    "AppriseTarget",
    "build_apprise_sinks",
    "parse_targets",
]

CONCURRENCY = 4
"""Threads running Apprise plugins at once, shared by every apprise sink."""
TIMEOUT = 30.0
"""Seconds one notification may take, retries inside Apprise excluded (there are none)."""
STORM_THRESHOLD = 20
"""More call events than this in one batch are sent as one digest message."""

_HOSTNAME = re.compile(
    r"(?i)^(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"[a-z]{2,63})$"
)
_HTTP_STATUS = re.compile(r"error=(\d{3})\b")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
_NOTIFY_TYPE = {
    "alert": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
    "ok": apprise.NotifyType.SUCCESS,
}
_MIN_SECRET_PART = 12
"""URL parts this long (path segments, query values, user info) are registered as secrets."""


def _quiet_apprise_logger() -> None:
    """Apprise logs URLs (tokens included) at debug and some warnings: keep them out."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


_quiet_apprise_logger()


def _asset() -> apprise.AppriseAsset:
    # Memory only: no persistent store on disk; plugins run in our threads, not Apprise's.
    return apprise.AppriseAsset(
        app_id="clickfono-notifier",
        app_desc="Clickfono notifier",
        async_mode=False,
        storage_mode="memory",
        secure_logging=True,
    )


@dataclass(frozen=True, slots=True)
class AppriseTarget:
    """One Apprise URL of ``APPRISE_URLS``: the secret URL and what may be shown of it."""

    position: int
    """1-based position in ``APPRISE_URLS``."""
    url: str
    scheme: str
    service: str
    shown: str
    """Scheme, service and (when a host name) host: never a token."""
    key: str
    """8 hex characters of Apprise's identity hash of the URL."""

    @property
    def name(self) -> str:
        return f"apprise-{self.scheme}-{self.key}"

    def secrets(self) -> list[str]:
        """The URL and its long parts, for the log redactor."""
        parts = urlsplit(self.url)
        found = [self.url]
        pieces = [parts.netloc.rpartition("@")[0], *parts.path.split("/")]
        pieces += [v for item in parts.query.split("&") for v in item.split("=")[1:]]
        if not _HOSTNAME.match(parts.hostname or ""):
            pieces.append(parts.netloc.rpartition("@")[2])
        for piece in pieces:
            for value in {piece, unquote(piece)}:
                if len(value) >= _MIN_SECRET_PART:
                    found.append(value)
        return found


def _scheme(url: str) -> str:
    scheme = url.partition("://")[0].lower()
    return scheme if re.fullmatch(r"[a-z][a-z0-9+.\-]{0,31}", scheme) else "?"


def _shown(url: str, scheme: str, service: str) -> str:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        host, port = "", None
    if _HOSTNAME.match(host):
        return f"{scheme}://{host}" + (f":{port}" if port else "")
    return f"{scheme}:// ({service})"


def _parse_one(position: int, url: str) -> AppriseTarget | None:
    plugin = apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)
    if plugin is None:
        return None
    scheme = _scheme(url)
    service = str(plugin.service_name or scheme)
    # Our own hash names the sink (and so its outbox and dead letters): Apprise's url_id()
    # could change with an upgrade and strand what is queued under the old name.
    identity = hashlib.sha256(url.encode()).hexdigest()
    return AppriseTarget(position, url, scheme, service, _shown(url, scheme, service), identity[:8])


def split_urls(text: str) -> list[str]:
    """The URLs of ``APPRISE_URLS``: comma-separated, blanks ignored."""
    return [u.strip() for u in text.split(",") if u.strip()]


def parse_targets(text: str) -> list[AppriseTarget]:
    """Parse ``APPRISE_URLS`` with Apprise itself (nothing is sent).

    Raises ValueError naming the positions and schemes of the URLs that do not parse
    (never their tokens). A URL listed twice is one target.
    """
    targets: list[AppriseTarget] = []
    bad: list[str] = []
    seen: set[str] = set()
    for position, url in enumerate(split_urls(text), start=1):
        target = _parse_one(position, url)
        if target is None:
            bad.append(f"#{position} ({_scheme(url)}://…)")
        elif target.name not in seen:
            seen.add(target.name)
            targets.append(target)
    if bad:
        hint = ""
        if any(b.endswith("(msteams://…)") for b in bad):
            hint = "; Teams connectors (msteams://) are retired: use a workflows:// URL"
        which = f"URL {bad[0]} is not a valid Apprise URL"
        if len(bad) > 1:
            which = f"URLs {', '.join(bad)} are not valid Apprise URLs"
        raise ValueError(f"{which} (unknown scheme or missing token; values hidden){hint}")
    return targets


def escape_markdown(text: str) -> str:
    """Customer text made inert in Markdown: one line, no formatting, links or mentions."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat).replace("@", "@\u200b")


def render_message(message: Message) -> tuple[str, str]:
    """Title and Markdown body of one event."""
    e = escape_markdown
    lines = [f"- **{e(label)}:** {e(value)}" for label, value in message.facts]
    lines += ["", f"**{e(message.action_label)}:** {e(message.action)}"]
    lines += [f"\n_{e(note)}_" for note in message.notes]
    lines += ["", e(message.reference)]
    return e(message.title), "\n".join(lines)  # a title can carry Clickfono's status


def render_summary(event: Event, wording: Wording) -> tuple[str, str]:
    """Title and Markdown body of a daily summary (``report.daily_summary``)."""
    e = escape_markdown
    text = summary_text.render(summary_text.summaries_of([event])[0], wording, event.id)
    lines = [f"_{e(text.day)}_", ""]
    lines += [f"- **{e(label)}:** {e(value)}" for label, value in text.facts]
    if text.statuses:
        lines += ["", f"**{e(text.statuses_label)}**"]
        lines += [f"- {e(status)}: {n}" for status, n in text.statuses]
    lines += ["", f"**{e(text.waiting_label)}**"]
    lines += [f"- {e(line)}" for line in text.waiting_lines()]
    lines += [f"\n_{e(note)}_" for note in (text.more, text.late) if note]
    lines += ["", e(text.reference)]
    return e(text.title), "\n".join(lines)


def render_digest(digest: Digest) -> tuple[str, str]:
    """Title and Markdown body of a digest (a storm of events in one message)."""
    e = escape_markdown
    lines = [f"- {n} {e(kind)}" for kind, n in digest.counts]
    lines += ["", f"**{e(digest.sample_label)}**"]
    lines += [f"- {e(line)}" for line in digest.sample]
    if digest.more:
        lines += ["", e(digest.more)]
    lines += ["", f"_{e(digest.note)}_"]
    return digest.title, "\n".join(lines)


def _digestible(event: Event) -> bool:
    """Call alerts and changes may be folded into a storm digest; nothing else is."""
    known = ev.describe(event.type)
    return known is not None and known.kind in (ev.Kind.CALL_ALERT, ev.Kind.CALL_CHANGE)


class _Pool:
    """The bounded thread pool shared by the apprise sinks of one process."""

    _lock = threading.Lock()
    _executor: ThreadPoolExecutor | None = None
    _users = 0

    @classmethod
    def acquire(cls) -> ThreadPoolExecutor:
        with cls._lock:
            if cls._executor is None:
                cls._executor = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="apprise")
            cls._users += 1
            return cls._executor

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users <= 0 and cls._executor is not None:
                cls._executor.shutdown(wait=False, cancel_futures=True)
                cls._executor, cls._users = None, 0


class AppriseSink:
    """One Apprise URL as a sink (see the module docstring)."""

    batch_size = 1000
    """Storms fold into one digest message per URL: take a whole cycle at once."""

    events_variable = "apprise"
    """Whose ``*_EVENTS`` filter applies: ``APPRISE_EVENTS``."""

    def __init__(
        self, target: AppriseTarget, wording: Wording, *, timeout: float = TIMEOUT
    ) -> None:
        self.target = target
        self.name = target.name
        self._wording = wording
        self._timeout = timeout
        self._client = apprise.Apprise(asset=_asset())
        if not self._client.add(target.url):
            raise ConfigError(f"APPRISE_URLS: URL #{target.position} is not a valid Apprise URL")
        register_secrets(target.secrets())
        self._lock = asyncio.Lock()  # one notification at a time per URL, in order
        self._executor = _Pool.acquire()
        self._closed = False

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        """One outcome per event, in order: None when Apprise reported success."""

        async def ignore(index: int, outcome: SinkError | None) -> None:
            return None

        return await self.send_each(events, ignore)

    async def send_each(
        self, events: Sequence[Event], on_outcome: OnOutcome
    ) -> list[SinkError | None]:
        """``send`` that awaits ``on_outcome(index, outcome)`` as each event is settled."""
        if not events:
            return []
        outcomes: list[SinkError | None] = [None] * len(events)
        async with self._lock:
            # A storm of call events is one digest; reports, operational and callback
            # events are still sent one by one, each with its own outcome.
            storm = [i for i, e in enumerate(events) if _digestible(e)]
            if len(storm) <= STORM_THRESHOLD:
                storm = []
            else:
                digest = messages.digest([events[i] for i in storm], self._wording)
                title, body = render_digest(digest)
                outcome = await self._notify(title, body, "alert")
                for index in storm:
                    outcomes[index] = outcome
                    await on_outcome(index, outcome)
            digested = set(storm)
            for index, event in enumerate(events):
                if index in digested:
                    continue
                if summary_text.is_report(event):  # the daily summary: its own wording
                    title, body = render_summary(event, self._wording)
                    severity = "info"
                else:
                    message = messages.render(event, self._wording)
                    title, body = render_message(message)
                    severity = message.severity
                outcome = await self._notify(title, body, severity)
                outcomes[index] = outcome
                await on_outcome(index, outcome)
            return outcomes

    async def check(self) -> CheckResult:
        """Parse the URL with Apprise again (nothing is sent) and show it without tokens."""
        plugin = apprise.Apprise.instantiate(self.target.url, asset=_asset())
        if plugin is None:
            return CheckResult(self.name, False, f"{self.target.shown}: does not parse")
        return CheckResult(
            self.name,
            True,
            f"{self.target.shown}: parses as {self.target.service} (APPRISE_URLS "
            f"#{self.target.position}; nothing sent)",
        )

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            _Pool.release()

    async def _notify(self, title: str, body: str, severity: str) -> SinkError | None:
        loop = asyncio.get_running_loop()
        shown = self.target.shown
        try:
            async with asyncio.timeout(self._timeout + 5):
                result = await loop.run_in_executor(
                    self._executor, self._notify_blocking, title, body, severity
                )
        except TimeoutError:
            return SinkError(f"apprise {shown} timed out after {self._timeout:g}s")
        except Exception as exc:  # never raise for a delivery failure; never the URL
            return SinkError(f"apprise {shown} failed: {type(exc).__name__}")
        return None if result is None else SinkError(f"apprise {shown} {result}")

    def _notify_blocking(self, title: str, body: str, severity: str) -> str | None:
        """Runs in a pool thread: None on success, else what went wrong (no URL)."""
        result: Any = self._client.notify(
            body=body,
            title=title,
            notify_type=_NOTIFY_TYPE.get(severity, apprise.NotifyType.INFO),
            body_format=apprise.NotifyFormat.MARKDOWN,
            timeout=self._timeout,
        )
        if bool(result):
            return None
        status = getattr(result, "status", None)
        if status == apprise.AppriseResultStatus.TIMEOUT:
            return f"timed out after {self._timeout:g}s"
        for entry in result.logs() if hasattr(result, "logs") else ():
            match = _HTTP_STATUS.search(str(getattr(entry, "message", "")))
            if match:
                return f"answered HTTP {match.group(1)}"
        return "was not delivered (no answer, refused or rejected)"


def build_apprise_sinks(settings: Settings) -> list[AppriseSink]:
    """One sink per URL of ``APPRISE_URLS`` (none when it is empty)."""
    text = settings.apprise_urls.get_secret_value()
    try:
        targets = parse_targets(text)
    except ValueError as exc:
        raise ConfigError(f"APPRISE_URLS: {exc}") from None
    wording = Wording.from_settings(settings)
    return [AppriseSink(target, wording) for target in targets]
