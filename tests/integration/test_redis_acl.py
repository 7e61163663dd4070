"""The minimal ACL that docs/operations.md publishes is enough for `once` and `check`."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from notifier.clickfono.simulator import Simulator, make_record
from tests.integration.conftest import SANTIAGO
from tests.support.process import NotifierProcess, run_command
from tests.support.wait import wait_for
from tests.support.webhook_fixtures import WEBHOOK_TEST_SECRET, WebhookReceiver

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_acl(prefix: str, password: str) -> list[str]:
    """The ACL SETUSER line between the acl markers, for ``prefix`` and ``password``."""
    text = DOCS.read_text()
    block = re.search(r"<!-- acl:begin -->\s*```\s*(.+?)\s*```\s*<!-- acl:end -->", text, re.S)
    assert block, "docs/operations.md lost its ACL block"
    line = block.group(1).replace("{clickfono}", "{" + prefix + "}").replace("change-me", password)
    return shlex.split(line)


@pytest.mark.slow
def test_once_and_check_work_with_only_the_documented_acl(
    redis_url: str, simulator: Simulator, webhook_receiver: WebhookReceiver
) -> None:
    """A user limited to ~{prefix}:* and the documented commands runs `check` and a
    `once` that detects changes and delivers them; the same user cannot read another
    prefix's keys."""
    admin = redis.Redis.from_url(redis_url)
    words = documented_acl("aclpfx", "s3cret-acl-pw")
    assert words[:2] == ["ACL", "SETUSER"]
    admin.execute_command(*words)
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    limited = f"redis://clickfono:s3cret-acl-pw@{host_port}/0"
    day = datetime.now(UTC).astimezone(SANTIAGO).date().isoformat()
    now = datetime.now(UTC)
    simulator.set_calls(
        day, [make_record(uuid=f"a{n}", status="SPAM", call_at=now) for n in range(3)]
    )
    env = {
        "CLICKFONO_TOKEN": "test-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "REDIS_URL": limited,
        "NOTIFIER_REDIS_PREFIX": "aclpfx",
        "NOTIFIER_BASELINE": "notify",
        "WEBHOOK_URL": webhook_receiver.url,
        "WEBHOOK_SECRET": WEBHOOK_TEST_SECRET,
    }
    try:
        checked = run_command(["check"], env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "standalone at" in checked.stdout
        once = run_command(["once"], env)
        assert once.returncode == 0, once.stderr
        delivered = {
            a.payload["data"]["call"]["uuid"] for a in webhook_receiver.alerts if a.accepted
        }
        assert delivered == {"a0", "a1", "a2"}
        daemon = NotifierProcess({**env, "NOTIFIER_POLL_INTERVAL": "0.5"}, name="acl").start()
        try:
            simulator.set_status("a0", "Conectada")
            wait_for(
                lambda: any(
                    a.payload["type"] == "call.status_changed" for a in webhook_receiver.alerts
                ),
                timeout=30,
                message="run to deliver with the limited user",
            )
            assert daemon.get("/readyz") == 200
        finally:
            assert daemon.terminate() == 0
        assert "NOPERM" not in daemon.stderr and "NOPERM" not in once.stderr
        user = redis.Redis.from_url(limited)
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.get("{other}:meta")
        user.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "clickfono")
        admin.close()
