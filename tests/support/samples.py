"""SPEC.md's example call, normalised, as the payload documents it."""

from __future__ import annotations

from typing import Any

SPEC_CALL: dict[str, Any] = {
    "uuid": "a93460bbf8402e15b9b0afddc05d5e8d",
    "status": "Intentos terminados",
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
}
