"""Synthetic calls/list bodies shaped like the vendor's records, for benchmarks."""

from __future__ import annotations

import json
import random

STATUSES = (
    "Conectada",
    "No Conectada",
    "Intentos terminados",
    "SPAM",
    "En cola",
    "Fuera de horario",
    "En ejecución",
    "Por ejecutar",
)
NAMES = ("Juan Pérez", "María González", "Jorge Tapia", "Camila Rojas", "Diego Muñoz")


def record(n: int, status: str | None = None, popup: int = 0) -> dict[str, object]:
    rng = random.Random(n)
    return {
        "uuid": f"{n:032x}",
        "status": status or rng.choice(STATUSES),
        "call_number_company": f"5622{rng.randrange(10**7):07d}",
        "retry": str(rng.randrange(4)),
        "duration_company": str(rng.randrange(300)),
        "duration_customer": str(rng.randrange(300)),
        "call_at": f"2026/11/24 {9 + n % 9:02d}:{n % 60:02d}:{(n * 7) % 60:02d} -0300",
        "enqueued": bool(n % 2),
        "popup_uuid": f"14f1cc88-6ce8-11e9-b8f9-{popup:012d}",
        "popup_name": f"Popup {popup}",
        "additionals": {"Nombre": rng.choice(NAMES), "Rut": "11.111.111-1"},
        "caller_number": f"+569{rng.randrange(10**8):08d}",
    }


def body(records: list[dict[str, object]]) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode()
