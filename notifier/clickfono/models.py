"""The vendor's ``calls/list`` record, normalised. Nothing outside clickfono/ knows its format."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from notifier.errors import SourceMalformed


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


def _to_int(value: Any) -> Any:
    """The API sends numbers as strings ("3"); empty strings mean unknown."""
    if isinstance(value, str):
        value = value.strip()
        return None if value == "" else value
    return value


def _to_str(value: Any) -> Any:
    """Phone numbers may arrive as JSON numbers; keep them as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def _to_datetime(value: Any) -> Any:
    """Parse ``2019/04/02 10:05:03 -0300`` (vendor) or ISO 8601 into an aware datetime."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    if len(text) >= 19 and text[4] == "/" and text[7] == "/":
        # Vendor form: rewrite to ISO so the C parser does the work (strptime is slow).
        text = f"{text[0:4]}-{text[5:7]}-{text[8:10]}T{text[11:19]}{text[19:].strip()}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("call_at is not a date and time") from None
    if parsed.tzinfo is None:
        raise ValueError("call_at has no UTC offset")
    return parsed


def _to_additionals(value: Any) -> Any:
    if value is None or value == "" or value == []:
        return {}
    return value


def _to_status(value: Any) -> Any:
    if isinstance(value, str):
        value = " ".join(value.split())
        if not value:
            raise ValueError("status is empty")
    return value


def _to_uuid(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("uuid is empty")
    return value


OptInt = Annotated[int | None, BeforeValidator(_to_int)]
OptStr = Annotated[str | None, BeforeValidator(_to_str)]


class Call(BaseModel):
    """One call as Clickfono reports it, normalised as SPEC.md's payload shows."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    uuid: Annotated[str, BeforeValidator(_to_uuid), Field(min_length=1, max_length=200)]
    status: Annotated[str, BeforeValidator(_to_status), Field(max_length=200)]
    call_number_company: OptStr = None
    retry: OptInt = None
    duration_company: OptInt = None
    duration_customer: OptInt = None
    call_at: Annotated[datetime | None, BeforeValidator(_to_datetime)] = None
    enqueued: bool | None = None
    popup_uuid: OptStr = None
    popup_name: OptStr = None
    additionals: Annotated[dict[str, Any], BeforeValidator(_to_additionals)] = Field(
        default_factory=dict
    )
    caller_number: OptStr = None

    @property
    def known_status(self) -> CallStatus | None:
        """The documented status, or None when Clickfono sent one we do not know."""
        try:
            return CallStatus(self.status)
        except ValueError:
            return None

    def payload(self) -> dict[str, Any]:
        """The JSON-ready dict used in event payloads (``call_at`` keeps its offset)."""
        return self.model_dump(mode="json")


_CALL_LIST = TypeAdapter(list[Call])
_CALL = TypeAdapter(Call)


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
    for item in error.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_calls(body: bytes) -> ParsedCalls:
    """Validate a ``calls/list`` body.

    The whole list is validated in one pass on the raw bytes; only when that fails is
    it decoded and validated record by record, so one bad record costs only itself.
    Raises SourceMalformed when the body is not JSON or not a list.
    """
    if not body.strip():
        return ParsedCalls((), ())
    try:
        return ParsedCalls(tuple(_CALL_LIST.validate_json(body)), ())
    except ValidationError:
        pass
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceMalformed(f"calls/list body is not valid JSON ({_json_error(exc)})") from None
    if not isinstance(decoded, list):
        raise SourceMalformed(f"calls/list body is a JSON {type(decoded).__name__}, not a list")
    calls: list[Call] = []
    rejected: list[RejectedRecord] = []
    for index, record in enumerate(decoded):
        try:
            calls.append(_CALL.validate_python(record))
        except ValidationError as exc:
            uuid = record.get("uuid") if isinstance(record, dict) else None
            rejected.append(
                RejectedRecord(index, uuid if isinstance(uuid, str) else None, _reason(exc))
            )
    return ParsedCalls(tuple(calls), tuple(rejected))


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "not UTF-8 text"
