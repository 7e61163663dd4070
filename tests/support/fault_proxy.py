"""A TCP fault proxy for tests: put it between the notifier and Redis, Clickfono or a sink.

``FaultProxy(port)`` listens on a free port of 127.0.0.1 and forwards every connection to
``127.0.0.1:port``. It is threaded (one accept thread, two pump threads per connection),
so sync tests, async tests and subprocesses can all use it. Its mode can be switched at
any time and applies to open connections at the next chunk:

    proxy.pass_through()              # forward bytes as they come (the default)
    proxy.latency(0.3)                # hold every chunk 0.3 s, in each direction
    proxy.trickle(interval=0.2, size=1)
                                      # dribble answers (upstream -> client) ``size``
                                      # bytes every ``interval``: a per-chunk read
                                      # timeout never fires, a whole-request deadline does
    proxy.reset()                     # answers get half their first chunk, then both
                                      # sides are reset (TCP RST): "reset mid-response"
    proxy.stall()                     # a partition: connections are accepted, bytes are
                                      # read and dropped; a connection that stalled once
                                      # stays dead (even after pass_through) until its
                                      # client closes it or drop_connections()
    proxy.refuse()                    # accept then reset at once: the service is down
    proxy.drop_connections()          # reset every open connection now

``proxy.counts`` tells what happened (connections accepted, resets, bytes forwarded).
Nothing is ever addressed outside 127.0.0.1, and ``stop()`` ends every thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Literal

__all__ = ["FaultProxy", "Mode"]

Mode = Literal["pass", "latency", "trickle", "reset", "stall", "refuse"]
_CHUNK = 65536
_TICK = 0.05
"""How often blocked pumps look at the mode again (and at stop())."""


@dataclass(frozen=True, slots=True)
class _Setting:
    mode: Mode = "pass"
    seconds: float = 0.0
    """``latency``: the hold per chunk; ``trickle``: the interval between pieces."""
    size: int = 1
    """``trickle``: bytes per piece."""


def _hard_close(sock: socket.socket) -> None:
    """Close with linger 0, so the peer gets a RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One proxied connection: the client's socket and ours to the upstream."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.dead = threading.Event()
        """Reset, dropped or stalled for good: the pumps stop forwarding."""
        self.stalled = False
        self._open_directions = 2
        self._lock = threading.Lock()

    def start(self) -> None:
        for source, target, answer in (
            (self.client, self.upstream, False),
            (self.upstream, self.client, True),
        ):
            threading.Thread(
                target=self._pump,
                args=(source, target, answer),
                name=f"fault-proxy-{self.proxy.port}-pump",
                daemon=True,
            ).start()

    def kill(self) -> None:
        """Reset both sides now."""
        if not self.dead.is_set():
            self.dead.set()
            _hard_close(self.client)
            _hard_close(self.upstream)
            self.proxy._finished(self)

    def _mark_stalled(self) -> None:
        with self._lock:
            first, self.stalled = not self.stalled, True
        if first:
            self.proxy._count("stalled")

    def _pump(self, source: socket.socket, target: socket.socket, answer: bool) -> None:
        try:
            while not self.dead.is_set():
                if self.proxy._stopped.is_set():
                    self.kill()
                    return
                readable, _, _ = select.select([source], [], [], _TICK)
                if not readable:
                    continue
                data = source.recv(_CHUNK)
                if not data:
                    if self.stalled:  # a partitioned peer gave up: nothing reaches the other
                        self.kill()
                    else:
                        self._half_close(target)
                    return
                if not self._forward(data, target, answer):
                    return
        except (OSError, ValueError):  # ValueError: the other pump closed the socket
            self.kill()

    def _forward(self, data: bytes, target: socket.socket, answer: bool) -> bool:
        """Send ``data`` per the current mode; False when the link is finished."""
        setting = self.proxy.setting
        if setting.mode == "stall":
            self._mark_stalled()
        if self.stalled:  # lost in the partition
            self.proxy._count("dropped", len(data))
            return True
        if setting.mode == "latency" and setting.seconds > 0 and self.dead.wait(setting.seconds):
            return False
        if answer and setting.mode == "reset":
            target.sendall(data[: max(1, len(data) // 2)])
            self.proxy._count("reset")
            self.kill()
            return False
        if answer and setting.mode == "trickle":
            while data and self.proxy.setting.mode == "trickle":
                if self.dead.wait(setting.seconds):
                    return False
                piece, data = data[: setting.size], data[setting.size :]
                target.sendall(piece)
                self.proxy._count("bytes", len(piece))
            if not data:
                return True
            return self._forward(data, target, answer)  # the mode changed mid-chunk
        target.sendall(data)
        self.proxy._count("bytes", len(data))
        return True

    def _half_close(self, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with self._lock:
            self._open_directions -= 1
            done = self._open_directions == 0
        if done and not self.dead.is_set():
            self.dead.set()
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.close()
            self.proxy._finished(self)


class FaultProxy:
    """TCP proxy from a free port of 127.0.0.1 to ``127.0.0.1:upstream_port``."""

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        if upstream_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fault proxy only forwards to loopback")
        self.upstream = (upstream_host, upstream_port)
        self.setting = _Setting()
        self._listener: socket.socket | None = None
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = 0

    # Lifecycle

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.settimeout(_TICK)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._stopped.clear()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and reset every connection; the threads end within a tick."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        self.drop_connections()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, to put in a URL instead of the upstream's."""
        return f"127.0.0.1:{self.port}"

    # Modes

    def pass_through(self) -> None:
        self.setting = _Setting("pass")

    def latency(self, seconds: float) -> None:
        self.setting = _Setting("latency", seconds=seconds)

    def trickle(self, interval: float = 0.2, size: int = 1) -> None:
        if interval <= 0 or size < 1:
            raise ValueError("trickle needs a positive interval and size")
        self.setting = _Setting("trickle", seconds=interval, size=size)

    def reset(self) -> None:
        self.setting = _Setting("reset")

    def stall(self) -> None:
        self.setting = _Setting("stall")

    def refuse(self) -> None:
        self.setting = _Setting("refuse")

    @property
    def mode(self) -> Mode:
        return self.setting.mode

    def drop_connections(self) -> int:
        """Reset every open connection; returns how many there were."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.kill()
        return len(links)

    # What happened

    @property
    def counts(self) -> dict[str, int]:
        """``accepted``, ``refused``, ``reset``, ``stalled``, ``bytes``, ``dropped``, ``open``."""
        with self._lock:
            return {**self._counts, "open": len(self._links)}

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[what] += n

    def _finished(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    # Accepting

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopped.is_set():
                    return
                time.sleep(_TICK)
                continue
            self._count("accepted")
            if self.setting.mode == "refuse":
                self._count("refused")
                _hard_close(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=2)
            except OSError:
                self._count("upstream_down")
                _hard_close(client)
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client, upstream)
            with self._lock:
                self._links.add(link)
            link.start()
