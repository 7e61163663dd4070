"""The /metrics exposition: business gauges, bounded labels, replacing setters."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from notifier import metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape() -> Samples:
    """Every sample of ours in the rendered exposition, parsed by prometheus_client."""
    samples: Samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name.startswith("clickfono_"):
                samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def series(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric, keyed by their sorted labels."""
    return {labels: value for (n, labels), value in scrape().items() if n == name}


@pytest.fixture(autouse=True)
def clean_business_metrics() -> Iterator[None]:
    """Each test starts and ends with no business series and no readiness binding."""

    def reset() -> None:
        metrics.record_calls_today({})
        metrics.record_open_callbacks({})
        metrics.record_queue_depths({})
        metrics.record_sink_failing({})
        metrics.record_slack_socket(None)
        metrics._ready = None

    reset()
    yield
    reset()


def test_calls_today_replaces_previous_values() -> None:
    """A status that left today's counts stops being exported instead of lingering."""
    metrics.record_calls_today({("Ventas", "En cola"): 2, ("Ventas", "Conectada"): 5})
    metrics.record_calls_today({("Ventas", "Conectada"): 7})
    assert series("clickfono_calls_today") == {
        (("popup", "Ventas"), ("status", "Conectada")): 7.0,
    }


def test_undocumented_statuses_are_summed_as_other() -> None:
    """Statuses Clickfono does not document share one ``other`` series per popup."""
    metrics.record_calls_today(
        {("Ventas", "Raro"): 2, ("Ventas", "Inventado"): 3, ("Ventas", "SPAM"): 1}
    )
    assert series("clickfono_calls_today") == {
        (("popup", "Ventas"), ("status", "other")): 5.0,
        (("popup", "Ventas"), ("status", "SPAM")): 1.0,
    }


def test_many_popups_collapse_the_smallest_into_other() -> None:
    """Past the limit, the biggest popups keep their label and the rest sum to ``other``."""
    limit = metrics.POPUP_LABEL_LIMIT
    counts = {(f"popup-{i:03d}", "Conectada"): i + 1 for i in range(limit + 10)}
    metrics.record_calls_today(counts)
    exported = series("clickfono_calls_today")
    popups = {dict(labels)["popup"] for labels in exported}
    assert len(popups) == limit + 1
    assert "popup-000" not in popups and f"popup-{limit + 9:03d}" in popups
    other = exported[(("popup", "other"), ("status", "Conectada"))]
    assert other == sum(range(1, 11))  # the ten smallest: 1 + … + 10
    assert sum(exported.values()) == sum(counts.values())


def test_popup_label_prefers_name_then_uuid_and_is_bounded() -> None:
    """The popup label is the tidied name, the uuid without one, and never overlong."""
    assert metrics.popup_label("u-1", "  Ventas \n Web ") == "Ventas Web"
    assert metrics.popup_label("u-1", "") == "u-1"
    assert metrics.popup_label(None, None) == "unknown"
    assert len(metrics.popup_label("u", "x" * 500)) == metrics.POPUP_LABEL_MAX_CHARS


def test_hostile_popup_names_survive_the_exposition_format() -> None:
    """Quotes, backslashes and newlines in a popup name are escaped, not injected."""
    name = metrics.popup_label(None, 'Ventas"} 1\nclickfono_leader 9 \\')
    metrics.record_calls_today({(name, "Conectada"): 1})
    assert series("clickfono_calls_today") == {((("popup", name), ("status", "Conectada"))): 1.0}
    assert series("clickfono_leader") != {(): 9.0}


def test_open_callbacks_replace_and_collapse() -> None:
    """Open callbacks per popup replace the previous values and respect the popup limit."""
    metrics.record_open_callbacks({"Ventas": 3, "Soporte": 1})
    metrics.record_open_callbacks({"Ventas": 0})
    assert series("clickfono_open_callbacks") == {(("popup", "Ventas"),): 0.0}
    many = {f"p{i:03d}": 1 for i in range(metrics.POPUP_LABEL_LIMIT + 5)}
    metrics.record_open_callbacks(many)
    exported = series("clickfono_open_callbacks")
    assert exported[(("popup", "other"),)] == 5.0
    assert len(exported) == metrics.POPUP_LABEL_LIMIT + 1


def test_queue_depths_drop_a_sink_that_went_away() -> None:
    """Outbox and dead-letter gauges follow the configured sinks exactly."""
    metrics.record_queue_depths({"webhook": (4, 2), "email": (0, 1)})
    metrics.record_queue_depths({"webhook": (1, 3)})
    assert series("clickfono_dead_letters") == {(("sink", "webhook"),): 3.0}
    assert series("clickfono_outbox_pending") == {(("sink", "webhook"),): 1.0}


def test_declared_sinks_export_zeroes_without_overwriting() -> None:
    """declare_sinks gives a sink zero series but keeps a failing state already set."""
    metrics.record_sink_failing({})  # whatever earlier tests in this process left
    metrics.record_sink_failing({"slack": True})
    metrics.declare_sinks(["slack", "declared-only"])
    assert series("clickfono_sink_failing") == {
        (("sink", "slack"),): 1.0,
        (("sink", "declared-only"),): 0.0,
    }
    delivered = series("clickfono_deliveries_total")
    assert delivered[(("result", "dead_letter"), ("sink", "declared-only"))] == 0.0


def test_source_state_is_one_hot_over_the_episode_states() -> None:
    """The source episode gauge marks exactly the current state, with its failure count."""
    metrics.record_source_state("unauthorized", 4)
    assert series("clickfono_source_state") == {
        (("state", "ok"),): 0.0,
        (("state", "unavailable"),): 0.0,
        (("state", "unauthorized"),): 1.0,
    }
    assert series("clickfono_source_failures") == {(): 4.0}
    metrics.record_source_state("ok", 0)
    assert series("clickfono_source_state")[(("state", "ok"),)] == 1.0
    assert series("clickfono_source_failures") == {(): 0.0}


def test_last_success_age_is_computed_at_scrape_time() -> None:
    """The age gauge is now minus the last success, whoever recorded it."""
    metrics.record_last_success(time.time() - 42)
    [age] = series("clickfono_last_success_age_seconds").values()
    assert 42 <= age < 52
    assert series("clickfono_last_success_timestamp_seconds")[()] > 0


def test_readiness_and_socket_follow_their_sources() -> None:
    """clickfono_ready reads the bound callable per scrape; the socket gauge is optional."""
    assert series("clickfono_ready") == {}
    assert series("clickfono_slack_socket_connected") == {}
    state = {"ready": False}
    metrics.bind_readiness(lambda: state["ready"])
    assert series("clickfono_ready") == {(): 0.0}
    state["ready"] = True
    assert series("clickfono_ready") == {(): 1.0}
    metrics.record_slack_socket(True)
    assert series("clickfono_slack_socket_connected") == {(): 1.0}


def test_every_metric_of_ours_is_named_and_documented() -> None:
    """Each clickfono_ family has help text, and no family of ours lacks the prefix."""
    ours = [
        f
        for f in text_string_to_metric_families(metrics.render().decode())
        if not f.name.startswith(("python_", "process_"))
    ]
    names = {f.name for f in ours}
    assert {
        "clickfono_calls_today",
        "clickfono_open_callbacks",
        "clickfono_dead_letters",
        "clickfono_events",  # the parser drops a counter's _total
        "clickfono_last_success_age_seconds",
        "clickfono_ready",
        "clickfono_sink_failing",
        "clickfono_source_state",
    } <= names
    for family in ours:
        assert family.name.startswith("clickfono_"), family.name
        assert len(family.documentation) > 20, family.name
