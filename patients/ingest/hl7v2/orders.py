"""Orders and results: ORM^O01 and OML^O21 lab orders (new, cancel, status),
ORU^R01 results (observations, narrative reports, and the order they answer
closed), RDE^O11 pharmacy orders.

An order is found again by its placer number (ORC-2, else OBR-2), else its
filler number (ORC-3, else OBR-3): the numbers the EHR and the lab share.
"""

import re
from collections.abc import Callable, Iterator
from datetime import datetime

from patients.ingest import rules, values
from patients.ingest.hl7v2.message import (
    Code,
    Ignored,
    Message,
    Problem,
    parse_number,
)
from patients.ingest.hl7v2.mirror import (
    clinician,
    clinician_read,
    identifier,
    keyed,
    patient,
    pid_read,
    pk_of,
    restamp,
    write,
)
from patients.ingest.hl7v2.narrative import (
    IMAGING,
    OBX_STATUS,
    narrative,
    report,
    report_read,
)
from patients.ingest.hl7v2.rows import Found, Read, find, first, one, read
from patients.models import Encounter, LabOrder, Observation, Patient

L = LabOrder.Status
# ORC-1 order control codes (table 0119) to the order's status; None: as
# ORC-5 says, else active.
CONTROL = {
    "NW": L.ACTIVE,
    "OK": L.ACTIVE,
    "RL": L.ACTIVE,
    "XO": None,
    "XX": None,
    "SC": None,
    "SN": L.ACTIVE,
    "CA": L.REVOKED,
    "OC": L.REVOKED,
    "CR": L.REVOKED,
    "DC": L.REVOKED,
    "OD": L.REVOKED,
    "DR": L.REVOKED,
    "HD": L.ON_HOLD,
    "OH": L.ON_HOLD,
    "RE": L.COMPLETED,
}
# ORC-5 order status (table 0038).
ORDER_STATUS = {
    "A": L.ACTIVE,
    "IP": L.ACTIVE,
    "SC": L.ACTIVE,
    "CM": L.COMPLETED,
    "CA": L.REVOKED,
    "DC": L.REVOKED,
    "HD": L.ON_HOLD,
    "ER": L.ENTERED_IN_ERROR,
}
PRIORITY = {"S": "stat", "A": "asap", "R": "routine", "T": "urgent", "P": "routine"}


def lab_orders(message: Message) -> str:
    """ORM^O01 / OML^O21: each ORC with its OBR is one order."""
    event_at = message.event_at()
    found = find(pid_read(message), *_requester_reads(message))
    person, _ = patient(message, event_at, found=found)
    found.update(of_patient(message, person, _order_reads))
    stay = stay_of(message, person, found)
    kept, skipped = 0, 0
    for group, orc, obr in _orders(message):
        if obr is None and orc is not None:
            if message.value("ORC", 1, seq=orc).upper() in ("CA", "OC", "DC", "CR"):
                _cancel_only(message, orc, person, event_at)
                kept += 1
                continue
            raise Problem(
                "has no OBR: the order does not say what is ordered",
                segment="ORC",
                field=1,
                code=Code.SEGMENT_SEQUENCE,
                sequence=orc,
            )
        if message.value("OBR", 24, seq=obr).upper() in IMAGING:
            skipped += 1
            continue
        number = _number(message, orc, obr)
        current = found.first(_order_read(person.pk, number))
        status = _status(message, orc, current.status if current else None)
        test = message.value("OBR", 4, 2, seq=obr) or message.value(
            "OBR", 4, 1, seq=obr
        )
        if not test:
            raise Problem(
                "does not say which test is ordered",
                segment="OBR",
                field=4,
                code=Code.REQUIRED_MISSING,
                sequence=obr,
            )
        fields = {
            "patient": person,
            "encounter_id": pk_of(stay) or (current.encounter_id if current else None),
            "order_number": identifier(
                number, "ORC", 2, LabOrder, "order_number", seq=orc or 1
            ),
            "test": test,
            "test_code": message.value("OBR", 4, 1, seq=obr),
            "priority": _priority(message, orc, obr, group),
            "status": status,
            "ordered_at": message.timestamp("ORC", 9, seq=orc)
            or message.timestamp("OBR", 6, seq=obr)
            or message.timestamp("OBR", 7, seq=obr)
            or (current.ordered_at if current else event_at),
            "specimen": _specimen(message, obr, group),
            "requester_id": pk_of(
                clinician(message, "ORC", 12, event_at, seq=orc, found=found)
                or clinician(message, "OBR", 16, event_at, seq=obr, found=found)
            )
            or (current.requester_id if current else None),
        }
        write(
            LabOrder,
            current,
            ("ServiceRequest", f"hl7:order:{person.pk}:{number}"),
            fields,
            event_at,
            pointed_to=False,
        )
        kept += 1
    if not kept and not skipped:
        raise Problem(
            "has no ORC: no order to apply",
            segment="ORC",
            code=Code.SEGMENT_SEQUENCE,
        )
    if not kept:
        raise Ignored("imaging orders are not kept (OBR-24)")
    return f"{kept} lab orders" + (
        f", {skipped} imaging orders not kept" if skipped else ""
    )


def _cancel_only(
    message: Message, orc: int, person: Patient, event_at: datetime
) -> None:
    number = message.value("ORC", 2, seq=orc) or message.value("ORC", 3, seq=orc)
    if not number:
        raise Problem(
            "names no order to cancel",
            segment="ORC",
            field=2,
            code=Code.REQUIRED_MISSING,
            sequence=orc,
        )
    current = first(_order_read(person.pk, number))
    if current is None:
        raise Problem(
            "names an order the mirror does not know",
            segment="ORC",
            field=2,
            code=Code.UNKNOWN_KEY,
            sequence=orc,
        )
    write(LabOrder, current, ("", ""), {"status": L.REVOKED}, event_at)


def _order_read(person_id: int, number: str) -> Read:
    return one(LabOrder, "patient_id = %s AND order_number = %s", [person_id, number])


def of_patient(message: Message, person: Patient, reads: Callable) -> Found:
    """The reads that need the patient's id, together: of the stay
    (``stay_of``) and ``reads``' of the patient's orders or results. A
    patient new to the mirror has none of them."""
    made = [*_stay_reads(message, person.pk), *reads(message, person.pk)]
    if person._state.adding:
        return Found((made_read, []) for made_read in made if made_read is not None)
    return find(*made)


def _requester_reads(message: Message) -> list[Read | None]:
    """The reads of each order's requester (ORC-12, else OBR-16)."""
    return [
        clinician_read(message, segment, field, seq=seq)
        for _group, orc, obr in _orders(message)
        for segment, field, seq in (("ORC", 12, orc), ("OBR", 16, obr))
        if seq is not None
    ]


def _orders(message: Message) -> Iterator[tuple[dict, int | None, int | None]]:
    """Each order's segments, with its ORC's and OBR's sequence numbers
    (None: it has none). ORC opens each order; some senders leave it out,
    and OBR does."""
    start = "ORC" if message.has("ORC") else "OBR"
    for group in message.groups(start, {"OBR", "TQ1", "SPM"}):
        orc = group["ORC"][0] if start == "ORC" else None
        yield group, orc, group.get("OBR", [None])[0]


def _order_reads(message: Message, person_id: int) -> list[Read]:
    """The reads ``lab_orders`` makes of each order."""
    return [
        _order_read(person_id, _number(message, orc, obr))
        for _group, orc, obr in _orders(message)
        if obr is not None
    ]


def _number(message: Message, orc: int | None, obr: int) -> str:
    number = (
        (message.value("ORC", 2, seq=orc) if orc else "")
        or message.value("OBR", 2, seq=obr)
        or (message.value("ORC", 3, seq=orc) if orc else "")
        or message.value("OBR", 3, seq=obr)
    )
    group = message.value("ORC", 4, seq=orc) if orc else ""
    if not number and group:  # only a placer group number: it and the test
        number = f"{group}/{message.value('OBR', 4, seq=obr)}"
    if not number:
        raise Problem(
            "has neither a placer nor a filler order number",
            segment="OBR",
            field=2,
            code=Code.REQUIRED_MISSING,
            sequence=obr,
        )
    return number


def _status(message: Message, orc: int | None, current: str | None) -> str:
    if orc is None:
        return current or L.ACTIVE
    return order_status(message, orc, CONTROL, ORDER_STATUS) or current or L.ACTIVE


def order_status(
    message: Message, orc: int, control: dict, statuses: dict
) -> str | None:
    """The status ORC-1 (order control) gives, else ORC-5 (order status);
    None: neither says. An unknown ORC-1 is an error."""
    code = message.value("ORC", 1, seq=orc).upper()
    if code not in control:
        raise Problem(
            "is not an order control code the mirror knows (HL7 table 0119)",
            segment="ORC",
            field=1,
            code=Code.TABLE_VALUE,
            sequence=orc,
        )
    return control[code] or statuses.get(message.value("ORC", 5, seq=orc).upper())


def _priority(message: Message, orc: int, obr: int, group: dict) -> str:
    code = ""
    if "TQ1" in group:
        code = message.value("TQ1", 9, seq=group["TQ1"][0])
    code = (
        code
        or (message.value("ORC", 7, 6, seq=orc) if orc else "")
        or message.value("OBR", 27, 6, seq=obr)
    )
    return PRIORITY.get(code.upper()[:1], "routine")


def _specimen(message: Message, obr: int, group: dict) -> str:
    if "SPM" in group:
        spm = group["SPM"][0]
        return message.value("SPM", 4, 2, seq=spm) or message.value(
            "SPM", 4, 1, seq=spm
        )
    return message.value("OBR", 15, 1, seq=obr)


def stay_of(message: Message, person: Patient, found: Found) -> Encounter | None:
    """The stay PV1-19 names, else the patient's current stay."""
    *visit, current = _stay_reads(message, person.pk)
    return (found.first(visit[0]) if visit else None) or found.first(current)


def _stay_reads(message: Message, person_id: int) -> list[Read]:
    """The reads of the stay PV1-19 names, if it does, then of the patient's
    current stay (on the census)."""
    visit = message.value("PV1", 19) if message.has("PV1") else ""
    census = ", ".join(["%s"] * len(Encounter.ON_CENSUS))
    current = one(
        Encounter,
        f"patient_id = %s AND status IN ({census})",
        [person_id, *Encounter.ON_CENSUS],
        order="admitted_at DESC, id DESC",
    )
    if not visit:
        return [current]
    named = one(
        Encounter,
        "patient_id = %s AND source_id LIKE %s ESCAPE '\\'",
        [person_id, "%:" + re.sub(r"([\\%_])", r"\\\1", visit)],
    )
    return [named, current]


def results(message: Message) -> str:
    """ORU^R01: each OBR's OBX are observations, or its narrative a report
    (``narrative``); the order they answer is closed once its results are
    final."""
    event_at = message.event_at()
    found = find(pid_read(message))
    person, _ = patient(message, event_at, found=found)
    found.update(of_patient(message, person, _result_reads))
    stay = stay_of(message, person, found)
    stored, closed = 0, 0
    reports: dict[str, list[tuple[int, list[int]]]] = {}
    for group in message.groups("OBR", {"OBX"}):
        obr = group["OBR"][0]
        number = _number(message, None, obr)
        when = message.timestamp("OBR", 7, seq=obr) or event_at
        section = message.value("OBR", 24, seq=obr).upper()
        told = narrative(message, group)
        if told:
            reports.setdefault(number, []).append((obr, told))
        statuses = set()
        for obx in group.get("OBX", []):
            statuses.add(message.value("OBX", 11, seq=obx).upper())
            if obx not in told:
                stored += _observation(
                    message, obx, person, stay, number, when, section, event_at, found
                )
        result_status = message.value("OBR", 25, seq=obr).upper()
        if result_status in ("F", "C") or (
            not result_status and statuses and statuses <= {"F", "C"}
        ):
            closed += _close(found.all(_pending_read(person.pk, number)), event_at)
    if not message.has("OBR"):
        raise Problem(
            "has no OBR: no results to apply", segment="OBR", code=Code.SEGMENT_SEQUENCE
        )
    reported = sum(
        report(message, parts, person, stay, number, event_at, found)
        for number, parts in reports.items()
    )
    if not stored and not closed and not reported:
        raise Ignored("no result has a value yet, and no order is final")
    outcome = f"{stored} results, {closed} orders closed"
    return outcome + (f", {reported} reports" if reported else "")


def _close(pending: list[LabOrder], event_at: datetime) -> int:
    """Close the patient's ``pending`` orders of a number; how many.

    A final result closes its order whatever the clocks say (the shared
    samples' result is timed before its order); the row's time only moves
    forward."""
    for order in pending:
        order.status = L.COMPLETED
        if not rules.is_older(event_at, order.source_updated_at):
            order.source_updated_at = event_at
        restamp(order, "status", "source_updated_at")
    return len(pending)


def _pending_read(person_id: int, number: str) -> Read:
    """The read of the patient's pending orders of that number, locked."""
    statuses = ", ".join(["%s"] * len(LabOrder.PENDING))
    return read(
        LabOrder,
        f"patient_id = %s AND order_number = %s AND status IN ({statuses})",
        [person_id, number, *LabOrder.PENDING],
        lock=True,
    )


VITAL_CODES = {
    "8867-4",
    "8480-6",
    "8462-4",
    "8310-5",
    "9279-1",
    "2708-6",
    "59408-5",
    "85354-9",
    *Observation.WEIGHT_CODES,
    *Observation.HEIGHT_CODES,
}


def _result_reads(message: Message, person_id: int) -> list[Read]:
    """The reads ``results`` makes of each observation and report, and of
    the pending orders its results may close."""
    reads = []
    for group in message.groups("OBR", {"OBX"}):
        number = _number(message, None, group["OBR"][0])
        told = narrative(message, group)
        if told:
            reads.append(report_read(f"hl7:report:{person_id}:{number}"))
        reads += [
            _observation_read(message, obx, person_id, number)
            for obx in group.get("OBX", [])
            if obx not in told
        ]
        reads.append(_pending_read(person_id, number))
    return reads


def _observation_read(message: Message, obx: int, person_id: int, number: str) -> Read:
    code = message.value("OBX", 3, 1, seq=obx)
    name = message.value("OBX", 3, 2, seq=obx) or code
    sub_id = message.value("OBX", 4, seq=obx)
    key = f"hl7:result:{person_id}:{number}:{code or name}:{sub_id}"
    return keyed(Observation, "Observation", key)


def _observation(
    message, obx, person, stay, number, when, section, event_at, found: Found
) -> int:
    code = message.value("OBX", 3, 1, seq=obx)
    name = message.value("OBX", 3, 2, seq=obx) or code
    if not name:
        raise Problem(
            "does not say what was observed",
            segment="OBX",
            field=3,
            code=Code.REQUIRED_MISSING,
            sequence=obx,
        )
    kind = message.value("OBX", 2, seq=obx).upper()
    text, number_value = _obx_value(message, obx, kind)
    status = OBX_STATUS.get(message.value("OBX", 11, seq=obx).upper(), "final")
    made = _observation_read(message, obx, person.pk, number)
    key = made.params[1]
    current = found.first(made)
    if not text:
        # A result still to come shows nothing yet; one withdrawn (deleted,
        # cancelled, wrong) comes without a value and takes the shown one
        # off the pages.
        if current is not None and status in ("entered-in-error", "cancelled"):
            write(Observation, current, ("", ""), {"status": status}, event_at)
            return 1
        return 0
    category = (
        Observation.Category.VITAL_SIGNS
        if code in VITAL_CODES or section == "VS"
        else Observation.Category.LABORATORY
    )
    fields = {
        "patient": person,
        "encounter": stay,
        "category": category,
        "code": code,
        "name": name,
        "value": text,
        "value_number": number_value,
        "unit": (
            message.value("OBX", 6, 1, seq=obx) or message.value("OBX", 6, 2, seq=obx)
        ),
        "reference_range": message.value("OBX", 7, seq=obx),
        "abnormal_flag": message.value("OBX", 8, seq=obx),
        "status": status,
        "effective_at": message.timestamp("OBX", 14, seq=obx) or when,
    }
    write(
        Observation,
        current,
        ("Observation", key),
        fields,
        event_at,
        pointed_to=False,
    )
    return 1


def _obx_value(message: Message, obx: int, kind: str) -> tuple[str, float | None]:
    if kind == "SN":  # structured numeric: comparator^number^separator^number
        parts = [message.value("OBX", 5, n, seq=obx) for n in (1, 2, 3, 4)]
        text = "".join(p for p in parts if p)
        try:
            return text, parse_number(parts[1]) if parts[1] and not parts[2] else None
        except ValueError:
            raise Problem(
                "is not a structured number", segment="OBX", field=5, sequence=obx
            ) from None
    if kind in ("CE", "CWE", "CNE"):
        return message.value("OBX", 5, 2, seq=obx) or message.value(
            "OBX", 5, 1, seq=obx
        ), None
    text = message.value("OBX", 5, seq=obx)
    if kind == "NM" and text:
        try:
            number = parse_number(text)
        except ValueError:
            raise Problem(
                "is not a number though OBX-2 says NM",
                segment="OBX",
                field=5,
                code=Code.DATA_TYPE,
                sequence=obx,
            ) from None
        return values.format_number(number), number
    return text, None
