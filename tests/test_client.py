"""ClickfonoClient against the real simulator over HTTP: every row of SPEC's upstream table."""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable
from datetime import date

import pytest

from notifier.clickfono.client import ClickfonoClient, answer_digest
from notifier.clickfono.models import parse_calls
from notifier.clickfono.simulator import Fault, Popup, Simulator, make_record
from notifier.errors import SourceMalformed, SourceUnauthorized, SourceUnavailable

ClientFactory = Callable[..., ClickfonoClient]
DAY = date(2019, 4, 2)
SALES = Popup("popup-ventas", "Ventas Web")
SUPPORT = Popup("popup-soporte", "Soporte Técnico")
BILLING = Popup("popup-cobranzas", "Cobranzas")


def calls_of(day: date, *popups: Popup) -> list[dict[str, object]]:
    """One valid record per popup, made at 10:00 local on ``day``."""
    at = f"{day:%Y/%m/%d} 10:00:00 -0300"
    return [make_record(popup=popup, call_at=at) for popup in popups]


# --------------------------------------------------------------------------- 200 / 204


async def test_200_returns_the_body_and_parse_calls_reads_it(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A 200 answer comes back with its JSON body, from which parse_calls gets the calls."""
    records = calls_of(DAY, SALES, SUPPORT)
    simulator.set_calls(DAY, records)
    client = clickfono_client_factory(simulator.base_url)
    [answer] = await client.fetch(DAY)
    assert (answer.status, answer.date, answer.popup, answer.key) == (200, "2019-04-02", None, "*")
    assert [call.uuid for call in parse_calls(answer.body).calls] == [r["uuid"] for r in records]


async def test_204_is_an_empty_valid_answer(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A 204 is a valid answer with no calls."""
    client = clickfono_client_factory(simulator.base_url)
    [answer] = await client.fetch(DAY)
    assert (answer.status, answer.body) == (204, b"")


async def test_a_large_body_arrives_whole_with_the_digest_of_its_bytes(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A body of many chunks is read into one buffer, hashed as it arrived: the digest is
    that of the status and the whole body, and it changes when one record changes."""
    records = [
        make_record(popup=SALES, call_at=f"{DAY:%Y/%m/%d} 10:00:00 -0300") for _ in range(3000)
    ]
    simulator.set_calls(DAY, records)
    client = clickfono_client_factory(simulator.base_url)
    [first] = await client.fetch(DAY)
    assert len(first.body) > 1_000_000
    assert first.digest == answer_digest(200, bytes(first.body))
    assert len(parse_calls(first.body).calls) == 3000
    [again] = await client.fetch(DAY)
    assert again.digest == first.digest
    records[1500]["status"] = "SPAM"
    simulator.set_calls(DAY, records)
    [changed] = await client.fetch(DAY)
    assert changed.digest != first.digest
    assert changed.digest == answer_digest(200, bytes(changed.body))


async def test_a_204_has_the_digest_of_its_status_alone(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A 204's digest is that of the status and no body, unlike any 200's."""
    client = clickfono_client_factory(simulator.base_url)
    [answer] = await client.fetch(DAY)
    assert answer.digest == answer_digest(204) != answer_digest(200)


@pytest.mark.parametrize("popups", [(), ("popup-desconocido",)], ids=["204", "404"])
async def test_an_answer_without_a_list_keeps_its_connection(
    simulator: Simulator, clickfono_client_factory: ClientFactory, popups: tuple[str, ...]
) -> None:
    """A 204 (no calls) or a popup's 404 is read to its end, so the next cycle's request
    goes out on the same keep-alive connection, as a 200's does."""
    client = clickfono_client_factory(simulator.base_url, popups=popups)
    for _ in range(3):
        [answer] = await client.fetch(DAY)
        assert answer.status == (404 if popups else 204)
    simulator.set_calls(DAY, calls_of(DAY, SALES))
    if not popups:
        [answer] = await client.fetch(DAY)
        assert answer.status == 200
    connections = {r.connection for r in simulator.requests}
    assert len(connections) == 1 and 0 not in connections


def test_the_digest_is_the_one_earlier_versions_stored_in_answer_marks() -> None:
    """32 hex characters of SHA-256 over "<status>:" and the body, as marks in Redis hold
    them: an upgrade does not see every answer as changed."""
    assert answer_digest(200, b"[]") == hashlib.sha256(b"200:[]").hexdigest()[:32]
    assert answer_digest(200, bytearray(b"[]")) == answer_digest(200, b"[]")
    assert answer_digest(204) == hashlib.sha256(b"204:").hexdigest()[:32]


# --------------------------------------------------------------------------- request shape


async def test_date_is_sent_explicitly(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """The requested date goes out as ``date=YYYY-MM-DD``, not left to Clickfono's today."""
    simulator.set_calls(DAY, calls_of(DAY, SALES))
    client = clickfono_client_factory(simulator.base_url)
    [answer] = await client.fetch(DAY)
    assert answer.status == 200  # the simulator's today is not 2019-04-02
    assert simulator.requests[-1].params == {"date": "2019-04-02"}


async def test_popups_are_sent_as_popup_uuid_one_request_each(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """Each configured popup gets its own request with the lowercase ``popup_uuid`` param."""
    simulator.set_calls(DAY, calls_of(DAY, SALES, SUPPORT))
    client = clickfono_client_factory(simulator.base_url, popups=[SALES.uuid, SUPPORT.uuid])
    answers = await client.fetch(DAY)
    assert sorted((a.popup, a.status) for a in answers) == [(SUPPORT.uuid, 200), (SALES.uuid, 200)]
    sent = sorted(tuple(sorted(r.params.items())) for r in simulator.requests)
    assert sent == [
        (("date", "2019-04-02"), ("popup_uuid", SUPPORT.uuid)),
        (("date", "2019-04-02"), ("popup_uuid", SALES.uuid)),
    ]
    for answer in answers:
        [call] = parse_calls(answer.body).calls
        assert call.popup_uuid == answer.popup


async def test_token_goes_in_the_security_token_header(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """The token is sent as the ``security-token`` header, and the simulator accepts it."""
    client = clickfono_client_factory(simulator.base_url)
    await client.fetch(DAY)
    [request] = simulator.requests
    assert request.token_sent and request.token_ok


async def test_popups_are_fetched_concurrently(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """With a stall on every request, all popups' requests are in flight at the same time."""
    for popup in (SALES, SUPPORT, BILLING):
        simulator.add_popup(popup)
    simulator.inject(Fault.hang(0.4), times=3)
    client = clickfono_client_factory(
        simulator.base_url, popups=[SALES.uuid, SUPPORT.uuid, BILLING.uuid], timeout=5
    )
    started = time.monotonic()
    answers = await client.fetch(DAY)
    elapsed = time.monotonic() - started
    assert [a.status for a in answers] == [204, 204, 204]
    requests = simulator.requests
    assert len(requests) == 3
    finished = [r.finished for r in requests if r.finished is not None]
    assert len(finished) == 3
    assert max(r.started for r in requests) < min(finished)  # all three overlapped
    assert elapsed < 1.1  # one stall (0.4 s), not three (1.2 s)


# --------------------------------------------------------------------------- 401


@pytest.mark.parametrize("how", ["wrong token", "401 answer"])
async def test_401_raises_unauthorized_and_is_not_retried(
    simulator: Simulator, clickfono_client_factory: ClientFactory, how: str
) -> None:
    """A rejected token raises SourceUnauthorized after exactly one request."""
    if how == "401 answer":
        simulator.inject(Fault.http(401), times=5)
        client = clickfono_client_factory(simulator.base_url, attempts=5)
    else:
        client = clickfono_client_factory(simulator.base_url, token="wrong", attempts=5)
    with pytest.raises(SourceUnauthorized, match="rejected the token"):
        await client.fetch(DAY)
    assert len(simulator.requests) == 1


async def test_401_on_one_popup_wins_over_another_popups_outage(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """When one popup's request is unauthorized and another's fails, the fetch is unauthorized."""
    for popup in (SALES, SUPPORT):
        simulator.add_popup(popup)
    simulator.inject(Fault.http(503), times=3, popup=SALES.uuid)
    simulator.inject(Fault.http(401), times=3, popup=SUPPORT.uuid)
    client = clickfono_client_factory(simulator.base_url, popups=[SALES.uuid, SUPPORT.uuid])
    with pytest.raises(SourceUnauthorized):
        await client.fetch(DAY)
    assert sum(r.params.get("popup_uuid") == SUPPORT.uuid for r in simulator.requests) == 1


# --------------------------------------------------------------------------- 404


async def test_404_for_one_popup_while_the_others_are_fetched(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """An unknown popup answers 404 (popup_not_found) and the other popups still come back."""
    simulator.set_calls(DAY, calls_of(DAY, SALES))
    client = clickfono_client_factory(simulator.base_url, popups=[SALES.uuid, "popup-borrado"])
    answers = {a.key: a for a in await client.fetch(DAY)}
    assert answers[SALES.uuid].status == 200
    assert len(parse_calls(answers[SALES.uuid].body).calls) == 1
    assert answers["popup-borrado"].popup_not_found
    assert len(simulator.requests) == 2  # a 404 is an answer, not retried


async def test_404_without_popup_points_at_the_base_url(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A 404 for the whole list means a wrong base URL: SourceUnavailable naming the variable."""
    client = clickfono_client_factory(simulator.base_url + "/wrong-prefix")
    with pytest.raises(SourceUnavailable, match="CLICKFONO_BASE_URL"):
        await client.fetch(DAY)
    assert len(simulator.requests) == 1


# --------------------------------------------------------------------------- 5xx and transport


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_5xx_is_retried_then_source_unavailable(
    simulator: Simulator, clickfono_client_factory: ClientFactory, code: int
) -> None:
    """A 5xx on every attempt is retried ``attempts`` times, then raises SourceUnavailable."""
    simulator.inject(Fault.http(code), times=3)
    client = clickfono_client_factory(simulator.base_url, attempts=3)
    with pytest.raises(SourceUnavailable, match=f"HTTP {code}"):
        await client.fetch(DAY)
    assert len(simulator.requests) == 3


async def test_5xx_followed_by_success_recovers(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """Two 503s then a normal answer: the fetch succeeds on the third attempt."""
    simulator.set_calls(DAY, calls_of(DAY, SALES))
    simulator.inject(Fault.http(503), times=2)
    client = clickfono_client_factory(simulator.base_url, attempts=3)
    [answer] = await client.fetch(DAY)
    assert answer.status == 200
    assert [r.status for r in simulator.requests] == [503, 503, 200]


async def test_hang_is_bounded_by_the_request_deadline(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A server that never answers fails the request at the deadline, as SourceUnavailable."""
    simulator.inject(Fault.hang(30))
    client = clickfono_client_factory(simulator.base_url, timeout=0.5, attempts=1)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="timed out"):
        await client.fetch(DAY)
    assert time.monotonic() - started < 2.5


async def test_slow_trickle_is_bounded_by_the_whole_request_deadline(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A body sent a few bytes every 50 ms (under any per-read timeout) still hits the deadline."""
    simulator.set_calls(DAY, calls_of(DAY, SALES, SUPPORT))
    simulator.inject(Fault.trickle(30, interval=0.05))
    client = clickfono_client_factory(simulator.base_url, timeout=0.5, attempts=1)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="timed out"):
        await client.fetch(DAY)
    assert time.monotonic() - started < 2.5


async def test_a_timeout_is_retried(
    simulator: Simulator, clickfono_client_factory: ClientFactory
) -> None:
    """A timed-out attempt is transient: the next attempt's answer is used."""
    simulator.inject(Fault.hang(30))
    client = clickfono_client_factory(simulator.base_url, timeout=0.5, attempts=2)
    [answer] = await client.fetch(DAY)
    assert answer.status == 204
    assert len(simulator.requests) == 2


async def test_refused_connection_is_retried_then_source_unavailable(
    simulator_factory: Callable[..., Simulator], clickfono_client_factory: ClientFactory
) -> None:
    """A closed port is retried and then raises SourceUnavailable."""
    closed = simulator_factory()
    base_url = closed.base_url
    closed.stop()
    client = clickfono_client_factory(base_url, attempts=2)
    with pytest.raises(
        SourceUnavailable, match=r"unreachable at 127\.0\.0\.1:\d+: connection refused"
    ):
        await client.fetch(DAY)


@pytest.mark.parametrize(("resets", "recovers"), [(1, True), (2, False)])
async def test_connection_reset_mid_response_is_retried(
    simulator: Simulator, clickfono_client_factory: ClientFactory, resets: int, recovers: bool
) -> None:
    """A connection reset mid-body is transient: retried, and fatal only when it persists."""
    simulator.set_calls(DAY, calls_of(DAY, SALES))
    simulator.inject(Fault.reset(), times=resets)
    client = clickfono_client_factory(simulator.base_url, attempts=2)
    if recovers:
        [answer] = await client.fetch(DAY)
        assert len(parse_calls(answer.body).calls) == 1
    else:
        with pytest.raises(SourceUnavailable, match="unreachable"):
            await client.fetch(DAY)
    assert len(simulator.requests) == 2


# --------------------------------------------------------------------------- unusable bodies


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.not_json(), "not valid JSON"),
        (Fault.not_list(), "is a JSON object, not a list"),
        (Fault.vendor_example(), "not valid JSON"),
    ],
    ids=["not-json", "not-a-list", "vendor-example"],
)
async def test_unusable_200_bodies_are_returned_and_parse_calls_rejects_them(
    simulator: Simulator, clickfono_client_factory: ClientFactory, fault: Fault, message: str
) -> None:
    """The client returns a 200's bytes as they are; parse_calls raises SourceMalformed."""
    simulator.inject(fault)
    client = clickfono_client_factory(simulator.base_url)
    [answer] = await client.fetch(DAY)
    assert answer.status == 200 and answer.body
    with pytest.raises(SourceMalformed, match=message):
        parse_calls(answer.body)
    assert len(simulator.requests) == 1  # a 200 is not retried, whatever its body


# --------------------------------------------------------------------------- secrets


SECRET = "s3cr3t-clickfono-token-value"


async def _failure(
    scenario: str,
    simulator: Simulator,
    simulator_factory: Callable[..., Simulator],
    make: ClientFactory,
) -> BaseException:
    base_url = simulator.base_url
    kwargs: dict[str, object] = {"token": SECRET, "attempts": 2, "timeout": 0.5}
    if scenario == "401":
        pass  # the simulator expects test-token, so SECRET is rejected
    elif scenario == "503":
        simulator.inject(Fault.http(503), times=2)
    elif scenario == "timeout":
        simulator.inject(Fault.hang(30), times=2)
    elif scenario == "refused":
        closed = simulator_factory()
        base_url = closed.base_url
        closed.stop()
    elif scenario == "404":
        base_url += "/wrong-prefix"
    with pytest.raises((SourceUnauthorized, SourceUnavailable)) as raised:
        await make(base_url, **kwargs).fetch(DAY)
    return raised.value


@pytest.mark.parametrize("scenario", ["401", "503", "timeout", "refused", "404"])
async def test_the_token_never_appears_in_errors(
    simulator: Simulator,
    simulator_factory: Callable[..., Simulator],
    clickfono_client_factory: ClientFactory,
    scenario: str,
) -> None:
    """No raised error's message, repr or printed traceback contains the token."""
    error = await _failure(scenario, simulator, simulator_factory, clickfono_client_factory)
    assert str(error)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert SECRET not in "".join(traceback.format_exception(error))
