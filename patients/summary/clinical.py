"""A patient's clinical rows as plain values: allergies, medications
(with the hours doses fall due), results, pending lab orders, code status."""

import datetime as dt
import re

from patients.models import Allergy, Flag, LabOrder, Observation
from patients.summary.values import iso, label
from patients.units import (
    display_dose,
    display_interval,
    display_max_dose,
    display_text,
    display_unit,
)

# Hours of the day at which a dose falls when the EHR gives only a frequency
# (the ward's standard administration times).
STANDARD_HOURS = {
    1: (8,),
    2: (8, 20),
    3: (8, 14, 20),
    4: (6, 12, 18, 22),
    5: (6, 10, 14, 18, 22),
    6: (2, 6, 10, 14, 18, 22),
}
WHEN_HOURS = {
    "MORN": 8,
    "ACM": 7,
    "CM": 8,
    "PCM": 9,
    "NOON": 12,
    "ACD": 11,
    "CD": 12,
    "PCD": 13,
    "AFT": 15,
    "EVE": 18,
    "ACV": 17,
    "CV": 18,
    "PCV": 19,
    "NIGHT": 22,
    "HS": 22,
}


def medication_values(orders, now: dt.datetime) -> dict:
    """Scheduled and PRN orders, written as it is safe to read them
    (``patients.units``): "16 units", "0.5 mg", never "16 U" or ".5 mg"."""
    scheduled, as_needed = [], []
    for order in orders:
        row = {
            "drug": display_text(order.drug),
            "dose": display_dose(order.dose),
            "route": order.route,
            "frequency": order.frequency,
            "instructions": display_text(order.instructions),
            "starts": iso(order.starts_at, date_only=True),
            # Not started yet: the sheet says from when.
            "future": bool(order.starts_at and order.starts_at > now),
            "ends": iso(order.ends_at, date_only=True),
        }
        if order.as_needed:
            as_needed.append(
                {
                    **row,
                    "reason": order.as_needed_reason,
                    "interval": display_interval(order.timing),
                    "max_dose": display_max_dose(order.max_dose),
                }
            )
        else:
            row["hours"] = due_hours(order.timing)
            scheduled.append(row)
    return {"medications": scheduled, "as_needed": as_needed}


def due_hours(timing: dict) -> list[int]:
    """The clock hours at which doses fall; empty when the EHR does not say."""
    times = timing.get("times") or []
    hours = set()
    for time in times:
        try:
            hours.add(int(str(time)[:2]) % 24)
        except ValueError:
            continue
    for code in timing.get("when") or []:
        if code in WHEN_HOURS:
            hours.add(WHEN_HOURS[code])
    if hours:
        return sorted(hours)
    frequency, period = timing.get("frequency"), timing.get("period")
    unit = timing.get("period_unit")
    if not isinstance(frequency, int | float) or not isinstance(period, int | float):
        return []
    if unit == "d" and period == 1:
        return list(STANDARD_HOURS.get(int(frequency), ()))
    if unit == "h" and frequency == 1 and period in (4, 6, 8, 12, 24):
        first = {4: 2, 6: 6, 8: 6, 12: 8, 24: 8}[int(period)]
        return sorted((first + step) % 24 for step in range(0, 24, int(period)))
    return []


# SNOMED CT: no known allergy / drug / food / environmental allergy.
NO_KNOWN_ALLERGY_CODES = {"716186003", "409137002", "428607008", "429625007"}
# A code status that means full resuscitation; any other (DNR, no
# intubation, no ICU, or a text this does not recognise) is emphasised.
FULL_CODE = re.compile(
    r"\s*(full\s+(code|resuscitation)|for\s+(full\s+)?resuscitation"
    r"|r[ée]animation\s+compl[èe]te|code\s+complet|volledige\s+reanimatie)\b",
    re.IGNORECASE,
)
FULL_CODE_CODES = {"304252001"}  # SNOMED CT: for cardiopulmonary resuscitation


def allergy_values(allergy: Allergy) -> dict:
    return {
        "substance": allergy.substance,
        "reactions": allergy.reactions,
        "severity": label(Allergy.Severity, allergy.severity),
        "criticality": allergy.criticality,
        "category": allergy.category,
        "unconfirmed": allergy.verification_status == "unconfirmed",
        "severe": allergy.severity == Allergy.Severity.SEVERE
        or allergy.criticality == Allergy.Criticality.HIGH,
        "no_known": allergy.substance_code in NO_KNOWN_ALLERGY_CODES,
    }


def observation_values(observations) -> dict:
    vitals: dict[str, dict] = {}
    labs: dict[str, dict] = {}
    measures: dict[str, dict] = {}  # weight and height
    for obs in observations:  # newest first
        target = vitals if obs.category == Observation.Category.VITAL_SIGNS else labs
        key = obs.code or obs.name
        if obs.code in Observation.WEIGHT_CODES:
            target, key = measures, "weight"
        elif obs.code in Observation.HEIGHT_CODES:
            target, key = measures, "height"
        if key in target:
            continue
        target[key] = {
            "name": obs.name,
            "value": obs.value,
            "unit": display_unit(obs.unit),
            "range": obs.reference_range,
            "flag": obs.abnormal_flag,
            "abnormal": obs.abnormal_flag not in ("", "N"),
            "at": iso(obs.effective_at),
        }
    return {
        "weight": measures.get("weight"),
        "height": measures.get("height"),
        "vitals": sorted(vitals.values(), key=lambda v: v["name"]),
        "labs": sorted(labs.values(), key=lambda v: (not v["abnormal"], v["name"])),
    }


def lab_order_values(order: LabOrder) -> dict:
    return {
        "number": order.order_number,
        "test": order.test,
        "priority": label(LabOrder.Priority, order.priority),
        "urgent": order.priority not in ("", LabOrder.Priority.ROUTINE),
        "status": order.status,
        "ordered_at": iso(order.ordered_at),
        "specimen": order.specimen,
    }


def is_full_code(flag: Flag) -> bool:
    return flag.code in FULL_CODE_CODES or bool(FULL_CODE.match(flag.text))
