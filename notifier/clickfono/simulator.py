"""A faithful stand-in for Clickfono's ``GET /calls/list``: the tests' upstream and the demo's.

One HTTP front end serves two kinds of state:

* generated (``seed`` given): a seeded day of calls for every date. Each call has a
  pre-computed timeline of (simulated time, status), so an answer is a pure function of
  (seed, date, simulated time), plus the optional demo burst around ``start_at``.
* manual (``seed=None``): no generated calls; the test sets records explicitly.

Manual edits (``set_calls``, ``upsert``, ``set_status``, ``remove``, ``mutate_random``)
work in both: an edited generated call leaves its timeline and keeps the edited record.
Every status change, generated or manual, is appended to ``history`` (the chaos oracle).
"""

from __future__ import annotations

import contextlib
import copy
import hmac
import json
import math
import random
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import uuid as uuidlib
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from notifier.clickfono.models import CallStatus
from notifier.errors import ConfigError, NotifierError

ZONE = ZoneInfo("America/Santiago")
PATH = "/calls/list"
DEMO_BURST = 8
"""Extra calls generated around the start time by ``serve``, so a demo shows changes at once."""

Record = dict[str, Any]
_ONE_DAY = timedelta(days=1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_JSON = "application/json; charset=utf-8"

# The example body exactly as the vendor's API page publishes it: an extra "}" and
# non-breaking spaces make it invalid JSON. Served by the ``vendor_example`` fault.
VENDOR_EXAMPLE_BODY = (
    "[\n"
    "{\n"
    '"uuid" :\u00a0 "a93460bbf8402e15b9b0afddc05d5e8d",\n'
    '\u00a0\u00a0\u00a0\u00a0"status": "Conectada",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_number_company": "56223456789",\n'
    '\u00a0\u00a0\u00a0\u00a0"retry": "3",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_company": "117",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_customer": "95",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_at": "2019/04/02 10:05:03 -0300",\n'
    '\u00a0\u00a0\u00a0\u00a0"enqueued": false,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0" ,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_name": "Pruebas Clickfono",\n'
    '\u00a0\u00a0\u00a0\u00a0"additionals": {\n'
    '"Nombre": "Juan Perez",\n'
    '\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0"Rut": "11.111.111-1"\n'
    "\u00a0\u00a0\u00a0\u00a0\u00a0},\n"
    '"caller_number": "+56987654321"\n'
    "},\u00a0 {\n"
    '"uuid" :\u00a0 "d45d347218b49a967a283c7bab360e5b",\n'
    '"status": "No Conectada",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_number_company": "56223456769",\n'
    '\u00a0\u00a0\u00a0\u00a0"retry": "3",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_company": "100",\n'
    '\u00a0\u00a0\u00a0\u00a0"duration_customer": "80",\n'
    '\u00a0\u00a0\u00a0\u00a0"call_at": "2019/04/02 11:05:03 -0300",\n'
    '\u00a0\u00a0\u00a0\u00a0"enqueued": false,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0" ,\n'
    '\u00a0\u00a0\u00a0\u00a0"popup_name": "Pruebas Clickfono",\n'
    '\u00a0\u00a0\u00a0\u00a0"additionals": {\n'
    '"Nombre": "Jorge Tapia",\n'
    '\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0"Rut": "11.111.111-1"\n'
    "},\n"
    '\u00a0\u00a0\u00a0\u00a0"caller_number": "+56987654321"\n'
    "}\n"
    "\n"
    "}\n"
    "]\n"
).encode()

_NOT_JSON_BODY = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>nginx</p></body></html>"
)
_NOT_LIST_BODY = json.dumps({"error": "Servicio temporalmente no disponible"}).encode()


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Popup:
    """A Clickfono popup: the web widget through which customers request a call."""

    uuid: str
    name: str
    company_number: str = "56223456789"
    max_attempts: int = 3
    """A call whose customer does not answer is tried up to this many times in total."""
    weight: float = 1.0
    """Relative share of the generated day's traffic."""


DEFAULT_POPUP = Popup("14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0", "Pruebas Clickfono")


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status change in the simulator: what the notifier should eventually report."""

    uuid: str
    old: str | None
    """None when the call appeared."""
    new: str
    at: datetime
    """Simulated time, aware, in America/Santiago."""
    day: date
    """The ``date`` whose list holds the call."""
    popup_uuid: str | None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the simulator received. The token is never kept, only whether it matched."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    token_sent: bool
    token_ok: bool
    started: float
    """``time.monotonic()`` when the request arrived."""
    finished: float | None = None
    """``time.monotonic()`` just before the answer's last bytes were sent (or it was dropped)."""
    status: int | None = None
    """The status answered; None while in flight, or when no complete answer was sent."""
    fault: str | None = None

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


class FaultKind(StrEnum):
    STATUS = "status"
    """Answer with ``Fault.status`` (500, 502, 503, 401, 204, ...)."""
    NOT_JSON = "not_json"
    """200 with an HTML error page."""
    NOT_LIST = "not_list"
    """200 with a JSON object."""
    EMPTY = "empty"
    """200 with an empty body (not JSON: "no calls" is a 204)."""
    VENDOR_EXAMPLE = "vendor_example"
    """200 with the API page's malformed example body."""
    HANG = "hang"
    """Stall ``seconds`` before answering normally."""
    TRICKLE = "trickle"
    """Send the normal answer's body a few bytes every ``interval`` over ``seconds``."""
    RESET = "reset"
    """Send headers and half the body, then reset the connection (TCP RST)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A misbehaviour for the next requests; build with the class methods."""

    kind: FaultKind
    status: int = 200
    seconds: float = 0.0
    interval: float = 0.05

    @classmethod
    def http(cls, status: int) -> Fault:
        return cls(FaultKind.STATUS, status=status)

    @classmethod
    def not_json(cls) -> Fault:
        return cls(FaultKind.NOT_JSON)

    @classmethod
    def not_list(cls) -> Fault:
        return cls(FaultKind.NOT_LIST)

    @classmethod
    def empty(cls) -> Fault:
        return cls(FaultKind.EMPTY)

    @classmethod
    def vendor_example(cls) -> Fault:
        return cls(FaultKind.VENDOR_EXAMPLE)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls(FaultKind.HANG, seconds=seconds)

    @classmethod
    def trickle(cls, seconds: float, interval: float = 0.05) -> Fault:
        return cls(FaultKind.TRICKLE, seconds=seconds, interval=interval)

    @classmethod
    def reset(cls) -> Fault:
        return cls(FaultKind.RESET)


# --------------------------------------------------------------------------- vendor data

_FIRST_NAMES = (
    "María José", "Camila", "Valentina", "Sofía", "Catalina", "Javiera", "Fernanda",
    "Constanza", "Francisca", "Isidora", "Ximena", "Paulina", "Juan", "José Tomás",
    "Matías", "Benjamín", "Vicente", "Cristóbal", "Diego", "Felipe", "Sebastián",
    "Joaquín", "Héctor", "Patricio",
)  # fmt: skip
_SURNAMES = (
    "González", "Muñoz", "Rojas", "Díaz", "Pérez", "Soto", "Contreras", "Silva",
    "Martínez", "Sepúlveda", "Morales", "Rodríguez", "López", "Fuentes", "Hernández",
    "Torres", "Araya", "Flores", "Espinoza", "Valenzuela", "Castillo", "Tapia", "Reyes",
    "Gutiérrez", "Castro", "Pizarro", "Álvarez", "Vásquez", "Núñez", "Cortés",
)  # fmt: skip

# Name, attempts per call, share of traffic.
_POPUP_PROFILES = (
    ("Ventas Web", 3, 1.0),
    ("Soporte Técnico", 3, 0.8),
    ("Cobranzas", 2, 0.5),
    ("Agenda Sucursales", 1, 0.4),
)


def rut_check_digit(number: int) -> str:
    """The Chilean RUT check digit (modulo 11 with weights 2..7; 10 is ``K``)."""
    total, weight = 0, 2
    while number:
        total += (number % 10) * weight
        number //= 10
        weight = 2 if weight == 7 else weight + 1
    rest = 11 - total % 11
    return {11: "0", 10: "K"}.get(rest, str(rest))


def format_rut(number: int) -> str:
    """``12.345.678-5``: dotted body and its check digit."""
    return f"{number:,}".replace(",", ".") + "-" + rut_check_digit(number)


def vendor_time(instant: datetime) -> str:
    """``2019/04/02 10:05:03 -0300``: Santiago wall time with that instant's own offset."""
    return instant.astimezone(ZONE).strftime("%Y/%m/%d %H:%M:%S %z")


def local_midnight(day: date) -> datetime:
    """The first instant of ``day`` in Santiago, in UTC (a skipped midnight maps forward)."""
    return datetime.combine(day, clock_time(0), ZONE).astimezone(UTC)


def _local_day(instant: datetime) -> date:
    return instant.astimezone(ZONE).date()


def _in_business_hours(instant: datetime) -> bool:
    local = instant.astimezone(ZONE)
    return local.weekday() < 5 and 9 <= local.hour < 18


def _random_name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)} {rng.choice(_SURNAMES)}"


def _random_rut(rng: random.Random) -> str:
    return format_rut(rng.randint(5_000_000, 26_999_999))


def _random_mobile(rng: random.Random) -> str:
    return f"+569{rng.randint(0, 99_999_999):08d}"


def _random_company_number(rng: random.Random) -> str:
    # Santiago landlines: 56 2 2XXX XXXX.
    return f"5622{rng.randint(0, 9_999_999):07d}"


def _vendor_record(
    uuid: str,
    status: str,
    popup: Popup,
    call_at: str,
    *,
    retry: int,
    enqueued: bool,
    duration_company: int,
    duration_customer: int,
    name: str,
    rut: str,
    caller_number: str,
) -> Record:
    # Key order, string numbers and nesting copy the vendor's example records.
    return {
        "uuid": uuid,
        "status": status,
        "call_number_company": popup.company_number,
        "retry": str(retry),
        "duration_company": str(duration_company),
        "duration_customer": str(duration_customer),
        "call_at": call_at,
        "enqueued": enqueued,
        "popup_uuid": popup.uuid,
        "popup_name": popup.name,
        "additionals": {"Nombre": name, "Rut": rut},
        "caller_number": caller_number,
    }


def make_record(
    *,
    rng: random.Random | None = None,
    popup: Popup = DEFAULT_POPUP,
    call_at: datetime | str | None = None,
    **fields: Any,
) -> Record:
    """A valid vendor-shaped record with random personal data; ``fields`` override raw values.

    ``call_at`` may be a datetime (formatted as the vendor does) or a raw string.
    """
    # Simulated people, not secrets: a seeded PRNG keeps tests reproducible.
    rng = rng or random.Random(secrets.randbits(64))  # noqa: S311
    when = call_at if isinstance(call_at, str) else vendor_time(call_at or datetime.now(UTC))
    record = _vendor_record(
        f"{rng.getrandbits(128):032x}",
        CallStatus.SCHEDULED.value,
        popup,
        when,
        retry=0,
        enqueued=False,
        duration_company=0,
        duration_customer=0,
        name=_random_name(rng),
        rut=_random_rut(rng),
        caller_number=_random_mobile(rng),
    )
    record.update(fields)
    return record


# --------------------------------------------------------------------------- the generated day


@dataclass(frozen=True, slots=True)
class _Step:
    at: datetime
    status: str
    retry: int
    enqueued: bool
    duration_company: int = 0
    duration_customer: int = 0


def _step_time(step: _Step) -> datetime:
    return step.at


@dataclass(frozen=True, slots=True)
class _Plan:
    """One generated call: who, when, and its whole timeline."""

    uuid: str
    popup: Popup
    call_at: datetime
    caller_number: str
    name: str
    rut: str
    steps: tuple[_Step, ...]

    def step_at(self, now: datetime) -> _Step | None:
        index = bisect_right(self.steps, now, key=_step_time)
        return self.steps[index - 1] if index else None

    def record(self, step: _Step) -> Record:
        return _vendor_record(
            self.uuid,
            step.status,
            self.popup,
            vendor_time(self.call_at),
            retry=step.retry,
            enqueued=step.enqueued,
            duration_company=step.duration_company,
            duration_customer=step.duration_customer,
            name=self.name,
            rut=self.rut,
            caller_number=self.caller_number,
        )

    def changes(self) -> Iterator[StatusChange]:
        previous: str | None = None
        day = _local_day(self.call_at)
        for step in self.steps:
            if step.status != previous:
                at = step.at.astimezone(ZONE)
                yield StatusChange(self.uuid, previous, step.status, at, day, self.popup.uuid)
            previous = step.status


@dataclass(frozen=True, slots=True)
class _Pace:
    """How long things take, in simulated seconds (the demo burst runs faster)."""

    queue: tuple[float, float]
    long_queue: tuple[float, float]
    long_queue_share: float
    talk: tuple[float, float]
    redial: tuple[float, float]


_DAY_PACE = _Pace((15, 300), (16 * 60, 35 * 60), 0.08, (40, 540), (60, 360))
_BURST_PACE = _Pace((20, 120), (16 * 60, 20 * 60), 0.0, (30, 150), (30, 90))


class _Timeline:
    """Builder of a call's steps; times advance in UTC so DST never bends a duration."""

    def __init__(self, start: datetime) -> None:
        self.at = start
        self.steps: list[_Step] = []

    def add(
        self,
        after: float,
        status: CallStatus,
        retry: int,
        enqueued: bool,
        duration_company: int = 0,
        duration_customer: int = 0,
    ) -> None:
        self.at += timedelta(seconds=after)
        self.steps.append(
            _Step(self.at, status.value, retry, enqueued, duration_company, duration_customer)
        )


def _outcome(rng: random.Random, in_hours: bool) -> str:
    if not in_hours:
        # A few out-of-hours requests get dialled anyway: the anomaly the notifier flags.
        return "anomaly" if rng.random() < 0.12 else "out_of_hours"
    return "spam" if rng.random() < 0.06 else "normal"


def _timeline(
    rng: random.Random, popup: Popup, call_at: datetime, outcome: str, pace: _Pace
) -> tuple[_Step, ...]:
    line = _Timeline(call_at)
    if outcome in ("out_of_hours", "spam"):
        final = CallStatus.OUT_OF_HOURS if outcome == "out_of_hours" else CallStatus.SPAM
        if rng.random() < 0.4:
            line.add(0, final, 0, False)  # rejected on arrival: a new call already final
        else:
            line.add(0, CallStatus.SCHEDULED, 0, False)
            line.add(rng.uniform(3, 60), final, 0, False)
        return tuple(line.steps)
    attempts = 1 if outcome == "anomaly" else popup.max_attempts
    answer_rate = {"connected": 1.0, "exhausted": 0.0, "anomaly": 0.7}.get(outcome, 0.62)
    line.add(0, CallStatus.SCHEDULED, 0, False)
    line.add(rng.uniform(2, 40), CallStatus.QUEUED, 1, True)
    for attempt in range(1, attempts + 1):
        long_wait = rng.random() < pace.long_queue_share
        line.add(
            rng.uniform(*(pace.long_queue if long_wait else pace.queue)),
            CallStatus.RUNNING,
            attempt,
            False,
        )
        ring = rng.uniform(8, 30)
        if rng.random() < answer_rate:
            talk = rng.uniform(*pace.talk)
            line.add(
                ring + talk, CallStatus.CONNECTED, attempt, False, round(ring + talk), round(talk)
            )
            break
        if attempt < attempts:
            line.add(ring, CallStatus.NOT_CONNECTED, attempt, True, round(ring))
            line.add(rng.uniform(*pace.redial), CallStatus.QUEUED, attempt + 1, True, round(ring))
        else:
            final = CallStatus.ATTEMPTS_EXHAUSTED if attempts > 1 else CallStatus.NOT_CONNECTED
            line.add(ring, final, attempt, False, round(ring))
    return tuple(line.steps)


def _plan(rng: random.Random, popup: Popup, call_at: datetime, outcome: str, pace: _Pace) -> _Plan:
    return _Plan(
        uuid=f"{rng.getrandbits(128):032x}",
        popup=popup,
        call_at=call_at,
        caller_number=_random_mobile(rng),
        name=_random_name(rng),
        rut=_random_rut(rng),
        steps=_timeline(rng, popup, call_at, outcome, pace),
    )


def generated_popups(seed: int) -> tuple[Popup, ...]:
    """The popups of a generated simulator: the same for every day of one seed."""
    rng = random.Random(f"clickfono:{seed}:popups")  # noqa: S311
    return tuple(
        Popup(
            str(uuidlib.UUID(int=rng.getrandbits(128))),
            name,
            _random_company_number(rng),
            attempts,
            weight,
        )
        for name, attempts, weight in _POPUP_PROFILES
    )


def _mean_gap_minutes(instant: datetime) -> float:
    local = instant.astimezone(ZONE)
    weekday, hour = local.weekday() < 5, local.hour
    if weekday and 9 <= hour < 18:
        return 10.0 if hour == 13 else 6.0  # lunch is quieter
    if 7 <= hour < 22:
        return 50.0 if weekday else 40.0
    return 150.0


def _arrivals(rng: random.Random, popup: Popup, day: date) -> list[datetime]:
    at, end = local_midnight(day), local_midnight(day + _ONE_DAY)
    found: list[datetime] = []
    while True:
        mean = _mean_gap_minutes(at) * 60 / popup.weight
        at += timedelta(seconds=round(rng.expovariate(1 / mean)))
        if at >= end:
            return found
        found.append(at)


def generate_day(seed: int, day: date) -> tuple[_Plan, ...]:
    """Every generated call requested on ``day`` (Santiago), ordered by request time."""
    plans: list[_Plan] = []
    for popup in generated_popups(seed):
        rng = random.Random(f"clickfono:{seed}:{day.isoformat()}:{popup.uuid}")  # noqa: S311
        for call_at in _arrivals(rng, popup, day):
            outcome = _outcome(rng, _in_business_hours(call_at))
            plans.append(_plan(rng, popup, call_at, outcome, _DAY_PACE))
    plans.sort(key=lambda plan: (plan.call_at, plan.uuid))
    return tuple(plans)


def generate_burst(seed: int, start: datetime, count: int) -> tuple[_Plan, ...]:
    """``count`` fast calls from just before ``start``: a demo shows changes within seconds."""
    rng = random.Random(f"clickfono:{seed}:burst:{start.astimezone(UTC).isoformat()}")  # noqa: S311
    popups = generated_popups(seed)
    # From just before the start (calls already waiting), but never on the previous day:
    # the burst must show in the start day's list from the first request on.
    start = start.astimezone(UTC).replace(microsecond=0)
    at = max(start - timedelta(seconds=90), local_midnight(_local_day(start)))
    # The first calls show each kind of alert whatever the hour (a dialled out-of-hours
    # call only alerts when placed outside business hours, as a demo at 08:57 is).
    # The first call is already settled when a notifier's silent baseline first polls.
    forced = ("spam", "anomaly", "spam", "exhausted", "out_of_hours", "exhausted", "spam")
    plans: list[_Plan] = []
    for index in range(count):
        in_hours = _in_business_hours(at)
        outcome = forced[index] if index < len(forced) else _outcome(rng, in_hours)
        popup = popups[0] if outcome == "exhausted" else rng.choice(popups)
        plans.append(_plan(rng, popup, at, outcome, _BURST_PACE))
        at += timedelta(seconds=round(rng.uniform(20, 90)))
    return tuple(plans)


@dataclass(frozen=True, slots=True)
class _Day:
    plans: tuple[_Plan, ...]
    by_uuid: Mapping[str, _Plan]
    changes: tuple[StatusChange, ...]
    """Every status change of these calls, ordered by time."""


def _change_time(change: StatusChange) -> datetime:
    return change.at


def _change_order(change: StatusChange) -> tuple[datetime, str]:
    return change.at, change.uuid


@dataclass(slots=True)
class _PendingFault:
    fault: Fault
    remaining: int
    popup: str | None


def _as_day(day: date | str) -> date:
    if isinstance(day, datetime):
        raise TypeError("pass a date, not a datetime")
    return day if isinstance(day, date) else date.fromisoformat(day)


def _record_day(record: Mapping[str, Any]) -> date | None:
    """The local date in a vendor ``call_at`` (``2019/04/02 ...``), if it has one."""
    text = record.get("call_at")
    if isinstance(text, str) and len(text) >= 10:
        with contextlib.suppress(ValueError):
            return date.fromisoformat(text[:10].replace("/", "-"))
    return None


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}, ensure_ascii=False).encode()


# --------------------------------------------------------------------------- the simulator


class Simulator:
    """Clickfono's ``calls/list`` over real HTTP, in a background thread; thread-safe.

    ``seed=None`` is manual mode (no generated calls). Simulated time is
    ``clock()`` when given, else ``start_at + elapsed real time × speed``; ``advance``
    adds to either. ``burst`` adds that many quick calls around ``start_at``.
    """

    def __init__(
        self,
        token: str,
        *,
        seed: int | None = None,
        start_at: datetime | None = None,
        speed: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        burst: int = 0,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must not be negative")
        if start_at is not None and start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        self._token = token.encode()
        self.seed = seed
        self._lock = threading.RLock()
        self._clock = clock
        self._speed = speed
        self._real_start = time.monotonic()
        self._start = (clock() if clock else start_at or datetime.now(UTC)).astimezone(UTC)
        self._offset = timedelta(0)
        self._popups: dict[str, Popup] = {}
        self._burst: tuple[_Plan, ...] = ()
        if seed is not None:
            self._popups = {popup.uuid: popup for popup in generated_popups(seed)}
            if burst:
                self._burst = generate_burst(seed, self._start, burst)
        self._days: dict[date, _Day] = {}
        self._plan_day: dict[str, date] = {}
        self._manual: dict[date, dict[str, Record]] = {}
        self._manual_day: dict[str, date] = {}
        self._detached: set[str] = set()
        # Removed calls' last status: one that comes back is a change only if it differs,
        # as the notifier keeps a missing call's snapshot.
        self._removed: dict[str, str | None] = {}
        self._anonymous = 0
        self._history: list[StatusChange] = []
        # History covers generated changes from the previous local day's midnight on.
        self._synced = local_midnight(_local_day(self._start) - _ONE_DAY) - timedelta.resolution
        self._faults: list[_PendingFault] = []
        self._requests: list[RequestRecord] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Listen on ``host:port`` (0: a free port); returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        server = _Server((host, port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="clickfono-simulator",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections (stalled answers end at once)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://host:port``: what CLICKFONO_BASE_URL should be."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        host = str(self._server.server_address[0])
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"  # noqa: S104  # nosec B104 - prints a URL, binds nothing

    # ---- simulated time

    def now(self) -> datetime:
        """Simulated now, aware, in America/Santiago."""
        with self._lock:
            offset = self._offset
        if self._clock is not None:
            base = self._clock().astimezone(UTC)
        else:
            elapsed = (time.monotonic() - self._real_start) * self._speed
            base = self._start + timedelta(seconds=elapsed)
        return (base + offset).astimezone(ZONE)

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward; returns the new simulated now."""
        if seconds < 0:
            raise ValueError("simulated time only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
            now = self.now()
            self._sync(now)
            return now

    # ---- state

    @property
    def popups(self) -> tuple[Popup, ...]:
        """Generated, declared, and named by any record so far: the popups that are not 404."""
        with self._lock:
            return tuple(self._popups.values())

    def add_popup(self, popup: Popup) -> None:
        """Declare a popup: a known popup with no calls answers 204, not 404."""
        with self._lock:
            self._popups[popup.uuid] = popup

    def records(self, day: date | str | None = None, popup: str | None = None) -> list[Record]:
        """What ``calls/list`` would hold now for ``day`` (default: simulated today)."""
        with self._lock:
            now = self.now()
            self._sync(now)
            return self._records(_as_day(day) if day else now.date(), popup, now)

    @property
    def history(self) -> tuple[StatusChange, ...]:
        """Every status change so far, in order (generated ones from yesterday's midnight)."""
        with self._lock:
            self._sync(self.now())
            return tuple(self._history)

    def changes_since(self, instant: datetime) -> list[StatusChange]:
        """The status changes strictly after ``instant`` (simulated time)."""
        return [change for change in self.history if change.at > instant]

    def set_calls(self, day: date | str, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace ``day``'s manual list; records are served as given (invalid ones too)."""
        target = _as_day(day)
        wanted = [dict(record) for record in records]
        with self._lock:
            now = self.now()
            self._sync(now)
            uuids = {record.get("uuid") for record in wanted}
            listed = self._manual.setdefault(target, {})
            for key in [key for key in listed if key not in uuids]:
                del listed[key]
                self._manual_day.pop(key, None)
            for record in wanted:
                uuid = record.get("uuid")
                if isinstance(uuid, str) and uuid:
                    self._put(record, target, now)
                else:
                    # No usable uuid: served as is (tests of rejected records), never diffed.
                    self._anonymous += 1
                    listed[f"\0anonymous-{self._anonymous}"] = copy.deepcopy(record)
                    self._learn_popup(record)

    def upsert(self, record: Mapping[str, Any], *, day: date | str | None = None) -> None:
        """Add or replace one call by uuid, in ``day`` or its ``call_at`` date (else today)."""
        uuid = record.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise ValueError("upsert needs a record with a uuid; use set_calls for others")
        with self._lock:
            now = self.now()
            self._sync(now)
            found = self._current(uuid, now)
            target = (
                _as_day(day)
                if day
                else _record_day(record) or (found[0] if found else None) or now.date()
            )
            self._put(dict(record), target, now)

    def set_status(self, uuid: str, status: str, **fields: Any) -> None:
        """Change one call's status (and any other raw fields); KeyError if unknown."""
        with self._lock:
            now = self.now()
            self._sync(now)
            found = self._current(uuid, now)
            if found is None:
                raise KeyError(uuid)
            day, record = found
            self._put({**record, "status": status, **fields}, day, now)

    def remove(self, uuid: str) -> None:
        """Take a call out of every answer; KeyError if unknown."""
        with self._lock:
            now = self.now()
            self._sync(now)
            found = self._current(uuid, now)
            if found is None:
                raise KeyError(uuid)
            status = found[1].get("status")
            self._removed[uuid] = status if isinstance(status, str) else None
            self._claim(uuid)

    def mutate_random(self, n: int, rng: random.Random) -> list[StatusChange]:
        """Make ``n`` random status changes among today's calls, new calls included."""
        statuses = [status.value for status in CallStatus]
        made: list[StatusChange] = []
        with self._lock:
            for _ in range(n):
                now = self.now()
                self._sync(now)
                existing = [
                    record
                    for record in self._records(now.date(), None, now)
                    if isinstance(record.get("uuid"), str) and isinstance(record.get("status"), str)
                ]
                if not existing or rng.random() < 0.25:
                    popups = list(self._popups.values()) or [DEFAULT_POPUP]
                    record = make_record(
                        rng=rng, popup=rng.choice(popups), call_at=now, status=rng.choice(statuses)
                    )
                    change = self._put(record, now.date(), now)
                else:
                    target = rng.choice(existing)
                    target["status"] = rng.choice([s for s in statuses if s != target["status"]])
                    change = self._put(target, now.date(), now)
                if change is not None:
                    made.append(change)
        return made

    # ---- faults and the request log

    def inject(self, fault: Fault, times: int = 1, *, popup: str | None = None) -> None:
        """Apply ``fault`` to the next ``times`` requests (only those for ``popup`` if given)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_PendingFault(fault, times, popup))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many requests still have a fault waiting for them."""
        with self._lock:
            return sum(pending.remaining for pending in self._faults)

    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        with self._lock:
            return tuple(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- internals (all under the lock)

    def _day(self, day: date) -> _Day:
        cached = self._days.get(day)
        if cached is None:
            assert self.seed is not None
            plans = generate_day(self.seed, day) + tuple(
                plan for plan in self._burst if _local_day(plan.call_at) == day
            )
            plans = tuple(sorted(plans, key=lambda plan: (plan.call_at, plan.uuid)))
            changes = sorted((c for plan in plans for c in plan.changes()), key=_change_order)
            cached = _Day(plans, {plan.uuid: plan for plan in plans}, tuple(changes))
            if len(self._days) >= 16:  # days are cheap to regenerate; memory is bounded
                del self._days[next(iter(self._days))]
            self._days[day] = cached
            for plan in plans:
                self._plan_day[plan.uuid] = day
        return cached

    def _sync(self, now: datetime) -> None:
        """Append the generated changes up to ``now`` to the history."""
        if self.seed is None or now <= self._synced:
            return
        pending: list[StatusChange] = []
        day = _local_day(self._synced) - _ONE_DAY  # yesterday's late calls end today
        while day <= _local_day(now):
            changes = self._day(day).changes
            low = bisect_right(changes, self._synced, key=_change_time)
            high = bisect_right(changes, now, key=_change_time)
            pending.extend(c for c in changes[low:high] if c.uuid not in self._detached)
            day += _ONE_DAY
        pending.sort(key=_change_order)
        self._history.extend(pending)
        self._synced = now

    def _records(self, day: date, popup: str | None, now: datetime) -> list[Record]:
        found: list[Record] = []
        if self.seed is not None and day <= now.date():
            for plan in self._day(day).plans:
                if plan.uuid in self._detached or (popup and plan.popup.uuid != popup):
                    continue
                step = plan.step_at(now)
                if step is not None:
                    found.append(plan.record(step))
        for record in self._manual.get(day, {}).values():
            if not popup or record.get("popup_uuid") == popup:
                found.append(copy.deepcopy(record))
        return found

    def _current(self, uuid: str, now: datetime) -> tuple[date, Record] | None:
        day = self._manual_day.get(uuid)
        if day is not None:
            return day, copy.deepcopy(self._manual[day][uuid])
        day = self._plan_day.get(uuid)
        if day is None or uuid in self._detached:
            return None
        step = (plan := self._day(day).by_uuid[uuid]).step_at(now)
        return (day, plan.record(step)) if step else None

    def _claim(self, uuid: str) -> None:
        """Take ``uuid`` out of wherever it is; a generated call leaves its timeline."""
        day = self._manual_day.pop(uuid, None)
        if day is not None:
            self._manual[day].pop(uuid, None)
        if uuid in self._plan_day:
            self._detached.add(uuid)

    def _put(self, record: Record, day: date, now: datetime) -> StatusChange | None:
        uuid = str(record["uuid"])
        found = self._current(uuid, now)
        old = found[1].get("status") if found else self._removed.get(uuid)
        self._removed.pop(uuid, None)
        self._claim(uuid)
        self._manual.setdefault(day, {})[uuid] = copy.deepcopy(record)
        self._manual_day[uuid] = day
        self._learn_popup(record)
        new = record.get("status")
        if not isinstance(new, str) or new == old:
            return None
        popup = record.get("popup_uuid")
        change = StatusChange(
            uuid,
            old if isinstance(old, str) else None,
            new,
            now,
            day,
            popup if isinstance(popup, str) else None,
        )
        self._history.append(change)
        return change

    def _learn_popup(self, record: Mapping[str, Any]) -> None:
        # A popup stays known after its calls go, as on the real service.
        uuid, name = record.get("popup_uuid"), record.get("popup_name")
        if isinstance(uuid, str) and uuid and uuid not in self._popups:
            number = record.get("call_number_company")
            self._popups[uuid] = Popup(
                uuid,
                name if isinstance(name, str) else "",
                number if isinstance(number, str) else DEFAULT_POPUP.company_number,
            )

    def _answer(self, params: Mapping[str, str], token_ok: bool) -> tuple[int, bytes]:
        """The documented contract: 401, 400 (bad date), 404 (popup), 204 or 200."""
        if not token_ok:
            return 401, _error_body("Token inválido")
        with self._lock:
            now = self.now()
            self._sync(now)
            text = params.get("date", "")
            if text:
                if not _DATE.fullmatch(text):
                    return 400, _error_body("Fecha inválida, use YYYY-MM-DD")
                try:
                    day = date.fromisoformat(text)
                except ValueError:
                    return 400, _error_body("Fecha inválida, use YYYY-MM-DD")
            else:
                day = now.date()
            popup = params.get("popup_uuid") or None
            if popup is not None and popup not in self._popups:
                return 404, _error_body("Popup no encontrado")
            records = self._records(day, popup, now)
        if not records:
            return 204, b""
        return 200, json.dumps(records, ensure_ascii=False).encode()

    def _take_fault(self, popup: str | None) -> Fault | None:
        with self._lock:
            for pending in self._faults:
                if pending.popup is None or pending.popup == popup:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    return pending.fault
        return None

    def _log_start(self, entry: RequestRecord) -> None:
        with self._lock:
            self._requests.append(entry)

    def _log_end(self, entry: RequestRecord, status: int | None) -> None:
        done = RequestRecord(
            entry.method,
            entry.path,
            entry.query,
            entry.token_sent,
            entry.token_ok,
            entry.started,
            time.monotonic(),
            status,
            entry.fault,
        )
        with self._lock:
            for index in range(len(self._requests) - 1, -1, -1):
                if self._requests[index] is entry:
                    self._requests[index] = done
                    return

    def _token_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self._token)


# --------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 stalls a 6th popup reconnecting at once for a SYN retransmit.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Tracked so stop() can end idle keep-alive connections and stalled answers.
        sock = request if isinstance(request, socket.socket) else None
        if sock is not None:
            with self._connections_lock:
                self._connections.add(sock)
        try:
            super().finish_request(request, client_address)
        finally:
            if sock is not None:
                with self._connections_lock:
                    self._connections.discard(sock)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # A client that gives up mid-answer is normal here (deadlines, fault tests).
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClickfonoSimulator/1.0"
    sys_version = ""
    _entry: RequestRecord | None = None

    @property
    def _simulator(self) -> Simulator:
        return cast(_Server, self.server).simulator

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator keeps its own request log."""

    def do_GET(self) -> None:
        simulator = self._simulator
        url = urlsplit(self.path)
        query = tuple(parse_qsl(url.query, keep_blank_values=True))
        params = dict(query)
        sent = self.headers.get("security-token")
        fault = (
            simulator._take_fault(params.get("popup_uuid") or None) if url.path == PATH else None
        )
        self._entry = RequestRecord(
            "GET",
            url.path,
            query,
            sent is not None,
            simulator._token_matches(sent),
            time.monotonic(),
            fault=fault.kind.value if fault else None,
        )
        simulator._log_start(self._entry)
        try:
            if url.path != PATH:
                self._send(404, _error_body("Not Found"))
            else:
                self._serve(fault, params, self._entry.token_ok)
        except OSError:
            self.close_connection = True  # the client went away
        finally:
            self._answered(None)

    def _answered(self, status: int | None) -> None:
        # Logged just before the last bytes go out, so a client holding the whole answer
        # always finds it complete in the log (tests count and compare without polling).
        if self._entry is not None:
            self._simulator._log_end(self._entry, status)
            self._entry = None

    def _not_allowed(self) -> None:
        self._send(405, _error_body("Method Not Allowed"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _not_allowed

    def _serve(self, fault: Fault | None, params: Mapping[str, str], token_ok: bool) -> None:
        simulator = self._simulator
        if fault is None:
            self._send(*simulator._answer(params, token_ok))
            return
        if fault.kind is FaultKind.HANG and simulator._stopping.wait(fault.seconds):
            self.close_connection = True
            return
        content_type = _JSON
        match fault.kind:
            case FaultKind.STATUS:
                status, body = fault.status, _error_body(f"HTTP {fault.status}")
            case FaultKind.NOT_JSON:
                status, body, content_type = 200, _NOT_JSON_BODY, "text/html; charset=utf-8"
            case FaultKind.NOT_LIST:
                status, body = 200, _NOT_LIST_BODY
            case FaultKind.EMPTY:
                status, body = 200, b""
            case FaultKind.VENDOR_EXAMPLE:
                status, body = 200, VENDOR_EXAMPLE_BODY
            case _:
                status, body = simulator._answer(params, token_ok)
        if fault.kind is FaultKind.TRICKLE:
            self._trickle(status, body, fault)
        elif fault.kind is FaultKind.RESET:
            self._reset(status, body)
        else:
            self._send(status, body, content_type)

    def _send(self, status: int, body: bytes, content_type: str = _JSON) -> None:
        self.send_response(status)
        if status == 204:
            body = b""
        else:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if not body:
            self._answered(status)
        self.end_headers()
        if body:
            self._answered(status)
            self.wfile.write(body)

    def _trickle(self, status: int, body: bytes, fault: Fault) -> None:
        if status == 204:
            status, body = 200, b"[]"
        chunks = max(1, math.ceil(fault.seconds / fault.interval))
        body = body.ljust(chunks, b" ")  # JSON allows trailing whitespace
        size = math.ceil(len(body) / chunks)
        self.send_response(status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for offset in range(0, len(body), size):
            if self._simulator._stopping.wait(fault.interval):
                self.close_connection = True
                return
            if offset + size >= len(body):
                self._answered(status)
            self.wfile.write(body[offset : offset + size])

    def _reset(self, status: int, body: bytes) -> None:
        if status == 204 or len(body) < 2:
            status, body = 200, b"[]"
        body = body.ljust(64, b" ")
        self.send_response(status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self._answered(None)  # no complete answer
        # Linger 0: close() sends RST instead of FIN, as a crashed proxy would.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


# --------------------------------------------------------------------------- command line


def demo_start(
    speed: float, *, now: datetime | None = None, window: timedelta = timedelta(minutes=15)
) -> datetime:
    """Where a demo's simulated clock starts: now, or earlier today when at ``speed`` the
    simulated day would end within ``window`` of real time.

    The notifier asks for the real date, so once simulated time passes midnight the new
    calls land in a list it does not poll; starting earlier keeps the demo lively.
    """
    real = (now or datetime.now(UTC)).astimezone(ZONE)
    latest = local_midnight(real.date() + _ONE_DAY) - window * speed
    return max(local_midnight(real.date()), min(real.astimezone(UTC), latest)).astimezone(ZONE)


def serve(host: str, port: int, token: str, speed: float, seed: int) -> None:
    """Serve a generated day until Ctrl-C or SIGTERM (``clickfono-notifier simulate``)."""
    if speed < 0:
        raise ConfigError("--speed must not be negative")
    simulator = Simulator(
        token, seed=seed, speed=speed, start_at=demo_start(speed), burst=DEMO_BURST
    )
    try:
        simulator.start(host, port)
    except OSError as exc:
        raise NotifierError(
            f"simulator cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    done = threading.Event()
    restore = _stop_on_sigterm(done)
    try:
        sys.stdout.write(
            f"Clickfono simulator listening on {simulator.base_url}{PATH} "
            f"(seed {seed}, speed {speed:g}x, simulated time {vendor_time(simulator.now())}); "
            "Ctrl-C stops it\n"
        )
        sys.stdout.flush()
        while not done.wait(0.5):  # a timed wait keeps Ctrl-C responsive everywhere
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        restore()


def _stop_on_sigterm(done: threading.Event) -> Callable[[], None]:
    """Make SIGTERM (containers) stop like Ctrl-C; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    return restore
