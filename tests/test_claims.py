"""The callback rules of notifier/claims.py, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier import claims
from notifier.claims import UNCLAIMED, ClaimState, Decision, Status, decide
from notifier.messages import Wording

SANTIAGO = ZoneInfo("America/Santiago")
ES = Wording(language="es", zone=SANTIAGO)
EN = Wording(language="en", zone=SANTIAGO)

T0 = datetime(2026, 11, 24, 13, 42, tzinfo=UTC)  # 10:42 in Santiago (UTC-3 in November)
T1 = T0 + timedelta(minutes=8)  # 10:50
ANA, BETO = "U0ANA", "U0BETO"

CLAIMED_BY_ANA = ClaimState(Status.CLAIMED, ANA, T0)
DONE_BY_ANA = ClaimState(Status.DONE, ANA, T0)
RESOLVED = ClaimState(Status.RESOLVED, None, T0)

# state, action, clicker → new state, event type, refusal
CLICKS = [
    (UNCLAIMED, "claim", BETO, ClaimState(Status.CLAIMED, BETO, T1), "callback.claimed", None),
    (UNCLAIMED, "done", BETO, ClaimState(Status.DONE, BETO, T1), "callback.done", None),
    (UNCLAIMED, "release", BETO, UNCLAIMED, None, None),
    (CLAIMED_BY_ANA, "claim", ANA, CLAIMED_BY_ANA, None, None),
    (CLAIMED_BY_ANA, "claim", BETO, CLAIMED_BY_ANA, None, "held"),
    (CLAIMED_BY_ANA, "done", ANA, ClaimState(Status.DONE, ANA, T1), "callback.done", None),
    (CLAIMED_BY_ANA, "done", BETO, CLAIMED_BY_ANA, None, "not_holder"),
    (CLAIMED_BY_ANA, "release", ANA, UNCLAIMED, "callback.released", None),
    (CLAIMED_BY_ANA, "release", BETO, CLAIMED_BY_ANA, None, "not_holder"),
    (DONE_BY_ANA, "done", ANA, DONE_BY_ANA, None, None),
    (DONE_BY_ANA, "done", BETO, DONE_BY_ANA, None, "closed"),
    (DONE_BY_ANA, "claim", ANA, DONE_BY_ANA, None, "closed"),
    (DONE_BY_ANA, "claim", BETO, DONE_BY_ANA, None, "closed"),
    (DONE_BY_ANA, "release", ANA, DONE_BY_ANA, None, "closed"),
    (RESOLVED, "claim", BETO, RESOLVED, None, "resolved"),
    (RESOLVED, "done", BETO, RESOLVED, None, "resolved"),
    (RESOLVED, "release", BETO, RESOLVED, None, "resolved"),
]


@pytest.mark.parametrize(("state", "action", "user", "after", "event", "refusal"), CLICKS)
def test_click_table(
    state: ClaimState,
    action: claims.Action,
    user: str,
    after: ClaimState,
    event: str | None,
    refusal: str | None,
) -> None:
    """Each click on each state gives the table's new state, event and refusal."""
    decision = decide(state, action, user, T1)
    assert decision.state == after
    assert decision.event_type == event
    assert decision.refusal == refusal
    assert decision.changed is (event is not None)
    assert decision.previous == state


def test_two_claims_one_owner() -> None:
    """Applied in either order, two claims leave one owner and refuse the other."""
    for first, second in ((ANA, BETO), (BETO, ANA)):
        won = decide(UNCLAIMED, "claim", first, T0)
        lost = decide(won.state, "claim", second, T1)
        assert won.state.user_id == first and won.changed
        assert lost.refusal == "held" and lost.state.user_id == first


@pytest.mark.parametrize(
    ("state", "changed"),
    [(UNCLAIMED, True), (CLAIMED_BY_ANA, True), (DONE_BY_ANA, False), (RESOLVED, False)],
)
def test_resolve_on_connected(state: ClaimState, changed: bool) -> None:
    """A connected call resolves open callbacks only, raising callback.resolved."""
    decision = resolve_on_connected(state)
    assert decision.changed is changed
    if changed:
        assert decision.state == ClaimState(Status.RESOLVED, None, T1)
        assert decision.event_type == "callback.resolved"
    else:
        assert decision.state is state and decision.event_type is None


def resolve_on_connected(state: ClaimState) -> Decision:
    return claims.resolve_on_connected(state, T1)


LATER = T0 + timedelta(hours=2)
EVENING = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # 20:30 local
BEFORE_MIDNIGHT = datetime(2026, 11, 25, 2, 59, tzinfo=UTC)  # 23:59 local, same day
AFTER_MIDNIGHT = datetime(2026, 11, 25, 3, 10, tzinfo=UTC)  # 00:10 local, next day
# callback call at, later call at, later uuid, later status → resolves
CONNECTS = [
    (T0, LATER, "b", "Conectada", True),
    (T0, LATER, "a", "Conectada", False),  # the same call
    (T0, LATER, "b", "No Conectada", False),
    (T0, LATER, "b", "En ejecución", False),
    (LATER, T0, "b", "Conectada", False),  # earlier, not later
    (EVENING, BEFORE_MIDNIGHT, "b", "Conectada", True),
    (EVENING, AFTER_MIDNIGHT, "b", "Conectada", False),  # the next local day
]


@pytest.mark.parametrize(("first", "later", "uuid", "status", "resolves"), CONNECTS)
def test_connects_same_day(
    first: datetime, later: datetime, uuid: str, status: str, resolves: bool
) -> None:
    """Only another, later, connected call on the same local day resolves a callback."""
    assert claims.connects_same_day(first, "a", later, uuid, status, ES) is resolves


# alert type, state, minutes since posted, SLACK_ESCALATE_MINUTES, reminded → due
ESCALATIONS = [
    ("call.attempts_exhausted", UNCLAIMED, 10, 10, False, True),
    ("call.queued_too_long", UNCLAIMED, 11, 10, False, True),
    ("call.attempts_exhausted", UNCLAIMED, 9, 10, False, False),
    ("call.attempts_exhausted", UNCLAIMED, 30, 10, True, False),  # once
    ("call.attempts_exhausted", CLAIMED_BY_ANA, 30, 10, False, False),
    ("call.attempts_exhausted", DONE_BY_ANA, 30, 10, False, False),
    ("call.attempts_exhausted", RESOLVED, 30, 10, False, False),
    ("call.outside_business_hours", UNCLAIMED, 30, 10, False, False),  # not escalated
    ("call.spam", UNCLAIMED, 30, 10, False, False),
    ("call.attempts_exhausted", UNCLAIMED, 30, 0, False, False),  # 0 disables
]


@pytest.mark.parametrize(("kind", "state", "waited", "limit", "reminded", "due"), ESCALATIONS)
def test_escalation_due(
    kind: str, state: ClaimState, waited: int, limit: float, reminded: bool, due: bool
) -> None:
    """Only unclaimed unreached/long-wait alerts past the limit get their one reminder."""
    now = T0 + timedelta(minutes=waited)
    assert claims.escalation_due(kind, state, T0, now, limit, reminded) is due


def test_escalation_at() -> None:
    """The reminder falls due SLACK_ESCALATE_MINUTES after the post; never when 0."""
    assert claims.escalation_at(T0, 10) == T0 + timedelta(minutes=10)
    assert claims.escalation_at(T0, 0) is None


@pytest.mark.parametrize(
    ("state", "es", "en"),
    [
        (UNCLAIMED, None, None),
        (CLAIMED_BY_ANA, "Lo toma <@U0ANA> a las 10:42", "Taken by <@U0ANA> at 10:42"),
        (DONE_BY_ANA, "Cerrada por <@U0ANA> a las 10:42", "Closed by <@U0ANA> at 10:42"),
        (RESOLVED, "Cliente contactado a las 10:42", "Customer reached at 10:42"),
    ],
)
def test_state_line(state: ClaimState, es: str | None, en: str | None) -> None:
    """The message line of each state, in local time, in both languages."""
    assert claims.state_line(state, ES) == es
    assert claims.state_line(state, EN) == en


def test_buttons_follow_the_state() -> None:
    """Unclaimed offers claim and done, claimed offers done and release, closed none."""
    assert claims.buttons_for(UNCLAIMED) == ("claim", "done")
    assert claims.buttons_for(CLAIMED_BY_ANA) == ("done", "release")
    assert claims.buttons_for(DONE_BY_ANA) == claims.buttons_for(RESOLVED) == ()


@pytest.mark.parametrize(
    ("state", "action", "es"),
    [
        (CLAIMED_BY_ANA, "claim", "Esta llamada ya la tomó <@U0ANA> a las 10:42."),
        (
            CLAIMED_BY_ANA,
            "release",
            "Esta llamada la tomó <@U0ANA> a las 10:42: solo esa persona puede cerrarla o "
            "liberarla.",
        ),
        (DONE_BY_ANA, "claim", "Esta llamada ya la cerró <@U0ANA> a las 10:42."),
        (RESOLVED, "done", "Esta llamada ya se resolvió: el cliente fue contactado a las 10:42."),
    ],
)
def test_refusal_notes(state: ClaimState, action: claims.Action, es: str) -> None:
    """A refused click gets a note saying who holds or closed the call, and when."""
    decision = decide(state, action, BETO, T1)
    assert claims.refusal_note(decision, ES) == es
    english = claims.refusal_note(decision, EN)
    assert english is not None and "10:42" in english


def test_no_note_when_nothing_to_say() -> None:
    """Accepted clicks and harmless repeats get no note."""
    assert claims.refusal_note(decide(UNCLAIMED, "claim", ANA, T0), ES) is None
    assert claims.refusal_note(decide(CLAIMED_BY_ANA, "claim", ANA, T1), ES) is None


@pytest.mark.parametrize(
    ("count", "es", "en"),
    [
        (1, None, None),
        (2, "2.ª solicitud hoy", "2nd request today"),
        (3, "3.ª solicitud hoy", "3rd request today"),
        (4, "4.ª solicitud hoy", "4th request today"),
        (11, "11.ª solicitud hoy", "11th request today"),
        (21, "21.ª solicitud hoy", "21st request today"),
    ],
)
def test_repeat_line(count: int, es: str | None, en: str | None) -> None:
    """Repeat requests from one number are counted with ordinals in both languages."""
    assert claims.repeat_line(count, ES) == es
    assert claims.repeat_line(count, EN) == en


@pytest.mark.parametrize(
    ("waited", "wait"),
    [
        (timedelta(minutes=1), "1 minuto"),
        (timedelta(minutes=14, seconds=59), "14 minutos"),
        (timedelta(minutes=75), "1 hora 15 min"),
        (timedelta(hours=2), "2 horas"),
    ],
)
def test_reminder_text(waited: timedelta, wait: str) -> None:
    """The reminder mentions SLACK_ESCALATE_MENTION and says how long the customer waited."""
    assert claims.reminder_text("<!here>", waited, ES) == (
        f"<!here> Nadie ha tomado esta llamada y el cliente lleva {wait} esperando."
    )
    assert claims.reminder_text("", timedelta(minutes=14), EN) == (
        "Nobody has taken this call; the customer has been waiting 14 minutes."
    )


def test_mention_escapes_what_is_not_a_user_id() -> None:
    """A user id that is not one can never mention the channel or link."""
    assert claims.mention("U0ANA") == "<@U0ANA>"
    assert claims.mention("<!channel>") == "&lt;!channel&gt;"
    line = claims.state_line(ClaimState(Status.CLAIMED, "<!channel>", T0), ES)
    assert line is not None and "<!" not in line


@pytest.mark.parametrize("state", [UNCLAIMED, CLAIMED_BY_ANA, DONE_BY_ANA, RESOLVED])
def test_fields_round_trip(state: ClaimState) -> None:
    """A state written with to_fields reads back equal, from str or bytes."""
    fields = state.to_fields()
    assert ClaimState.from_fields(fields) == state
    raw = {k.encode(): v.encode() for k, v in fields.items()}
    assert ClaimState.from_fields(raw) == state
    assert ClaimState.from_fields({}) == UNCLAIMED
