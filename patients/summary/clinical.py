"""A patient's clinical rows as plain values: allergies, medications
(with the hours doses fall due and the doses already given), results,
reports, pending lab orders, code status."""

import datetime as dt
import re
from collections import defaultdict

from django.utils.translation import gettext_lazy as _

from patients.models import (
    Allergy,
    Flag,
    LabOrder,
    MedicationAdministration,
    Observation,
    Report,
)
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
            # What ``dose_values`` files the order's doses under.
            "key": str(order.pk),
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


# The doses a patient's pages list under each order, given or not.
RECENT_DOSES = dt.timedelta(hours=24)


def dose_values(orders, doses, now: dt.datetime) -> dict:
    """Per active order (``key``), the last dose given and every dose of
    the last 24 hours, given or not (refused, held, missed, dispensed);
    the doses of the last 24 hours of no active order on their own.

    ``doses``: newest first, with their order read. A dose the EHR did not
    link to an active order (none given, or an order since replaced) goes
    under the one active order of the same drug code, else of the same drug
    name; with none or several, on its own."""
    active = {order.pk for order in orders}
    # A drug code or name of exactly one active order: with two (a drug
    # scheduled and as needed), an unlinked dose could be either's.
    named = defaultdict(set)
    for order in orders:
        named[_drug_key(order.drug)].add(order.pk)
        if order.drug_code:
            named[f"code:{order.drug_code}"].add(order.pk)
    by_drug = {key: pks.pop() for key, pks in named.items() if len(pks) == 1}
    filed = defaultdict(list)
    others = []
    for dose in doses:
        drug = dose.drug or (dose.order.drug if dose.order_id else "")
        pk = (
            dose.order_id
            if dose.order_id in active
            else by_drug.get(f"code:{dose.drug_code}" if dose.drug_code else "")
            or by_drug.get(_drug_key(drug))
        )
        if pk:
            filed[pk].append(dose)
        elif dose.given_at > now - RECENT_DOSES:
            others.append(_dose(dose) | {"drug": display_text(drug)})
    return {
        "doses": {
            str(pk): {
                "last": next(
                    (
                        _dose(d)
                        for d in its
                        if d.status in MedicationAdministration.GIVEN
                    ),
                    None,
                ),
                "recent": [_dose(d) for d in its if d.given_at > now - RECENT_DOSES],
            }
            for pk, its in filed.items()
        },
        "other_doses": others,
    }


def _dose(dose: MedicationAdministration) -> dict:
    return {
        "at": iso(dose.given_at),
        "dose": display_dose(dose.dose),
        "route": dose.route,
        "given": dose.status in MedicationAdministration.GIVEN,
        "status": label(MedicationAdministration.Status, dose.status),
        "reason": dose.reason,
        "by": _initialled(dose.performer),
    }


def _initialled(person) -> str:
    """ "C. Dubois": who gave a dose, short enough for a MAR's line."""
    if person is None:
        return ""
    given = person.given.split()
    return " ".join([*(f"{g[0]}." for g in given[:1]), person.family]).strip()


def _drug_key(drug: str) -> str:
    return " ".join(drug.casefold().split())


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


# What a report's status says when it is not simply final.
REPORT_STATUS = {
    "final": _("final"),
    "current": _("current"),
    "corrected": _("corrected"),
    "cancelled": _("cancelled"),
    "entered-in-error": _("entered in error"),
    "registered": _("registered, no result yet"),
    "partial": _("partial"),
    "preliminary": _("preliminary"),
    "amended": _("amended"),
    "appended": _("appended"),
    "superseded": _("superseded"),
    "unknown": _("status unknown"),
}


# Statuses that go without saying on paper.
PLAIN_STATUS = ("final", "current")


def report_values(report: Report) -> dict:
    status = None if report.status in PLAIN_STATUS else REPORT_STATUS.get(report.status)
    return {
        "id": report.pk,
        "kind": report.kind,
        "category": report.category,
        "title": report.title,
        "status": str(status) if status else "",
        "preliminary": report.status in Report.PRELIMINARY,
        "issued": iso(report.issued_at),
        "author": report.author,
        "conclusion": report.conclusion,
        "text": report.text,
        "attachments": len(report.attachments),
    }
