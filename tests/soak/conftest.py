"""The soak's per-test timeout follows ``--soak-seconds`` (pyproject's 120 s is for the rest)."""

from __future__ import annotations

import pytest

SETUP_AND_DRAIN_SECONDS = 300.0
"""Room beyond the chaos phase: starting the processes, the drain, the report."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = float(config.getoption("--soak-seconds"))
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(pytest.mark.timeout(seconds + SETUP_AND_DRAIN_SECONDS))
