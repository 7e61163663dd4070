"""A faithful stand-in for Clickfono's ``GET /calls/list``: the tests' upstream and the demo's.

This module is the import path everyone uses; the work is done in three modules:

* ``simulator_day``: the seeded day, pure functions: vendor-shaped records
  (``make_record``) and every generated call's timeline (``generate_day``).
* ``simulator_calls``: ``SimulatedCalls``, the state over simulated time: generated and
  manual calls, manual edits and the ``history`` of status changes.
* ``simulator_http``: ``Simulator``, the HTTP server over that state, with ``Fault``
  injection, the request log, and ``serve`` for ``clickfono-notifier simulate``.
"""

from notifier.clickfono.simulator_calls import SimulatedCalls
from notifier.clickfono.simulator_day import (
    DEFAULT_POPUP,
    ZONE,
    CallPlan,
    Popup,
    Record,
    StatusChange,
    format_rut,
    generate_burst,
    generate_day,
    generated_popups,
    local_midnight,
    make_record,
    rut_check_digit,
    vendor_time,
)
from notifier.clickfono.simulator_http import (
    DEMO_BURST,
    PATH,
    VENDOR_EXAMPLE_BODY,
    Fault,
    FaultKind,
    RequestRecord,
    Simulator,
    demo_start,
    serve,
)

__all__ = [
    "DEFAULT_POPUP",
    "DEMO_BURST",
    "PATH",
    "VENDOR_EXAMPLE_BODY",
    "ZONE",
    "CallPlan",
    "Fault",
    "FaultKind",
    "Popup",
    "Record",
    "RequestRecord",
    "SimulatedCalls",
    "Simulator",
    "StatusChange",
    "demo_start",
    "format_rut",
    "generate_burst",
    "generate_day",
    "generated_popups",
    "local_midnight",
    "make_record",
    "rut_check_digit",
    "serve",
    "vendor_time",
]
