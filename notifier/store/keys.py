"""Every Redis key, meta field and stored value format. Nothing else spells a key.

Every key is ``{prefix}:…``. The braces are a Redis Cluster hash tag, so one
deployment's keys live in one slot and one Lua script or MULTI/EXEC may touch them all.

Layout::

    {p}:lease            "token|holder" with a TTL: the poll lease
    {p}:fence            INCR counter; each lease acquisition gets a larger token
    {p}:meta             hash: the META_* fields below
    {p}:snap:{date}      hash call uuid -> encoded Snapshot        (TTL: state days)
    {p}:answers:{date}   hash answer key -> "digest|deadline|calls|index token"
    {p}:index:{date}:{answer}   CallIndex of the answer last diffed (TTL one day); staged
                         by the commit under ``…:staged:{random}`` (TTL 10 min) and renamed
                         into place by the commit script
    {p}:outbox:{sink}    zset event id -> due time (ms); a taken entry is pushed into the
                         future by the visibility timeout (NOTIFIER_CLAIM_TIMEOUT)
    {p}:payload:{sink}   hash event id -> {"event", "attempts", "error"}
    {p}:owner:{sink}     hash event id -> owner of the attempt holding it (replica:attempt)
    {p}:done:{sink}      zset event id -> delivered at (ms): idempotency records
    {p}:dead:{sink}      hash event id -> dead letter
    {p}:sink_health      hash sink -> "since|announced": the sink's current failing streak
    {p}:slack:thread:{channel}:{call}    Slack ts of the call's parent message
    {p}:slack:message:{channel}:{ts}     the call uuid of a parent message (decodes clicks)
    {p}:slack:latest:{channel}:{call}    the latest event shown in the parent message
    {p}:slack:pace:{channel}             next free send slot (ms)
    {p}:callback:call:{call} hash: the claim (status, user, at: claims.ClaimState) and what
                         the callback loop knows of its alert (channel, alert, since, day,
                         number, call_at, call)                  (TTL: state days)
    {p}:callback:day:{day}   set of the call uuids whose callback opened that day (TTL: state days)
    {p}:callback:due         zset call uuid -> when its escalation reminder falls due (ms)
    {p}:callback:reminded:{call}   set once when the reminder is queued (TTL: state days)
    {p}:callback:number:{day}:{hash}   zset call uuid -> call_at (s): one caller number's
                         requests that day; ``hash`` is an HMAC of the number (TTL 2 days)
    {p}:callback:secret      the deployment's random HMAC key for caller numbers (no TTL)
"""

from __future__ import annotations

from dataclasses import dataclass

# Fields of the {p}:meta hash.
META_BASELINE_AT = "baseline_at"
META_LAST_SUCCESS = "last_success"
META_SOURCE_STATE = "source_state"
META_SOURCE_FAILURES = "source_failures"
META_SOURCE_SINCE = "source_since"
META_SOURCE_ANNOUNCED = "source_announced"
META_SUMMARY_DAY = "summary_day"
"""The last local date whose daily summaries were queued (``report.daily_summary``)."""


def lease_value(token: int, holder: str) -> str:
    """The stored value of the poll lease: ``token|holder``."""
    return f"{token}|{holder}"


def lease_token(value: str) -> int:
    """The fencing token of a lease value (``token|holder``)."""
    return int(value.split("|", 1)[0])


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys of one deployment (one prefix)."""

    prefix: str

    def key(self, *parts: str) -> str:
        return ":".join(("{" + self.prefix + "}", *parts))

    def pattern(self) -> str:
        """Matches every key of this deployment (for SCAN)."""
        return self.key("*")

    # Poll lease and cycle state
    def lease(self) -> str:
        return self.key("lease")

    def fence(self) -> str:
        return self.key("fence")

    def meta(self) -> str:
        return self.key("meta")

    def snapshots(self, day: str) -> str:
        return self.key("snap", day)

    def answers(self, day: str) -> str:
        return self.key("answers", day)

    def index(self, day: str, answer: str) -> str:
        return self.key("index", day, answer)

    def staged(self, final: str, stage: str) -> str:
        return f"{final}:staged:{stage}"

    # Outbox, per sink
    def outbox(self, sink: str) -> str:
        return self.key("outbox", sink)

    def payload(self, sink: str) -> str:
        return self.key("payload", sink)

    def owners(self, sink: str) -> str:
        return self.key("owner", sink)

    def done(self, sink: str) -> str:
        return self.key("done", sink)

    def dead(self, sink: str) -> str:
        return self.key("dead", sink)

    def sink(self, sink: str) -> list[str]:
        """outbox, payload, done, dead: the order the scripts expect."""
        return [self.outbox(sink), self.payload(sink), self.done(sink), self.dead(sink)]

    def sink_health(self) -> str:
        return self.key("sink_health")

    # Slack
    def slack_thread(self, channel: str, call_uuid: str) -> str:
        return self.key("slack", "thread", channel, call_uuid)

    def slack_message(self, channel: str, ts: str) -> str:
        return self.key("slack", "message", channel, ts)

    def slack_latest(self, channel: str, call_uuid: str) -> str:
        return self.key("slack", "latest", channel, call_uuid)

    def slack_pace(self, channel: str) -> str:
        return self.key("slack", "pace", channel)

    # The callback loop
    def callback(self, call_uuid: str) -> str:
        return self.key("callback", "call", call_uuid)

    def callback_day(self, day: str) -> str:
        return self.key("callback", "day", day)

    def callback_due(self) -> str:
        return self.key("callback", "due")

    def callback_reminded(self, call_uuid: str) -> str:
        return self.key("callback", "reminded", call_uuid)

    def callback_number(self, day: str, number_hash: str) -> str:
        return self.key("callback", "number", day, number_hash)

    def callback_secret(self) -> str:
        return self.key("callback", "secret")
