"""MDM documents (letters, notes, summaries): each is one report, found
again by its unique document number (TXA-12), its text the lines of its
text OBX (TX, FT, ST, CF) as plain text, its files (ED, RP) listed and
never fetched (narrative.obx_text, narrative.obx_file).

T02, T04, T06, T08 and T10 carry the document: it is written whole, an
edit (T08) or a replacement (T10) replacing the text an older event gave.
T01, T03, T05, T07 and T09 only announce one: they change the status of a
document the mirror has, and are otherwise ignored. T11 cancels one.
"""

from datetime import datetime

from patients.ingest.hl7v2.message import Code, Ignored, Message, Problem
from patients.ingest.hl7v2.mirror import (
    keyed,
    patient,
    pid_read,
    pk_of,
    write,
)
from patients.ingest.hl7v2.narrative import FILE_TYPES, TEXT_TYPES, obx_file, obx_text
from patients.ingest.hl7v2.orders import of_patient, stay_of
from patients.ingest.hl7v2.rows import Read, find
from patients.models import Report

WITH_CONTENT = {"T02", "T04", "T06", "T08", "T10"}
NOTICES = {"T01", "T03", "T05", "T07", "T09"}
CANCEL = "T11"
# Replacements: the parent document (TXA-13) is superseded by this one.
REPLACING = {"T10"}
# TXA-17 document completion status (HL7 table 0271).
COMPLETION = {
    "DI": "preliminary",  # dictated
    "DO": "preliminary",  # documented
    "IP": "preliminary",  # in progress
    "IN": "preliminary",  # incomplete
    "PA": "preliminary",  # pre-authenticated
    "AU": "final",  # authenticated
    "LA": "final",  # legally authenticated
}
# TXA-19 document availability (table 0273): withdrawn ones; AV (available)
# and UN (unavailable for patient care, not yet signed) leave the status
# to TXA-17.
AVAILABILITY = {"AV": "", "UN": "", "CA": "cancelled", "OB": "superseded"}
# TXA-2 document type (table 0270) when it gives a code only.
DOCUMENT_TYPES = {
    "AR": "Autopsy report",
    "CD": "Cardiodiagnostics",
    "CN": "Consultation",
    "DI": "Diagnostic imaging",
    "DS": "Discharge summary",
    "ED": "Emergency department report",
    "HP": "History and physical examination",
    "OP": "Operative report",
    "PC": "Psychiatric consultation",
    "PH": "Psychiatric history and physical examination",
    "PN": "Procedure note",
    "PR": "Progress note",
    "SP": "Surgical pathology",
    "TS": "Transfer summary",
}


def documents(message: Message) -> str:
    """MDM^T01..T11: the document TXA describes (``__doc__``)."""
    trigger = message.header.trigger
    if trigger not in WITH_CONTENT | NOTICES | {CANCEL}:
        raise Ignored(f"{message.kind} is not kept")
    if not message.has("TXA"):
        raise Problem(
            "is missing: the message describes no document",
            segment="TXA",
            code=Code.SEGMENT_SEQUENCE,
        )
    number = _document_number(message)
    event_at = message.event_at()
    found = find(pid_read(message))
    person, _ = patient(message, event_at, found=found)
    key = f"hl7:document:{person.pk}:{number}"
    parent = message.value("TXA", 13)
    replaced = (
        _read(f"hl7:document:{person.pk}:{parent}")
        if trigger in REPLACING and parent and parent != number
        else None
    )
    found.update(of_patient(message, person, lambda _m, _pid: [_read(key), replaced]))
    current = found.first(_read(key))
    if trigger not in WITH_CONTENT:
        return _status_change(message, current, event_at)
    fields = {**_document(message, event_at), "patient": person}
    stay = stay_of(message, person, found)
    fields["encounter_id"] = pk_of(stay) or (current.encounter_id if current else None)
    if not message.has("OBX") and current is not None:
        # Sent without its content: the text the mirror has stays.
        fields["text"], fields["attachments"] = current.text, current.attachments
    _row, state = write(
        Report, current, ("DocumentReference", key), fields, event_at, pointed_to=False
    )
    if (parent_row := found.first(replaced)) is not None:
        write(Report, parent_row, ("", ""), {"status": "superseded"}, event_at)
    return f"document {state}"


def _status_change(message: Message, current: Report | None, event_at: datetime) -> str:
    """A notice (T01...T09) or a cancel (T11): the status of a document the
    mirror has, if it changes it; else ignored."""
    cancel = message.header.trigger == CANCEL
    status = "cancelled" if cancel else _status(message)
    if current is None or status in (current.status, "unknown"):
        raise Ignored(
            f"{message.kind} carries no document text, and changes the "
            "status of no document the mirror has"
        )
    _row, state = write(Report, current, ("", ""), {"status": status}, event_at)
    return f"document status {state}"


def _read(key: str) -> Read:
    return keyed(Report, "DocumentReference", key)


def _document_number(message: Message) -> str:
    number = message.value("TXA", 12)
    if not number:
        raise Problem(
            "is empty: the document has no unique number, so an edit or a "
            "cancel could not find it again",
            segment="TXA",
            field=12,
            code=Code.REQUIRED_MISSING,
        )
    return number


def _document(message: Message, event_at: datetime) -> dict:
    """The fields of the document TXA and its OBX describe."""
    kinds = {
        obx: message.value("OBX", 2, seq=obx).upper() for obx in message.segments("OBX")
    }
    return {
        "kind": Report.Kind.DOCUMENT,
        "title": _title(message),
        "code": message.value("TXA", 2),
        "status": _status(message),
        "issued_at": message.timestamp("TXA", 4)
        or message.timestamp("TXA", 6)
        or event_at,
        "author": "; ".join(dict.fromkeys(_names(message, 9) + _names(message, 10))),
        "text": obx_text(
            message, [o for o, kind in kinds.items() if kind in TEXT_TYPES]
        ),
        "attachments": [
            obx_file(message, o) for o, kind in kinds.items() if kind in FILE_TYPES
        ],
    }


def _title(message: Message) -> str:
    """TXA-25 (document title, 2.6 on), else TXA-2's text, else its code."""
    code = message.value("TXA", 2)
    title = (
        message.value("TXA", 25)
        or message.value("TXA", 2, 2)
        or DOCUMENT_TYPES.get(code.upper(), code)
    )
    if not title:
        raise Problem(
            "is empty: what the document is is unknown",
            segment="TXA",
            field=2,
            code=Code.REQUIRED_MISSING,
        )
    return title


def _status(message: Message) -> str:
    """TXA-19 (availability) when it withdraws the document, else TXA-17
    (completion); "unknown" when TXA-17 is empty."""
    availability = message.value("TXA", 19).upper()
    if availability not in AVAILABILITY and availability:
        raise Problem(
            "is not a document availability status the mirror knows (HL7 table 0273)",
            segment="TXA",
            field=19,
            code=Code.TABLE_VALUE,
        )
    completion = message.value("TXA", 17).upper()
    if completion and completion not in COMPLETION:
        raise Problem(
            "is not a document completion status the mirror knows (HL7 table 0271)",
            segment="TXA",
            field=17,
            code=Code.TABLE_VALUE,
        )
    return AVAILABILITY.get(availability) or COMPLETION.get(completion) or "unknown"


def _names(message: Message, field: int) -> list[str]:
    """The names of each person an XCN field of TXA names, as a clinician's
    ("Dr Gregory HOUSE")."""
    names = []
    for rep in range(1, message.repetitions("TXA", field) + 1):
        parts = (message.value("TXA", field, n, rep=rep) for n in (6, 3, 2))
        name = " ".join(part for part in parts if part)
        if name:
            names.append(name)
    return names
