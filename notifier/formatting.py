"""Phone numbers, masking, times and durations, and technical errors, in the configured
language: the small formatting every message, summary and sink shares. Pure."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from notifier.wording import _WEEKDAYS, Wording, label

_MAX_VALUE = 200
"""Longest customer-written value shown (longer ones end in "…")."""


# Phone numbers


def _chilean_national(number: str) -> str | None:
    """The 9 national digits of a Chilean number, or None when it is not one."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits.startswith("56"):
        return digits[2:]
    if len(digits) == 9 and not number.strip().startswith("+"):
        return digits
    return None


def format_phone(number: str) -> str:
    """Chilean style: ``+56 9 8765 4321`` (mobile), ``+56 2 2345 6789`` (Santiago),
    ``+56 32 212 3456`` (other areas); anything else is returned as given."""
    national = _chilean_national(number)
    if national is None:
        return _clip(number)
    if national[0] in "29":
        return f"+56 {national[0]} {national[1:5]} {national[5:]}"
    return f"+56 {national[:2]} {national[2:5]} {national[5:]}"


def dial_number(number: str) -> str | None:
    """The number for a ``tel:`` link (``+56987654321``), or None when it is not dialable."""
    national = _chilean_national(number)
    if national is not None:
        return "+56" + national
    digits = re.sub(r"\D", "", number)
    if not 6 <= len(digits) <= 15:
        return None
    return ("+" if number.strip().startswith("+") else "") + digits


def mask_phone(number: str) -> str:
    """Hide all but the last 4 digits: ``+56 9 **** 4321``."""
    national = _chilean_national(number)
    if national is not None:
        if national[0] in "29":
            return f"+56 {national[0]} **** {national[5:]}"
        return f"+56 {national[:2]} *** {national[5:]}"
    digits = re.sub(r"\D", "", number)
    keep = digits[-4:] if len(digits) > 4 else ""
    return ("+" if number.strip().startswith("+") else "") + "*" * (len(digits) - len(keep)) + keep


def mask_name(value: str) -> str:
    """A name as initials (``Juan Pérez`` → ``J. P.``): recognisable, length not revealed."""
    initials = [word[0].upper() + "." for word in value.split() if word[:1].isalpha()]
    return " ".join(initials[:3]) or "—"


def mask_text(value: str) -> str:
    """Hide a personal value completely: not even its length shows."""
    return "***" if value else ""


def show_phone(number: str, wording: Wording) -> str:
    return mask_phone(number) if wording.mask_pii else format_phone(number)


# Times and durations


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string (the normalised ``call_at``)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def local_time(instant: datetime, wording: Wording) -> str:
    """``martes 02-04-2019 10:05`` (es) or ``Tue 2019-04-02 10:05`` (en), in the local zone."""
    local = instant.astimezone(wording.zone)
    day = _WEEKDAYS[wording.language][local.weekday()]
    if wording.language == "es":
        return f"{day} {local:%d-%m-%Y %H:%M}"
    return f"{day} {local:%Y-%m-%d %H:%M}"


def clock_time(instant: datetime, wording: Wording) -> str:
    return f"{instant.astimezone(wording.zone):%H:%M}"


def short_time(instant: datetime, now: datetime, wording: Wording) -> str:
    """``09:40`` today, ``ayer 21:12``, else ``lunes 23-11 21:12``."""
    local = instant.astimezone(wording.zone)
    today = now.astimezone(wording.zone).date()
    days = (today - local.date()).days
    if days == 0:
        return f"{local:%H:%M}"
    if days == 1:
        return f"{label(wording, 'yesterday')} {local:%H:%M}"
    day = _WEEKDAYS[wording.language][local.weekday()]
    return (
        f"{day} {local:%d-%m %H:%M}" if wording.language == "es" else f"{day} {local:%m-%d %H:%M}"
    )


def time_ago(instant: datetime, now: datetime, wording: Wording) -> str:
    """``09:40 (hace 12 min)``: when, and how long ago."""
    seconds = (now - instant).total_seconds()
    if seconds < 60:
        return f"{short_time(instant, now, wording)} ({label(wording, 'just_now')})"
    if seconds >= 2 * 86400:
        ago = label(wording, "days_ago").format(n=int(seconds // 86400))
    else:
        ago = label(wording, "ago").format(d=duration(seconds))
    return f"{short_time(instant, now, wording)} ({ago})"


def duration(seconds: float) -> str:
    """``42 min``, ``1 h 5 min``; the same in both languages."""
    minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h" if minutes == 0 else f"{hours} h {minutes} min"


def call_duration(seconds: float) -> str:
    """A connected call's length: ``45 s``, ``1 min 35 s``."""
    whole = max(0, int(seconds))
    minutes, rest = divmod(whole, 60)
    if minutes == 0:
        return f"{rest} s"
    return f"{minutes} min" if rest == 0 else f"{minutes} min {rest} s"


def _clip(value: Any, limit: int = _MAX_VALUE) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Technical errors, told in the message's language


_ERROR_PATTERNS_ES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"rejected the token \(HTTP (\d+)\)"), "{who} rechazó el token (HTTP {0})"),
    (
        re.compile(r"answered 404 for calls/list"),
        "{who} respondió 404: revisar CLICKFONO_BASE_URL",
    ),
    (re.compile(r"rejected the login"), "{who} rechazó el usuario o la contraseña"),
    (re.compile(r"(?:timed out after|within) ([\d.]+)s"), "{who} no respondió en {0} s"),
    (re.compile(r"unreachable|refused|ClientConnector|OSError"), "no se pudo conectar con {who}"),
    (
        re.compile(r"(?:answered|HTTP) (?:unexpected )?(?:HTTP )?(\d{3})"),
        "{who} respondió HTTP {0}",
    ),
)


def technical_detail(error: str, wording: Wording, who: str = "Clickfono") -> str:
    """An error line for support. English errors are summarised in Spanish for Spanish
    messages (the full text is in the notifier's logs)."""
    text = _clip(error)
    if wording.language == "en":
        return text
    for pattern, template in _ERROR_PATTERNS_ES:
        found = pattern.search(text)
        if found:
            detail = template.format(*found.groups(), who=who)
            if "(all popups)" in text:
                detail += " (todos los popups)"
            return detail
    return "error técnico; el detalle está en los registros del notificador"
