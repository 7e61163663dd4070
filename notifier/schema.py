"""The webhook contract as an OpenAPI 3.1 document (``clickfono-notifier schema``).

Generated from the code, never written beside it:

- the event types, their kind and their one-line summary come from the registry in
  ``notifier.events`` (public types only);
- ``data.call`` is derived from the fields of ``notifier.clickfono.models.Call`` (their
  wire names and types, with the model's own constraints), as ``Call.payload()`` emits
  them;
- what each type adds to ``data`` comes from ``notifier.payloads`` (TypedDicts turned into
  JSON Schema by pydantic);
- the ``webhook-id`` pattern from ``events.event_id``; the timestamp pattern from
  ``payloads.Timestamp``.

Every request body schema is JSON Schema 2020-12 (OpenAPI 3.1's dialect) under
``components/schemas``, keyed by the event type like its ``webhooks`` entry. The schemas
are closed (``additionalProperties: false``): a field the code adds without declaring it
here fails the test suite, whose webhook receiver validates every payload it gets. A
receiver should validate with the document of the version it talks to: later versions
may add optional fields (SPEC: extend, don't rename).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from typing import Any

from pydantic import TypeAdapter

from notifier import __version__, payloads
from notifier import events as ev
from notifier.clickfono.models import Call

__all__ = ["OPENAPI_VERSION", "body_schema_name", "build_document", "render"]

OPENAPI_VERSION = "3.1.0"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_CALL_REF = {"$ref": "#/components/schemas/Call"}
_RST_LITERAL = re.compile(r"``([^`]+)``")
_CALL_AT_DOC = (
    "When the call was made: ISO 8601 with Clickfono's own offset "
    "(2019-04-02T10:05:03-03:00); null when Clickfono sent none."
)


def _markdown(text: str) -> str:
    return _RST_LITERAL.sub(r"`\1`", " ".join(text.split()))


def _tidy(node: Any) -> Any:
    """Drop pydantic's generated titles, turn RST literals into Markdown, swap in refs."""
    if isinstance(node, dict):
        if node.get(payloads.CALL_MARKER) is True:
            return dict(_CALL_REF)
        tidy: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key == "description" and isinstance(value, str):
                tidy[key] = _markdown(value)
            elif key == "properties" and isinstance(value, dict):
                tidy[key] = {name: _tidy(sub) for name, sub in value.items()}
            else:
                tidy[key] = _tidy(value)
        return tidy
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


def _schema_of(annotation: Any) -> dict[str, Any]:
    schema: dict[str, Any] = _tidy(TypeAdapter(annotation).json_schema())
    return schema


def call_fields() -> list[tuple[str, Any]]:
    """(wire name, annotation) of every field of ``Call``, in declaration order.

    Works for a pydantic or stdlib dataclass (wire name: the field's alias) and for a
    msgspec Struct (its ``encode_name``), so the model may change representation.
    """
    model: Any = Call  # whichever representation it has today
    hints = typing.get_type_hints(model, include_extras=True)
    if getattr(model, "__struct_fields__", None) is not None:  # a msgspec.Struct
        import msgspec

        return [(f.encode_name, hints[f.name]) for f in msgspec.structs.fields(model)]
    pydantic_fields: dict[str, Any] = getattr(model, "__pydantic_fields__", {})
    out = []
    for field in dataclasses.fields(model):
        info = pydantic_fields.get(field.name)
        alias = getattr(info, "alias", None) if info is not None else None
        out.append((alias or field.name, hints[field.name]))
    return out


def call_schema() -> dict[str, Any]:
    """``data.call``: every field of Call, always present (null when unknown)."""
    properties: dict[str, Any] = {}
    for name, annotation in call_fields():
        if name == "call_at":
            # Validated in the vendor's form; the payload carries it as ISO 8601.
            properties[name] = {
                "type": ["string", "null"],
                "format": "date-time",
                "description": _CALL_AT_DOC,
            }
        else:
            properties[name] = _schema_of(annotation)
    return {
        "type": "object",
        "description": "The call as Clickfono sent it, normalised: `retry` and durations "
        "as integers, phone numbers as strings, `call_at` as ISO 8601 keeping Clickfono's "
        "offset. Every field is present; null when Clickfono sent none.",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _data_schema(event_type: str, shape: payloads.PayloadShape) -> dict[str, Any]:
    """``data`` as ``Event.payload()`` builds it for this type."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    if shape.call:
        properties["call"] = dict(_CALL_REF)
        required.append("call")
    is_change = ev.REGISTRY[event_type].kind in (ev.Kind.CALL_ALERT, ev.Kind.CALL_CHANGE)
    properties["previous_status"] = (
        {
            "type": ["string", "null"],
            "description": "The call's status before this change; null for a new call.",
        }
        if is_change
        else {"type": "null"}
    )
    required.append("previous_status")
    if shape.reasons:
        properties["reason"] = {"enum": list(shape.reasons)}
        required.append("reason")
    if is_change:
        properties["observed_late"] = {
            "const": True,
            "description": "Present when the change was found after the notifier had not "
            "polled for a while (downtime catch-up).",
        }
    if shape.detail is not None:
        detail = _schema_of(shape.detail)
        properties.update(detail.get("properties", {}))
        required += [r for r in detail.get("required", []) if r not in required]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def body_schema_name(event_type: str) -> str:
    """The ``components/schemas`` key of a type's request body: the type itself."""
    return event_type


def _body_schema(event_type: str, shape: payloads.PayloadShape) -> dict[str, Any]:
    kind = ev.REGISTRY[event_type]
    return {
        "type": "object",
        "description": _markdown(kind.summary),
        "properties": {
            "type": {"const": event_type},
            "timestamp": {
                **_schema_of(payloads.Timestamp),
                "description": "When the change was detected (UTC, second precision).",
            },
            "data": _data_schema(event_type, shape),
        },
        "required": ["type", "timestamp", "data"],
        "additionalProperties": False,
    }


def _event_id_pattern() -> str:
    sample = ev.event_id("schema")
    prefix, _, digest = sample.partition("_")
    return f"^{prefix}_[0-9a-f]{{{len(digest)}}}$"


def _headers() -> list[dict[str, Any]]:
    return [
        {
            "name": "webhook-id",
            "in": "header",
            "required": True,
            "description": "The event id: the same whenever the same change is detected "
            "again (after a crash, on another replica, on every retry). Deduplicate by it.",
            "schema": {"type": "string", "pattern": _event_id_pattern()},
        },
        {
            "name": "webhook-timestamp",
            "in": "header",
            "required": True,
            "description": "Unix seconds of this attempt (Standard Webhooks). Reject "
            "requests too far from your clock to stop replays.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
        {
            "name": "webhook-signature",
            "in": "header",
            "required": False,
            "description": "With `WEBHOOK_SECRET` only: `v1,<base64 HMAC-SHA256 of "
            '"id.timestamp.body">`, space-separated when there are several (Standard '
            "Webhooks). Verify it with any Standard Webhooks library.",
            "schema": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"},
        },
    ]


def _operation(event_type: str) -> dict[str, Any]:
    kind = ev.REGISTRY[event_type]
    return {
        "post": {
            "operationId": event_type,
            "summary": _markdown(kind.summary),
            "tags": [kind.kind.value],
            "parameters": [{"$ref": f"#/components/parameters/{h['name']}"} for h in _headers()],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{body_schema_name(event_type)}"}
                    }
                },
            },
            "responses": {
                "2XX": {"description": "Accepted: the event counts as delivered."},
                "default": {
                    "description": "Anything else, or no answer within `WEBHOOK_TIMEOUT`, is "
                    "retried per `NOTIFIER_RETRY_SCHEDULE` (a 429 or 503 `Retry-After` is "
                    "honoured), then kept as a dead letter."
                },
            },
        }
    }


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: one ``webhooks`` entry per public event type."""
    types = list(ev.PUBLIC_TYPES)
    shapes = {t: s for t in types if (s := payloads.shape(t)) is not None}
    missing = [t for t in types if t not in shapes]
    if missing:  # a registered type without a declared payload: a bug, caught by tests
        raise LookupError(f"no payload shape in notifier/payloads.py for {', '.join(missing)}")
    schemas: dict[str, Any] = {"Call": call_schema()}
    for name in types:
        schemas[body_schema_name(name)] = _body_schema(name, shapes[name])
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": DIALECT,
        "info": {
            "title": "clickfono-notifier webhooks",
            "version": __version__,
            "summary": "The events clickfono-notifier POSTs to WEBHOOK_URL.",
            "description": "One `POST WEBHOOK_URL` per event, `content-type: "
            "application/json`, with the Standard Webhooks headers. Each entry of `webhooks` "
            "is one event type; its request body schema (JSON Schema 2020-12) is under "
            "`components/schemas`, keyed by the type. Generated by `clickfono-notifier "
            "schema` from the notifier's own types.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "webhooks": {name: _operation(name) for name in types},
        "components": {
            "schemas": schemas,
            "parameters": {h["name"]: h for h in _headers()},
        },
    }


def render() -> str:
    """The document as stable, pretty JSON with a final newline."""
    return json.dumps(build_document(), indent=2, ensure_ascii=False) + "\n"
