"""The vendor's ``calls/list`` record, normalised. Nothing outside clickfono/ knows its format.

Speed matters here (a busy account lists 100,000+ calls a day, every cycle). A body is
first split into its records, each kept as the raw JSON the vendor sent
(``split_calls``: msgspec checks the whole body's JSON in C at a tenth of the cost of
decoding it). A cycle validates only the records whose raw bytes it has not seen before
(``CallRecords.fingerprints``); ``parse_calls`` validates them all. ``Call`` is a frozen,
slotted pydantic dataclass whose fields validate natively in pydantic-core: "3" becomes 3,
phone numbers sent as JSON numbers become strings, and ``call_at`` has its shape checked
by a pattern and is parsed into an aware datetime only when used. Python runs only in the
per-record fallback, which first smooths the vendor's quirks (empty strings,
``additionals`` as ``[]``, padded values).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as model

from notifier.errors import SourceMalformed

NAME_FIELD = "Nombre"
"""The ``additionals`` field that holds the customer's name in Clickfono's pop-up form."""


class CallStatus(StrEnum):
    """The statuses Clickfono documents. Unknown values are kept as plain strings."""

    CONNECTED = "Conectada"
    NOT_CONNECTED = "No Conectada"
    ATTEMPTS_EXHAUSTED = "Intentos terminados"
    SPAM = "SPAM"
    QUEUED = "En cola"
    OUT_OF_HOURS = "Fuera de horario"
    RUNNING = "En ejecución"
    SCHEDULED = "Por ejecutar"


# Vendor form "2019/04/02 10:05:03 -0300", or ISO 8601; an offset is required. Month,
# day and time ranges are checked here so that nearly every impossible date is rejected
# natively instead of becoming a silent None in ``Call.call_at``.
_CALL_AT = (
    r"^[0-9]{4}[/-](0[1-9]|1[0-2])[/-](0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9](\.[0-9]+)? *([+-][0-9]{2}:?[0-9]{2}|Z)$"
)
_INT_FIELDS = ("retry", "duration_company", "duration_customer")

Text = Annotated[str, Field(min_length=1, max_length=200)]
# Inner runs of whitespace fail the fast path so that the fallback collapses them: both
# paths must give one call the same status, or a bad neighbour would flip it.
Status = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+( \S+)*$")]
OptInt = Annotated[int | None, Field(ge=0)]


def parse_call_at(text: str) -> datetime | None:
    """``2019/04/02 10:05:03 -0300`` or ISO 8601 -> aware datetime (None if impossible)."""
    if len(text) >= 19 and text[4] == "/" and text[7] == "/":
        # Rewrite to ISO so the C parser does the work (strptime is slow). Spaces go from
        # the tail too, so fractional seconds before the offset still parse.
        text = f"{text[0:4]}-{text[5:7]}-{text[8:10]}T{text[11:19]}{''.join(text[19:].split())}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None  # the shape matched but the date does not exist (e.g. 2019-02-30)
    return parsed if parsed.tzinfo is not None else None


@model(
    frozen=True,
    slots=True,
    config=ConfigDict(extra="ignore", coerce_numbers_to_str=True, str_strip_whitespace=True),
)
class Call:
    """One call as Clickfono reports it; ``payload()`` is the normalised form of SPEC.md."""

    uuid: Text
    status: Status
    call_number_company: str | None = None
    retry: OptInt = None
    duration_company: OptInt = None
    duration_customer: OptInt = None
    call_at_text: Annotated[str | None, Field(alias="call_at", pattern=_CALL_AT)] = None
    enqueued: bool | None = None
    popup_uuid: str | None = None
    popup_name: str | None = None
    additionals: dict[str, Any] | None = None
    caller_number: str | None = None

    @property
    def call_at(self) -> datetime | None:
        """When the call was made, as an aware datetime in Clickfono's own offset."""
        return None if self.call_at_text is None else parse_call_at(self.call_at_text)

    @property
    def known_status(self) -> CallStatus | None:
        """The documented status, or None when Clickfono sent one we do not know."""
        try:
            return CallStatus(self.status)
        except ValueError:
            return None

    @classmethod
    def validate(cls, record: Mapping[str, Any]) -> Call:
        """Validate one decoded record, smoothing the vendor's quirks first."""
        return _adapters()[1].validate_python(_smooth(record))

    def payload(self) -> dict[str, Any]:
        """The JSON-ready dict used in event payloads (``call_at`` keeps its offset)."""
        call_at = self.call_at
        return {
            "uuid": self.uuid,
            "status": self.status,
            "call_number_company": self.call_number_company,
            "retry": self.retry,
            "duration_company": self.duration_company,
            "duration_customer": self.duration_customer,
            "call_at": None if call_at is None else call_at.isoformat(),
            "enqueued": self.enqueued,
            "popup_uuid": self.popup_uuid,
            "popup_name": self.popup_name,
            "additionals": dict(self.additionals or {}),
            "caller_number": self.caller_number,
        }


@functools.cache
def _adapters() -> tuple[TypeAdapter[list[Call]], TypeAdapter[Call]]:
    """Built on first use: a process that never validates a call does not pay for it."""
    return TypeAdapter(list[Call]), TypeAdapter(Call)


def _smooth(record: Any) -> Any:
    """Per-record fallback only: empty strings mean unknown; PHP sends ``[]`` for {}."""
    if not isinstance(record, Mapping):
        return record
    smoothed = dict(record)
    for name in (*_INT_FIELDS, "call_at", "call_number_company", "caller_number"):
        value = smoothed.get(name)
        if isinstance(value, str) and not value.strip():
            smoothed[name] = None
    if smoothed.get("additionals") in ([], ""):
        smoothed["additionals"] = None
    status = smoothed.get("status")
    if isinstance(status, str):
        smoothed["status"] = " ".join(status.split())
    return smoothed


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record that failed validation: where it was, its uuid if any, and why (no PII)."""

    index: int
    uuid: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedCalls:
    calls: tuple[Call, ...]
    rejected: tuple[RejectedRecord, ...]


def _reason(error: ValidationError) -> str:
    # Field names and error kinds only: input values may hold personal data.
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_calls(body: bytes | bytearray) -> ParsedCalls:
    """Validate every record of a ``calls/list`` body.

    Invalid records are skipped one by one and reported (``ParsedCalls.rejected``).
    Raises SourceMalformed when the body is not JSON or not a list (an empty 200 body
    included: "no calls" is a 204, which callers do not parse).
    """
    records = split_calls(body)
    return records.validate(range(len(records)))


_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


# Copied for each record: copying an empty context skips OpenSSL's per-context set-up,
# 1.3-1.8x faster than hashlib.sha1(raw) on 400-byte records. It detects change, it does
# not authenticate: a customer writes a record's text, not the bytes of its later changes.
_EMPTY_SHA1 = hashlib.sha1(usedforsecurity=False)


FINGERPRINT_SIZE = _EMPTY_SHA1.digest_size
"""Bytes in a record's fingerprint (``CallRecords.fingerprints``)."""


def _fingerprint(raw: msgspec.Raw) -> bytes:
    digest = _EMPTY_SHA1.copy()
    digest.update(raw)
    return digest.digest()


class _Uuid(msgspec.Struct):
    uuid: Any = None


_UUIDS = msgspec.json.Decoder(list[_Uuid])


def split_calls(body: bytes | bytearray) -> CallRecords:
    """Split a ``calls/list`` body into its records, without validating them.

    msgspec checks the JSON of the whole body (all but the UTF-8 inside strings, which
    validating a record checks) and keeps each record as a view of its raw bytes. A body
    that msgspec refuses but ``json.loads`` reads (a BOM, ``NaN``, a lone surrogate
    escape) is decoded as before; one that neither reads raises SourceMalformed.
    """
    if not body or body.isspace():  # not strip(): that copies a bytearray, 40 MB at 100k
        raise SourceMalformed("calls/list answered 200 with an empty body")
    try:
        return CallRecords(body, _RAW_LIST.decode(body), None)
    except (msgspec.DecodeError, RecursionError):
        pass
    return CallRecords(body, None, _decode_list(body))


def _decode_list(body: bytes | bytearray) -> list[Any]:
    """``json.loads`` of a whole body; SourceMalformed (one clear line) if it is no list."""
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: absurdly deep nesting must fail the cycle cleanly, not crash it.
        raise SourceMalformed(f"calls/list body is not valid JSON ({_json_error(exc)})") from None
    if not isinstance(decoded, list):
        raise SourceMalformed(f"calls/list body is a JSON {_json_type(decoded)}, not a list")
    return decoded


@dataclass(frozen=True, slots=True, eq=False)
class CallRecords:
    """The records of one ``calls/list`` body, not validated yet (see ``split_calls``)."""

    body: bytes | bytearray
    raw: Sequence[msgspec.Raw] | None
    """Each record's raw JSON, or None for a body only ``json.loads`` reads."""
    decoded: Sequence[Any] | None
    """The records as ``json.loads`` decoded them, when ``raw`` is None."""

    def __len__(self) -> int:
        return len(self.raw if self.raw is not None else self.decoded or ())

    def fingerprints(self) -> list[bytes] | None:
        """Per record, the SHA-1 of its raw JSON (20 bytes); None when there is no raw JSON.

        Equal fingerprints mean byte-identical records, which validate to equal calls (or
        are rejected alike): a record seen and validated before need not be again. Hashing
        every record costs about two splits of the body, a seventh of validating it.
        """
        if self.raw is None:
            return None
        return list(map(_fingerprint, self.raw))

    def may_hold(self, uuids: AbstractSet[str]) -> list[int]:
        """Positions of the records that may validate to a call with one of ``uuids``.

        A superset: records whose uuid is not a plain string, or has spaces around it,
        are included; validating them tells. Reads only the uuids, not whole records.
        """
        if not uuids:
            return []
        if self.raw is None:
            return list(range(len(self)))
        try:
            heads = _UUIDS.decode(self.body)
        except msgspec.ValidationError:
            return list(range(len(self)))  # a record that is not an object; rare
        return [
            i
            for i, head in enumerate(heads)
            if not isinstance(uuid := head.uuid, str) or uuid in uuids or uuid != uuid.strip()
        ]

    def validate(self, positions: Collection[int]) -> ParsedCalls:
        """Validate the records at ``positions`` (ascending); rejected ones keep their
        position in the body. Raises SourceMalformed if one is not UTF-8 (the whole body
        is then not valid JSON)."""
        if not positions:
            return ParsedCalls((), ())
        if self.raw is not None:
            whole = len(positions) == len(self.raw)
            batch = (
                self.body
                if whole
                else b"".join([b"[", b",".join([self.raw[i] for i in positions]), b"]"])
            )
            try:
                return ParsedCalls(tuple(_adapters()[0].validate_json(batch)), ())
            except ValidationError:
                pass
        # One record at a time: first as the batch would have validated it, so that a bad
        # neighbour never changes how a good record reads (e.g. 2.0 sent for a string).
        one = _adapters()[1]
        calls: list[Call] = []
        rejected: list[RejectedRecord] = []
        for index in positions:
            if self.raw is not None:
                try:
                    calls.append(one.validate_json(bytes(self.raw[index])))
                    continue
                except ValidationError:
                    pass
            record = self._record(index)
            try:
                calls.append(Call.validate(record))
            except ValidationError as exc:
                uuid = record.get("uuid") if isinstance(record, dict) else None
                rejected.append(
                    RejectedRecord(index, uuid if isinstance(uuid, str) else None, _reason(exc))
                )
        return ParsedCalls(tuple(calls), tuple(rejected))

    def _record(self, index: int) -> Any:
        if self.raw is None:
            return (self.decoded or ())[index]
        try:
            # As json.loads reads a whole body: UTF-8, lone surrogates let through.
            return json.loads(bytes(self.raw[index]).decode("utf-8", "surrogatepass"))
        except (ValueError, RecursionError):
            _decode_list(self.body)  # raises SourceMalformed with the line and column
            raise SourceMalformed(f"calls/list body is not valid JSON (record {index})") from None


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "not UTF-8 text"


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``object``, not Python's ``dict``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "string" if isinstance(value, str) else type(value).__name__
