"""The container image, built from this checkout and run with podman: its commands, its
health check, its user, its installed versions, and a root file system it never writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.image.conftest import REPO, Image
from tests.support.redis_server import free_port
from tests.support.wait import wait_for

pytestmark = [pytest.mark.image, pytest.mark.timeout(1500)]

TOKEN = "image-token"
ALERT = re.compile(r"call\.(spam|attempts_exhausted|outside_business_hours|queued_too_long)")


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """`clickfono-notifier simulate` from the venv, on the host's 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier", "simulate", "--port", str(port), "--token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _status(f"{url}/calls/list") == 401, message="the simulator")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return None


def _notifier_env(simulator_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    return {
        "CLICKFONO_TOKEN": TOKEN,
        "CLICKFONO_BASE_URL": simulator_url,
        "REDIS_URL": redis_url,
        "NOTIFIER_REDIS_PREFIX": prefix,
        "NOTIFIER_CONSOLE": "true",
        "NOTIFIER_BASELINE": "notify",
    }


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_help_lists_the_commands(image: Image) -> None:
    """`--help` in the image exits 0 and names run, once and demo."""
    result = image.run("clickfono-notifier", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("run", "once", "demo"):
        assert command in result.stdout


def test_root_file_system_is_read_only_but_tmp(image: Image) -> None:
    """The containers of these tests can write /tmp and nothing else, even as root, so each
    command that passes in them writes nowhere else (readOnlyRootFilesystem in Kubernetes)."""
    script = "for d in /tmp /opt/venv /var/tmp /run /etc; do touch $d/probe; echo $d $?; done"
    result = image.run("sh", "-c", script, options=["--user", "0"])
    assert result.returncode == 0, result.stderr
    codes = dict(line.split() for line in result.stdout.splitlines())
    assert codes == {"/tmp": "0", "/opt/venv": "1", "/var/tmp": "1", "/run": "1", "/etc": "1"}


def test_installed_versions_equal_constraints(image: Image) -> None:
    """Every distribution in the image's Python is pinned by constraints.txt at that exact
    version (the notifier itself at pyproject's), and there is no pip."""
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    result = image.run("python", "-c", script)
    assert result.returncode == 0, result.stderr
    installed = {_normalize(k): v for k, v in json.loads(result.stdout).items()}
    pinned = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pinned[_normalize(name.strip())] = version.strip()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert installed.pop("clickfono-notifier") == project["version"]
    assert "pip" not in installed
    differ = {k: (v, pinned.get(k)) for k, v in installed.items() if pinned.get(k) != v}
    assert differ == {}, "installed version vs constraints.txt"


def test_once_against_the_simulator_and_redis(
    image: Image, simulator_url: str, redis_url: str
) -> None:
    """`once` in the image polls the simulator, prints events, writes state to the host's
    Redis and exits 0."""
    env = _notifier_env(simulator_url, redis_url, "image-once")
    result = image.run("clickfono-notifier", "once", env=env)
    assert result.returncode == 0, result.stderr
    assert "call.created" in result.stdout
    client = redis.Redis.from_url(redis_url)
    try:
        assert any(client.scan_iter(match="*image-once*"))
    finally:
        client.close()


@pytest.fixture
def running(image: Image, simulator_url: str, redis_url: str) -> Iterator[tuple[str, int]]:
    """`run` (the image's CMD) on the host network, serving /healthz on a free port."""
    port = free_port()
    env = {**_notifier_env(simulator_url, redis_url, "image-run"), "NOTIFIER_HTTP_PORT": str(port)}
    container = image.start(env=env)
    wait_for(
        lambda: _status(f"http://127.0.0.1:{port}/healthz") == 200,
        timeout=30,
        message="run to answer /healthz",
    )
    yield container, port


def test_run_is_healthy_and_runs_as_uid_10001(image: Image, running: tuple[str, int]) -> None:
    """While `run` serves, the image's HEALTHCHECK passes and its process is uid 10001."""
    container, _ = running
    health = image.podman("healthcheck", "run", container)
    assert health.returncode == 0, health.stdout + health.stderr
    uid = image.podman(
        "exec", container, "python", "-c", "import os; print(os.stat('/proc/1').st_uid)"
    )
    assert uid.stdout.strip() == "10001"
    assert (
        image.podman("inspect", "--format", "{{.Config.User}}", image.ref).stdout.strip()
        == "10001:10001"
    )


def test_run_exits_0_within_10_seconds_of_sigterm(image: Image, running: tuple[str, int]) -> None:
    """SIGTERM stops `run` cleanly: exit code 0 in less than 10 seconds."""
    container, _ = running
    started = time.monotonic()
    assert image.podman("kill", "--signal", "TERM", container).returncode == 0
    waited = image.podman("wait", container, timeout=15)
    assert time.monotonic() - started < 10
    assert waited.stdout.strip() == "0", image.podman("logs", container).stderr


def test_healthcheck_fails_when_nothing_serves(image: Image) -> None:
    """The HEALTHCHECK fails in a container of the image whose port answers nothing."""
    env = {"NOTIFIER_HTTP_PORT": str(free_port())}
    container = image.start("python", "-c", "import time; time.sleep(120)", env=env)
    health = image.podman("healthcheck", "run", container)
    assert health.returncode == 1, health.stdout + health.stderr


def test_demo_prints_an_alert(image: Image) -> None:
    """`demo`, the first thing a user runs, starts its own Redis and prints an alert within
    60 s in a container with no network, then exits 0 on Ctrl-C."""
    container = image.start("clickfono-notifier", "demo", network="none")
    wait_for(
        lambda: ALERT.search(image.logs(container)),
        timeout=60,
        interval=0.5,
        message="an alert line from the demo",
    )
    image.podman("kill", "--signal", "INT", container)
    waited = image.podman("wait", container, timeout=20)
    assert waited.stdout.strip() == "0", image.podman("logs", container).stderr
