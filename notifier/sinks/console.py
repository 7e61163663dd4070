"""Console sink: one readable line per event on stdout (NOTIFIER_CONSOLE, the demo)."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TextIO

from notifier import events as ev
from notifier import messages, summary_text
from notifier.clickfono.models import NAME_FIELD
from notifier.config import Settings
from notifier.errors import SinkError
from notifier.events import Event
from notifier.sinks.base import CheckResult

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DIM, _RESET = "\033[2m", "\033[0m"


class ConsoleSink:
    """Prints ``time  type  status  popup  caller`` lines; never fails a delivery."""

    name = "console"

    def __init__(
        self, settings: Settings, stream: TextIO | None = None, colour: bool | None = None
    ) -> None:
        self.settings = settings
        self.wording = messages.Wording.from_settings(settings)
        self.stream = stream or sys.stdout
        self.colour = self.stream.isatty() if colour is None else colour

    def format(self, event: Event) -> str:
        local = event.detected_at.astimezone(self.settings.zone).strftime("%H:%M:%S")
        kind = event.type.ljust(28)
        if summary_text.is_report(event):
            summary = summary_text.summaries_of([event])[0]
            late = "  [late]" if summary.late else ""
            text = f"{local}  {kind} {summary_text.one_line(summary, self.wording)}{late}"
        elif event.call is None:
            text = f"{local}  {kind} {event.detail.get('error', '')}".rstrip()
        else:
            call = event.call
            status = str(call.get("status"))
            if event.previous_status and event.previous_status != status:
                status = f"{event.previous_status} → {status}"
            if event.reason:
                status += f" ({event.reason})"
            # The same number format and masking as Slack and email.
            caller = call.get("caller_number")
            caller = messages.show_phone(str(caller), self.wording) if caller else ""
            name = str((call.get("additionals") or {}).get(NAME_FIELD, ""))
            if self.wording.mask_pii and name:
                name = messages.mask_name(name)
            late = "  [late]" if event.observed_late else ""
            text = (
                f"{local}  {kind} {status:<44} {call.get('popup_name') or '-':<18} "
                f"{name} {caller}{late}"
            ).rstrip()
        # Customer text must not drive the terminal (escape sequences, carriage returns).
        text = _CONTROL.sub("?", text)
        if self.colour:
            known = ev.describe(event.type)
            colour = known.colour if known else _DIM
            return f"{colour}{text}{_RESET}"
        return text

    async def send(self, events: Sequence[Event]) -> list[SinkError | None]:
        for event in events:
            print(self.format(event), file=self.stream, flush=True)
        return [None] * len(events)

    async def check(self) -> CheckResult:
        return CheckResult(self.name, True, "prints to stdout")

    async def aclose(self) -> None:
        return None
