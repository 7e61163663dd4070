"""HTTP client for ``GET {base}/calls/list``. Every upstream answer becomes our own outcome."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import httpx
import stamina

from notifier import __version__
from notifier.errors import (
    SourceError,
    SourceUnauthorized,
    SourceUnavailable,
    describe_cause,
    host_port,
)
from notifier.logs import get_logger

log = get_logger("notifier.clickfono")


@dataclass(frozen=True, slots=True)
class Answer:
    """One ``calls/list`` answer: for one popup (or all), for one date."""

    date: str
    popup: str | None
    status: int
    """200 (body holds the list), 204 (no calls) or 404 (popup not found)."""
    digest: str
    """A digest of the status and body (``answer_digest``): equal answers, equal digests."""
    body: bytes | bytearray = b""

    @property
    def key(self) -> str:
        """Identifies the answer within its date (the popup uuid, or ``*``)."""
        return self.popup or "*"

    @property
    def popup_not_found(self) -> bool:
        return self.status == 404


def answer_digest(status: int, body: bytes | bytearray = b"") -> str:
    """What the cycle compares to skip an unchanged answer: 32 hex characters of SHA-256."""
    digest = hashlib.sha256(b"%d:" % status)
    digest.update(body)
    return digest.hexdigest()[:32]


class _Transient(SourceUnavailable):
    """An attempt that may succeed if repeated."""


class ClickfonoClient:
    """Fetches one date's calls: one request per popup (concurrently) or one for all.

    ``transport`` is the seam for tests; ``attempts`` and ``backoff`` bound the jittered
    retries of transient failures (5xx, 429, timeouts, refused connections). A 401 is
    never retried. ``timeout`` is a deadline on the whole request, body included.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        popups: Sequence[str] = (),
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: tuple[float, float] = (0.5, 5.0),
        transport: httpx.AsyncBaseTransport | None = None,
        keepalive: float = 60.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/calls/list"
        self.where = host_port(self.url)
        self.popups = tuple(popups)
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._http = httpx.AsyncClient(
            headers={
                "security-token": token,
                "accept": "application/json",
                "user-agent": f"clickfono-notifier/{__version__}",
            },
            timeout=httpx.Timeout(timeout),
            # Keep connections across poll intervals (httpx's default drops them after 5 s).
            limits=httpx.Limits(keepalive_expiry=keepalive),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch(self, day: date) -> list[Answer]:
        """All answers for ``day``. Raises SourceUnauthorized or SourceUnavailable."""
        targets: Sequence[str | None] = self.popups or (None,)
        results = await asyncio.gather(
            *(self._fetch_one(day.isoformat(), popup) for popup in targets),
            return_exceptions=True,
        )
        answers: list[Answer] = []
        failures: list[BaseException] = []
        for result in results:
            if isinstance(result, Answer):
                answers.append(result)
            else:
                failures.append(result)
        for failure in failures:
            if isinstance(failure, SourceUnauthorized):
                raise failure
        for failure in failures:
            if isinstance(failure, SourceError):
                raise failure
        if failures:
            raise failures[0]
        return answers

    async def _fetch_one(self, day: str, popup: str | None) -> Answer:
        params = {"date": day} | ({"popup_uuid": popup} if popup else {})
        try:
            async for attempt in stamina.retry_context(
                on=_Transient,
                attempts=self.attempts,
                wait_initial=self.backoff[0],
                wait_max=self.backoff[1],
                wait_jitter=self.backoff[0],
                timeout=None,
            ):
                with attempt:
                    try:
                        return await self._attempt(day, popup, params)
                    except _Transient as exc:
                        if attempt.num < self.attempts:
                            log.warning(
                                "clickfono_retrying",
                                day=day,
                                attempt=attempt.num,
                                attempts=self.attempts,
                                error=str(exc),
                            )
                        raise
        except _Transient as exc:
            raise SourceUnavailable(str(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, day: str, popup: str | None, params: dict[str, str]) -> Answer:
        where = f"popup {popup}" if popup else "all popups"
        try:
            # httpx's read timeout is per chunk; this bounds the whole exchange.
            async with (
                asyncio.timeout(self.timeout),
                self._http.stream("GET", self.url, params=params) as response,
            ):
                status = response.status_code
                body: bytes | bytearray
                body, digest = b"", ""
                if status == 200:
                    body, digest = await _read_body(response)
                elif status in (204, 404):
                    await _drain(response)
        except TimeoutError:
            raise _Transient(
                f"Clickfono at {self.where} timed out after {self.timeout:g}s ({where})"
            ) from None
        except httpx.TimeoutException:
            raise _Transient(
                f"Clickfono at {self.where} timed out after {self.timeout:g}s ({where})"
            ) from None
        except httpx.HTTPError as exc:
            cause = describe_cause(exc)
            message = f"Clickfono unreachable at {self.where}: {cause} ({where})"
            if cause.startswith("TLS certificate"):
                raise SourceUnavailable(message) from None  # retrying will not fix it
            raise _Transient(message) from None
        if status == 200:
            return Answer(day, popup, 200, digest, body)
        if status == 204:
            return Answer(day, popup, 204, answer_digest(204))
        if status in (401, 403):
            raise SourceUnauthorized(f"Clickfono rejected the token (HTTP {status})")
        if status == 404 and popup:
            return Answer(day, popup, 404, answer_digest(404))
        if status == 404:
            raise SourceUnavailable(
                "Clickfono answered 404 for calls/list; check CLICKFONO_BASE_URL"
            )
        if status == 429 or status >= 500:
            raise _Transient(f"Clickfono answered HTTP {status} ({where})")
        raise SourceUnavailable(f"Clickfono answered unexpected HTTP {status} ({where})")


async def _read_body(response: httpx.Response) -> tuple[bytearray, str]:
    """The body in one growing buffer, and its digest, hashed chunk by chunk as it arrives.

    ``response.content`` would hold the chunks and their join at once: twice a 40 MB
    body at the peak. Over a real network the next chunk is still on its way while one
    is hashed, which hides the digest; on loopback it costs what hashing afterwards did
    (SHA-256 of 41 MB: ~23 ms). msgspec and pydantic read a bytearray as they read
    bytes, and the records are views of it: it is never copied.
    """
    digest = hashlib.sha256(b"200:")  # as answer_digest(200, body)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        digest.update(chunk)
        body += chunk
    return body, digest.hexdigest()[:32]


_DRAIN_LIMIT = 64 * 1024
_DRAIN_SECONDS = 1.0


async def _drain(response: httpx.Response) -> None:
    """Read a short answer without a list (a 204, a popup's 404) to its end, so its
    connection goes back to the pool: a popup with no calls answers 204 every cycle, and
    a new TLS connection each time would cost more than the answer. A body longer than
    64 KB or slower than a second is left, and the connection closed with the response;
    the answer stands either way."""
    read = 0
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > _DRAIN_LIMIT:
                    return
