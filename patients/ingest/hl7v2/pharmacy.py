"""RDE^O11 pharmacy orders: each ORC with its RXE (what is given, how much),
RXR (route) and TQ1 (when) is one medication order, found again by its
placer number (ORC-2), else its filler number (ORC-3)."""

import re

from patients.ingest.hl7v2.message import Code, Message, Problem
from patients.ingest.hl7v2.mirror import (
    clinician,
    clinician_read,
    keyed,
    patient,
    pid_read,
    pk_of,
    write,
)
from patients.ingest.hl7v2.orders import of_patient, order_status, stay_of
from patients.ingest.hl7v2.rows import Read, find
from patients.ingest.rules import fit
from patients.models import MedicationOrder

CLOCK = re.compile(r"([01][0-9]|2[0-3])[0-5][0-9]")

M = MedicationOrder.Status
CONTROL = {
    "NW": M.ACTIVE,
    "OK": M.ACTIVE,
    "RL": M.ACTIVE,
    "XO": None,
    "XX": None,
    "SC": None,
    "CA": M.CANCELLED,
    "OC": M.CANCELLED,
    "CR": M.CANCELLED,
    "DC": M.STOPPED,
    "OD": M.STOPPED,
    "HD": M.ON_HOLD,
    "OH": M.ON_HOLD,
}
ORDER_STATUS = {
    "IP": M.ACTIVE,
    "SC": M.ACTIVE,
    "A": M.ACTIVE,
    "CM": M.COMPLETED,
    "CA": M.CANCELLED,
    "DC": M.STOPPED,
    "HD": M.ON_HOLD,
}
# Repeat pattern codes (TQ1-3, or the old ORC-7/RXE-1 component 2) as the
# packs' MAR reads them: doses per period.
PATTERNS = {
    "QD": (1, 1, "d"),
    "OD": (1, 1, "d"),
    "DAILY": (1, 1, "d"),
    "BID": (2, 1, "d"),
    "TID": (3, 1, "d"),
    "QID": (4, 1, "d"),
    "Q4H": (1, 4, "h"),
    "Q6H": (1, 6, "h"),
    "Q8H": (1, 8, "h"),
    "Q12H": (1, 12, "h"),
    "Q24H": (1, 24, "h"),
}
# Q<integer>H and the like: every so many minutes, hours, days or weeks.
EVERY = re.compile(r"Q(\d{1,3})([MHDW])")
EVERY_UNITS = {"M": "min", "H": "h", "D": "d", "W": "wk"}
DOSE_LENGTH = MedicationOrder._meta.get_field("dose").max_length


def medication_orders(message: Message) -> str:
    event_at = message.event_at()
    groups = message.groups("ORC", {"RXE", "RXR", "TQ1", "RXO"})
    found = find(
        pid_read(message),
        *(clinician_read(message, "ORC", 12, seq=g["ORC"][0]) for g in groups),
    )
    person, _ = patient(message, event_at, found=found)
    found.update(of_patient(message, person, _order_reads))
    stay = stay_of(message, person, found)
    kept = 0
    for group in groups:
        orc = group["ORC"][0]
        if "RXE" not in group:
            raise Problem(
                "has no RXE: the order does not say what to give",
                segment="ORC",
                field=1,
                code=Code.SEGMENT_SEQUENCE,
                sequence=orc,
            )
        rxe = group["RXE"][0]
        number = message.value("ORC", 2, seq=orc) or message.value("ORC", 3, seq=orc)
        if not number:
            raise Problem(
                "has neither a placer nor a filler order number",
                segment="ORC",
                field=2,
                code=Code.REQUIRED_MISSING,
                sequence=orc,
            )
        status = order_status(message, orc, CONTROL, ORDER_STATUS)
        key = f"hl7:medication:{person.pk}:{number}"
        current = found.first(order_read(key))
        drug = message.value("RXE", 2, 2, seq=rxe) or message.value(
            "RXE", 2, 1, seq=rxe
        )
        if not drug:
            raise Problem(
                "does not say which drug",
                segment="RXE",
                field=2,
                code=Code.REQUIRED_MISSING,
                sequence=rxe,
            )
        tq1 = group.get("TQ1", [None])[0]
        pattern, timing, as_needed = _schedule(message, rxe, tq1)
        dose = dose_amount(
            message.value("RXE", 3, seq=rxe), unit_of(message, "RXE", 5, rxe)
        )
        route = ""
        if "RXR" in group:
            rxr = group["RXR"][0]
            route = message.value("RXR", 1, 2, seq=rxr) or message.value(
                "RXR", 1, 1, seq=rxr
            )
        fields = {
            "patient": person,
            "encounter_id": pk_of(stay) or (current.encounter_id if current else None),
            "drug": drug,
            "drug_code": message.value("RXE", 2, 1, seq=rxe),
            "dose": dose,
            "route": route,
            "frequency": pattern,
            "timing": timing,
            "as_needed": as_needed,
            # TQ1-10, "the conditions under which the drug is to be given".
            "as_needed_reason": (
                message.value("TQ1", 10, seq=tq1) if as_needed and tq1 else ""
            ),
            "max_dose": _max_dose(message, rxe, group.get("RXO", [None])[0]),
            "instructions": (
                message.value("RXE", 7, 2, seq=rxe)
                or message.value("RXE", 7, 1, seq=rxe)
            ),
            "starts_at": (message.timestamp("TQ1", 7, seq=tq1) if tq1 else None)
            or (current.starts_at if current else None),
            "ends_at": (message.timestamp("TQ1", 8, seq=tq1) if tq1 else None)
            or (current.ends_at if current else None),
            "status": status or (current.status if current else M.ACTIVE),
            "prescriber_id": pk_of(
                clinician(message, "ORC", 12, event_at, seq=orc, found=found)
            )
            or (current.prescriber_id if current else None),
        }
        write(
            MedicationOrder,
            current,
            ("MedicationRequest", key),
            fields,
            event_at,
            pointed_to=False,
        )
        kept += 1
    if not kept:
        raise Problem(
            "has no ORC: no order to apply", segment="ORC", code=Code.SEGMENT_SEQUENCE
        )
    return f"{kept} medication orders"


def _order_reads(message: Message, person_id: int) -> list[Read]:
    """The reads of each order (its placer, else filler number, ORC-2/3)."""
    reads = []
    for group in message.groups("ORC", {"RXE"}):
        orc = group["ORC"][0]
        number = message.value("ORC", 2, seq=orc) or message.value("ORC", 3, seq=orc)
        if number:
            reads.append(order_read(f"hl7:medication:{person_id}:{number}"))
    return reads


def order_read(key: str) -> Read:
    return keyed(MedicationOrder, "MedicationRequest", key)


def _schedule(message: Message, rxe: int, tq1: int | None) -> tuple[str, dict, bool]:
    """(frequency as sent, structured timing, as needed) of an order: TQ1-3's
    repeat pattern (else RXE-1's), TQ1-4's times of day, TQ1-9's priority."""
    # The repeat pattern's code (BID), else its text.
    repeat = (message.value("TQ1", 3, 1, seq=tq1) if tq1 else "") or message.value(
        "RXE", 1, 2, seq=rxe
    )
    pattern = repeat
    if tq1 and not _repeat(repeat):
        pattern = message.value("TQ1", 3, 1, 2, seq=tq1) or repeat
    as_needed = "PRN" in f"{repeat} {pattern}".upper() or _priority_prn(message, tq1)
    times = (
        [
            message.value("TQ1", 4, seq=tq1, rep=rep)
            for rep in range(1, message.repetitions("TQ1", 4, seq=tq1) + 1)
        ]
        if tq1
        else []
    )
    return pattern, _timing(_repeat(repeat) or _repeat(pattern), times), as_needed


def _timing(repeat: tuple[int, int, str] | None, times: list[str]) -> dict:
    timing: dict = {}
    # HHMM, or HH:MM as some send; anything else is not a time of day.
    clock = [
        f"{t[:2]}:{t[2:]}"
        for t in (t.replace(":", "") for t in times)
        if CLOCK.fullmatch(t)
    ]
    if clock:
        timing["times"] = clock
    if repeat:
        timing["frequency"], timing["period"], timing["period_unit"] = repeat
    return timing


def _repeat(pattern: str) -> tuple[int, int, str] | None:
    """(doses, per period, period unit) of a repeat pattern (table 0335):
    BID, Q4H; PRN with one (PRNQ6H, "Q6H PRN") is as often at most."""
    code = pattern.upper().replace(" ", "").replace("PRN", "")
    if code in PATTERNS:
        return PATTERNS[code]
    every = EVERY.fullmatch(code)
    if every and int(every.group(1)) > 0:
        return 1, int(every.group(1)), EVERY_UNITS[every.group(2)]
    return None


def _priority_prn(message: Message, tq1: int | None) -> bool:
    """TQ1-9 (priority, repeating) says PRN: given as needed."""
    if tq1 is None:
        return False
    return any(
        message.value("TQ1", 9, seq=tq1, rep=rep).upper() == "PRN"
        for rep in range(1, message.repetitions("TQ1", 9, seq=tq1) + 1)
    )


def _max_dose(message: Message, rxe: int, rxo: int | None) -> dict:
    """RXE-19 (else RXO-23), the total daily dose: the most in 24 hours.
    Its units are the dispense units (RXE-11) when it does not give them."""
    amount = message.value("RXE", 19, seq=rxe)
    unit = unit_of(message, "RXE", 19, rxe, cq=True) or unit_of(message, "RXE", 11, rxe)
    if not amount and rxo is not None:
        amount = message.value("RXO", 23, seq=rxo)
        unit = unit_of(message, "RXO", 23, rxo, cq=True)
    if not amount:
        return {}
    return {"per_period": dose_amount(amount, unit), "period": 1, "period_unit": "d"}


def dose_amount(number: str, unit: str) -> str:
    return fit(" ".join(p for p in (number, unit) if p), DOSE_LENGTH)


def unit_of(message: Message, segment: str, field: int, seq: int, *, cq=False) -> str:
    """A CE unit (RXE-5): its code (mg), or its text when the code is a
    number. ``cq``: the units of a CQ (RXE-19: quantity^code&text)."""
    code, text = (
        message.value(segment, field, 2, part, seq=seq)
        if cq
        else message.value(segment, field, part, seq=seq)
        for part in (1, 2)
    )
    return text if (not code or code.isdigit()) and text else code
