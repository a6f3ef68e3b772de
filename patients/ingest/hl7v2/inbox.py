"""Store first, apply, acknowledge: what happens to each message received.

1. The raw bytes are written to the inbox and committed, in a transaction
   of their own, before the message is applied: from there nothing received
   can be lost, whatever happens next (``rows.store``).
2. The message is read (AR if it cannot be), checked against the messages
   already applied from the same sender (a duplicate is acknowledged, not
   applied again), and applied in one transaction that also marks it applied.
3. Only then is it acknowledged: AA after the commit, AE with an ERR segment
   naming the problem when it could not be applied (nothing of it is kept).

While a downtime isolates the inbound feeds, step 2 stops before reading:
the message is marked rejected and answered ``HL7_ISOLATED_ACK`` (isolation.py).
"""

import logging
import traceback
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from patients.ingest.hl7v2 import (
    administrations,
    adt,
    documents,
    orders,
    pharmacy,
    rows,
    scheduling,
)
from patients.ingest.hl7v2.ack import ack
from patients.ingest.hl7v2.isolation import ISOLATED, feeds_isolated
from patients.ingest.hl7v2.message import (
    Code,
    Header,
    Ignored,
    Message,
    Problem,
    Unreadable,
    message_digest,
    read_header,
)
from patients.ingest.hl7v2.mirror import FEED
from patients.models import InboundMessage

logger = logging.getLogger(__name__)
Status = InboundMessage.Status

# Message type (MSH-9.1) to what applies it; every other type is ignored.
APPLIERS: dict[str, Callable[[Message], str]] = {
    "ADT": adt.apply,
    "ORM": orders.lab_orders,
    "OML": orders.lab_orders,
    "ORU": orders.results,
    "RDE": pharmacy.medication_orders,
    "RAS": administrations.administrations,
    "RDS": administrations.dispenses,
    "MDM": documents.documents,
    "SIU": scheduling.appointments,
}


def hl7_receive(
    *,
    raw: bytes,
    peer: str = "",
    truncated_from: int = 0,
    unframed: str | None = None,
) -> bytes:
    """Store, apply and acknowledge one message; the ACK's bytes.

    ``truncated_from``: the frame was that many bytes, more than the limit,
    and ``raw`` is only its beginning. ``unframed``: why these bytes did not
    come as a whole frame. Either way they are kept, and rejected.
    """
    # Plain SQL here and below: these statements run for every message, and
    # building them through the ORM cost more than running them. On
    # PostgreSQL the store goes with the apply's first reads (rows.pipeline).
    values = {
        "received_at": timezone.now(),
        "peer": peer[:64],
        "raw": raw,
        "digest": message_digest(raw),
        "status": Status.RECEIVED,
    }
    for attempt in (1, 2):
        inbox = None
        try:
            with rows.pipeline() as within:
                inbox = rows.store(InboundMessage, dict(values), within)
                return _process_new(inbox, raw, truncated_from, unframed, within)
        except (OperationalError, InterfaceError):
            # A connection the database has ended (a restart) is noticed at
            # the message's first answer: nothing was stored, and it is
            # stored once more on a new connection.
            stored = inbox is not None and inbox.answered
            if attempt == 2 or stored or not rows.lost():
                raise
    raise AssertionError("unreachable")


def _process_new(
    inbox: rows.Stored,
    raw: bytes,
    truncated_from: int,
    unframed: str | None,
    within: rows.Pipeline | None,
) -> bytes:
    if unframed:
        return _reject(inbox, _header_or_none(raw), Unreadable(unframed))
    if truncated_from:
        return _reject(
            inbox,
            _header_or_none(raw),
            Unreadable(
                f"the message is {truncated_from} bytes, more than the "
                f"{len(raw)} this listener accepts (HL7_MAX_MESSAGE_BYTES)"
            ),
        )
    return hl7_process(inbox=inbox, within=within)


def hl7_process(
    *, inbox: InboundMessage | rows.Stored, within: rows.Pipeline | None = None
) -> bytes:
    """Read and apply a stored message (again, for a replay); its ACK.
    ``within``: the pipeline its store went in (``hl7_receive``)."""
    raw = bytes(inbox.raw)
    if feeds_isolated():
        return _reject(
            inbox,
            _header_or_none(raw),
            Problem(ISOLATED, code=Code.INTERNAL),
            settings.HL7_ISOLATED_ACK,
        )
    try:
        message = Message(raw)
    except Unreadable as problem:
        return _reject(inbox, _header_or_none(raw), problem)
    header = message.header
    if header.processing not in settings.HL7_PROCESSING_IDS:
        return _reject(
            inbox,
            header,
            Unreadable(
                f"processing id {header.processing or '(none)'}: this listener "
                f"applies {', '.join(settings.HL7_PROCESSING_IDS)} only "
                "(HL7_PROCESSING_IDS)",
                segment="MSH",
                field=11,
                code=Code.TABLE_VALUE,
            ),
        )
    if header.version not in settings.HL7_VERSIONS:
        return _reject(
            inbox,
            header,
            Unreadable(
                f"version id {header.version}: this listener reads "
                f"{', '.join(settings.HL7_VERSIONS)} (HL7_VERSIONS)",
                segment="MSH",
                field=12,
                code=Code.UNSUPPORTED_VERSION,
            ),
        )
    facts = _facts(header)
    try:
        facts["event_at"] = message.event_at()
    except Problem as problem:
        return _fail(inbox, header, facts, problem)
    applier = APPLIERS.get(header.message_type)
    if applier is None:
        return _finish(
            inbox,
            header,
            facts,
            Status.IGNORED,
            f"ignored: {header.kind or header.message_type} is not kept",
        )
    # A message applied before is not looked for first: that would cost every
    # message a query. Applied again, it changes nothing (an event never
    # overwrites newer state) and marking it applied breaks the unique index
    # (the IntegrityError below); one that fails or is ignored this time is
    # looked for before the answer.
    try:
        outcome = _apply(applier, message, inbox, facts, within)
    except Problem as problem:
        return _duplicate(inbox, header, facts) or _fail(inbox, header, facts, problem)
    except Ignored as ignored:
        return _duplicate(inbox, header, facts) or _finish(
            inbox, header, facts, Status.IGNORED, f"ignored: {ignored}"
        )
    except IntegrityError:
        if answer := _duplicate(inbox, header, facts):
            return answer
        return _fail(
            inbox,
            header,
            facts,
            Problem("conflicts with the mirror's data", code=Code.INTERNAL),
        )
    except Exception as error:  # any failure: AE, and kept for replay
        if answer := _duplicate(inbox, header, facts):
            return answer
        # Where it failed, not the exception's text: a database error quotes
        # the values it refused, and those may be a name or an MRN.
        frame = traceback.extract_tb(error.__traceback__)[-1]
        logger.error(
            "HL7 message %s could not be applied: %s at %s:%s",
            inbox.pk,
            type(error).__name__,
            frame.filename,
            frame.lineno,
        )
        return _fail(
            inbox,
            header,
            facts,
            Problem(
                f"could not be applied ({type(error).__name__}); it is kept for replay",
                code=Code.INTERNAL,
            ),
        )
    logger.info("HL7 message %s %s applied", inbox.pk, header.kind)
    return ack(header, "AA", outcome)


def _apply(
    applier,
    message: Message,
    inbox: InboundMessage | rows.Stored,
    facts: dict,
    within: rows.Pipeline | None,
) -> str:
    """Apply and mark applied in one transaction. A clash with a row another
    connection created meanwhile (the same new patient, bed or clinician)
    is tried once more, when that row is there to be found. A merge goes
    through Django's ORM, in its transaction; every other message in the
    listener's own statements (rows.py)."""
    header = message.header
    merge = header.message_type == "ADT" and header.trigger in adt.MERGES
    now = timezone.now()
    # The feed's last success (the freshness strip, "data as of") is written
    # at most once a second: minutes are what the pages show.
    fresh = "at" not in _FRESH or (now - _FRESH["at"]).total_seconds() >= 1
    if merge and within is not None:
        within.close()  # Django's atomic runs outside pipeline mode
    for attempt in (1, 2):
        try:
            with transaction.atomic() if merge else rows.transaction(within):
                outcome = applier(message)
                _mark(inbox, facts, Status.APPLIED, "AA", outcome=outcome)
                if fresh:
                    _fresh(now)
            if fresh:
                _FRESH["at"] = now
            return outcome
        except IntegrityError:
            if attempt == 2 or _applied_before(inbox, facts):
                raise
    raise AssertionError("unreachable")


def hl7_replay(
    *, messages: Iterable[InboundMessage], progress: Callable | None = None
) -> dict[str, int]:
    """Apply stored messages again, in the order received: {status: count}."""
    counts: dict[str, int] = {}
    for inbox in messages:
        hl7_process(inbox=inbox)
        status = InboundMessage.objects.values_list("status", flat=True).get(
            pk=inbox.pk
        )
        counts[status] = counts.get(status, 0) + 1
        if progress:
            progress(1)
    return counts


def _duplicate(inbox: InboundMessage, header: Header, facts: dict) -> bytes | None:
    """The answer to a message applied before (AA), else None."""
    if header.control_id and _applied_before(inbox, facts):
        return _finish(inbox, header, facts, Status.DUPLICATE, "already applied")
    return None


def _applied_before(inbox: InboundMessage, facts: dict) -> bool:
    """The same message (sender, control id and bytes) was applied already."""
    return bool(
        rows.execute(
            "SELECT 1 FROM patients_inboundmessage WHERE sender = %s AND "
            "control_id = %s AND digest = %s AND status = %s AND id <> %s LIMIT 1",
            [
                facts["sender"],
                facts["control_id"],
                inbox.digest,
                Status.APPLIED,
                inbox.pk,
            ],
        )
    )


def _header_or_none(raw: bytes) -> Header | None:
    try:
        return read_header(raw)
    except Unreadable:
        return None


def _facts(header: Header) -> dict:
    """What the inbox row records of a message's MSH."""
    return {
        "sender": header.sender[:255],
        "control_id": header.control_id,
        "message_type": header.kind[:16],
    }


def _reject(
    inbox: InboundMessage, header: Header | None, problem: Problem, code: str = "AR"
) -> bytes:
    facts = _facts(header) if header is not None else {}
    _mark(inbox, facts, Status.REJECTED, code, error=str(problem))
    logger.warning("HL7 message %s rejected (%s)", inbox.pk, code)
    return ack(header, code, str(problem), problem)


def _fail(inbox, header: Header, facts: dict, problem: Problem) -> bytes:
    _mark(inbox, facts, Status.FAILED, "AE", error=str(problem))
    logger.warning("HL7 message %s %s failed (AE)", inbox.pk, header.kind)
    return ack(header, "AE", str(problem), problem)


def _finish(inbox, header: Header, facts: dict, status: str, text: str) -> bytes:
    _mark(inbox, facts, status, "AA", outcome=text)
    return ack(header, "AA", text)


def _mark(
    inbox: InboundMessage,
    facts: dict,
    status: str,
    code: str,
    *,
    error: str = "",
    outcome: str = "",
) -> None:
    values = {
        "status": status,
        "ack_code": code,
        "error": error,
        "outcome": outcome[:255],
        "applied_at": timezone.now() if status == Status.APPLIED else None,
        **facts,
    }
    rows.save_row(InboundMessage, inbox.pk, values, increment="attempts")


def _fresh(now) -> None:
    """The feed's last success is ``now``."""
    rows.execute(
        "INSERT INTO patients_feedstate (name, last_attempt_at, last_success_at, "
        "last_error, cursor, last_summary, way, last_export) "
        "VALUES (%s, %s, %s, '', '', '{}', '', '{}') "
        "ON CONFLICT (name) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, "
        "last_success_at = excluded.last_success_at",
        [FEED, now, now],
        answer=False,
    )


_FRESH: dict = {}  # when this process last wrote it, committed
