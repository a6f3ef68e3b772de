"""ADT events: who is admitted where, moved, discharged, merged; allergies.

PV1-3 (point of care^room^bed) places the patient; PV1-19 (visit number)
names the stay, and without one the patient's current stay from this feed
is the one meant.
"""

import uuid
from datetime import datetime

from django.conf import settings

from patients.ingest import rules, values
from patients.ingest.hl7v2.message import Code, Ignored, Message, Problem
from patients.ingest.hl7v2.mirror import (
    FEED,
    clinician,
    clinician_read,
    find_patient,
    keyed,
    mrn,
    patient,
    pid_read,
    pk_of,
    place,
    place_read,
    restamp,
    source_id,
    write,
)
from patients.ingest.hl7v2.rows import (
    Found,
    Read,
    delete_rows,
    find,
    first,
    one,
    read,
)
from patients.models import (
    Allergy,
    Appointment,
    Encounter,
    Flag,
    LabOrder,
    MedicationOrder,
    Observation,
    Patient,
)
from patients.models import (
    Problem as Condition,
)
from patients.signals import patient_merged

S = Encounter.Status
# Trigger: (status the stay gets, whether PV1-3 must name a place). Every one
# is about a stay, and PV1 says which: without it the event is refused, never
# acknowledged unapplied (A08 without PV1 updates the patient alone).
STAYS = {
    "A01": (S.IN_PROGRESS, True),
    "A02": (S.IN_PROGRESS, True),
    "A03": (S.FINISHED, False),
    "A04": (S.ARRIVED, False),
    "A05": (S.PLANNED, False),
    "A06": (S.IN_PROGRESS, False),
    "A07": (S.FINISHED, False),
    "A08": (None, False),  # keeps the stay's status
    "A11": (S.CANCELLED, False),
    "A12": (S.IN_PROGRESS, True),
    "A13": (S.IN_PROGRESS, False),
    "A21": (S.ON_LEAVE, False),
    "A22": (S.IN_PROGRESS, False),
}
# Events about the person alone, and A08, whose PV1 is optional.
# PV1-2 patient class to FHIR's v3 ActCode.
CLASSES = {"I": "IMP", "O": "AMB", "E": "EMER", "P": "PRENC", "R": "AMB", "B": "AMB"}
# Models whose rows belong to a patient: what a merge moves.
# Triggers applied with Django's ORM, in its transaction (rows.py).
MERGES = {"A40"}
OWNED = (
    Encounter,
    Allergy,
    Condition,
    MedicationOrder,
    Observation,
    LabOrder,
    Flag,
    Appointment,
)


def apply(message: Message) -> str:
    trigger = message.header.trigger
    if trigger == "A40":
        return merge(message)
    if trigger == "A60":
        return allergies(message)
    if trigger == "A31":
        person, person_outcome = patient(message, message.event_at(), update=True)
        return f"patient {person_outcome}"
    if trigger not in STAYS:
        raise Ignored(f"ADT^{trigger or '?'} is not kept")
    event_at = message.event_at()
    found = find(
        pid_read(message),
        _visit_read(message),
        place_read(message, "PV1", 3),
        clinician_read(message, "PV1", 7),
    )
    person, person_outcome = patient(message, event_at, update=True, found=found)
    if not message.has("PV1"):
        if trigger == "A08":
            return f"patient {person_outcome}"
        raise Problem(
            f"is missing: ADT^{trigger} is about a stay, and PV1 says which and where",
            segment="PV1",
            code=Code.SEGMENT_SEQUENCE,
        )
    status, place_required = STAYS[trigger]
    _row, outcome = _stay(message, person, status, place_required, event_at, found)
    if outcome == "older" and person_outcome in ("older", "unchanged"):
        raise Ignored(
            "older than what the mirror holds: the stay changed after EVN-2 "
            "(else MSH-7)"
        )
    if message.has("AL1") and trigger in ("A01", "A04", "A08"):
        _replace_allergies(message, person, event_at)
    return f"patient {person_outcome}, stay {outcome}"


def _visit_read(message: Message) -> Read | None:
    """The read of the stay PV1-19 (visit number) names, if it names one."""
    visit = message.value("PV1", 19) if message.has("PV1") else ""
    if not visit:
        return None
    key = f"hl7:visit:{message.value('PV1', 19, 4)}:{visit}"
    return keyed(Encounter, "Encounter", key, lock=True)


def _current_stay_read(person_id: int) -> Read:
    """The read of the patient's latest stay from this feed."""
    return one(
        Encounter,
        "patient_id = %s AND source_feed = %s AND status NOT IN (%s, %s)",
        [person_id, FEED, S.CANCELLED, S.ENTERED_IN_ERROR],
        lock=True,
        order="admitted_at DESC, id DESC",
    )


def _stay(
    message: Message,
    person: Patient,
    status: str | None,
    place_required: bool,
    event_at: datetime,
    found: Found,
) -> tuple[Encounter, str]:
    visit = _visit_read(message)
    current = None
    if visit:
        key = visit.params[1]
        current = found.first(visit)
        if current is not None and current.patient_id != person.pk:
            raise Problem(
                "is the visit number of another patient's stay",
                segment="PV1",
                field=19,
                code=Code.DUPLICATE_KEY,
            )
    else:
        # A patient new to the mirror has no stay yet.
        current = None if person._state.adding else first(_current_stay_read(person.pk))
        key = f"hl7:stay:{person.pk}:{uuid.uuid4().hex}"  # if it is a new one
        if (
            current is not None
            and current.status == S.FINISHED
            and status
            in (
                S.IN_PROGRESS,
                S.ARRIVED,
                S.PLANNED,
            )
            and message.header.trigger in ("A01", "A04", "A05")
        ):
            current = None  # a new admission after a discharge: a new stay
    if (
        current is not None
        and current.source_updated_at
        and (event_at < current.source_updated_at)
    ):
        return current, "older"
    ward, room, bed = place(message, "PV1", 3, required=place_required, found=found)
    if ward is None and current is not None:  # the stay stays where it is
        where = {
            "ward_id": current.ward_id,
            "room_id": current.room_id,
            "bed_id": current.bed_id,
        }
    else:
        where = {"ward_id": pk_of(ward), "room_id": pk_of(room), "bed_id": pk_of(bed)}
    if status is None:
        status = current.status if current is not None else _status_of(message)
    if where["ward_id"] is None and rules.needs_ward(status, _class(message, current)):
        raise Problem(
            "gives no location (point of care), and the mirror knows none for "
            "this stay",
            segment="PV1",
            field=3,
            code=Code.REQUIRED_MISSING,
        )
    admitted = message.timestamp("PV1", 44)
    discharged = message.timestamp("PV1", 45)
    if status == S.FINISHED:
        discharged = discharged or event_at
    elif status in Encounter.ON_CENSUS:
        discharged = None
    attending = clinician(message, "PV1", 7, event_at, found=found)
    fields = {
        "patient": person,
        "status": status,
        "encounter_class": _class(message, current),
        "encounter_type": message.value("PV1", 4, 2) or message.value("PV1", 4, 1),
        **where,
        "admitted_at": admitted
        or (current.admitted_at if current else None)
        or (event_at if status in Encounter.ON_CENSUS else None),
        "discharged_at": discharged,
        "attending_id": pk_of(attending) or (current.attending_id if current else None),
        "reason": (message.value("PV2", 3, 2) or message.value("PV2", 3, 1))
        if message.has("PV2")
        else (current.reason if current else ""),
        "diet": current.diet if current else "",
    }
    bed_id = where["bed_id"]
    new_bed = bed is not None and bed._state.adding  # added by this message
    if (
        bed_id is not None
        and status in Encounter.ON_CENSUS
        and not (new_bed or _holds(current, bed_id))
    ):
        # One occupant a bed: the newest arrival (patients.ingest.rules).
        claimant = (
            (current.source_type, current.source_id)
            if current is not None
            else ("Encounter", source_id(key))
        )
        claim = rules.Claim(bed_id, claimant, event_at)
        if rules.claim_beds([claim], occupants=_occupants, evict=_evict):
            fields["bed_id"] = None
    return write(
        Encounter, current, ("Encounter", key), fields, event_at, pointed_to=False
    )


def _occupants(beds: list[int]) -> list[Encounter]:
    """The stays on the census in ``beds``, locked (``rules.claim_beds``)."""
    marks = ", ".join(["%s"] * len(beds))
    census = ", ".join(["%s"] * len(Encounter.ON_CENSUS))
    occupants = read(
        Encounter,
        f"bed_id IN ({marks}) AND status IN ({census})",
        [*beds, *Encounter.ON_CENSUS],
        lock=True,
    )
    return find(occupants).all(occupants)


def _evict(occupant: Encounter) -> None:
    occupant.bed = None
    restamp(occupant, "bed")


def _holds(current: Encounter | None, bed_id: int) -> bool:
    """No other stay can be in the bed: this one is, on the census (a bed
    has one occupant on the census, a constraint of the table). Asking for
    its occupants would find none."""
    return (
        current is not None
        and current.bed_id == bed_id
        and current.status in Encounter.ON_CENSUS
    )


def _class(message: Message, current: Encounter | None) -> str:
    """The stay's class (FHIR's v3 ActCode) PV1-2 gives, else the one it had."""
    given = message.value("PV1", 2).upper()
    if given:
        return CLASSES.get(given, "")
    return current.encounter_class if current is not None else ""


def _status_of(message: Message) -> str:
    if message.timestamp("PV1", 45):
        return S.FINISHED
    return S.IN_PROGRESS if message.value("PV1", 2).upper() == "I" else S.ARRIVED


def merge(message: Message) -> str:
    """A40: the patient of MRG-1 is the patient of PID-3; the first's
    records move to the second, and the first is removed."""
    if len(message.segments("MRG")) > 1:
        raise Problem(
            "appears more than once: send one merge per message",
            segment="MRG",
            code=Code.SEGMENT_SEQUENCE,
            sequence=2,
        )
    event_at = message.event_at()
    survivor, outcome = patient(message, event_at, update=True)
    number = message.required("MRG", 1)
    authority = message.value("MRG", 1, 4)
    system, _ = mrn(message)
    old_system = settings.HL7_MRN_SYSTEM or authority or system
    # A downtime number is the downtime system's own, whatever the EHR's.
    merged = find_patient(old_system, number) or find_patient(
        settings.DOWNTIME_MRN_SYSTEM, number
    )
    if merged is None or merged.pk == survivor.pk:
        return f"patient {outcome}, nothing to merge"
    for model in OWNED:
        for row in model.objects.filter(patient=merged):
            # Our own ids carry the patient's: later messages about these
            # orders and allergies must find them under the survivor.
            moved_id = row.source_id
            if moved_id.startswith("hl7:"):
                moved_id = moved_id.replace(f":{merged.pk}:", f":{survivor.pk}:", 1)
            if moved_id != row.source_id:
                if model.objects.filter(
                    source_type=row.source_type, source_id=moved_id
                ).exists():  # the survivor's record has it already
                    row.delete()
                    continue
                row.source_id = moved_id
            row.patient = survivor
            rules.restamp(row, "patient", "source_id")
    patient_merged.send(sender=Patient, merged=merged, survivor=survivor)
    merged.delete()
    return f"patient {outcome}, merged one record into it"


def allergies(message: Message) -> str:
    """A60: AL1 segments are the patient's whole allergy list; IAM segments
    each say what to do with one allergy (IAM-6: add, update, delete)."""
    event_at = message.event_at()
    person, outcome = patient(message, event_at, update=True)
    count = _replace_allergies(message, person, event_at)
    return f"patient {outcome}, {count} allergies"


SEVERITY = {"SV": "severe", "MO": "moderate", "MI": "mild"}
CATEGORY = {
    "DA": "medication",
    "FA": "food",
    "EA": "environment",
    "MA": "environment",
    "AA": "environment",
    "PA": "environment",
    "LA": "environment",
}


def _replace_allergies(message: Message, person: Patient, event_at: datetime) -> int:
    name = "AL1" if message.has("AL1") else "IAM"
    if not message.has(name):
        # Replacing the list with nothing from a message that lost its
        # segments would print "no known allergies": refuse instead.
        raise Problem(
            "has no AL1 or IAM segment: the allergy list was left as it was",
            segment="AL1",
            code=Code.REQUIRED_MISSING,
        )
    kept = []
    for seq in message.segments(name):
        substance = message.value(name, 3, 2, seq=seq) or message.value(
            name, 3, 1, seq=seq
        )
        if not substance:
            raise Problem(
                "names no allergen",
                segment=name,
                field=3,
                code=Code.REQUIRED_MISSING,
                sequence=seq,
            )
        code = message.value(name, 3, 1, seq=seq)
        severity = message.value(name, 4, 1, seq=seq).upper()
        reactions = [
            message.value(name, 5, 1, seq=seq, rep=rep)
            for rep in range(1, message.repetitions(name, 5, seq=seq) + 1)
        ]
        key = f"hl7:allergy:{person.pk}:{code or substance}"
        action = message.value("IAM", 6, seq=seq).upper() if name == "IAM" else ""
        if action == "X":  # IAM-6 action code: no change
            continue
        if action == "D":  # deleted: this one, the others stay
            delete_rows(
                Allergy,
                "patient_id = %s AND source_type = %s AND source_id = %s",
                [person.pk, "AllergyIntolerance", source_id(key)],
            )
            continue
        fields = {
            "patient": person,
            "substance": substance,
            "substance_code": code,
            "category": CATEGORY.get(message.value(name, 2, 1, seq=seq).upper(), ""),
            "reactions": values.joined(reactions),
            "severity": SEVERITY.get(severity, ""),
            "criticality": "high" if severity == "SV" else "",
            "clinical_status": "active",
            "verification_status": "confirmed",
            "recorded_at": message.timestamp(name, 6, seq=seq)
            if name == "AL1"
            else None,
        }
        current = first(keyed(Allergy, "AllergyIntolerance", key))
        row, _ = write(
            Allergy,
            current,
            ("AllergyIntolerance", key),
            fields,
            event_at,
            pointed_to=False,
        )
        kept.append(row.source_id)
    if name == "AL1":
        # AL1 segments are the whole list (IAM says, allergy by allergy,
        # what changed): this feed's allergies no longer on it go.
        listed = read(
            Allergy, "patient_id = %s AND source_feed = %s", [person.pk, FEED]
        )
        gone = rules.left_off(find(listed).all(listed), kept, event_at)
        if gone:
            marks = ", ".join(["%s"] * len(gone))
            delete_rows(Allergy, f"id IN ({marks})", gone)
    return len(kept)
