"""The simulator's seeded day: vendor-shaped records and every generated call's timeline.

Pure functions of a seed, a date and (for the demo burst) a start time, with no clock or
state. ``generate_day`` spreads each popup's requests over a Santiago day with
office-hours pacing and gives every call a pre-computed timeline of (simulated time,
status); ``generate_burst`` adds the demo's fast calls. ``make_record`` builds one valid
record with random Chilean personal data, for tests and manual mode.

``simulator_calls`` keeps the state over these timelines; ``simulator_http`` serves it.
"""

from __future__ import annotations

import random
import secrets
import uuid as uuidlib
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from notifier.clickfono.models import CallStatus

ZONE = ZoneInfo("America/Santiago")

Record = dict[str, Any]
_ONE_DAY = timedelta(days=1)


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


def local_day(instant: datetime) -> date:
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
class CallPlan:
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
        day = local_day(self.call_at)
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


def _plan(
    rng: random.Random, popup: Popup, call_at: datetime, outcome: str, pace: _Pace
) -> CallPlan:
    return CallPlan(
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


def generate_day(seed: int, day: date) -> tuple[CallPlan, ...]:
    """Every generated call requested on ``day`` (Santiago), ordered by request time."""
    plans: list[CallPlan] = []
    for popup in generated_popups(seed):
        rng = random.Random(f"clickfono:{seed}:{day.isoformat()}:{popup.uuid}")  # noqa: S311
        for call_at in _arrivals(rng, popup, day):
            outcome = _outcome(rng, _in_business_hours(call_at))
            plans.append(_plan(rng, popup, call_at, outcome, _DAY_PACE))
    plans.sort(key=lambda plan: (plan.call_at, plan.uuid))
    return tuple(plans)


def generate_burst(seed: int, start: datetime, count: int) -> tuple[CallPlan, ...]:
    """``count`` fast calls from just before ``start``: a demo shows changes within seconds."""
    rng = random.Random(f"clickfono:{seed}:burst:{start.astimezone(UTC).isoformat()}")  # noqa: S311
    popups = generated_popups(seed)
    # From just before the start (calls already waiting), but never on the previous day:
    # the burst must show in the start day's list from the first request on.
    start = start.astimezone(UTC).replace(microsecond=0)
    at = max(start - timedelta(seconds=90), local_midnight(local_day(start)))
    # The first calls show each kind of alert whatever the hour (a dialled out-of-hours
    # call only alerts when placed outside business hours, as a demo at 08:57 is).
    # The first call is already settled when a notifier's silent baseline first polls.
    forced = ("spam", "anomaly", "spam", "exhausted", "out_of_hours", "exhausted", "spam")
    plans: list[CallPlan] = []
    for index in range(count):
        in_hours = _in_business_hours(at)
        outcome = forced[index] if index < len(forced) else _outcome(rng, in_hours)
        popup = popups[0] if outcome == "exhausted" else rng.choice(popups)
        plans.append(_plan(rng, popup, at, outcome, _BURST_PACE))
        at += timedelta(seconds=round(rng.uniform(20, 90)))
    return tuple(plans)
