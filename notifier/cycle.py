"""One poll cycle: fetch today's answers, skip unchanged ones, diff, commit atomically.

A cycle costs a constant number of Redis round trips whatever the number of calls:
one pipelined read of meta and answer marks; when an answer changed, one MGET of the
changed answers' call indexes (unless this poller kept them) and one pipelined HMGET of
the snapshots of the calls that changed (see ``CallIndex`` in diff.py); and one atomic
commit.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from notifier import events as ev
from notifier import tally as tallies
from notifier.clickfono.client import Answer, ClickfonoClient
from notifier.clickfono.models import Call, CallRecords, RejectedRecord, split_calls
from notifier.config import EventFilter, Settings
from notifier.diff import REJECTED, CallIndex, DiffContext, Snapshot, diff_call
from notifier.errors import SourceError, SourceUnauthorized
from notifier.events import Event, event_id
from notifier.logs import get_logger
from notifier.store import AnswerMark, CycleState, DayChanges, Store
from notifier.store import keys as meta_fields

log = get_logger("notifier.cycle")
_NO_CALLS = CallRecords(b"", (), None)  # a 204 answer

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one successful cycle did."""

    cycle_id: str
    dates: tuple[str, ...]
    calls_seen: int
    answers_unchanged: int
    records_rejected: int
    events: tuple[Event, ...]
    queued: int
    baseline: bool
    observed_late: bool
    popups_not_found: tuple[str, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    calls_today: Mapping[tallies.Key, int] = field(default_factory=dict)
    """Today's calls by (popup uuid, popup name, status), every answer included."""

    def log_fields(self) -> dict[str, object]:
        """The structured fields of the ``cycle`` log line (``run`` and ``once`` alike)."""
        return {
            "cycle": self.cycle_id,
            "calls": self.calls_seen,
            "unchanged_answers": self.answers_unchanged,
            "events": len(self.events),
            "queued": self.queued,
            "rejected": self.records_rejected,
            "baseline": self.baseline,
            "observed_late": self.observed_late,
            "phases": {k: round(v, 4) for k, v in self.timings.items()},
        }


def polled_dates(now: datetime, settings: Settings) -> list[date]:
    """Today in the configured zone, plus yesterday during the rollover grace."""
    local = now.astimezone(settings.zone)
    today = local.date()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today]
    if local - midnight < timedelta(minutes=settings.notifier_rollover_grace):
        days.append(today - timedelta(days=1))
    return days


class Poller:
    """Runs cycles for one deployment. All I/O goes through the client and the store."""

    def __init__(
        self,
        settings: Settings,
        client: ClickfonoClient,
        store: Store,
        filters: Mapping[str, EventFilter],
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.filters = dict(filters)
        self.clock = clock
        # The call index this poller last committed per (date, answer key), with the
        # token its answer mark carries: while the stored mark still has that token, the
        # stored index is this one and need not be loaded and decoded again.
        self._indexes: dict[tuple[str, str], tuple[str, CallIndex]] = {}

    def route(self, events: Sequence[Event]) -> dict[str, list[Event]]:
        """Events per sink, by each sink's filter."""
        return {sink: [e for e in events if f.admits(e.type)] for sink, f in self.filters.items()}

    async def run_cycle(self, lease_value: str = "") -> CycleReport:
        """Run one cycle. Raises SourceError (after recording the outage episode),
        StoreError or LeaseLost; in every such case no snapshot has changed."""
        cycle_id = uuid.uuid4().hex[:12]
        now = self.clock()
        days = polled_dates(now, self.settings)
        day_keys = [d.isoformat() for d in days]
        timings: dict[str, float] = {}

        started = time.perf_counter()
        state = await self.store.load_cycle_state(day_keys)
        try:
            fetched = await asyncio.gather(*(self.client.fetch(d) for d in days))
        except SourceError as exc:
            await self._record_source_failure(exc, state.meta, now, lease_value)
            raise
        timings["fetch"] = time.perf_counter() - started
        # From validation to the commit, the cycle builds and drops a few objects per call
        # and waits only on Redis: the collector is held off until they are gone.
        with _gc_paused():
            return await self._process(
                cycle_id, now, day_keys, fetched, state, lease_value, timings
            )

    async def _process(
        self,
        cycle_id: str,
        now: datetime,
        day_keys: Sequence[str],
        fetched: Sequence[list[Answer]],
        state: CycleState,
        lease_value: str,
        timings: dict[str, float],
    ) -> CycleReport:
        """Validate, choose the calls to diff, diff them and commit (see ``run_cycle``).

        Empties the lists of ``fetched`` once the answers are planned: their bodies are
        not needed after that."""
        started = time.perf_counter()
        try:
            parsed = self._parse(cycle_id, day_keys, fetched, state, now)
        except SourceError as exc:
            await self._record_source_failure(exc, state.meta, now, lease_value)
            raise
        timings["validate"] = time.perf_counter() - started
        per_answer, unchanged, rejected, seen, missing_popups = parsed
        now_ts = now.timestamp()

        first = not state.initialized
        silent = first and self.settings.notifier_baseline == "silent"
        last = state.last_success
        late = last is not None and now_ts - last > 3 * self.settings.notifier_poll_interval

        # Which calls to diff: those whose fingerprint changed since their answer was
        # last diffed, and those whose queue alert is due. The rest would diff to nothing.
        started = time.perf_counter()
        alert_after = self.settings.notifier_queue_alert_minutes * 60
        plans: list[_Plan] = []
        if per_answer:
            try:
                plans = await self._plan(cycle_id, per_answer, state, silent, alert_after, now_ts)
            except SourceError as exc:  # a changed record that is not UTF-8
                await self._record_source_failure(exc, state.meta, now, lease_value)
                raise
            # Planned: the bodies and their records are not needed any more. Released
            # now, they do not add to the peak of the diff and the commit.
            del parsed, per_answer
            for answers in fetched:
                answers.clear()
        for plan in plans:
            seen += plan.count
            rejected += len(plan.rejected)
            for record in plan.rejected:
                log.warning(
                    "record_skipped",
                    cycle=cycle_id,
                    date=plan.day,
                    answer=plan.answer.key,
                    index=record.index,
                    call=record.uuid,
                    reason=record.reason,
                )
        timings["index"] = time.perf_counter() - started

        started = time.perf_counter()
        snapshots: dict[str, dict[str, str]] = {}
        wanted: dict[str, list[str]] = {}
        for plan in plans:
            wanted.setdefault(plan.day, []).extend(plan.calls[i].uuid for i in plan.selected)
        if any(wanted.values()):
            snapshots = await self.store.load_snapshots(wanted)
        timings["snapshots"] = time.perf_counter() - started

        started = time.perf_counter()
        ctx = DiffContext(
            now=now,
            is_open=self.settings.calendar.is_open,
            queue_alert_seconds=alert_after,
            silent=silent,
            observed_late=late,
        )
        changes: dict[str, tuple[dict[str, str], dict[str, AnswerMark], dict[str, str]]] = {}
        detected: list[Event] = []
        for plan in plans:
            stored = snapshots.get(plan.day, {})
            day_snaps, day_marks, day_indexes = changes.setdefault(plan.day, ({}, {}, {}))
            waits = plan.waits
            counting = tallies.begin(state.answers.get(plan.day, {}).get(plan.answer.key), silent)
            for i in plan.selected:
                call = plan.calls[i]
                previous = _decode(stored.get(call.uuid), call.uuid, cycle_id)
                result = diff_call(previous, call, ctx)
                tallies.count(counting, previous, call)
                if result.snapshot is not None:
                    day_snaps[call.uuid] = result.snapshot.encode()
                detected.extend(result.events)
                current = result.snapshot or previous
                since = current.pending_wait if current else None
                if since is None:
                    waits.pop(call.uuid, None)
                else:
                    waits[call.uuid] = since
            deadline = min(waits.values()) + alert_after if waits and alert_after > 0 else None
            day_marks[plan.answer.key] = AnswerMark(
                plan.digest, deadline, plan.count, cycle_id, counting.counts
            )
            day_indexes[plan.answer.key] = CallIndex.encode(plan.packed, waits)
        timings["diff"] = time.perf_counter() - started

        started = time.perf_counter()
        meta = {meta_fields.META_LAST_SUCCESS: repr(now_ts)}
        if first:
            meta[meta_fields.META_BASELINE_AT] = repr(now_ts)
        meta.update(self._recovery_meta(state.meta))
        operational = self._recovery_events(state.meta, now)
        detected.extend(operational)
        queued = await self.store.commit(
            lease_value,
            meta,
            {day: DayChanges(*parts) for day, parts in changes.items()},
            self.route(detected),
        )
        timings["commit"] = time.perf_counter() - started
        retained = {k: v for k, v in self._indexes.items() if k[0] in day_keys}
        for plan in plans:
            retained[plan.day, plan.answer.key] = (cycle_id, CallIndex(plan.packed, plan.waits))
        self._indexes = retained
        return CycleReport(
            cycle_id=cycle_id,
            dates=tuple(day_keys),
            calls_seen=seen,
            answers_unchanged=unchanged,
            records_rejected=rejected,
            events=tuple(detected),
            queued=queued,
            baseline=first,
            observed_late=late,
            popups_not_found=tuple(missing_popups),
            timings=timings,
            calls_today=tallies.today(
                {
                    **state.answers.get(day_keys[0], {}),
                    **changes.get(day_keys[0], ({}, {}, {}))[1],
                }.values()
            ),
        )

    async def _plan(
        self,
        cycle_id: str,
        per_answer: Sequence[tuple[str, Answer, str, CallRecords]],
        state: CycleState,
        silent: bool,
        alert_after: float,
        now_ts: float,
    ) -> list[_Plan]:
        """Load the indexes of the answers to diff (unless kept) and plan each answer.

        Raises SourceMalformed when a record to validate is not UTF-8."""
        indexes: dict[tuple[str, str], CallIndex | None] = {}
        missing: dict[str, list[str]] = {}
        for day, answer, _, _ in per_answer:
            mark = state.answers.get(day, {}).get(answer.key)
            kept = self._indexes.get((day, answer.key))
            if silent or tallies.needs_full_count(mark):
                # A baseline diffs every call; so does an answer not counted yet.
                indexes[day, answer.key] = None
            elif kept and mark and mark.index == kept[0]:
                indexes[day, answer.key] = kept[1]
            else:
                missing.setdefault(day, []).append(answer.key)
        if missing:
            texts = await self.store.load_indexes(missing)
            for day, keys in missing.items():
                for key in keys:
                    indexes[day, key] = _decode_index(texts[day].get(key), key, cycle_id)
        return [
            _Plan.make(day, answer, digest, records, indexes[day, answer.key], alert_after, now_ts)
            for day, answer, digest, records in per_answer
        ]

    def _parse(
        self,
        cycle_id: str,
        day_keys: Sequence[str],
        fetched: Sequence[list[Answer]],
        state: CycleState,
        now: datetime,
    ) -> tuple[list[tuple[str, Answer, str, CallRecords]], int, int, int, list[str]]:
        """Split only the answers whose body (or due timers) changed since the last cycle
        into records; ``_Plan.make`` validates those it diffs.

        Returns (answers to diff, unchanged answers, rejected records (0: counted by the
        plans), calls seen in unchanged answers, popups not found). Raises
        SourceMalformed for a body that is not a JSON list.
        """
        per_answer: list[tuple[str, Answer, str, CallRecords]] = []
        unchanged = rejected = seen = 0
        now_ts = now.timestamp()
        listed = [(day, a) for day, answers in zip(day_keys, fetched, strict=True) for a in answers]
        found = [(day, a) for day, a in listed if not a.popup_not_found]
        missing_popups = [a.key for _, a in listed if a.popup_not_found]
        for day, answer in found:
            digest = answer.digest
            mark = state.answers.get(day, {}).get(answer.key)
            if (
                mark
                and digest  # never equal to a mark of nothing
                and mark.digest == digest
                and (mark.deadline is None or now_ts < mark.deadline)
                and mark.tally is not None  # else counted once more (tally.py)
            ):
                unchanged += 1
                seen += mark.calls
                continue
            records = split_calls(answer.body) if answer.status == 200 else _NO_CALLS
            # The plan keeps the answer without its body: the records hold that.
            per_answer.append((day, replace(answer, body=b""), digest, records))
        for popup in missing_popups:
            log.error(
                "popup_not_found", cycle=cycle_id, popup=popup, hint="check CLICKFONO_POPUP_UUIDS"
            )
        return per_answer, unchanged, rejected, seen, missing_popups

    # Outage episodes: notifier.source_* events, once per episode, shared via Redis meta.

    async def _record_source_failure(
        self, exc: SourceError, meta: Mapping[str, str], now: datetime, lease_value: str
    ) -> None:
        kind = "unauthorized" if isinstance(exc, SourceUnauthorized) else "unavailable"
        failures = int(meta.get(meta_fields.META_SOURCE_FAILURES) or 0) + 1
        since = meta.get(meta_fields.META_SOURCE_SINCE) or repr(now.timestamp())
        announced = set(
            filter(None, (meta.get(meta_fields.META_SOURCE_ANNOUNCED) or "").split(","))
        )
        update = {
            meta_fields.META_SOURCE_STATE: kind,
            meta_fields.META_SOURCE_FAILURES: str(failures),
            meta_fields.META_SOURCE_SINCE: since,
        }
        raised: list[Event] = []
        due = kind == "unauthorized" or failures >= self.settings.notifier_unavailable_cycles
        if due and kind not in announced:
            kind_type = ev.SOURCE_UNAUTHORIZED if kind == "unauthorized" else ev.SOURCE_UNAVAILABLE
            raised.append(
                Event(
                    type=kind_type,
                    id=event_id("source", kind_type, since),
                    detected_at=now.astimezone(UTC),
                    detail={
                        "error": str(exc),
                        "failures": failures,
                        "since": datetime.fromtimestamp(float(since), UTC).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        ),
                    },
                )
            )
            announced.add(kind)
        update[meta_fields.META_SOURCE_ANNOUNCED] = ",".join(sorted(announced))
        await self.store.commit(lease_value, update, {}, self.route(raised))

    @staticmethod
    def _recovery_meta(meta: Mapping[str, str]) -> dict[str, str]:
        if (
            not meta.get(meta_fields.META_SOURCE_STATE)
            or meta.get(meta_fields.META_SOURCE_STATE) == "ok"
        ):
            return {}
        return {
            meta_fields.META_SOURCE_STATE: "ok",
            meta_fields.META_SOURCE_FAILURES: "0",
            meta_fields.META_SOURCE_SINCE: "",
            meta_fields.META_SOURCE_ANNOUNCED: "",
        }

    @staticmethod
    def _recovery_events(meta: Mapping[str, str], now: datetime) -> list[Event]:
        if not meta.get(meta_fields.META_SOURCE_ANNOUNCED):
            return []
        since = meta.get(meta_fields.META_SOURCE_SINCE) or "0"
        return [
            Event(
                type=ev.SOURCE_RECOVERED,
                id=event_id("source", ev.SOURCE_RECOVERED, since),
                detected_at=now.astimezone(UTC),
                detail={
                    "failures": int(meta.get(meta_fields.META_SOURCE_FAILURES) or 0),
                    "since": datetime.fromtimestamp(float(since), UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                },
            )
        ]


@dataclass(slots=True)
class _Plan:
    """One answer to diff: the calls to diff, and the fingerprints of its new index.

    A record's fingerprint is the hash of its raw JSON (``CallRecords.fingerprints``).
    A record whose fingerprint is in the answer's index was validated and diffed as it
    is now, and would diff to nothing unless its queue alert is due: it is not even
    validated. An invalid record is indexed as ``REJECTED``, which matches nothing, so
    it is validated (and reported) every cycle, as before.
    """

    day: str
    answer: Answer
    digest: str
    calls: Sequence[Call]
    """The calls to load and diff."""
    packed: bytes
    """The fingerprints of the answer's records, packed in order: the new index's."""
    selected: range
    """Positions in ``calls`` of the calls to diff: all of them."""
    waits: dict[str, float]
    """Pending waits carried over from the index; updated with the diffed calls, it
    becomes the new index's."""
    count: int
    """The answer's valid records."""
    rejected: tuple[RejectedRecord, ...]

    @classmethod
    def make(
        cls,
        day: str,
        answer: Answer,
        digest: str,
        records: CallRecords,
        index: CallIndex | None,
        alert_after: float,
        now_ts: float,
    ) -> _Plan:
        """Raises SourceMalformed when a record to validate is not UTF-8."""
        total = len(records)
        fingerprints = records.fingerprints()
        chosen: Sequence[int]
        if index is None or fingerprints is None:
            chosen = range(total)  # a baseline, or a body without raw records: all of it
        else:
            chosen = index.unseen(fingerprints)
        waits = dict(index.waits) if index is not None else {}
        due = index.due(alert_after, now_ts) if index is not None else set()
        extra: set[int] = set()
        if due:
            # Due waits of calls no longer in the answer are dropped: their snapshots
            # stay, and are diffed as usual if the call comes back.
            waits = {u: since for u, since in waits.items() if u not in due}
            extra = set(records.may_hold(due)).difference(chosen)
        wanted = sorted(extra.union(chosen)) if extra else chosen
        parsed = records.validate(wanted)
        calls: Sequence[Call] = parsed.calls
        if extra:  # keep, of the unchanged records read for their uuid, the due calls
            bad = {r.index for r in parsed.rejected}
            valid = [i for i in wanted if i not in bad]
            calls = [
                c for i, c in zip(valid, calls, strict=True) if i not in extra or c.uuid in due
            ]
        packed = b""
        if fingerprints is not None:
            for record in parsed.rejected:  # validated and reported again next cycle
                fingerprints[record.index] = REJECTED
            packed = b"".join(fingerprints)
        return cls(
            day,
            answer,
            digest,
            calls,
            packed,
            range(len(calls)),
            waits,
            total - len(parsed.rejected),
            parsed.rejected,
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a cycle's per-call objects live.

    Validating 100,000 records builds ~200,000 GC-tracked objects (calls and their
    ``additionals`` dicts) that cannot form reference cycles and all die when the cycle
    returns. With the default thresholds CPython runs hundreds of young and several
    full collections meanwhile, each walking them again: about a third of the validation
    time (measured in benchmarks/README.md). Refcounting frees memory as usual while
    paused; other tasks' cyclic garbage waits for the next collection.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _decode_index(text: str | None, answer_key: str, cycle_id: str) -> CallIndex | None:
    if text is None:
        return None
    try:
        index = CallIndex.decode(text)
    except ValueError as exc:
        # Every call of the answer is diffed, as if there were no index.
        log.error("call_index_corrupt", cycle=cycle_id, answer=answer_key, error=str(exc))
        return None
    if index is None:  # an earlier version's: diffed in full once, then stored anew
        log.info("call_index_outdated", cycle=cycle_id, answer=answer_key)
    return index


def _decode(text: str | None, call_uuid: str, cycle_id: str) -> Snapshot | None:
    if text is None:
        return None
    try:
        return Snapshot.decode(text)
    except ValueError as exc:
        # Rewritten below as a fresh snapshot; the call is reported as new, not dropped.
        log.error("snapshot_corrupt", cycle=cycle_id, call=call_uuid, error=str(exc))
        return None
