"""Idle cost of ``clickfono-notifier run`` and leader failover time, with real processes.

    .venv/bin/python benchmarks/bench_daemon.py [--idle-seconds 120] [--lease-ttl 15]

Idle: one replica at NOTIFIER_POLL_INTERVAL=30 against the simulator (a day of calls)
and a webhook receiver; CPU from /proc/PID/stat over the window, RSS from
/proc/PID/status. Failover: three replicas; kill -9 the leader and time until another
replica reports clickfono_leader 1. Loopback only, bounded, stops by itself.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notifier.clickfono.simulator import Simulator, make_record
from notifier.embedded_redis import EmbeddedRedis
from tests.support.process import NotifierProcess
from tests.support.webhook_fixtures import WebhookReceiver

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def leader(process: NotifierProcess) -> bool:
    try:
        text = httpx.get(f"http://127.0.0.1:{process.port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return False
    return re.search(r"^clickfono_leader 1\.0$", text, re.M) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=120)
    parser.add_argument("--lease-ttl", type=float, default=15)
    args = parser.parse_args()
    redis = EmbeddedRedis().start()
    simulator = Simulator("bench-token").start()
    receiver = WebhookReceiver().start()
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Santiago")).date().isoformat()
    simulator.set_calls(today, [make_record(status="Conectada") for _ in range(2000)])
    env = {
        "CLICKFONO_TOKEN": "bench-token",
        "CLICKFONO_BASE_URL": simulator.base_url,
        "REDIS_URL": redis.url,
        "WEBHOOK_URL": receiver.url,
        "LOG_LEVEL": "warning",
        "NOTIFIER_LEASE_TTL": str(args.lease_ttl),
    }
    processes: list[NotifierProcess] = []
    try:
        idle = NotifierProcess({**env, "NOTIFIER_POLL_INTERVAL": "30"}, "idle").start()
        processes.append(idle)
        assert idle.proc is not None
        time.sleep(5)  # let start-up and the baseline cycle finish before measuring
        cpu0, t0 = cpu_seconds(idle.proc.pid), time.monotonic()
        peak = 0.0
        while time.monotonic() - t0 < args.idle_seconds:
            peak = max(peak, rss_mb(idle.proc.pid))
            time.sleep(1)
        share = (cpu_seconds(idle.proc.pid) - cpu0) / (time.monotonic() - t0)
        print(
            f"idle run (30 s interval, 2,000 calls, {args.idle_seconds:.0f} s window): "
            f"CPU {share * 100:.2f}% of a core (target < 1%), "
            f"RSS {rss_mb(idle.proc.pid):.1f} MB, peak {peak:.1f} MB (target < 80 MB)"
        )
        idle.kill()

        replicas = [
            NotifierProcess({**env, "NOTIFIER_POLL_INTERVAL": "1"}, f"r{n}").start()
            for n in range(3)
        ]
        processes += replicas
        deadline = time.monotonic() + 60
        while not any(leader(p) for p in replicas) and time.monotonic() < deadline:
            time.sleep(0.1)
        first = next(p for p in replicas if leader(p))
        first.kill()
        killed = time.monotonic()
        others = [p for p in replicas if p is not first]
        while not any(leader(p) for p in others):
            if time.monotonic() - killed > 4 * args.lease_ttl:
                raise SystemExit("no new leader within four lease periods")
            time.sleep(0.05)
        took = time.monotonic() - killed
        print(
            f"failover with NOTIFIER_LEASE_TTL={args.lease_ttl:g}: {took:.1f} s "
            f"({took / args.lease_ttl:.2f} lease periods; target < 2)"
        )
    finally:
        for process in processes:
            process.kill()
        receiver.stop()
        simulator.stop()
        redis.cleanup()


if __name__ == "__main__":
    main()
