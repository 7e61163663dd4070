"""The Call model and parse_calls: normalisation of vendor records and handling of bad bodies."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from notifier.clickfono.models import (
    FINGERPRINT_SIZE,
    Call,
    CallStatus,
    ParsedCalls,
    parse_calls,
    split_calls,
)
from notifier.clickfono.simulator import VENDOR_EXAMPLE_BODY
from notifier.errors import SourceMalformed

# The vendor's API page's example, non-breaking spaces and the stray "}" included: what
# "Ejemplo de respuesta" really contains (one copy, the simulator's, serves it too).
VENDOR_EXAMPLE_AS_PUBLISHED = VENDOR_EXAMPLE_BODY

# The same two records, with the page's syntax errors fixed.
EXAMPLE_CONNECTED: dict[str, Any] = {
    "uuid": "a93460bbf8402e15b9b0afddc05d5e8d",
    "status": "Conectada",
    "call_number_company": "56223456789",
    "retry": "3",
    "duration_company": "117",
    "duration_customer": "95",
    "call_at": "2019/04/02 10:05:03 -0300",
    "enqueued": False,
    "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
    "popup_name": "Pruebas Clickfono",
    "additionals": {"Nombre": "Juan Perez", "Rut": "11.111.111-1"},
    "caller_number": "+56987654321",
}
EXAMPLE_NOT_CONNECTED: dict[str, Any] = {
    "uuid": "d45d347218b49a967a283c7bab360e5b",
    "status": "No Conectada",
    "call_number_company": "56223456769",
    "retry": "3",
    "duration_company": "100",
    "duration_customer": "80",
    "call_at": "2019/04/02 11:05:03 -0300",
    "enqueued": False,
    "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
    "popup_name": "Pruebas Clickfono",
    "additionals": {"Nombre": "Jorge Tapia", "Rut": "11.111.111-1"},
    "caller_number": "+56987654321",
}
CHILE_SUMMER = timezone(timedelta(hours=-3))
OPTIONAL_FIELDS = [
    "call_number_company",
    "retry",
    "duration_company",
    "duration_customer",
    "call_at",
    "enqueued",
    "popup_uuid",
    "popup_name",
    "additionals",
    "caller_number",
]


def body(*records: Any) -> bytes:
    return json.dumps(list(records), ensure_ascii=False).encode()


def only_call(record: dict[str, Any]) -> Call:
    parsed = parse_calls(body(record))
    assert parsed.rejected == ()
    [call] = parsed.calls
    return call


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            EXAMPLE_CONNECTED,
            {
                "uuid": "a93460bbf8402e15b9b0afddc05d5e8d",
                "status": "Conectada",
                "call_number_company": "56223456789",
                "retry": 3,
                "duration_company": 117,
                "duration_customer": 95,
                "call_at": "2019-04-02T10:05:03-03:00",
                "enqueued": False,
                "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
                "popup_name": "Pruebas Clickfono",
                "additionals": {"Nombre": "Juan Perez", "Rut": "11.111.111-1"},
                "caller_number": "+56987654321",
            },
        ),
        (
            EXAMPLE_NOT_CONNECTED,
            {
                "uuid": "d45d347218b49a967a283c7bab360e5b",
                "status": "No Conectada",
                "call_number_company": "56223456769",
                "retry": 3,
                "duration_company": 100,
                "duration_customer": 80,
                "call_at": "2019-04-02T11:05:03-03:00",
                "enqueued": False,
                "popup_uuid": "14f1cc88-6ce8-11e9-b8f9-001d09ef4aa0",
                "popup_name": "Pruebas Clickfono",
                "additionals": {"Nombre": "Jorge Tapia", "Rut": "11.111.111-1"},
                "caller_number": "+56987654321",
            },
        ),
    ],
    ids=["conectada", "no-conectada"],
)
def test_vendor_example_records_normalise_to_the_spec_payload(
    record: dict[str, Any], expected: dict[str, Any]
) -> None:
    """The vendor's example records become SPEC.md's payload: ints, strings, ISO call_at."""
    call = only_call(record)
    assert call.payload() == expected
    assert json.loads(json.dumps(call.payload())) == expected  # JSON-ready as is


def test_vendor_call_at_becomes_an_aware_datetime_at_minus_three() -> None:
    """``2019/04/02 10:05:03 -0300`` is parsed to that instant with a -03:00 offset."""
    call = only_call(EXAMPLE_CONNECTED)
    assert call.call_at == datetime(2019, 4, 2, 10, 5, 3, tzinfo=CHILE_SUMMER)
    assert call.call_at is not None and call.call_at.utcoffset() == timedelta(hours=-3)


@pytest.mark.parametrize(
    ("sent", "payload"),
    [
        ("2019/04/02 10:05:03 -0300", "2019-04-02T10:05:03-03:00"),
        ("2019/07/02 10:05:03 -0400", "2019-07-02T10:05:03-04:00"),
        ("  2019/04/02 10:05:03 -0300 ", "2019-04-02T10:05:03-03:00"),
        ("2019/04/02 10:05:03.250 -0300", "2019-04-02T10:05:03.250000-03:00"),
        ("2019/04/02 10:05:03 +0000", "2019-04-02T10:05:03+00:00"),
        ("2019-04-02T10:05:03-03:00", "2019-04-02T10:05:03-03:00"),
        ("", None),
    ],
)
def test_call_at_keeps_clickfonos_offset(sent: str, payload: str | None) -> None:
    """call_at in vendor or ISO form keeps the offset Clickfono sent; empty means unknown."""
    assert only_call({**EXAMPLE_CONNECTED, "call_at": sent}).payload()["call_at"] == payload


@pytest.mark.parametrize(
    ("field", "sent", "kept"),
    [
        ("caller_number", 56987654321, "56987654321"),
        ("caller_number", "+56987654321", "+56987654321"),
        ("call_number_company", 56223456789, "56223456789"),
        ("call_number_company", 56223456789.0, "56223456789"),
        ("popup_uuid", 12345, "12345"),
    ],
)
def test_numbers_sent_as_json_numbers_are_kept_as_strings(field: str, sent: Any, kept: str) -> None:
    """Phone numbers (and ids) that arrive as JSON numbers become strings."""
    assert getattr(only_call({**EXAMPLE_CONNECTED, field: sent}), field) == kept


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("3", 3), (3, 3), (" 3 ", 3), ("0", 0), (3.0, 3), ("", None), (None, None)],
)
def test_retry_and_durations_become_integers(sent: Any, kept: int | None) -> None:
    """retry and durations arrive as strings or numbers and become integers; empty is None."""
    call = only_call(
        {**EXAMPLE_CONNECTED, "retry": sent, "duration_company": sent, "duration_customer": sent}
    )
    assert (call.retry, call.duration_company, call.duration_customer) == (kept, kept, kept)


@pytest.mark.parametrize("field", OPTIONAL_FIELDS)
def test_missing_optional_fields_are_tolerated(field: str) -> None:
    """A record missing any field but uuid and status is kept, with that field empty."""
    record = {k: v for k, v in EXAMPLE_CONNECTED.items() if k != field}
    payload = only_call(record).payload()
    assert payload[field] == ({} if field == "additionals" else None)
    assert payload["uuid"] == EXAMPLE_CONNECTED["uuid"]


@pytest.mark.parametrize("empty", [None, "", []])
def test_empty_additionals_become_an_empty_dict(empty: Any) -> None:
    """additionals sent as null, "" or [] (PHP's empty object) is an empty dict in the payload."""
    assert only_call({**EXAMPLE_CONNECTED, "additionals": empty}).payload()["additionals"] == {}


@pytest.mark.parametrize(("sent", "kept"), [(42, "42"), (" abc ", "abc")])
def test_uuid_is_kept_as_a_trimmed_string(sent: Any, kept: str) -> None:
    """A uuid sent as a number becomes its string; surrounding spaces are dropped."""
    assert only_call({**EXAMPLE_CONNECTED, "uuid": sent}).uuid == kept


@pytest.mark.parametrize("status", list(CallStatus))
def test_documented_statuses_are_known(status: CallStatus) -> None:
    """Each documented status maps to its CallStatus."""
    assert only_call({**EXAMPLE_CONNECTED, "status": status.value}).known_status is status


@pytest.mark.parametrize(
    "status", ["Reagendada", "conectada", "CONECTADA", "Cancelada por cliente"]
)
def test_unknown_statuses_are_kept_as_strings(status: str) -> None:
    """A status Clickfono does not document is kept as sent, with known_status None."""
    call = only_call({**EXAMPLE_CONNECTED, "status": status})
    assert call.status == status
    assert call.known_status is None


@pytest.mark.parametrize(
    ("sent", "kept"),
    [(" Conectada ", "Conectada"), ("En  cola", "En cola"), ("No\tConectada", "No Conectada")],
)
def test_status_whitespace_is_normalised(sent: str, kept: str) -> None:
    """Stray and doubled spaces in a status do not make it unknown."""
    assert only_call({**EXAMPLE_CONNECTED, "status": sent}).known_status == CallStatus(kept)


@pytest.mark.parametrize(
    "status", [" Conectada ", "En  cola", "No\tConectada", "En\u00a0cola", "SPAM"]
)
def test_a_bad_neighbour_does_not_change_a_calls_status(status: str) -> None:
    """A status normalises the same whether or not another record forces the slow path."""
    record = {**EXAMPLE_CONNECTED, "status": status}
    [alone] = parse_calls(body(record)).calls
    [with_bad_neighbour] = parse_calls(body(record, {"status": "SPAM"})).calls
    assert alone.status == with_bad_neighbour.status


def test_unknown_fields_are_ignored() -> None:
    """Fields Clickfono may add later do not break parsing."""
    call = only_call({**EXAMPLE_CONNECTED, "recording_url": "https://example.test/a.mp3"})
    assert "recording_url" not in call.payload()


def test_one_bad_record_does_not_change_how_the_others_parse() -> None:
    """The record-by-record path (after a bad record) gives the same calls as the fast path."""
    fast = parse_calls(body(EXAMPLE_CONNECTED, EXAMPLE_NOT_CONNECTED))
    slow = parse_calls(body(EXAMPLE_CONNECTED, {"status": "SPAM"}, EXAMPLE_NOT_CONNECTED))
    assert slow.calls == fast.calls
    assert len(slow.rejected) == 1


# --------------------------------------------------------------------------- invalid records


def bad(**fields: Any) -> dict[str, Any]:
    """The connected example with uuid ``u-bad`` and ``fields`` replaced."""
    return {**EXAMPLE_CONNECTED, "uuid": "u-bad", **fields}


def without(field: str, **fields: Any) -> dict[str, Any]:
    """The connected example without ``field``, with ``fields`` replaced."""
    return {k: v for k, v in EXAMPLE_CONNECTED.items() if k != field} | fields


@pytest.mark.parametrize(
    ("bad_record", "uuid", "field"),
    [
        (without("uuid"), None, "uuid"),
        (bad(uuid="   "), "   ", "uuid"),
        (bad(uuid=None), None, "uuid"),
        (bad(status="   "), "u-bad", "status"),
        (bad(status=None), "u-bad", "status"),
        (without("status", uuid="u-2"), "u-2", "status"),
        (bad(call_at="ayer"), "u-bad", "call_at"),
        (bad(call_at="2019/04/02 10:05:03"), "u-bad", "call_at"),
        (bad(call_at="2019/13/45 10:05:03 -0300"), "u-bad", "call_at"),
        (bad(call_at="2019/04/02 25:05:03 -0300"), "u-bad", "call_at"),
        (bad(retry="tres"), "u-bad", "retry"),
        (bad(retry="-1"), "u-bad", "retry"),
        (bad(additionals="Juan"), "u-bad", "additionals"),
        ("a string", None, "record"),
        (42, None, "record"),
        (None, None, "record"),
        ([EXAMPLE_CONNECTED], None, "record"),
    ],
    ids=[
        "no-uuid", "blank-uuid", "null-uuid", "blank-status", "null-status", "no-status",
        "call_at-text", "call_at-naive", "call_at-month-13", "call_at-hour-25", "retry-text",
        "retry-negative", "additionals-text", "string", "number", "null", "nested-list",
    ],
)  # fmt: skip
def test_invalid_records_are_skipped_and_reported(
    bad_record: Any, uuid: str | None, field: str
) -> None:
    """An invalid record is reported with its index, uuid and field; the others are kept."""
    parsed = parse_calls(body(EXAMPLE_CONNECTED, bad_record, EXAMPLE_NOT_CONNECTED))
    assert [call.uuid for call in parsed.calls] == [
        EXAMPLE_CONNECTED["uuid"],
        EXAMPLE_NOT_CONNECTED["uuid"],
    ]
    [rejected] = parsed.rejected
    assert (rejected.index, rejected.uuid) == (1, uuid)
    assert rejected.reason.startswith(field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("call_at", "Juan Pérez 12.345.678-5"),
        ("retry", "+56 9 8765 4321"),
        ("duration_company", "María José Rojas"),
        ("status", {"Nombre": "Juan Pérez", "Rut": "12.345.678-5"}),
        ("enqueued", "+56 9 8765 4321"),
        ("additionals", "Rut 12.345.678-5 María José Rojas"),
        ("caller_number", {"numero": "+56987654321"}),
        ("popup_name", ["Juan Pérez", "12.345.678-5"]),
    ],
)
def test_rejection_reasons_never_contain_input_values(field: str, value: Any) -> None:
    """A rejected record's reason names the field and problem, never the personal data sent."""
    parsed = parse_calls(body({**EXAMPLE_CONNECTED, field: value}))
    [rejected] = parsed.rejected
    assert field in rejected.reason
    for secret in ("Juan", "María", "12.345.678", "+56", "8765"):
        assert secret not in rejected.reason


# --------------------------------------------------------------------------- whole bodies


def test_the_vendor_example_as_published_is_malformed_with_a_clear_message() -> None:
    """The API page's own example body is not JSON; parse_calls says so and where."""
    with pytest.raises(SourceMalformed) as raised:
        parse_calls(VENDOR_EXAMPLE_AS_PUBLISHED)
    message = str(raised.value)
    assert message.startswith("calls/list body is not valid JSON (")
    assert "line 3 column" in message
    assert "Juan" not in message and "56987654321" not in message


def test_the_vendor_example_with_only_the_stray_brace_is_still_malformed() -> None:
    """Even with its spaces fixed, the example's extra "}" makes it invalid JSON."""
    fixed_spaces = VENDOR_EXAMPLE_AS_PUBLISHED.decode().replace("\u00a0", " ").encode()
    with pytest.raises(SourceMalformed, match="not valid JSON"):
        parse_calls(fixed_spaces)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b'{"calls": []}', "object"),
        (b'"Conectada"', "string"),
        (b"42", "number"),
        (b"4.2", "number"),
        (b"null", "null"),
        (b"true", "boolean"),
    ],
)
def test_a_json_body_that_is_not_a_list_is_malformed(raw: bytes, kind: str) -> None:
    """Valid JSON that is not a list raises SourceMalformed naming its JSON type."""
    with pytest.raises(SourceMalformed, match=f"is a JSON {kind}, not a list"):
        parse_calls(raw)


@pytest.mark.parametrize(
    "raw",
    [b"<html>502 Bad Gateway</html>", b"[{", b'["\xff"]', b"[" * 100_000, b"\x00"],
    ids=["html", "truncated", "not-utf8", "nested-too-deep", "nul"],
)
def test_a_body_that_is_not_json_is_malformed(raw: bytes) -> None:
    """A body that is not JSON at all raises SourceMalformed, never another error."""
    with pytest.raises(SourceMalformed, match="not valid JSON"):
        parse_calls(raw)


@pytest.mark.parametrize("raw", [b"[]", b" [ ] "])
def test_empty_list_gives_no_calls(raw: bytes) -> None:
    """An empty JSON list means no calls, nothing rejected."""
    assert parse_calls(raw) == ParsedCalls((), ())


@pytest.mark.parametrize("raw", [b"", b"  \n"])
def test_empty_200_body_is_malformed(raw: bytes) -> None:
    """A 200 with an empty body is not JSON: the cycle fails (no calls is a 204)."""
    with pytest.raises(SourceMalformed, match="empty body"):
        parse_calls(raw)


# --------------------------------------------------------------------------- one behaviour
# The cycle validates only the records whose raw JSON it has not seen before
# (``split_calls`` + ``CallRecords.validate`` on their positions); ``parse_calls`` validates
# every record. Both must accept, normalise and reject exactly as the model always did,
# whatever else the body holds. Each row: a record, then the payload fields it normalises
# to, or the field named by its rejection.

ACCEPTED = "accepted"
REJECTED = "rejected"

BEHAVIOUR: list[tuple[str, Any, str, dict[str, Any] | str]] = [
    ("vendor-conectada", EXAMPLE_CONNECTED, ACCEPTED, {"retry": 3, "duration_company": 117}),
    ("vendor-no-conectada", EXAMPLE_NOT_CONNECTED, ACCEPTED, {"status": "No Conectada"}),
    ("unknown-status", {**EXAMPLE_CONNECTED, "status": "Reagendada"}, ACCEPTED,
     {"status": "Reagendada"}),
    ("unknown-status-case", {**EXAMPLE_CONNECTED, "status": "CONECTADA"}, ACCEPTED,
     {"status": "CONECTADA"}),
    ("status-padded", {**EXAMPLE_CONNECTED, "status": " En  cola "}, ACCEPTED,
     {"status": "En cola"}),
    ("retry-number", {**EXAMPLE_CONNECTED, "retry": 2}, ACCEPTED, {"retry": 2}),
    ("retry-float", {**EXAMPLE_CONNECTED, "retry": 2.0}, ACCEPTED, {"retry": 2}),
    ("retry-padded", {**EXAMPLE_CONNECTED, "retry": " 4 "}, ACCEPTED, {"retry": 4}),
    ("retry-empty", {**EXAMPLE_CONNECTED, "retry": ""}, ACCEPTED, {"retry": None}),
    ("duration-null", {**EXAMPLE_CONNECTED, "duration_company": None}, ACCEPTED,
     {"duration_company": None}),
    ("phone-number", {**EXAMPLE_CONNECTED, "caller_number": 56987654321}, ACCEPTED,
     {"caller_number": "56987654321"}),
    ("company-float", {**EXAMPLE_CONNECTED, "call_number_company": 2.0}, ACCEPTED,
     {"call_number_company": "2"}),
    ("company-blank", {**EXAMPLE_CONNECTED, "call_number_company": " "}, ACCEPTED,
     {"call_number_company": ""}),
    ("call_at-iso", {**EXAMPLE_CONNECTED, "call_at": "2019-04-02T10:05:03Z"}, ACCEPTED,
     {"call_at": "2019-04-02T10:05:03+00:00"}),
    ("call_at-empty", {**EXAMPLE_CONNECTED, "call_at": ""}, ACCEPTED, {"call_at": None}),
    ("call_at-impossible", {**EXAMPLE_CONNECTED, "call_at": "2019/02/30 10:00:00 -0300"},
     ACCEPTED, {"call_at": None}),
    ("additionals-list", {**EXAMPLE_CONNECTED, "additionals": []}, ACCEPTED,
     {"additionals": {}}),
    ("uuid-number", {**EXAMPLE_CONNECTED, "uuid": 42}, ACCEPTED, {"uuid": "42"}),
    ("extra-field", {**EXAMPLE_CONNECTED, "recording": "x"}, ACCEPTED, {}),
    ("no-uuid", without("uuid"), REJECTED, "uuid"),
    ("blank-uuid", bad(uuid="  "), REJECTED, "uuid"),
    ("long-uuid", bad(uuid="u" * 201), REJECTED, "uuid"),
    ("no-status", without("status"), REJECTED, "status"),
    ("null-status", bad(status=None), REJECTED, "status"),
    ("retry-text", bad(retry="tres"), REJECTED, "retry"),
    ("retry-negative", bad(retry=-1), REJECTED, "retry"),
    ("retry-fraction", bad(retry=2.5), REJECTED, "retry"),
    ("enqueued-yes", {**EXAMPLE_CONNECTED, "enqueued": "yes"}, ACCEPTED, {"enqueued": True}),
    ("enqueued-text", bad(enqueued="quizás"), REJECTED, "enqueued"),
    ("call_at-naive", bad(call_at="2019/04/02 10:05:03"), REJECTED, "call_at"),
    ("additionals-text", bad(additionals="Juan"), REJECTED, "additionals"),
    ("popup_name-list", bad(popup_name=["a"]), REJECTED, "popup_name"),
    ("a-string", "SPAM", REJECTED, "record"),
    ("null", None, REJECTED, "record"),
]  # fmt: skip

BROKEN = {"uuid": "u-broken", "status": "SPAM", "retry": "x"}
"""A bad record: its neighbours must read as they would without it."""


def check_outcome(parsed: ParsedCalls, index: int, outcome: str, expected: Any) -> None:
    """The record at ``index`` was accepted with ``expected`` fields, or rejected naming
    the field ``expected``."""
    if outcome == ACCEPTED:
        assert index not in [r.index for r in parsed.rejected]
        payloads = [c.payload() for c in parsed.calls]
        assert any(p.items() >= expected.items() for p in payloads), (payloads, expected)
    else:
        [rejected] = [r for r in parsed.rejected if r.index == index]
        assert rejected.reason.startswith(expected)


@pytest.mark.parametrize(
    ("record", "outcome", "expected"),
    [row[1:] for row in BEHAVIOUR],
    ids=[row[0] for row in BEHAVIOUR],
)
def test_records_are_accepted_and_rejected_alike_alone_among_others_and_one_by_one(
    record: Any, outcome: str, expected: Any
) -> None:
    """Each record reads the same alone, after a bad neighbour, and validated on its own
    position as a cycle does for a changed record."""
    alone = parse_calls(body(record))
    check_outcome(alone, 0, outcome, expected)
    crowded = parse_calls(body(EXAMPLE_NOT_CONNECTED, BROKEN, record))
    check_outcome(crowded, 2, outcome, expected)
    assert crowded.rejected[0].index == 1
    picked = split_calls(body(EXAMPLE_NOT_CONNECTED, BROKEN, record)).validate([2])
    check_outcome(picked, 2, outcome, expected)
    assert len(picked.calls) + len(picked.rejected) == 1
    assert picked.calls == alone.calls


def test_bad_records_are_skipped_one_by_one_in_any_selection() -> None:
    """Rejected records keep their position in the body, whichever positions are validated."""
    records = [EXAMPLE_CONNECTED, bad(retry="x"), EXAMPLE_NOT_CONNECTED, "text", bad(status="")]
    split = split_calls(body(*records))
    whole = split.validate(range(len(records)))
    assert [c.uuid for c in whole.calls] == [
        EXAMPLE_CONNECTED["uuid"],
        EXAMPLE_NOT_CONNECTED["uuid"],
    ]
    assert [(r.index, r.uuid) for r in whole.rejected] == [(1, "u-bad"), (3, None), (4, "u-bad")]
    some = split.validate([2, 3])
    assert [c.uuid for c in some.calls] == [EXAMPLE_NOT_CONNECTED["uuid"]]
    assert [r.index for r in some.rejected] == [3]
    assert split.validate([]) == ParsedCalls((), ())


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"  \n", id="blank"),
        pytest.param(b"[]", id="empty-list"),
        pytest.param(b'{"uuid": "x"}', id="object"),
        pytest.param(b"[1, 2", id="truncated"),
        pytest.param(b"\xef\xbb\xbf[]", id="bom"),
        pytest.param(VENDOR_EXAMPLE_AS_PUBLISHED, id="vendor-example"),
        pytest.param(body(EXAMPLE_CONNECTED, BROKEN, "text", EXAMPLE_NOT_CONNECTED), id="mixed"),
    ],
)
def test_a_body_read_into_a_bytearray_parses_exactly_as_bytes(raw: bytes) -> None:
    """The client reads a body into a bytearray: the calls, rejections and errors are
    those of the same bytes."""

    def outcome(data: bytes | bytearray) -> ParsedCalls | str:
        try:
            return parse_calls(data)
        except SourceMalformed as exc:
            return str(exc)

    assert outcome(bytearray(raw)) == outcome(raw)


def test_the_vendor_example_fails_splitting_with_the_same_message() -> None:
    """split_calls (the cycle's first step) rejects the API page's example as parse_calls does."""
    with pytest.raises(SourceMalformed) as split_error:
        split_calls(VENDOR_EXAMPLE_AS_PUBLISHED)
    with pytest.raises(SourceMalformed) as parse_error:
        parse_calls(VENDOR_EXAMPLE_AS_PUBLISHED)
    assert str(split_error.value) == str(parse_error.value)
    assert "line 3 column" in str(split_error.value)


@pytest.mark.parametrize(
    ("raw", "uuids", "rejected"),
    [
        (b"\xef\xbb\xbf" + body(EXAMPLE_CONNECTED), [EXAMPLE_CONNECTED["uuid"]], []),
        (body(EXAMPLE_CONNECTED).replace(b'"117"', b"NaN"), [], ["duration_company"]),
        (body({**EXAMPLE_CONNECTED, "popup_name": "\\ud800"}).replace(b"\\\\", b"\\"), [],
         ["popup_name"]),
    ],
    ids=["utf8-bom", "nan", "lone-surrogate"],
)  # fmt: skip
def test_bodies_only_json_loads_reads_are_validated_as_before(
    raw: bytes, uuids: list[str], rejected: list[str]
) -> None:
    """A body msgspec refuses but json.loads reads is decoded and validated as it always was,
    and has no fingerprints (its calls are all diffed)."""
    split = split_calls(raw)
    assert split.fingerprints() is None
    parsed = parse_calls(raw)
    assert [c.uuid for c in parsed.calls] == uuids
    assert [r.reason.split(":")[0] for r in parsed.rejected] == rejected


def test_a_changed_record_that_is_not_utf8_fails_the_body() -> None:
    """Invalid UTF-8 inside a validated record makes the body not JSON, as json.loads says."""
    raw = body(EXAMPLE_CONNECTED, EXAMPLE_NOT_CONNECTED).replace(b"Jorge", b"J\xffrge")
    split = split_calls(raw)
    assert [c.uuid for c in split.validate([0]).calls] == [EXAMPLE_CONNECTED["uuid"]]
    with pytest.raises(SourceMalformed, match="not valid JSON"):
        split.validate([1])
    with pytest.raises(SourceMalformed, match="not valid JSON"):
        parse_calls(raw)


def test_fingerprints_change_with_any_byte_of_a_record() -> None:
    """Byte-identical records share a fingerprint; any change to a record changes its own."""
    before = split_calls(body(EXAMPLE_CONNECTED, EXAMPLE_NOT_CONNECTED, EXAMPLE_CONNECTED))
    after = split_calls(
        body(EXAMPLE_CONNECTED, {**EXAMPLE_NOT_CONNECTED, "retry": "4"}, EXAMPLE_CONNECTED)
    )
    prints_before, prints_after = before.fingerprints(), after.fingerprints()
    assert prints_before is not None and prints_after is not None
    assert prints_before[0] == prints_before[2] == prints_after[0]
    assert prints_before[1] != prints_after[1]
    assert all(len(f) == FINGERPRINT_SIZE for f in prints_before)
    # The stored format: the SHA-1 of the record's bytes as sent (indexes in Redis hold it).
    raw = json.dumps(EXAMPLE_NOT_CONNECTED, ensure_ascii=False).encode()
    assert prints_before[1] == hashlib.sha1(raw, usedforsecurity=False).digest()


def test_may_hold_finds_every_record_that_can_have_a_uuid() -> None:
    """The due-alert lookup returns every record whose uuid may normalise to a wanted one."""
    records = [
        {**EXAMPLE_CONNECTED, "uuid": "u1"},
        {**EXAMPLE_CONNECTED, "uuid": "u2"},
        {**EXAMPLE_CONNECTED, "uuid": " u1 "},
        {**EXAMPLE_CONNECTED, "uuid": 7},
        without("uuid"),
    ]
    split = split_calls(body(*records))
    assert split.may_hold({"u1"}) == [0, 2, 3, 4]
    assert split.may_hold(set()) == []
    assert split_calls(body(EXAMPLE_CONNECTED, "text")).may_hold({"u1"}) == [0, 1]
