"""Prometheus metrics. Every name of ours starts with ``clickfono_``."""

from __future__ import annotations

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# One series per metric: the *_created timestamps only add noise to dashboards.
disable_created_metrics()  # type: ignore[no-untyped-call]

POLLS = Counter("clickfono_polls_total", "Poll cycles by result.", ["result"])
CYCLE_SECONDS = Histogram(
    "clickfono_cycle_duration_seconds",
    "Duration of successful poll cycles.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CALLS_SEEN = Gauge("clickfono_calls_seen", "Calls in the last successful cycle's answers.")
RECORDS_REJECTED = Counter(
    "clickfono_records_rejected_total", "Upstream records skipped because they failed validation."
)
EVENTS = Counter("clickfono_events_total", "Events detected, by type.", ["type"])
DELIVERIES = Counter(
    "clickfono_deliveries_total", "Delivery attempts by sink and result.", ["sink", "result"]
)
OUTBOX_PENDING = Gauge("clickfono_outbox_pending", "Events waiting in the outbox.", ["sink"])
DEAD_LETTERS = Gauge("clickfono_dead_letters", "Events in the dead-letter list.", ["sink"])
LEADER = Gauge("clickfono_leader", "1 while this replica holds the poll lease.")
LAST_SUCCESS = Gauge(
    "clickfono_last_success_timestamp_seconds",
    "Unix time of the last successful cycle seen by this replica.",
)


def render() -> bytes:
    return generate_latest(REGISTRY)
