"""The console script's start and exit: GC paused during imports, a quick exit for one-shots."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier import cli, commands
from notifier.config import PREFIXES
from notifier.logs import configure
from notifier.schema import build_document

ROOT = Path(__file__).resolve().parent.parent


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.fixture
def console_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A valid configuration with the console sink; the GC and the logs are left as the
    test found them."""
    for name in list(os.environ):
        if name.upper().startswith((*PREFIXES, "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLICKFONO_TOKEN", "t0ken-for-tests")
    monkeypatch.setenv("NOTIFIER_CONSOLE", "true")
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()
        configure()  # the defaults, as later tests in this process expect them


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["run"], "run"),
        (["once"], "once"),
        (["check"], "check"),
        (["dead-letters", "list"], "dead_letters_list"),
    ],
)
def test_every_command_runs_with_the_gc_enabled_and_the_start_up_heap_frozen(
    console_env: None, monkeypatch: pytest.MonkeyPatch, argv: list[str], name: str
) -> None:
    """Whatever the command, it runs (and `run` lives) with the cyclic GC back on, and
    the heap of start-up frozen out of its collections."""
    seen: dict[str, Any] = {}

    async def command(*args: Any) -> int:
        seen["enabled"] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count()
        return cli.EXIT_OK

    monkeypatch.setattr(commands, name, command)
    monkeypatch.setattr(os, "_exit", _exit)
    monkeypatch.setattr(sys, "argv", ["clickfono-notifier", *argv])
    with pytest.raises((SystemExit, _Exited)) as exited:
        cli.script()
    assert exited.value.code == 0
    assert seen["enabled"] is True
    assert seen["frozen"] > 1000


def _exit(code: int) -> None:
    raise _Exited(code)


def test_a_one_shot_command_returns_its_code_through_the_quick_exit(
    console_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`once` exits 1 through os._exit (no interpreter teardown), `run` through sys.exit."""

    async def failing(settings: Any) -> int:
        return cli.EXIT_FAILURE

    monkeypatch.setattr(commands, "once", failing)
    monkeypatch.setattr(commands, "run", failing)
    monkeypatch.setattr(os, "_exit", _exit)
    monkeypatch.setattr(sys, "argv", ["clickfono-notifier", "once"])
    with pytest.raises(_Exited) as quick:
        cli.script()
    assert quick.value.code == cli.EXIT_FAILURE
    monkeypatch.setattr(sys, "argv", ["clickfono-notifier", "run"])
    with pytest.raises(SystemExit) as normal:
        cli.script()
    assert normal.value.code == cli.EXIT_FAILURE


def test_a_configuration_error_still_exits_2_through_the_quick_exit(
    console_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-shot's invalid configuration reaches the quick exit with code 2 and one line,
    and leaves the GC enabled."""
    monkeypatch.delenv("CLICKFONO_TOKEN")
    monkeypatch.setattr(os, "_exit", _exit)
    monkeypatch.setattr(sys, "argv", ["clickfono-notifier", "once"])
    with pytest.raises(_Exited) as exited:
        cli.script()
    assert exited.value.code == cli.EXIT_CONFIG
    assert capsys.readouterr().err.count("\n") == 1
    assert gc.isenabled()


def test_output_redirected_to_a_file_is_complete_after_the_quick_exit(tmp_path: Path) -> None:
    """A real process: `schema > file` (stdout block-buffered) writes the whole document
    before os._exit ends the process."""
    out = tmp_path / "schema.json"
    with out.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "notifier", "schema"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == build_document()
