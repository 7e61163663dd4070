"""Run the real ``clickfono-notifier`` as a subprocess, for kill -9 and replica stories."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx

from notifier.config import PREFIXES
from tests.support.redis_server import free_port
from tests.support.wait import wait_for

_OUR_PREFIXES = (*PREFIXES, "LOG_")
"""Every variable the notifier reads (APPRISE_* and REDIS_* included) and LOG_*."""


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without any of our variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OUR_PREFIXES)}
    env.update(extra)
    return env


def run_command(
    args: list[str], env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one notifier command to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_notifier(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one notifier command to completion; whatever it says, never a traceback."""
    done = run_command(list(args), env, timeout=60)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


class NotifierProcess:
    """``clickfono-notifier run`` in a subprocess with its own HTTP port and log files."""

    def __init__(self, env: Mapping[str, str], name: str = "replica") -> None:
        self.port = free_port()
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"notifier-{name}-"))
        # The port this class picked wins: it is how the test reaches /healthz.
        self.env = clean_env({"LOG_FORMAT": "json", **env, "NOTIFIER_HTTP_PORT": str(self.port)})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def stdout(self) -> str:
        return (self.dir / "stdout").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return (self.dir / "stderr").read_text(errors="replace")

    def start(self, wait: bool = True) -> NotifierProcess:
        with (self.dir / "stdout").open("ab") as out, (self.dir / "stderr").open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", "run"],
                env=self.env,
                stdout=out,
                stderr=err,
            )
        if wait:
            wait_for(
                lambda: self.get("/healthz") == 200,
                timeout=20,
                message=f"{self.name} to answer /healthz",
            )
        return self

    def get(self, path: str) -> int | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=1).status_code
        except httpx.HTTPError:
            return None

    def text(self, path: str) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).text

    def kill(self) -> None:
        """kill -9: no cleanup, no lease release, in-flight work abandoned."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
