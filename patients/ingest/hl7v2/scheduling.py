"""SIU appointments: S12 book, S13 reschedule, S14 modify, S15 cancel, S26
no-show. The appointment is found again by its filler id (SCH-2), else its
placer id (SCH-1); the clinic is AIL-3 (or PV1-3), the clinician AIP-3; the
type (and whether it is urgent) SCH-7, table 0276."""

from patients.ingest import rules
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
    keyed,
    patient,
    pid_read,
    pk_of,
    place,
    place_read,
    write,
)
from patients.ingest.hl7v2.rows import Read, find
from patients.models import Appointment

A = Appointment.Status
TRIGGERS = {
    "S12": A.BOOKED,
    "S13": A.BOOKED,
    "S14": None,  # keeps the status
    "S15": A.CANCELLED,
    "S17": A.ENTERED_IN_ERROR,
    "S26": A.NO_SHOW,
}
# SCH-25 filler status codes (table 0278).
FILLER_STATUS = {
    "BOOKED": A.BOOKED,
    "CANCELLED": A.CANCELLED,
    "DELETED": A.ENTERED_IN_ERROR,
    "NOSHOW": A.NO_SHOW,
    "COMPLETE": A.FULFILLED,
    "STARTED": A.ARRIVED,
    "PENDING": A.PENDING,
    "WAITLIST": A.WAITLIST,
}
# Statuses a clinic list shows.
SHOWN = {A.BOOKED, A.ARRIVED, A.CHECKED_IN, A.PENDING, A.PROPOSED, A.WAITLIST}
MINUTES = {"MIN": 1, "S": 1 / 60, "H": 60, "HR": 60, "D": 1440}
LONGEST = 366 * 1440  # minutes: an appointment's duration is at most a year


def appointments(message: Message) -> str:
    trigger = message.header.trigger
    if trigger not in TRIGGERS:
        raise Ignored(f"SIU^{trigger or '?'} is not kept")
    if not message.has("SCH"):
        raise Problem("is missing", segment="SCH", code=Code.SEGMENT_SEQUENCE)
    event_at = message.event_at()
    where = _clinic_field(message)
    found = find(
        pid_read(message),
        _appointment_read(message),
        place_read(message, *where) if where else None,
        clinician_read(message, "AIP", 3) if message.has("AIP") else None,
    )
    person, _ = patient(message, event_at, found=found)
    field = 2 if message.value("SCH", 2) else 1
    number = message.value("SCH", field)
    namespace = message.value("SCH", field, 2)  # EI-2: whose id it is
    if not number:
        raise Problem(
            "gives neither a filler (SCH-2) nor a placer (SCH-1) appointment id",
            segment="SCH",
            field=2,
            code=Code.REQUIRED_MISSING,
        )
    key = f"hl7:appointment:{namespace}:{number}"
    current = found.first(_appointment_read(message))
    if current is not None and current.patient_id != person.pk:
        raise Problem(
            "is the id of another patient's appointment",
            segment="SCH",
            field=field,
            code=Code.DUPLICATE_KEY,
        )
    starts = _start(message)
    if starts is None and current is None:
        raise Problem(
            "gives no start time (SCH-11, AIS-4, AIL-6 or AIP-6)",
            segment="SCH",
            field=11,
            code=Code.REQUIRED_MISSING,
        )
    clinic = (
        pk_of(place(message, *where, required=False, found=found)[0]) if where else None
    )
    clinic = clinic or (current.clinic_id if current else None)
    status = TRIGGERS[trigger] or FILLER_STATUS.get(
        message.value("SCH", 25, 1).upper().replace("-", ""),
        current.status if current else A.BOOKED,
    )
    if clinic is None and status in SHOWN:
        # An appointment at no clinic is on no clinic list.
        raise Problem(
            "names no clinic (AIL-3, else PV1-3), and the mirror knows none for "
            "this appointment",
            segment="AIL",
            field=3,
            code=Code.REQUIRED_MISSING,
        )
    fields = {
        "patient": person,
        "clinic_id": clinic,
        "clinician_id": pk_of(clinician(message, "AIP", 3, event_at, found=found))
        if message.has("AIP")
        else (current.clinician_id if current else None),
        "starts_at": starts or current.starts_at,
        "minutes": _minutes(message) or (current.minutes if current else None),
        "status": status,
        "description": (
            message.value("AIS", 3, 2)
            or message.value("SCH", 7, 2)
            or message.value("SCH", 7, 1)
            or (current.description if current else "")
        ),
    }
    fields["appointment_type"], fields["urgent"] = _kind(message, current)
    _row, outcome = write(
        Appointment,
        current,
        ("Appointment", key),
        fields,
        event_at,
        pointed_to=False,
    )
    return f"appointment {outcome}"


def _kind(message: Message, current: Appointment | None) -> tuple[str, bool]:
    """(type code, urgent) from SCH-7 (appointment reason, table 0276), else
    SCH-8 when it holds a code of that table (senders put it there too).
    Not sent: what the mirror has; HL7's null "" in SCH-7 clears it."""
    code = message.value("SCH", 7, 1)
    if not code and message.value("SCH", 8, 1).upper() in Appointment.Type.values:
        code = message.value("SCH", 8, 1)
    if code or current is None or message.is_null("SCH", 7):
        return rules.appointment_kind(code)
    return current.appointment_type, current.urgent


def _start(message: Message):
    for segment, field, component in (
        ("SCH", 11, 4),
        ("AIS", 4, 1),
        ("AIL", 6, 1),
        ("AIP", 6, 1),
    ):
        if message.has(segment):
            moment = message.timestamp(segment, field, component)
            if moment:
                return moment
    return None


def _minutes(message: Message) -> int | None:
    for segment, amount, unit in (("AIS", 7, 8), ("AIL", 9, 10), ("AIP", 9, 10)):
        if message.has(segment) and message.value(segment, amount):
            factor = MINUTES.get(message.value(segment, unit, 1).upper(), 1)
            try:
                minutes = parse_number(message.value(segment, amount)) * factor
            except ValueError:
                raise Problem(
                    "is not a number", segment=segment, field=amount
                ) from None
            if not 0 <= minutes <= LONGEST:
                raise Problem(
                    "is not a duration from none to a year",
                    segment=segment,
                    field=amount,
                )
            return int(minutes)
    return None


def _appointment_read(message: Message) -> Read | None:
    """The read of the appointment SCH-2 (filler id), else SCH-1 names."""
    field = 2 if message.value("SCH", 2) else 1
    number = message.value("SCH", field)
    if not number:
        return None
    key = f"hl7:appointment:{message.value('SCH', field, 2)}:{number}"
    return keyed(Appointment, "Appointment", key)


def _clinic_field(message: Message) -> tuple[str, int] | None:
    """Where the clinic is: AIL-3, else PV1-3."""
    for segment in ("AIL", "PV1"):
        if message.has(segment) and message.value(segment, 3):
            return segment, 3
    return None
