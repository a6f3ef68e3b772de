"""The demo pharmacy: HL7 v2 RDE^O11 orders for a few of the demo hospital's
inpatients, and a RAS^O17 dose given of each heparin order, sent after its
FHIR load through the same receiver as the MLLP listener's. Written as
pharmacy systems write them: units as "IU" and "ug", amounts as ".5" and
"2.0", PRN as TQ1-9 or as the repeat pattern (PRNQ1H), a daily maximum in
RXE-19; the pages and packs must show none of those forms
(``patients.units``)."""

import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

from patients.demo.hospital import MRN_SYSTEM

# Placer suffix, drug, amount (RXE-3), unit (RXE-5), route (RXR-1), repeat
# pattern (TQ1-3), times (TQ1-4), priority (TQ1-9), condition (TQ1-10),
# total daily dose (RXE-19).
ORDERS = (
    (
        "HEP",
        "Heparin sodium 5000 IU/0.2 mL injection",
        "5000",
        "IU",
        "SC^Subcutaneous",
        "Q12H",
        ("0800", "2000"),
        "",
        "",
        "",
    ),
    (
        "WAR",
        "Warfarin 1 mg tablet",
        "2.0",
        "mg",
        "PO^Oral",
        "QD",
        ("1800",),
        "",
        "",
        "",
    ),
    (
        "HAL",
        "Haloperidol 2 mg/mL oral solution",
        ".5",
        "mg",
        "PO^Oral",
        "Q8H",
        (),
        "PRN",
        "Agitation",
        "2^mg",
    ),
    (
        "FEN",
        "Fentanyl 50 microgram/mL injection",
        "25",
        "ug",
        "IV^Intravenous",
        "PRNQ1H",
        (),
        "",
        "Breakthrough pain",
        "200^ug",
    ),
)


def pharmacy_messages(resources: list[dict], *, now: dt.datetime) -> Iterator[bytes]:
    """One RDE^O11 with every ``ORDERS`` order for the first inpatient of
    each ward (by the order of ``resources``, the demo hospital's), and the
    RAS^O17 of its heparin's last dose."""
    mrns = {
        r["id"]: r["identifier"][0]["value"]
        for r in resources
        if r["resourceType"] == "Patient"
    }
    wards = {}
    for resource in resources:
        if resource["resourceType"] == "Encounter" and resource["status"] in (
            "in-progress",
            "arrived",
        ):
            ward = resource["location"][-1]["location"]["reference"]
            patient = resource["subject"]["reference"].removeprefix("Patient/")
            wards.setdefault(ward, mrns[patient])
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    for number, mrn in enumerate(wards.values(), start=1):
        yield _message(f"DEMO-RX-{number}", mrn, stamp)
        yield _dose(f"DEMO-RX-{number}", mrn, now)


def _dose(control: str, mrn: str, now: dt.datetime) -> bytes:
    """RAS^O17: the heparin order's last due dose (08:00 or 20:00, local
    time) given, as a ward's eMAR reports it."""
    local = timezone.localtime(now)
    due = [
        local.replace(hour=hour, minute=0, second=0, microsecond=0)
        - dt.timedelta(days=days)
        for days in (0, 1)
        for hour in (8, 20)
    ]
    last = max(moment for moment in due if moment <= local)
    given = min(last + dt.timedelta(minutes=7), local)
    at = given.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    rxa = ["RXA", "0", "1", at, at, "^Heparin sodium 5000 IU/0.2 mL injection"]
    rxa += ["5000", "IU", "", "", "N0001^Peeters^Sofie"] + [""] * 9 + ["CP", "A"]
    return (
        "\r".join(
            [
                f"MSH|^~\\&|DEMO-EHR|DEMO|DOWNTIME|DEMO|{stamp}||RAS^O17^RAS_O17|"
                f"{control}-RAS|P|2.5||||||UNICODE UTF-8",
                f"PID|1||{mrn}^^^{MRN_SYSTEM}^MR",
                f"ORC|RE|{control}-HEP",
                "|".join(rxa),
                "RXR|SC^Subcutaneous",
            ]
        ).encode()
        + b"\r"
    )


def _message(control: str, mrn: str, stamp: str) -> bytes:
    segments = [
        f"MSH|^~\\&|DEMO-EHR|DEMO|DOWNTIME|DEMO|{stamp}||RDE^O11^RDE_O11|"
        f"{control}|P|2.5||||||UNICODE UTF-8",
        f"PID|1||{mrn}^^^{MRN_SYSTEM}^MR",
    ]
    for order in ORDERS:
        segments += _order(f"{control}-{order[0]}", order, stamp)
    return "\r".join(segments).encode() + b"\r"


def _order(placer: str, order: tuple, stamp: str) -> list[str]:
    """ORC, RXE, TQ1 and RXR of one ``ORDERS`` order."""
    _, drug, amount, unit, route, repeat, times, priority, why, daily = order
    rxe = ["RXE", f"^{repeat}", f"^{drug}", amount, "", unit] + [""] * 14
    rxe[19] = daily
    return [
        f"ORC|NW|{placer}",
        "|".join(rxe),
        f"TQ1|1||{repeat}|{'~'.join(times)}|||{stamp}||{priority}|{why}",
        f"RXR|{route}",
    ]
