"""Narrative results: a report (radiology, pathology) sent as OBX lines of
text (TX, FT) and files (ED, RP), for ORU^R01 (``orders.results``) and MDM
documents (``documents``). Files are listed, never fetched or decoded."""

import re
from datetime import datetime

from patients.ingest.hl7v2.message import Code, Message, Problem
from patients.ingest.hl7v2.mirror import (
    keyed,
    pk_of,
    write,
)
from patients.ingest.hl7v2.rows import Found, Read
from patients.ingest.text import tidy
from patients.models import Encounter, Patient, Report

# OBR-24 diagnostic service sections that are imaging, not the laboratory.
IMAGING = {"RAD", "CT", "MR", "US", "NMR", "NMS", "XRC", "RX", "CUS", "OUS", "VUS"}

OBX_STATUS = {
    "F": "final",
    "C": "corrected",
    "P": "preliminary",
    "X": "cancelled",
    "D": "entered-in-error",
    "R": "registered",
    "I": "registered",
    "W": "entered-in-error",
}

# OBX-2 value types that are text a person wrote, and files (a PDF, an
# image) a report points to: listed, never fetched or decoded.
TEXT_TYPES = {"TX", "FT", "ST", "CF"}
NARRATIVE_TYPES = {"TX", "FT"}
FILE_TYPES = {"ED", "RP"}
# OBR-24 diagnostic service sections (HL7 table 0074) whose results are
# reports in prose even beside a measurement (an echo's ejection fraction).
REPORTING = IMAGING | {"RUS", "PAT", "SP", "CP", "EC", "EN", "CTH", "CG", "PF"}
SECTIONS = {
    "RAD": "Radiology",
    "CT": "CT",
    "MR": "MRI",
    "NMR": "MRI",
    "US": "Ultrasound",
    "RUS": "Ultrasound",
    "CUS": "Cardiac ultrasound",
    "OUS": "Obstetric ultrasound",
    "VUS": "Vascular ultrasound",
    "RX": "X-ray",
    "NMS": "Nuclear medicine",
    "PAT": "Pathology",
    "SP": "Surgical pathology",
    "CP": "Cytopathology",
    "EC": "ECG",
    "CTH": "Cardiac catheterization",
    "CG": "Cardiac catheterization",
    "PF": "Pulmonary function",
    "MB": "Microbiology",
}
# OBR-25 result status (table 0123); any other: as the text's OBX-11 says.
REPORT_STATUS = {"F": "final", "C": "corrected", "P": "preliminary", "X": "cancelled"}
# LOINC codes of a report's impression or conclusion section (findings,
# 59776-5, are not one).
CONCLUSION_CODES = {"19005-8", "55110-1"}
FINDINGS_CODES = {"59776-5"}
CONCLUSION = re.compile(r"\b(IMP|IMPRESSIONS?|CONCLUSIONS?)\b", re.IGNORECASE)
# Table 0191 (type of referenced data) and common subtypes, as media types.
MEDIA = {
    "AP": "application",
    "IM": "image",
    "SI": "image",
    "NS": "image",
    "AU": "audio",
    "TEXT": "text",
    "TX": "text",
    "FT": "text",
}
SUBTYPES = {
    "PDF": "application/pdf",
    "RTF": "application/rtf",
    "JPEG": "image/jpeg",
    "JPG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "HTML": "text/html",
    "XML": "text/xml",
    "DICOM": "application/dicom",
}


def narrative(message: Message, group: dict) -> list[int]:
    """The OBX of an OBR group that make a report, in the message's order:
    its text and files; none when the group is not one. A group is a report
    when it has TX or FT lines and either nothing else but text and files,
    or OBR-24 names a section that reports in prose. A lab panel with a
    comment line (a blood count's morphology) stays observations, as
    before."""
    kinds = {
        obx: message.value("OBX", 2, seq=obx).upper() for obx in group.get("OBX", [])
    }
    if not NARRATIVE_TYPES & set(kinds.values()):
        return []
    told = [obx for obx, kind in kinds.items() if kind in TEXT_TYPES | FILE_TYPES]
    section = message.value("OBR", 24, seq=group["OBR"][0]).upper()
    return told if section in REPORTING or len(told) == len(kinds) else []


def _obx_lines(message: Message, obx: int) -> list[str]:
    """The lines of a text OBX: each repetition of OBX-5 (a CF's text)."""
    coded = message.value("OBX", 2, seq=obx).upper() == "CF"
    return [
        (coded and message.value("OBX", 5, 2, seq=obx, rep=rep))
        or message.value("OBX", 5, seq=obx, rep=rep)
        for rep in range(1, message.repetitions("OBX", 5, seq=obx) + 1)
    ]


def obx_text(message: Message, results: list[int]) -> str:
    """The text of ``results`` (text OBX), as the mirror keeps it."""
    return tidy("\n".join(line for obx in results for line in _obx_lines(message, obx)))


def obx_file(message: Message, obx: int) -> dict:
    """A file an OBX carries (ED) or points to (RP), listed as a report's
    attachment: its title, media type and, for a web address, the URL."""
    kind = message.value("OBX", 2, seq=obx).upper()
    # ED: application^type^subtype^encoding^data; RP: pointer^application^
    # type^subtype.
    first = 2 if kind == "ED" else 3
    main, sub = (message.value("OBX", 5, n, seq=obx) for n in (first, first + 1))
    pointer = message.value("OBX", 5, seq=obx) if kind == "RP" else ""
    return {
        "title": (
            message.value("OBX", 3, 2, seq=obx) or message.value("OBX", 3, seq=obx)
        )[:255],
        "type": (
            SUBTYPES.get(sub.upper())
            or (
                f"{MEDIA.get(main.upper(), 'application')}/{sub.lower()}" if sub else ""
            )
        )[:64],
        # Only a web address is listed; anything else (file:, a share) is
        # not a link anyone should follow.
        "url": pointer[:2048] if pointer.startswith(("https://", "http://")) else "",
    }


def report(
    message: Message,
    parts: list[tuple[int, list[int]]],
    person: Patient,
    stay: Encounter | None,
    number: str,
    event_at: datetime,
    found: Found,
) -> int:
    """The report of an order's narrative (``parts``: each OBR with its
    text and file OBX; one, unless the order has several); 1 if written."""
    obr = parts[0][0]
    told = [obx for _obr, results in parts for obx in results]
    lines = [
        obx for obx in told if message.value("OBX", 2, seq=obx).upper() in TEXT_TYPES
    ]
    body = obx_text(message, lines)
    files = [obx_file(message, obx) for obx in told if obx not in lines]
    status = _report_status(message, obr, lines)
    key = f"hl7:report:{person.pk}:{number}"
    current = found.first(report_read(key))
    if not body and not files:
        # As for an observation: nothing to show yet, or one withdrawn.
        if current is not None and status in Report.WITHDRAWN:
            write(Report, current, ("", ""), {"status": status}, event_at)
            return 1
        return 0
    titles = dict.fromkeys(_title(message, part) for part, _results in parts)
    section = message.value("OBR", 24, seq=obr)
    fields = {
        "patient": person,
        "encounter_id": pk_of(stay) or (current.encounter_id if current else None),
        "kind": Report.Kind.DIAGNOSTIC,
        "category": SECTIONS.get(section.upper(), section),
        "title": "; ".join(titles),
        "code": message.value("OBR", 4, 1, seq=obr),
        "status": status,
        "issued_at": message.timestamp("OBR", 22, seq=obr)
        or message.timestamp("OBR", 7, seq=obr)
        or event_at,
        "author": _interpreter(message, obr),
        "conclusion": obx_text(
            message, [obx for obx in lines if _is_conclusion(message, obx)]
        ),
        "text": body,
        "attachments": files,
    }
    write(
        Report,
        current,
        ("DiagnosticReport", key),
        fields,
        event_at,
        pointed_to=False,
    )
    return 1


def _report_status(message: Message, obr: int, lines: list[int]) -> str:
    """Entered in error when every line of its text is (OBX-11 D or W: the
    wrong patient, deleted), else OBR-25's status, else the first its
    text's OBX-11 gives."""
    codes = [message.value("OBX", 11, seq=obx).upper() for obx in lines]
    if codes and all(OBX_STATUS.get(c) == "entered-in-error" for c in codes):
        return "entered-in-error"
    status = REPORT_STATUS.get(message.value("OBR", 25, seq=obr).upper())
    return status or next((OBX_STATUS[c] for c in codes if c in OBX_STATUS), "unknown")


def report_read(key: str) -> Read:
    return keyed(Report, "DiagnosticReport", key)


def _title(message: Message, obr: int) -> str:
    title = message.value("OBR", 4, 2, seq=obr) or message.value("OBR", 4, seq=obr)
    if not title:
        raise Problem(
            "does not say what the report is of",
            segment="OBR",
            field=4,
            code=Code.REQUIRED_MISSING,
            sequence=obr,
        )
    return title


def _is_conclusion(message: Message, obx: int) -> bool:
    """OBX-3 or OBX-4 says the line is the impression or conclusion."""
    code = message.value("OBX", 3, seq=obx)
    if code in FINDINGS_CODES:
        return False
    if code in CONCLUSION_CODES:
        return True
    names = [
        code,
        message.value("OBX", 3, 1, 2, seq=obx),  # "&IMP": a subcomponent
        message.value("OBX", 3, 2, seq=obx),
        message.value("OBX", 4, seq=obx),
    ]
    return any(CONCLUSION.search(name) for name in names if name)


def _interpreter(message: Message, obr: int) -> str:
    """OBR-32, the principal result interpreter, by name. Its name is in
    subcomponents (ID&FAMILY&GIVEN&...&PREFIX); many senders write it as
    an XCN's components (ID^FAMILY^GIVEN^...^PREFIX)."""
    family = message.value("OBR", 32, 1, 2, seq=obr)
    parts = (
        [message.value("OBR", 32, 1, n, seq=obr) for n in (6, 3, 2)]
        if family
        else [message.value("OBR", 32, n, seq=obr) for n in (6, 3, 2)]
    )
    return " ".join(part for part in parts if part)
