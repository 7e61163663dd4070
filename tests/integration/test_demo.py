"""``clickfono-notifier demo`` as a new user runs it: no Redis running, Ctrl-C to stop."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.process import clean_env
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

ALERT = re.compile(r"call\.(spam|attempts_exhausted|outside_business_hours|queued_too_long)")


def test_demo_shows_alerts_within_30_seconds_and_stops_on_ctrl_c() -> None:
    """With REDIS_URL unset the demo starts its own Redis, prints alerts within 30 s,
    and exits 0 without a traceback on SIGINT."""
    workdir = Path(tempfile.mkdtemp(prefix="notifier-demo-"))
    out, err = workdir / "stdout", workdir / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "demo"],
            env=clean_env({}),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        started = time.monotonic()
        wait_for(
            lambda: ALERT.search(out.read_text(errors="replace")),
            timeout=30,
            interval=0.2,
            message="an alert line on stdout",
        )
        assert time.monotonic() - started < 30
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err.read_text(errors="replace")
    log = err.read_text(errors="replace")
    assert "demo stopped" in log
    port = re.search(r"Redis: embedded, port (\d+)", log)
    assert port, "the demo did not start its own Redis"
    # The embedded redis-server must be gone with the demo.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(port.group(1)))) != 0
