"""The mirror's rows as HL7 v2 segments describe them: patients (PID),
clinicians (XCN), locations (PL). Every write keeps ``source_hash`` and
``source_updated_at`` (the event's time) as the FHIR importer does, so pack
digests see the change and an older event never overwrites a newer one."""

import hashlib
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from patients.ingest import rules, values
from patients.ingest.hl7v2.message import Code, Message, Problem
from patients.ingest.hl7v2.rows import (
    Found,
    Read,
    add_row,
    insert_row,
    one,
    read,
    save_row,
)
from patients.models import Clinician, Location, Patient, Sex

FEED = "hl7"
_SEX = {"F": Sex.FEMALE, "M": Sex.MALE, "O": Sex.OTHER, "A": Sex.OTHER}


def write(
    model: type[models.Model],
    current: models.Model | None,
    key: tuple[str, str],
    fields: dict,
    event_at: datetime,
    *,
    pointed_to: bool = True,
) -> tuple[models.Model, str]:
    """Create or update one mirrored row; (row, "new" | "updated" |
    "unchanged" | "older"). ``key``: (source type, source id) of a new row.
    ``fields`` not given keep the row's values (a new row's defaults).
    ``pointed_to`` False: no row of this message points to a new one; it
    is not waited for, and has no id here (``rows.add_row``)."""
    rules.fit_row(model, fields)
    if current is not None:
        if rules.is_older(event_at, current.source_updated_at):
            return current, "older"
        before = current.source_hash
        for name, value in fields.items():
            setattr(current, name, value)
        digest = rules.row_hash(current)
        if digest == before:
            return current, "unchanged"
        values = {
            **fields,
            "source_hash": digest,
            "source_digest": "",
            "source_updated_at": event_at,
            "received_at": timezone.now(),
        }
        for name, value in values.items():
            setattr(current, name, value)
        save_row(model, current.pk, values)
        return current, "updated"
    values = {
        "source_feed": FEED,
        "source_type": key[0],
        "source_id": source_id(key[1]),
        "source_updated_at": event_at,
        "received_at": timezone.now(),
        **fields,
    }
    values["source_hash"] = rules.content_hash(model, values)
    return (insert_row if pointed_to else add_row)(model, values), "new"


def pk_of(row: models.Model | None) -> int | None:
    return row.pk if row is not None else None


def restamp(row: models.Model, *changed: str) -> None:
    """``rules.restamp`` in the listener's own statements: ``changed``
    fields of a row saved with its new hash."""
    row.source_hash = rules.row_hash(row)
    row.source_digest = ""
    fields = [row._meta.get_field(name) for name in changed]
    names = [*(field.attname for field in fields), "source_hash", "source_digest"]
    save_row(type(row), row.pk, {name: getattr(row, name) for name in names})


def keyed(model: type[models.Model], kind: str, key: str, **options) -> Read:
    """The read of the row an HL7 key (``hl7:<what>:...``) made, as a row
    of source type ``kind``."""
    return one(
        model,
        "source_type = %s AND source_id = %s",
        [kind, source_id(key)],
        **options,
    )


def source_id(key: str) -> str:
    """A source id this feed makes from a message's values: as it is, or,
    longer than the column, its beginning and a digest of all of it (two
    long ids never become one)."""
    if len(key) <= 128:
        return key
    return f"{key[:87]}#{hashlib.blake2b(key.encode(), digest_size=20).hexdigest()}"


def identifier(value: str, segment: str, field: int, model, name: str, **kw) -> str:
    """An identifier the mirror keeps in ``model.name``: refused when longer
    than the column (cut, two could become one)."""
    limit = rules.too_long(value, model, name)
    if limit is not None:
        raise Problem(
            f"is longer than the {limit} characters the mirror keeps for it; "
            "an identifier is never cut",
            segment=segment,
            field=field,
            code=Code.DATA_TYPE,
            sequence=kw.get("seq", 1),
        )
    return value


def mrn(message: Message, seq: int = 1) -> tuple[str, str]:
    """(system, MRN) from PID-3: the repetition whose type (CX-5) comes first
    in ``HL7_MRN_TYPES``, else the first; PID-2 for old senders."""
    if not message.has("PID"):
        raise Problem(
            "is missing: the message names no patient",
            segment="PID",
            code=Code.SEGMENT_SEQUENCE,
        )
    choices = []
    for rep in range(1, message.repetitions("PID", 3, seq=seq) + 1):
        value = message.value("PID", 3, 1, seq=seq, rep=rep)
        if value:
            kind = message.value("PID", 3, 5, seq=seq, rep=rep).upper()
            authority = message.value("PID", 3, 4, seq=seq, rep=rep) or (
                message.value("PID", 3, 4, 2, seq=seq, rep=rep)
            )
            choices.append((kind, authority, value))
    ranked = sorted(
        choices,
        key=lambda c: (
            settings.HL7_MRN_TYPES.index(c[0])
            if c[0] in settings.HL7_MRN_TYPES
            else len(settings.HL7_MRN_TYPES)
        ),
    )
    if ranked:
        _kind, authority, value = ranked[0]
    else:
        value = message.value("PID", 2, seq=seq)
        authority = message.value("PID", 2, 4, seq=seq)
    if not value:
        raise Problem(
            "has no patient identifier (MRN)",
            segment="PID",
            field=3,
            code=Code.REQUIRED_MISSING,
            sequence=seq,
        )
    identifier(value, "PID", 3, Patient, "mrn", seq=seq)
    return settings.HL7_MRN_SYSTEM or authority or "HL7", value


def find_patient(
    system: str, number: str, found: Found | None = None
) -> Patient | None:
    """The patient of that MRN, locked for the message's transaction."""
    return (found or Found()).first(patient_read(system, number))


def patient_read(system: str, number: str) -> Read:
    return one(Patient, "mrn_system = %s AND mrn = %s", [system, number], lock=True)


def pid_read(message: Message) -> Read | None:
    """The read of the PID's patient; None: the PID names none (``patient``
    says why)."""
    try:
        return patient_read(*mrn(message))
    except Problem:
        return None


# Patient fields and where PID gives them: a field the message leaves empty
# keeps what the mirror has; only HL7's explicit null ("") clears it.
_KEPT_UNLESS_NULLED = {
    "given": ("PID", 5, 2),
    "prefix": ("PID", 5, 5),
    "birth_date": ("PID", 7, 1),
    "sex": ("PID", 8, 1),
    "phone": ("PID", 13, 1),
    "address": ("PID", 11, 1),
    "deceased_at": ("PID", 29, 1),
}


def patient(
    message: Message,
    event_at: datetime,
    *,
    update: bool = False,
    found: Found | None = None,
) -> tuple[Patient, str]:
    """The PID's patient. ``update``: ADT, whose PID is the patient's record,
    brings the mirror's up to date; other messages (orders, results,
    appointments) name the patient and create one the mirror lacks, but
    their PID, often a few fields, never overwrites what ADT said.
    ``found``: the reads made so far (``pid_read``'s among them, or not)."""
    system, number = mrn(message)
    current = find_patient(system, number, found)
    if current is not None and not update:
        return current, "known"
    family = message.value("PID", 5, 1)
    given = " ".join(
        part
        for part in (message.value("PID", 5, 2), message.value("PID", 5, 3))
        if part
    )
    if not family and not given:
        raise Problem(
            "has neither a family nor a given name",
            segment="PID",
            field=5,
            code=Code.REQUIRED_MISSING,
        )
    sex = message.value("PID", 8).upper()[:1]
    fields = {
        "mrn_system": system,
        "mrn": number,
        "identifiers": _identifiers(message),
        "family": family,
        "given": given,
        "prefix": message.value("PID", 5, 5),
        "birth_date": message.date("PID", 7),
        "sex": _SEX.get(sex, Sex.UNKNOWN) if sex else "",
        "phone": phone(message, "PID", 13),
        "address": _address(message),
        **_contact(message),
        "deceased_at": message.timestamp("PID", 29)
        if message.value("PID", 30).upper() != "N"
        else None,
    }
    if current is not None:
        for name, where in _KEPT_UNLESS_NULLED.items():
            if fields[name] in ("", None) and not message.is_null(*where):
                fields[name] = getattr(current, name)
        if not message.has("NK1"):
            for name in ("contact_name", "contact_relationship", "contact_phone"):
                fields[name] = getattr(current, name)
        fields["family"] = fields["family"] or current.family
    fields["sex"] = fields["sex"] or Sex.UNKNOWN
    fields["name_search"] = values.search_key(fields["given"], fields["family"])
    return write(
        Patient, current, ("Patient", f"hl7:{system}:{number}"), fields, event_at
    )


def _identifiers(message: Message) -> list[dict]:
    found = []
    for rep in range(1, message.repetitions("PID", 3) + 1):
        value = message.value("PID", 3, 1, rep=rep)
        if value:
            found.append(
                {
                    "type": message.value("PID", 3, 5, rep=rep),
                    "system": message.value("PID", 3, 4, rep=rep),
                    "value": value,
                }
            )
    return found


def phone(message: Message, segment: str, field: int, seq: int = 1) -> str:
    """XTN: the number as written, else its parts."""
    written = message.value(segment, field, 1, seq=seq)
    if written:
        return written
    parts = [message.value(segment, field, n, seq=seq) for n in (5, 6, 7)]
    number = " ".join(p for p in parts if p)
    extension = message.value(segment, field, 8, seq=seq)
    return f"{number} ext. {extension}" if extension else number


def _address(message: Message) -> str:
    street, other, city, state, postal_code, country = (
        message.value("PID", 11, n) for n in (1, 2, 3, 4, 5, 6)
    )
    return values.address_text([street, other], postal_code, city, state, country)


def _contact(message: Message) -> dict:
    if not message.has("NK1"):
        return {"contact_name": "", "contact_relationship": "", "contact_phone": ""}
    name = " ".join(
        p for p in (message.value("NK1", 2, 2), message.value("NK1", 2, 1)) if p
    )
    return {
        "contact_name": name,
        "contact_relationship": (
            message.value("NK1", 3, 2) or message.value("NK1", 3, 1)
        ),
        "contact_phone": phone(message, "NK1", 5),
    }


def clinician(
    message: Message,
    segment: str,
    field: int,
    event_at: datetime,
    seq: int = 1,
    found: Found | None = None,
) -> Clinician | None:
    """The XCN's clinician, by id (XCN-1), created or brought up to date."""
    number = message.value(segment, field, 1, seq=seq)
    if not number:
        return None
    authority = message.value(segment, field, 9, seq=seq)
    fields = {
        "family": message.value(segment, field, 2, seq=seq),
        "given": message.value(segment, field, 3, seq=seq),
        "prefix": message.value(segment, field, 6, seq=seq),
        "identifier_system": authority,
        "identifier_value": identifier(
            number, segment, field, Clinician, "identifier_value", seq=seq
        ),
    }
    current = (found or Found()).first(clinician_read(message, segment, field, seq))
    if current is not None:  # a name the message leaves out is kept
        fields = {k: v or getattr(current, k) for k, v in fields.items()}
    row, _ = write(
        Clinician,
        current,
        ("Practitioner", f"hl7:{authority}:{number}"),
        fields,
        event_at,
    )
    return row


def clinician_read(
    message: Message, segment: str, field: int, seq: int = 1
) -> Read | None:
    """The read of the XCN's clinician; None: the XCN has no id."""
    number = message.value(segment, field, 1, seq=seq)
    if not number:
        return None
    return one(
        Clinician,
        "identifier_value = %s AND identifier_system IN (%s, '')",
        [number, message.value(segment, field, 9, seq=seq)],
    )


_WARDS = (Location.Kind.WARD, Location.Kind.CLINIC)


def place(
    message: Message,
    segment: str,
    field: int,
    *,
    required: bool,
    seq: int = 1,
    found: Found | None = None,
) -> tuple[Location | None, Location | None, Location | None]:
    """(ward, room, bed) of a PL (point of care^room^bed). The ward must be
    known to the mirror; a room or bed it does not know yet is added."""
    point = message.value(segment, field, 1, seq=seq)
    if not point:
        if required:
            raise Problem(
                "gives no location (point of care)",
                segment=segment,
                field=field,
                code=Code.REQUIRED_MISSING,
                sequence=seq,
            )
        return None, None, None
    room_name = message.value(segment, field, 2, seq=seq)
    bed_name = message.value(segment, field, 3, seq=seq)
    rows = (found or Found()).all(place_read(message, segment, field, seq))
    ward = next((row for row in rows if row.kind in _WARDS), None)
    known = [row for row in rows if row.kind not in _WARDS]
    if ward is None:
        raise Problem(
            "names a ward or clinic the mirror does not know (point of care)",
            segment=segment,
            field=field,
            component=1,
            code=Code.TABLE_VALUE,
            sequence=seq,
        )
    room = (
        _part(known, ward, ward, Location.Kind.ROOM, room_name) if room_name else None
    )
    bed = (
        _part(known, room or ward, ward, Location.Kind.BED, bed_name)
        if bed_name
        else None
    )
    return ward, room, bed


def place_read(message: Message, segment: str, field: int, seq: int = 1) -> Read | None:
    """The read of a PL's ward, and of the rooms and beds under it that the
    PL names, in one query; None: the PL names no point of care."""
    point = message.value(segment, field, 1, seq=seq)
    if not point:
        return None
    names = [message.value(segment, field, n, seq=seq) for n in (2, 3)]
    names = [name for name in names if name]
    wards = "kind IN ('ward', 'clinic') AND (code = %s OR name = %s)"
    where, params = wards, [point, point]
    if names:
        marks = ", ".join(["%s"] * len(names))
        under = f"(SELECT id FROM patients_location WHERE {wards} ORDER BY kind, id LIMIT 1)"  # noqa: S608, E501
        where += (
            f" OR (kind IN ('room', 'bed') AND ward_id = {under}"
            f" AND (code IN ({marks}) OR name IN ({marks})))"
        )
        params += [point, point, *names, *names]
    return read(Location, where, params, order="kind, id")


def _part(
    known: list[Location], parent: Location, ward: Location, kind: str, name: str
) -> Location:
    """The room or bed ``name`` under ``parent``, among ``known``; added if
    the mirror does not have it yet."""
    for found in known:
        if (
            found.kind == kind
            and found.part_of_id == parent.pk
            and name
            in (
                found.code,
                found.name,
            )
        ):
            return found
    row, _ = write(
        Location,
        None,
        ("Location", f"hl7:{parent.pk}:{kind}:{name}"),
        {
            "kind": kind,
            "name": name,
            "code": name,
            "part_of": parent,
            "ward": ward,
            "status": "active",
        },
        timezone.now(),
    )
    return row
