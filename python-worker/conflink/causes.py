"""Why an external call attempt failed, from what Asterisk reports.

OriginateResponse's Reason cannot tell busy from 503 from 404 (all 0), so the Hangup
event's Cause/TechCause and DialEnd's DialStatus decide; Reason is the last resort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# SIP responses and Q.850 causes that mean "this number will not work": retrying only
# annoys the far end and burns trunk attempts.
_PERMANENT_SIP = {
    403: "call forbidden by the provider (403)",
    404: "number not found (404)",
    410: "number gone (410)",
    484: "number incomplete or invalid (484)",
    485: "number ambiguous (485)",
    603: "call declined (603)",
    604: "number does not exist anywhere (604)",
}
_PERMANENT_Q850 = {
    1: "unallocated number (cause 1)",
    21: "call rejected (cause 21)",
    22: "number changed (cause 22)",
    28: "invalid number format (cause 28)",
}
_TRANSIENT_SIP = {
    408: "no response (408)",
    480: "temporarily unavailable (480)",
    486: "busy (486)",
    487: "request terminated (487)",
    488: "not acceptable here (488)",
    500: "provider error (500)",
    502: "bad gateway (502)",
    503: "service unavailable (503)",
    504: "gateway timeout (504)",
    600: "busy everywhere (600)",
}
_DIALSTATUS = {
    "BUSY": "busy",
    "CONGESTION": "congestion",
    "NOANSWER": "no answer",
    "CHANUNAVAIL": "channel unavailable",
    "CANCEL": "cancelled",
}
_ORIGINATE_REASON = {
    1: "hung up while dialling",
    3: "no answer",
    5: "busy",
    8: "congestion",
}


class LegEnd(Protocol):
    """How one provider leg ended (rules.RouteLeg)."""

    @property
    def dial_status(self) -> str: ...
    @property
    def cause(self) -> str: ...
    @property
    def tech_cause(self) -> str: ...
    @property
    def ended(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed or ended attempt: a short category, a readable text, and whether to stop retrying."""

    category: str
    text: str
    permanent: bool = False


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def classify(
    *,
    cause: object = None,
    tech_cause: object = None,
    dial_status: object = None,
    reason: object = None,
) -> Failure:
    """Classify a failure from the Hangup/DialEnd/OriginateResponse fields (any may be missing)."""
    sip = _int(tech_cause)
    q850 = _int(cause)
    if q850 in (18, 19) and sip in (None, 408, 480, 487):
        # Asterisk's own ring timeout: it cancels and reports 480/487, but nobody answered.
        return Failure("no_answer", f"no answer (cause {q850})")
    if sip in _PERMANENT_SIP:
        return Failure("rejected", _PERMANENT_SIP[sip], permanent=True)
    if q850 in _PERMANENT_Q850 and sip is None:
        return Failure("rejected", _PERMANENT_Q850[q850], permanent=True)
    if sip in _TRANSIENT_SIP:
        category = "busy" if sip in (486, 600) else "no_answer" if sip in (408, 480) else "congestion"
        return Failure(category, _TRANSIENT_SIP[sip])
    if sip is not None and 400 <= sip <= 699:
        return Failure("congestion", f"provider answered {sip}")
    # An answered call (DialEnd ANSWER) that ends with cause 16 was cleared normally too:
    # that is how a far end that ends the meeting hangs up.
    if q850 == 16 and sip is None and str(dial_status or "").strip().upper() in ("", "ANSWER"):
        return Failure("normal", "hung up normally (cause 16)")
    if q850 == 17:
        return Failure("busy", "busy (cause 17)")
    status = str(dial_status or "").strip().upper()
    if status in _DIALSTATUS:
        return Failure(status.lower(), _DIALSTATUS[status])
    if q850 is not None and q850 not in (0, 16):
        return Failure("congestion", f"network failure (cause {q850})")
    number = _int(reason)
    if number in _ORIGINATE_REASON:
        text = _ORIGINATE_REASON[number]
        return Failure(text.replace(" ", "_"), text)
    return Failure("failed", "call failed" + (f" (cause {q850})" if q850 else ""))


def routed(own: Failure, legs: Sequence[LegEnd], half_ended: bool) -> Failure:
    """Why a call dialled through the PBX's outgoing routes failed or ended.

    `own` is classify() of the Local channel's ;1 half (our call), `legs` the provider legs
    Core's routes dialled from its ;2 half, in order, and `half_ended` whether that half's
    Hangup was seen. The ;1 half only hears what the Local channel passes on (often just a
    hang-up), so the last provider leg's own SIP answer says more; a ;2 half that ended
    without dialling any leg means no route matched the number (Core then plays
    "cannot complete as dialled" and hangs up)."""
    if not legs:
        # Measured on Asterisk 22 with Core's [outgoing]: the ;2 half hangs up (cause 16, after
        # Core's ~5 s "cannot complete as dialled") before our ;1, whose own report then is
        # only a DialEnd NOANSWER and cause 16.
        if half_ended:
            return Failure("no_route", "no outgoing route of the PBX takes this number")
        return own
    last = legs[-1]
    status = last.dial_status.strip().upper()
    if status == "CANCEL" or (not last.ended and not status):
        return own  # we (ring timeout, hang-up) ended the attempt, or the leg has not reported yet
    leg = classify(cause=last.cause or None, tech_cause=last.tech_cause or None, dial_status=status or None)
    if leg.category in ("failed", "normal") and own.category not in ("failed", "normal"):
        return own
    if len(legs) > 1 and status != "ANSWER":
        return Failure(leg.category, f"{len(legs)} routes tried, the last: {leg.text}", leg.permanent)
    return leg
