"""The console script's start and exit: GC paused during imports, a quick exit for one-shots."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from notifier import cli, commands
from notifier.config import PREFIXES


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.fixture
def console_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A valid configuration with the console sink, and a GC left as the test found it."""
    for name in list(os.environ):
        if name.upper().startswith((*PREFIXES, "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLICKFONO_TOKEN", "t0ken-for-tests")
    monkeypatch.setenv("NOTIFIER_CONSOLE", "true")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def test_run_starts_with_the_gc_enabled_and_the_start_up_heap_frozen(
    console_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` (a long process) gets the cyclic GC back, with the import-time heap frozen out."""
    seen: dict[str, Any] = {}

    async def fake_run(settings: Any) -> int:
        seen["enabled"] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count()
        return cli.EXIT_OK

    monkeypatch.setattr(commands, "run", fake_run)
    monkeypatch.setattr(sys, "argv", ["clickfono-notifier", "run"])
    with pytest.raises(SystemExit) as exited:
        cli.script()
    assert exited.value.code == 0
    assert seen["enabled"] is True
    assert seen["frozen"] > 1000


def test_a_one_shot_command_flushes_its_output_then_exits_without_teardown(
    console_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`once` returns its code through os._exit, and what it printed was flushed first."""
    flushed: list[str] = []

    async def fake_once(settings: Any) -> int:
        print("printed by once")
        return 1

    def fake_exit(code: int) -> None:
        flushed.append(capsys.readouterr().out)
        raise _Exited(code)

    monkeypatch.setattr(commands, "once", fake_once)
    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["clickfono-notifier", "once"])
    with pytest.raises(_Exited) as exited:
        cli.script()
    assert exited.value.code == 1
    assert flushed == ["printed by once\n"]


def test_a_configuration_error_still_exits_2_through_the_quick_exit(
    console_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-shot's invalid configuration reaches the quick exit with code 2 and one line."""
    monkeypatch.delenv("CLICKFONO_TOKEN")

    def fake_exit(code: int) -> None:
        raise _Exited(code)

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["clickfono-notifier", "once"])
    with pytest.raises(_Exited) as exited:
        cli.script()
    assert exited.value.code == cli.EXIT_CONFIG
    assert capsys.readouterr().err.count("\n") == 1
