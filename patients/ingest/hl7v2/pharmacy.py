"""RDE^O11 pharmacy orders: each ORC with its RXE (what is given, how much),
RXR (route) and TQ1 (when) is one medication order, found again by its
placer number (ORC-2), else its filler number (ORC-3)."""

import re

from patients.ingest.hl7v2.message import Code, Message, Problem
from patients.ingest.hl7v2.mirror import clinician, patient, source_id, write
from patients.ingest.hl7v2.orders import order_status, stay_of
from patients.ingest.hl7v2.statements import fetch, one
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


def medication_orders(message: Message) -> str:
    event_at = message.event_at()
    person, _ = patient(message, event_at)
    stay = stay_of(message, person)
    kept = 0
    for group in message.groups("ORC", {"RXE", "RXR", "TQ1", "RXO"}):
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
        current = fetch(
            one(
                MedicationOrder,
                "source_type = %s AND source_id = %s",
                ["MedicationRequest", source_id(key)],
            )
        )
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
        # The repeat pattern's code (BID), else its text.
        pattern = (message.value("TQ1", 3, 1, seq=tq1) if tq1 else "") or message.value(
            "RXE", 1, 2, seq=rxe
        )
        if tq1 and pattern.upper().replace(" ", "") not in PATTERNS:
            pattern = message.value("TQ1", 3, 1, 2, seq=tq1) or pattern
        times = (
            [
                message.value("TQ1", 4, seq=tq1, rep=rep)
                for rep in range(1, message.repetitions("TQ1", 4, seq=tq1) + 1)
            ]
            if tq1
            else []
        )
        timing = _timing(pattern, times)
        dose = " ".join(
            p
            for p in (
                message.value("RXE", 3, seq=rxe),
                _unit(message, rxe),
            )
            if p
        )
        route = ""
        if "RXR" in group:
            rxr = group["RXR"][0]
            route = message.value("RXR", 1, 2, seq=rxr) or message.value(
                "RXR", 1, 1, seq=rxr
            )
        fields = {
            "patient": person,
            "encounter": stay or (current.encounter if current else None),
            "drug": drug,
            "drug_code": message.value("RXE", 2, 1, seq=rxe),
            "dose": dose,
            "route": route,
            "frequency": pattern,
            "timing": timing,
            "as_needed": "PRN" in pattern.upper(),
            "as_needed_reason": "",
            "instructions": (
                message.value("RXE", 7, 2, seq=rxe)
                or message.value("RXE", 7, 1, seq=rxe)
            ),
            "starts_at": (message.timestamp("TQ1", 7, seq=tq1) if tq1 else None)
            or (current.starts_at if current else None),
            "ends_at": (message.timestamp("TQ1", 8, seq=tq1) if tq1 else None)
            or (current.ends_at if current else None),
            "status": status or (current.status if current else M.ACTIVE),
            "prescriber": clinician(message, "ORC", 12, event_at, seq=orc)
            or (current.prescriber if current else None),
        }
        write(MedicationOrder, current, ("MedicationRequest", key), fields, event_at)
        kept += 1
    if not kept:
        raise Problem(
            "has no ORC: no order to apply", segment="ORC", code=Code.SEGMENT_SEQUENCE
        )
    return f"{kept} medication orders"


def _timing(pattern: str, times: list[str]) -> dict:
    timing: dict = {}
    # HHMM, or HH:MM as some send; anything else is not a time of day.
    clock = [
        f"{t[:2]}:{t[2:]}"
        for t in (t.replace(":", "") for t in times)
        if CLOCK.fullmatch(t)
    ]
    if clock:
        timing["times"] = clock
    known = PATTERNS.get(pattern.upper().replace(" ", ""))
    if known:
        timing["frequency"], timing["period"], timing["period_unit"] = known
    return timing


def _unit(message: Message, rxe: int) -> str:
    """RXE-5: the unit's code (mg), or its text when the code is a number."""
    code = message.value("RXE", 5, 1, seq=rxe)
    text = message.value("RXE", 5, 2, seq=rxe)
    return text if (not code or code.isdigit()) and text else code
