"""deploy/prometheus and deploy/grafana agree with promtool, each other and a real /metrics.

``python -m tests.test_monitoring_deploy --write`` regenerates
deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/rules.yml.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from notifier import metrics
from notifier.clickfono.simulator import Simulator, make_record
from tests.support.process import NotifierProcess
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULES_TESTS = ROOT / "deploy" / "prometheus" / "rules.test.yml"
PROMETHEUS_RULE = ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "clickfono-notifier.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
OUR_METRIC = re.compile(r"\bclickfono_[a-zA-Z0-9_]+")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$popup": ".*"}
SANTIAGO = ZoneInfo("America/Santiago")
PROMETHEUS_RULE_HEADER = """\
# The alert rules of deploy/prometheus/rules.yml as a PrometheusRule for the Prometheus
# Operator (kube-prometheus-stack). Generated: edit rules.yml, then run
#   python -m tests.test_monitoring_deploy --write
# Not in kustomization.yaml, because it needs the Operator's CRD:
#   kubectl apply -f deploy/kubernetes/prometheusrule.yaml
# The Operator only loads rules its ruleSelector matches: with kube-prometheus-stack,
# add the label `release: <your Helm release>` (or set ruleSelectorNilUsesHelmValues
# to false).
"""


def promtool() -> str:
    """The promtool binary, or a skip that says how to get it."""
    found = shutil.which("promtool") or shutil.which(
        "promtool", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.skip(
            "promtool is not installed: `make test` puts it in .venv/bin from Debian's "
            "prometheus package (needs apt-get), or install that package"
        )
    return found


def run_promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return loaded


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rules()["groups"] for rule in group["rules"] if "alert" in rule]


def prometheus_rule() -> dict[str, Any]:
    """The PrometheusRule that carries rules.yml's groups unchanged."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "clickfono-notifier",
            "labels": {
                "app.kubernetes.io/name": "clickfono-notifier",
                "app.kubernetes.io/component": "alerts",
            },
        },
        "spec": {"groups": rules()["groups"]},
    }


def render_prometheus_rule() -> str:
    body = yaml.safe_dump(prometheus_rule(), sort_keys=False, allow_unicode=True, width=100)
    return PROMETHEUS_RULE_HEADER + body


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard_panels() for t in p["targets"]]


def promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced, as Prometheus would see it."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def referenced_metrics() -> dict[str, set[str]]:
    """Every clickfono_* name a query names, with where it is named."""
    named: dict[str, set[str]] = {}
    for alert in alerts():
        for name in OUR_METRIC.findall(str(alert["expr"])):
            named.setdefault(name, set()).add(f"alert {alert['alert']}")
    for panel in dashboard_panels():
        for target in panel["targets"]:
            for name in OUR_METRIC.findall(target["expr"]):
                named.setdefault(name, set()).add(f"panel {panel['title']!r}")
    return named


def exported_names(exposition: str) -> set[str]:
    """The names a query may use for what ``exposition`` exports: families with no
    sample yet included, with counter and histogram suffixes."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


# Alert rules


def test_rules_pass_promtool_check() -> None:
    """``promtool check rules`` accepts deploy/prometheus/rules.yml."""
    result = run_promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_rules_pass_their_promtool_unit_tests() -> None:
    """``promtool test rules`` passes: alerts fire when they should and not before."""
    result = run_promtool("test", "rules", RULES_TESTS.name, cwd=RULES_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_cover_the_notifier_failures() -> None:
    """Down, not ready, dead letters, token, sink and stale-cycle alerts exist and explain
    themselves, with a severity."""
    by_name = {a["alert"]: a for a in alerts()}
    assert {
        "ClickfonoNotifierDown",
        "ClickfonoNotifierAbsent",
        "ClickfonoNotifierNotReady",
        "ClickfonoDeadLettersGrowing",
        "ClickfonoTokenRejected",
        "ClickfonoSinkFailing",
        "ClickfonoNoSuccessfulCycle",
    } <= set(by_name)
    assert by_name["ClickfonoNotifierNotReady"]["for"] == "5m"
    assert "3 * " in by_name["ClickfonoNoSuccessfulCycle"]["expr"]
    for alert in by_name.values():
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]


def test_prometheus_rule_carries_the_rules_file() -> None:
    """deploy/kubernetes/prometheusrule.yaml is rules.yml's groups, regenerated."""
    [document] = [d for d in yaml.safe_load_all(PROMETHEUS_RULE.read_text(encoding="utf-8")) if d]
    assert document == prometheus_rule(), (
        "prometheusrule.yaml differs from rules.yml: "
        "run python -m tests.test_monitoring_deploy --write"
    )
    assert PROMETHEUS_RULE.read_text(encoding="utf-8") == render_prometheus_rule()


# Dashboard


def test_dashboard_is_importable() -> None:
    """The dashboard JSON has a uid, schema 39+, a datasource variable every panel uses,
    unique panel ids and panels that fit the 24-column grid without overlapping."""
    board = dashboard()
    assert board["uid"] == "clickfono-notifier" and board["schemaVersion"] >= 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
    for panel in dashboard_panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]


def test_dashboard_shows_what_supervisors_and_ops_need() -> None:
    """Calls by status, connection rate, open callbacks, cycle time, deliveries, retries,
    dead letters per sink, source episodes, leader and readiness each have a panel."""
    titles = {p["title"] for p in dashboard_panels()}
    assert {
        "Calls today by status",
        "Connection rate",
        "Open callbacks by popup",
        "Cycle time",
        "Deliveries",
        "Retries",
        "Dead letters",
        "Source episodes",
        "Leader",
        "Ready",
    } <= titles
    by_title = {p["title"]: p for p in dashboard_panels()}
    assert "histogram_quantile" in by_title["Cycle time"]["targets"][0]["expr"]
    assert 'status="Conectada"' in by_title["Connection rate"]["targets"][0]["expr"]


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query (as recording rules, Grafana variables set)."""
    exprs = dashboard_exprs()
    recording = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": promql(e)}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(recording), encoding="utf-8")
    result = run_promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_dashboard_and_rules_name_only_registered_metrics() -> None:
    """Every clickfono_* name in a query is one the metrics module registers."""
    named = referenced_metrics()
    assert len(named) >= 15
    unknown = {
        n: where for n, where in named.items() if n not in exported_names(metrics.render().decode())
    }
    assert not unknown, unknown


# A real daemon


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A signature-verifying webhook receiver on 127.0.0.1."""
    with WebhookReceiver(WEBHOOK_TEST_SECRET).start() as started:
        yield started


@pytest.fixture
def daemon_factory(
    simulator: Simulator, redis_url: str, receiver: WebhookReceiver
) -> Iterator[Callable[[str], NotifierProcess]]:
    """Starts ``clickfono-notifier run`` with a token against the simulator (three calls
    today, token ``test-token``) and a webhook; kills them at the end."""
    now = datetime.now(UTC)
    today = now.astimezone(SANTIAGO).date().isoformat()
    simulator.set_calls(
        today,
        [
            make_record(uuid="m1", status="Conectada", call_at=now),
            make_record(uuid="m2", status="Intentos terminados", call_at=now),
            make_record(uuid="m3", status="SPAM", call_at=now),
        ],
    )
    started: list[NotifierProcess] = []

    def start(token: str) -> NotifierProcess:
        env = {
            "CLICKFONO_TOKEN": token,
            "CLICKFONO_BASE_URL": simulator.base_url,
            "REDIS_URL": redis_url,
            "NOTIFIER_REDIS_PREFIX": "monitoring",
            "NOTIFIER_POLL_INTERVAL": "0.5",
            "NOTIFIER_LEASE_TTL": "3",
            "WEBHOOK_URL": receiver.url,
            "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
        }
        process = NotifierProcess(env, name="monitoring")
        started.append(process)
        return process.start()

    try:
        yield start
    finally:
        for process in started:
            process.kill()


def scraped(process: NotifierProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples /metrics serves now (none when the process does not answer)."""
    try:
        return samples(process.text("/metrics"))
    except httpx.HTTPError:
        return {}


@pytest.mark.slow
def test_a_running_daemon_exports_every_metric_the_dashboard_and_rules_name(
    daemon_factory: Callable[[str], NotifierProcess],
) -> None:
    """A real ``run`` serves every clickfono_* metric the dashboard and the alert rules
    query, and its health gauges describe a ready leader."""
    daemon = daemon_factory("test-token")
    wait_for(lambda: daemon.get("/readyz") == 200, timeout=20, message="the daemon to be ready")
    wait_for(
        lambda: scraped(daemon).get(("clickfono_ready", ())) == 1.0, message="clickfono_ready 1"
    )
    exposition = daemon.text("/metrics")
    missing = {n: w for n, w in referenced_metrics().items() if n not in exported_names(exposition)}
    assert not missing, f"named by the dashboard or rules but not served: {missing}"
    values = samples(exposition)
    assert values[("clickfono_leader", ())] == 1.0
    assert values[("clickfono_poll_interval_seconds", ())] == 0.5
    assert 0 <= values[("clickfono_last_success_age_seconds", ())] < 30
    assert values[("clickfono_source_state", (("state", "ok"),))] == 1.0
    assert values[("clickfono_dead_letters", (("sink", "webhook"),))] == 0.0
    assert values[("clickfono_sink_failing", (("sink", "webhook"),))] == 0.0
    assert values[("clickfono_cycle_duration_seconds_count", ())] >= 1


@pytest.mark.slow
def test_a_rejected_token_shows_in_the_gauges_the_alerts_read(
    daemon_factory: Callable[[str], NotifierProcess],
) -> None:
    """With a token Clickfono rejects, a real ``run`` reports not ready, source state
    unauthorized, and a last-success age that grows: what TokenRejected, NotReady and
    NoSuccessfulCycle alert on."""
    daemon = daemon_factory("wrong-token")
    wait_for(
        lambda: (
            scraped(daemon).get(("clickfono_source_state", (("state", "unauthorized"),))) == 1.0
        ),
        timeout=20,
        message="source state unauthorized",
    )
    values = scraped(daemon)
    assert values[("clickfono_source_state", (("state", "ok"),))] == 0.0
    assert values[("clickfono_ready", ())] == 0.0
    assert daemon.get("/readyz") == 503
    first_age = values[("clickfono_last_success_age_seconds", ())]
    wait_for(
        lambda: scraped(daemon).get(("clickfono_last_success_age_seconds", ()), 0) > first_age + 1,
        message="the last-success age to grow",
    )
    assert values[("clickfono_polls_total", (("result", "unauthorized"),))] >= 1


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_monitoring_deploy --write")
    PROMETHEUS_RULE.write_text(render_prometheus_rule(), encoding="utf-8")
    print(f"wrote {PROMETHEUS_RULE.relative_to(ROOT)}")
