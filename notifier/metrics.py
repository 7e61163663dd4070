"""Prometheus metrics. Every name of ours starts with ``clickfono_``.

Two kinds live here: the daemon's own health (polls, cycles, deliveries, the lease) and
the business (today's calls, open callbacks, dead letters). The daemon updates them
through the small setters below; the ``record_*`` setters of labelled gauges *replace*
the previous values, so a label set that disappeared (a sink removed, yesterday's
status) stops being exported instead of lingering at its last value.

Label cardinality is bounded. ``sink``, ``type``, ``result`` and ``state`` take a few
fixed or configured values. ``status`` is one of the statuses Clickfono documents, or
``other`` for any status it invents. ``popup`` is the popup's name (its uuid when it has
no name): accounts have a handful of popups, but when more than ``POPUP_LABEL_LIMIT``
have values, the biggest keep their own series and the rest are summed under
``popup="other"``.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from notifier.clickfono.models import CallStatus

# One series per metric: the *_created timestamps only add noise to dashboards.
disable_created_metrics()  # type: ignore[no-untyped-call]

POPUP_LABEL_LIMIT = 50
"""Most popups with their own ``popup`` label; the rest are summed as ``other``."""
POPUP_LABEL_MAX_CHARS = 60
"""Popup names are cut to this length in labels (they are customer-configured text)."""
OTHER = "other"
KNOWN_STATUSES = frozenset(status.value for status in CallStatus)
SOURCE_STATES = ("ok", "unavailable", "unauthorized")
"""The Clickfono source's episode states, as the cycle records them in Redis meta."""

# Health of the daemon

POLLS = Counter(
    "clickfono_polls_total",
    "Poll cycles this replica ran, by result: ok, unauthorized (token rejected), "
    "unavailable (Clickfono failed), store_error, lease_lost, error (a bug).",
    ["result"],
)
for _result in ("ok", "unauthorized", "unavailable", "store_error", "lease_lost", "error"):
    POLLS.labels(_result)  # every result at 0 from the start, so rate() sees it
CYCLE_SECONDS = Histogram(
    "clickfono_cycle_duration_seconds",
    "Duration of successful poll cycles run by this replica, fetch to commit.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CALLS_SEEN = Gauge("clickfono_calls_seen", "Calls in the last successful cycle's answers.")
RECORDS_REJECTED = Counter(
    "clickfono_records_rejected_total", "Upstream records skipped because they failed validation."
)
EVENTS = Counter(
    "clickfono_events_total", "Events detected by this replica's cycles, by event type.", ["type"]
)
DELIVERIES = Counter(
    "clickfono_deliveries_total",
    "Delivery attempts by this replica, by sink and result: delivered, retrying (failed, "
    "another attempt is scheduled), dead_letter (failed for the last time).",
    ["sink", "result"],
)
OUTBOX_PENDING = Gauge(
    "clickfono_outbox_pending",
    "Events waiting in a sink's outbox, retries included (read from Redis: the same on "
    "every replica).",
    ["sink"],
)
DEAD_LETTERS = Gauge(
    "clickfono_dead_letters",
    "Events in a sink's dead-letter list: they failed every retry (read from Redis: the "
    "same on every replica). Growing means alerts are being lost for that sink.",
    ["sink"],
)
DEAD_LETTERS_DROPPED = Counter(
    "clickfono_dead_letters_dropped_total",
    "Dead letters dropped because they were older than NOTIFIER_DEAD_LETTER_DAYS, per sink.",
    ["sink"],
)
SINK_FAILING = Gauge(
    "clickfono_sink_failing",
    "1 while a sink is in a failing episode (deliveries failing for several minutes, "
    "notifier.sink_failing sent), 0 otherwise.",
    ["sink"],
)
LEADER = Gauge("clickfono_leader", "1 while this replica holds the poll lease, else 0.")
LAST_SUCCESS = Gauge(
    "clickfono_last_success_timestamp_seconds",
    "Unix time of the last successful cycle, by any replica (followers read it from "
    "Redis); 0 until one is known.",
)
POLL_INTERVAL = Gauge(
    "clickfono_poll_interval_seconds",
    "The configured NOTIFIER_POLL_INTERVAL: seconds between cycles, start to start.",
)
SOURCE_STATE = Gauge(
    "clickfono_source_state",
    "Clickfono as a source: 1 for the current episode state (ok; unavailable: failing; "
    "unauthorized: token rejected), 0 for the others. Shared by every replica.",
    ["state"],
)
SOURCE_FAILURES = Gauge(
    "clickfono_source_failures",
    "Consecutive failed cycles of the current source episode (0 when Clickfono answers).",
)

# The business

CALLS_TODAY = Gauge(
    "clickfono_calls_today",
    "Today's calls (local date) by popup and status, as of the last successful cycle "
    "this replica ran; read it from the leader (clickfono_leader == 1). status is "
    "Clickfono's, or other for an undocumented one; more than 50 popups: the smallest "
    "are summed as popup=other.",
    ["popup", "status"],
)
OPEN_CALLBACKS = Gauge(
    "clickfono_open_callbacks",
    "Customers still waiting for a call back today, by popup: unreached and not called "
    "back yet, or with the Slack callback loop, not marked done. popup as in "
    "clickfono_calls_today.",
    ["popup"],
)


# Values computed at scrape time (see _LiveCollector).
_started_at = time.time()
_last_success: float | None = None
_ready: Callable[[], bool] | None = None
_slack_socket: bool | None = None
_replaced: dict[str, set[tuple[str, ...]]] = {}


def popup_label(popup_uuid: str | None, popup_name: str | None) -> str:
    """The ``popup`` label of a call: its popup's name, else its uuid, else ``unknown``."""
    name = " ".join((popup_name or "").split())
    return (name or (popup_uuid or "").strip() or "unknown")[:POPUP_LABEL_MAX_CHARS]


def status_label(status: str) -> str:
    """A documented Clickfono status as is; anything else is ``other``."""
    return status if status in KNOWN_STATUSES else OTHER


def _kept_popups(totals: Mapping[str, float]) -> set[str]:
    """The popups that keep their own label: the biggest ``POPUP_LABEL_LIMIT``."""
    if len(totals) <= POPUP_LABEL_LIMIT:
        return set(totals)
    ranked = sorted(totals, key=lambda popup: (-totals[popup], popup))
    return set(ranked[:POPUP_LABEL_LIMIT])


def _replace(gauge: Gauge, name: str, values: Mapping[tuple[str, ...], float]) -> None:
    """Set ``values`` on a labelled gauge and drop the label sets it no longer has."""
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
    for labels in _replaced.get(name, set()) - set(values):
        gauge.remove(*labels)
    _replaced[name] = set(values)


def record_calls_today(counts: Mapping[tuple[str, str], int]) -> None:
    """Replace ``clickfono_calls_today`` with ``counts``: (popup label, status) -> calls.

    Statuses Clickfono does not document become ``other``; past ``POPUP_LABEL_LIMIT``
    popups, the smallest are summed as ``popup="other"``. Call it after each successful
    cycle with the counts of today's whole list (``daily.DailySummaries.record_gauges``
    builds them from the answers' tallies, notifier/tally.py)."""
    totals: Tally[str] = Tally()
    for (popup, _), count in counts.items():
        totals[popup] += count
    kept = _kept_popups(totals)
    values: Tally[tuple[str, ...]] = Tally()
    for (popup, status), count in counts.items():
        values[popup if popup in kept else OTHER, status_label(status)] += count
    _replace(CALLS_TODAY, "calls_today", values)


def record_open_callbacks(counts: Mapping[str, int]) -> None:
    """Replace ``clickfono_open_callbacks`` with ``counts``: popup label -> open callbacks.

    A popup with no open callback should be given as 0 rather than left out, so its
    series reads 0 instead of disappearing."""
    kept = _kept_popups(counts)
    values: Tally[tuple[str, ...]] = Tally()
    for popup, count in counts.items():
        values[(popup if popup in kept else OTHER,)] += count
    _replace(OPEN_CALLBACKS, "open_callbacks", values)


def count_deliveries(sink: str, result: str, count: int) -> None:
    """``count`` delivery attempts of ``sink`` ended in ``result`` (a DeliveryWorker's hook)."""
    DELIVERIES.labels(sink, result).inc(count)


def record_queue_depths(depths: Mapping[str, tuple[int, int]]) -> None:
    """Replace the outbox and dead-letter gauges: sink -> (pending, dead letters)."""
    _replace(OUTBOX_PENDING, "outbox_pending", {(s,): p for s, (p, _) in depths.items()})
    _replace(DEAD_LETTERS, "dead_letters", {(s,): d for s, (_, d) in depths.items()})


def record_sink_failing(states: Mapping[str, bool]) -> None:
    """Replace ``clickfono_sink_failing``: sink -> whether it is in a failing episode."""
    _replace(SINK_FAILING, "sink_failing", {(s,): float(f) for s, f in states.items()})


def declare_sinks(names: Iterable[str]) -> None:
    """Give every configured sink its series at 0 where it has none yet, so dashboards
    and ``rate()`` see a sink before its first delivery, failure or dead letter."""
    for name in names:
        for result in ("delivered", "retrying", "dead_letter"):
            DELIVERIES.labels(name, result)
        for gauge, key in ((SINK_FAILING, "sink_failing"), (DEAD_LETTERS, "dead_letters")):
            gauge.labels(name)
            _replaced.setdefault(key, set()).add((name,))


def record_source_state(state: str, failures: int) -> None:
    """Set the source episode gauges: ``ok``, ``unavailable`` or ``unauthorized``, and the
    failed cycles of the current episode."""
    for known in SOURCE_STATES:
        SOURCE_STATE.labels(known).set(1 if state == known else 0)
    SOURCE_FAILURES.set(failures if state != "ok" else 0)


def record_last_success(timestamp: float) -> None:
    """A cycle (this replica's, or the leader's read from Redis) succeeded at ``timestamp``."""
    global _last_success
    _last_success = timestamp
    LAST_SUCCESS.set(timestamp)


def record_poll_interval(seconds: float) -> None:
    POLL_INTERVAL.set(seconds)


def bind_readiness(ready: Callable[[], bool]) -> None:
    """``clickfono_ready`` is ``ready()`` at each scrape (what /readyz answers)."""
    global _ready
    _ready = ready


def record_slack_socket(connected: bool | None) -> None:
    """Socket Mode connection state; None (not configured) exports no sample."""
    global _slack_socket
    _slack_socket = connected


class _LiveCollector:
    """Gauges computed when scraped, so they are right even if the loop is stuck."""

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        age = GaugeMetricFamily(
            "clickfono_last_success_age_seconds",
            "Seconds since the last successful cycle by any replica; since this process "
            "started while it knows of none. Compare with 3 * clickfono_poll_interval_seconds.",
        )
        since = _last_success if _last_success is not None else _started_at
        age.add_metric([], max(0.0, now - since))
        yield age
        ready = GaugeMetricFamily(
            "clickfono_ready",
            "1 while /readyz answers 200 (a recent successful cycle, Redis answering, "
            "the token accepted), else 0. Only `run` exports it.",
        )
        if _ready is not None:
            ready.add_metric([], 1.0 if _ready() else 0.0)
        yield ready
        socket = GaugeMetricFamily(
            "clickfono_slack_socket_connected",
            "1 while this replica's Slack Socket Mode connection is open, 0 while it is "
            "down (alerts are still posted); no sample without SLACK_APP_TOKEN.",
        )
        if _slack_socket is not None:
            socket.add_metric([], 1.0 if _slack_socket else 0.0)
        yield socket


REGISTRY.register(_LiveCollector())


def render() -> bytes:
    return generate_latest(REGISTRY)
