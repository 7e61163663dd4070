"""The callback rules, as pure functions: who may take, release or close a callback.

No I/O here. The store applies a ``Decision`` atomically (compare the state it read,
write the new one), the outbox carries ``Decision.event_type`` and the message update,
and the listener shows ``Decision.refusal`` to the clicker as an ephemeral note.

A callback is the follow-up an alert asks for (``call.attempts_exhausted``,
``call.queued_too_long``, ``call.outside_business_hours``). Its state is one of:

========== =============================== ===========================================
status     ``user_id`` / ``at``             message line
========== =============================== ===========================================
unclaimed  None / None                     (buttons: claim)
claimed    who holds it / since when       "Lo toma <@U…> a las 10:42" (done, release)
done       who closed it / when            "Cerrada por <@U…> a las 10:50" (none)
resolved   None / when the customer was    "Cliente contactado a las 11:05" (none)
           reached (a later Conectada)
========== =============================== ===========================================

Clicks (``decide``):

- claim: unclaimed → claimed by the clicker (``callback.claimed``). Claiming one's own
  claim again (a double click, two open Slack clients) changes nothing and says
  nothing. Someone else's claim is refused: "Esta llamada ya la tomó <@V> a las 10:42."
- done: by the holder, or on an unclaimed callback (an agent who called the customer
  directly closes it without claiming first) → done (``callback.done``).
  **Done on a callback someone else holds is refused**, with who holds it. "Done" is
  final: the message loses its buttons and nobody can undo it. The buttons are visible
  to the whole channel, so a bystander's misclick would close a callback whose holder is
  maybe still dialling, and the customer would silently drop out of the loop. Refusing
  costs one Slack message between two agents; the holder can release or close it, and
  a later connected call from the number still resolves it by itself.
- release: by the holder → unclaimed (``callback.released``); by anyone else refused;
  on an unclaimed callback a no-op (a stale button).
- Anything on a done or resolved callback changes nothing; the clicker is told who
  closed it and when (the closer's own repeated "done" is a silent no-op).

Auto-resolve (``resolve_on_connected``): an open callback (unclaimed or claimed) is
resolved by a later call from the same caller number that is ``Conectada`` on the same
local day (``callback.resolved``). "Same number" is the store's business (a keyed hash);
``connects_same_day`` checks the rest.

Escalation (``escalation_due``): an unreached-customer or long-wait alert still
unclaimed ``SLACK_ESCALATE_MINUTES`` after it was posted gets one reminder; "once" is
the store's atomic mark, passed in as ``already_reminded``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, TypeAlias

from notifier import events as ev
from notifier.clickfono.models import CallStatus

if TYPE_CHECKING:
    from notifier.messages import Wording

Action: TypeAlias = Literal["claim", "done", "release"]

CLAIMED = ev.CALLBACK_CLAIMED
RELEASED = ev.CALLBACK_RELEASED
DONE = ev.CALLBACK_DONE
RESOLVED = ev.CALLBACK_RESOLVED
CALLBACK_EVENT_TYPES = (CLAIMED, RELEASED, DONE, RESOLVED)

CALLBACK_ALERTS = ev.PERSON_TYPES
"""Alerts that need a person: they carry the buttons (SPEC); declared in the registry."""
ESCALATED_ALERTS = frozenset({ev.CALL_ATTEMPTS_EXHAUSTED, ev.CALL_QUEUED_TOO_LONG})
"""Alerts that get one reminder when nobody takes them (unreached customer, long wait)."""

CONNECTED_STATUS = CallStatus.CONNECTED


class Status(StrEnum):
    UNCLAIMED = "unclaimed"
    CLAIMED = "claimed"
    DONE = "done"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class ClaimState:
    """Where one callback stands; ``UNCLAIMED`` when the store has nothing for it."""

    status: Status = Status.UNCLAIMED
    user_id: str | None = None
    """Who holds it (claimed) or closed it (done)."""
    at: datetime | None = None
    """Since when it is claimed, or when it was closed or resolved."""

    @property
    def open(self) -> bool:
        """Still waiting for someone to reach the customer."""
        return self.status in (Status.UNCLAIMED, Status.CLAIMED)

    def to_fields(self) -> dict[str, str]:
        """A flat string form for a Redis hash (``from_fields`` reads it back)."""
        fields = {"status": self.status.value}
        if self.user_id is not None:
            fields["user"] = self.user_id
        if self.at is not None:
            fields["at"] = self.at.isoformat()
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str] | dict[bytes, bytes]) -> ClaimState:
        """The state ``to_fields`` wrote; empty (no key) is unclaimed."""
        text = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()
        }
        if not text:
            return UNCLAIMED
        at = text.get("at")
        return cls(
            Status(text["status"]), text.get("user"), datetime.fromisoformat(at) if at else None
        )


UNCLAIMED = ClaimState()

Refusal: TypeAlias = Literal["held", "not_holder", "closed", "resolved"]
"""Why a click changed nothing: held by someone else (a claim), done/release by someone
who does not hold it, already closed, already resolved."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What one click or one connected call does to a callback."""

    state: ClaimState
    """The state after it (the same object when nothing changed)."""
    changed: bool
    """Store it, rewrite the message with ``chat.update`` and raise ``event_type``."""
    event_type: str | None = None
    refusal: Refusal | None = None
    """Set when the clicker must be told why nothing happened (``refusal_note``)."""
    previous: ClaimState | None = None
    """The state before it; the store's compare-and-set condition."""


def decide(state: ClaimState, action: Action, user_id: str, at: datetime) -> Decision:
    """The outcome of ``user_id`` clicking ``action`` at ``at`` on a callback in ``state``."""
    status = state.status
    mine = state.user_id == user_id
    if status is Status.RESOLVED:
        return _refuse(state, "resolved")
    if status is Status.DONE:
        return _same(state) if action == "done" and mine else _refuse(state, "closed")
    if action == "claim":
        if status is Status.UNCLAIMED:
            return _move(state, ClaimState(Status.CLAIMED, user_id, at), CLAIMED)
        return _same(state) if mine else _refuse(state, "held")
    if action == "done":
        if status is Status.UNCLAIMED or mine:
            return _move(state, ClaimState(Status.DONE, user_id, at), DONE)
        return _refuse(state, "not_holder")
    # release
    if status is Status.UNCLAIMED:
        return _same(state)
    return _move(state, UNCLAIMED, RELEASED) if mine else _refuse(state, "not_holder")


def resolve_on_connected(state: ClaimState, at: datetime) -> Decision:
    """A later connected call from the same number closes an open callback."""
    if not state.open:
        return _same(state)
    return _move(state, ClaimState(Status.RESOLVED, None, at), RESOLVED)


def connects_same_day(
    callback_call_at: datetime,
    callback_call_uuid: str,
    later_call_at: datetime,
    later_call_uuid: str,
    later_status: str,
    wording: Wording,
) -> bool:
    """Whether the later call (same caller number) resolves the callback's call.

    It must be another call, ``Conectada``, requested after the callback's call, on the
    same local day (``NOTIFIER_TIMEZONE``).
    """
    zone = wording.zone
    return (
        later_call_uuid != callback_call_uuid
        and later_status == CONNECTED_STATUS
        and later_call_at > callback_call_at
        and later_call_at.astimezone(zone).date() == callback_call_at.astimezone(zone).date()
    )


def escalation_due(
    alert_type: str,
    state: ClaimState,
    posted_at: datetime,
    now: datetime,
    escalate_minutes: float,
    already_reminded: bool,
) -> bool:
    """Whether an alert gets its one reminder now (``SLACK_ESCALATE_MINUTES``; 0 disables)."""
    return (
        escalate_minutes > 0
        and alert_type in ESCALATED_ALERTS
        and state.status is Status.UNCLAIMED
        and not already_reminded
        and now - posted_at >= timedelta(minutes=escalate_minutes)
    )


def escalation_at(posted_at: datetime, escalate_minutes: float) -> datetime | None:
    """When the reminder of an alert posted at ``posted_at`` falls due; None if disabled."""
    if escalate_minutes <= 0:
        return None
    return posted_at + timedelta(minutes=escalate_minutes)


def _move(before: ClaimState, after: ClaimState, event_type: str) -> Decision:
    return Decision(after, True, event_type, None, before)


def _same(state: ClaimState) -> Decision:
    return Decision(state, False, None, None, state)


def _refuse(state: ClaimState, why: Refusal) -> Decision:
    return Decision(state, False, None, why, state)


# Texts (Slack mrkdwn; user ids are the only dynamic part besides times and counts)

BUTTON_LABELS: dict[str, dict[Action, str]] = {
    "es": {"claim": "Lo llamo yo", "done": "Listo", "release": "Liberar"},
    "en": {"claim": "I'll call", "done": "Done", "release": "Release"},
}
"""Button texts; the ``action_id``s are ``clickfono.<action>`` (SPEC)."""


def state_line(state: ClaimState, wording: Wording) -> str | None:
    """The line the alert message shows for its callback; None while unclaimed."""
    es = wording.language == "es"
    when = _clock(state.at, wording)
    who = mention(state.user_id)
    if state.status is Status.CLAIMED:
        return f"Lo toma {who} a las {when}" if es else f"Taken by {who} at {when}"
    if state.status is Status.DONE:
        return f"Cerrada por {who} a las {when}" if es else f"Closed by {who} at {when}"
    if state.status is Status.RESOLVED:
        return f"Cliente contactado a las {when}" if es else f"Customer reached at {when}"
    return None


def buttons_for(state: ClaimState) -> tuple[Action, ...]:
    """Which buttons the message offers in this state."""
    if state.status is Status.UNCLAIMED:
        return ("claim", "done")
    if state.status is Status.CLAIMED:
        return ("done", "release")
    return ()


def refusal_note(decision: Decision, wording: Wording) -> str | None:
    """The ephemeral note for the clicker of a refused click; None if nothing to say."""
    state, es = decision.state, wording.language == "es"
    who, when = mention(state.user_id), _clock(state.at, wording)
    if decision.refusal == "held":
        return (
            f"Esta llamada ya la tomó {who} a las {when}."
            if es
            else f"{who} already took this call at {when}."
        )
    if decision.refusal == "not_holder":
        return (
            f"Esta llamada la tomó {who} a las {when}: solo esa persona puede cerrarla o liberarla."
            if es
            else f"{who} took this call at {when}; only they can close or release it."
        )
    if decision.refusal == "closed":
        return (
            f"Esta llamada ya la cerró {who} a las {when}."
            if es
            else f"{who} already closed this call at {when}."
        )
    if decision.refusal == "resolved":
        return (
            f"Esta llamada ya se resolvió: el cliente fue contactado a las {when}."
            if es
            else f"Already resolved: the customer was reached at {when}."
        )
    return None


def repeat_line(count: int, wording: Wording) -> str | None:
    """ "3.ª solicitud hoy" for the third request from one number today; None for the first."""
    if count < 2:
        return None
    if wording.language == "es":
        return f"{count}.ª solicitud hoy"
    suffix = "th" if 10 <= count % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(count % 10, "th")
    return f"{count}{suffix} request today"


def reminder_text(mention_text: str, waited: timedelta, wording: Wording) -> str:
    """The one escalation reminder: who it calls, and how long the customer has waited.

    ``mention_text`` is ``SLACK_ESCALATE_MENTION`` as configured (``<!here>``,
    ``<!subteam^S…>``, ``<@U…>``), trusted configuration, not customer text.
    """
    minutes = max(0, int(waited.total_seconds() // 60))
    if wording.language == "es":
        wait = _spanish_duration(minutes)
        text = f"Nadie ha tomado esta llamada y el cliente lleva {wait} esperando."
    else:
        wait = _english_duration(minutes)
        text = f"Nobody has taken this call; the customer has been waiting {wait}."
    return f"{mention_text} {text}".strip()


def mention(user_id: str | None) -> str:
    """``<@U…>`` for a Slack user id; anything that is not an id is shown escaped."""
    if user_id and user_id.isascii() and user_id.isalnum() and user_id.isupper():
        return f"<@{user_id}>"
    text = user_id or "?"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clock(at: datetime | None, wording: Wording) -> str:
    return f"{at.astimezone(wording.zone):%H:%M}" if at is not None else "?"


def _spanish_duration(minutes: int) -> str:
    if minutes < 60:
        return "1 minuto" if minutes == 1 else f"{minutes} minutos"
    hours, rest = divmod(minutes, 60)
    head = "1 hora" if hours == 1 else f"{hours} horas"
    return f"{head} {rest} min" if rest else head


def _english_duration(minutes: int) -> str:
    if minutes < 60:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours, rest = divmod(minutes, 60)
    head = "1 hour" if hours == 1 else f"{hours} hours"
    return f"{head} {rest} min" if rest else head
