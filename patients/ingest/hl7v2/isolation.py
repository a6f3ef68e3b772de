"""Whether the inbound feeds are isolated, as the listener asks it.

While a downtime isolates the feeds (a cyberattack: nothing the EHR sends
may enter the mirror), every message is still stored, but marked rejected
with ``ISOLATED`` and answered ``HL7_ISOLATED_ACK`` instead of being
applied; ``manage.py replay_hl7 --isolated`` applies them once it closes.
"""

import logging
import time

from patients.isolation import inbound_feeds_isolated

logger = logging.getLogger(__name__)

# The inbox error (and ACK text) of a message refused for it, which
# ``replay_hl7 --isolated`` looks for: constant, so never translated. It
# names no reason: IT's reason for the downtime may name the attack.
ISOLATED = "the inbound feeds are isolated during a downtime: kept, not applied"
# How long a process trusts its last answer.
CHECK_SECONDS = 1.0


def feeds_isolated(*, fresh: bool = False) -> bool:
    """A downtime isolates the inbound feeds.

    The database is asked at most once every ``CHECK_SECONDS`` per process,
    not for each of the hundreds of messages a second the listener takes
    (bench/mllp.py): a declaration, or its close, takes effect within that
    second. ``fresh``: ask now (a command about to start). Two threads may
    both ask at the turn of a second; both get the same answer.
    """
    now = time.monotonic()
    asked_at, isolated = _LAST.get("answer", (None, False))
    if fresh or asked_at is None or now - asked_at >= CHECK_SECONDS:
        was = isolated
        isolated = inbound_feeds_isolated()
        _LAST["answer"] = (now, isolated)
        if isolated and not was:
            logger.warning("Inbound feeds isolated: HL7 messages kept, not applied")
        elif was and not isolated:
            logger.warning("Inbound feeds no longer isolated: HL7 messages applied")
    return isolated


_LAST: dict = {}  # "answer": (when this process last asked, what it heard)
