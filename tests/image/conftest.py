"""The image under test: podman (installed with apt-get when the tests run as root), and the
image that deploy/image/build.sh builds (`make image`), cached between runs."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "deploy" / "image" / "build.sh"
# command -> Debian package. runc: crun refuses this kind of VM's hybrid cgroups.
TOOLS = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}
BUILD_TIMEOUT = 1200
"""A first build on a new machine: apt-get, debootstrap, then the image (about 3 min)."""

# Every container of these tests has a read-only root file system and a writable /tmp
# only, as the Kubernetes manifests give it (readOnlyRootFilesystem, an emptyDir on /tmp):
# a write anywhere else fails the command that makes it.
READ_ONLY = ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,mode=1777"]


def _install(packages: list[str]) -> str | None:
    """apt-get install ``packages``; returns why it could not, or None."""
    if os.geteuid() != 0:
        return "the tests do not run as root, so they cannot apt-get install it"
    if shutil.which("apt-get") is None:
        return "there is no apt-get to install it with"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"`{' '.join(install)}` failed: {last}"
    return None


def _containers_conf(directory: Path) -> Path:
    """A podman configuration for machines like CI's: runc, and rlimits no higher than the
    current ones (root there lacks CAP_SYS_RESOURCE, so podman's defaults fail)."""
    soft_files, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = min(soft_files, 65536) if soft_files != resource.RLIM_INFINITY else 65536
    lines = [
        "[containers]",
        f'default_ulimits = ["nofile={files}:{files}", "nproc=4096:4096"]',
        "[engine]",
        'events_logger = "file"',
        'cgroup_manager = "cgroupfs"',
    ]
    if shutil.which("runc"):
        lines.append('runtime = "runc"')
    path = directory / "containers.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Image:
    """The built image and the podman that runs it."""

    ref: str
    env: dict[str, str]
    containers: list[str] = field(default_factory=list)

    def podman(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run one podman command and capture its output."""
        return subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(
        self,
        *command: str,
        env: dict[str, str] | None = None,
        network: str = "host",
        timeout: float = 60,
        options: list[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``podman run --rm`` the image, read-only but /tmp, until the command exits."""
        return self.podman(
            "run",
            "--rm",
            *self._options(env, network),
            *(options or []),
            self.ref,
            *command,
            timeout=timeout,
        )

    def start(self, *command: str, env: dict[str, str] | None = None, network: str = "host") -> str:
        """``podman run -d`` the image, read-only but /tmp; returns the container id."""
        result = self.podman("run", "-d", *self._options(env, network), self.ref, *command)
        assert result.returncode == 0, result.stderr
        container = result.stdout.strip().splitlines()[-1]
        self.containers.append(container)
        return container

    def logs(self, container: str) -> str:
        """The container's stdout so far."""
        return self.podman("logs", container).stdout

    def _options(self, env: dict[str, str] | None, network: str) -> list[str]:
        options = [*READ_ONLY, f"--network={network}"]
        for name, value in (env or {}).items():
            options += ["--env", f"{name}={value}"]
        return options

    def remove_containers(self) -> None:
        for container in self.containers:
            self.podman("rm", "--force", "--time", "0", container)
        self.containers.clear()


@pytest.fixture(scope="session")
def built_image() -> Iterator[Image]:
    """The image built from this checkout with podman (skips, saying why, without podman)."""
    if os.environ.get("CLICKFONO_IMAGE_TESTS") == "0":
        pytest.skip("CLICKFONO_IMAGE_TESTS=0")
    missing = [package for command, package in TOOLS.items() if shutil.which(command) is None]
    if missing:
        why = _install(missing)
        if why is not None and shutil.which("podman") is None:
            pytest.skip(f"the image tests need podman ({', '.join(missing)} missing): {why}")
    directory = Path(tempfile.mkdtemp(prefix="notifier-image-"))
    env = {**os.environ, "CONTAINERS_CONF": str(_containers_conf(directory))}
    info = subprocess.run(
        ["podman", "info"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if info.returncode != 0:
        last = (info.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"podman does not work here (`podman info`: {last})")
    build = subprocess.run(
        [str(BUILD)],
        env={**env, "IMAGE_ENGINE": "podman"},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if build.returncode == 3:  # build-base.sh: no registry image and no way to make a base
        pytest.skip(build.stderr.strip().splitlines()[-1])
    assert build.returncode == 0, "deploy/image/build.sh failed:\n" + build.stderr[-4000:]
    built = build.stdout.strip().splitlines()[-1]
    # A tag of this session's own: build.sh removes older `inputs-` tags, and one run on
    # another checkout (a teammate's `make test`) must not take the image from under this.
    ref = f"{built.rsplit(':', 1)[0]}:test-{os.getpid()}"
    image = Image(ref, env)
    tagged = image.podman("tag", built, ref)
    assert tagged.returncode == 0, tagged.stderr
    try:
        yield image
    finally:
        image.remove_containers()
        image.podman("rmi", ref)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def image(built_image: Image) -> Iterator[Image]:
    """The built image; containers a test started are removed after it."""
    try:
        yield built_image
    finally:
        built_image.remove_containers()
