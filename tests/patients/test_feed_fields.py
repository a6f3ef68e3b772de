"""Every field of the mirror is written by each feed, or listed here as
deliberately left out by it, with why: a field added to a model and
forgotten by a feed (its FHIR mapper, its HL7 segment) fails here, as does
a patient field HL7 writes that a PID leaving it empty would clear.

What a feed writes is read back from the mirror after rich samples went
through the feed's real path (``fhir_load_import``, ``hl7_receive``): a
field the feed writes holds something other than its default in at least
one of the feed's rows. A new field needs a value in the samples below too.
"""

import pytest
from django.apps import apps
from django.db import models

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.ingest.sources import from_resources
from patients.models import Mirrored, Patient
from patients.services import fhir_load_import
from tests.patients.hl7 import acknowledgement, message, wards

pytestmark = pytest.mark.django_db

FHIR = "fhir"
HL7 = "hl7"
JOURNAL = "the downtime census journal's own (downtime.journal); no feed writes it"

# Feed: {"Model.field": why the feed leaves it out}; "*": of every model.
LEFT_OUT = {
    FHIR: {
        "Encounter.replaces": JOURNAL,
        "Encounter.marks": JOURNAL,
    },
    HL7: {
        "*.source_digest": "the digest of a FHIR resource; HL7 clears it on update",
        "Encounter.replaces": JOURNAL,
        "Encounter.marks": JOURNAL,
        "Encounter.diet": "no ADT segment gives it: a stay keeps the diet FHIR gave",
        "Location.identifier_system": "a PL names a room or bed; it has no identifier",
        "Location.identifier_value": "a PL names a room or bed; it has no identifier",
        "Location.phone": "a PL gives no phone",
        "Clinician.phone": "an XCN gives no phone",
    },
}
# Feed: {"Model": why the feed writes no row of it}.
NOT_FED = {
    FHIR: {},
    HL7: {
        "Organization": "no HL7 event this feed applies describes an organisation",
        "Problem": "the problem list comes from FHIR only",
        "Flag": "code status, isolation and alerts come from FHIR only",
        "Schedule": "SIU books appointments; schedules come from FHIR only",
        "Slot": "SIU books appointments; slots come from FHIR only",
    },
}


def mirrored_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_app_config("patients").get_models()
        if issubclass(model, Mirrored)
    ]


def fields_of(model: type[models.Model]) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


def written(model: type[models.Model], feed: str) -> set[str]:
    """The fields of ``model`` that some row of ``feed`` holds a value in."""
    fields = fields_of(model)
    found = set()
    for row in model.objects.filter(source_feed=feed).values(
        *(field.attname for field in fields)
    ):
        found |= {
            field.name for field in fields if row[field.attname] != field.get_default()
        }
    return found


def coding(code: str, text: str, system: str = "http://snomed.info/sct") -> dict:
    return {"coding": [{"system": system, "code": code}], "text": text}


def ref(kind: str, rid: str) -> dict:
    return {"reference": f"{kind}/{rid}"}


def identifier(value: str, kind: str = "") -> dict:
    entry = {"system": "urn:test:ids", "value": value}
    if kind:
        entry["type"] = coding(
            kind, kind, "http://terminology.hl7.org/CodeSystem/v2-0203"
        )
    return entry


PHONE = [{"system": "phone", "value": "+32 2 555 01 00"}]
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def place(lid: str, kind: str, part_of: str = "") -> dict:
    resource = {
        "resourceType": "Location",
        "id": lid,
        "name": lid.upper(),
        "identifier": [identifier(f"LOC-{lid}")],
        "status": "active",
        "telecom": PHONE,
        "physicalType": coding(kind, kind, PHYSICAL),
    }
    if part_of:
        resource["partOf"] = ref("Location", part_of)
    return resource


def fhir_samples() -> list[dict]:
    """One resource of each kind the FHIR feed keeps, every element given."""
    quantity = {"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org"}
    return [
        {
            "resourceType": "Organization",
            "id": "org",
            "name": "General Hospital",
            "identifier": [identifier("ORG-1")],
            "telecom": PHONE,
        },
        place("ward", "wa"),
        place("room", "ro", "ward"),
        place("bed", "bd", "room"),
        {
            **place("clinic", "wa"),
            "physicalType": None,
            "type": [
                coding(
                    "CARD",
                    "Cardiology",
                    "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                )
            ],
        },
        {
            "resourceType": "Practitioner",
            "id": "doc",
            "name": [{"family": "House", "given": ["Gregory"], "prefix": ["Dr"]}],
            "identifier": [identifier("D1")],
            "telecom": PHONE,
        },
        {
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [identifier("MRN-1", "MR")],
            "name": [{"family": "Peeters", "given": ["Anaïs"], "prefix": ["Mevr"]}],
            "gender": "female",
            "birthDate": "1950-03-01",
            "telecom": PHONE,
            "address": [{"line": ["Rue Haute 1"], "city": "Bruxelles"}],
            "contact": [
                {
                    "name": {"family": "Peeters", "given": ["Jan"]},
                    "relationship": [{"text": "Spouse"}],
                    "telecom": PHONE,
                }
            ],
            "deceasedDateTime": "2026-12-01T10:00:00+01:00",
        },
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "in-progress",
            "class": {"code": "IMP"},
            "type": [{"text": "Emergency admission"}],
            "subject": ref("Patient", "p1"),
            "participant": [{"individual": ref("Practitioner", "doc")}],
            "period": {"start": "2026-11-20T08:00:00+01:00"},
            "reasonCode": [{"text": "Pneumonia"}],
            "hospitalization": {"dietPreference": [{"text": "Diabetic"}]},
            "location": [{"location": ref("Location", "bed")}],
        },
        {
            "resourceType": "Encounter",
            "id": "e0",
            "status": "finished",
            "class": {"code": "IMP"},
            "subject": ref("Patient", "p1"),
            "period": {
                "start": "2026-10-01T08:00:00+01:00",
                "end": "2026-10-05T08:00:00+01:00",
            },
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "patient": ref("Patient", "p1"),
            "code": coding("764146007", "Penicillin"),
            "category": ["medication"],
            "criticality": "high",
            "clinicalStatus": coding("active", "Active"),
            "verificationStatus": coding("confirmed", "Confirmed"),
            "recordedDate": "2026-11-01",
            "reaction": [
                {"manifestation": [{"text": "Anaphylaxis"}], "severity": "severe"}
            ],
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": ref("Patient", "p1"),
            "code": coding("233604007", "Pneumonia"),
            "clinicalStatus": coding("active", "Active"),
            "onsetDateTime": "2026-11-19",
            "abatementDateTime": "2026-11-30",
            "recordedDate": "2026-11-20",
        },
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": "active",
            "intent": "order",
            "subject": ref("Patient", "p1"),
            "encounter": ref("Encounter", "e1"),
            "requester": ref("Practitioner", "doc"),
            "medicationCodeableConcept": coding("7052", "Morphine 10 mg"),
            "dispenseRequest": {
                "validityPeriod": {
                    "start": "2026-11-20T08:00:00+01:00",
                    "end": "2026-12-20T08:00:00+01:00",
                }
            },
            "dosageInstruction": [
                {
                    "text": "Slowly",
                    "route": {"text": "Intravenous"},
                    "timing": {
                        "repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}
                    },
                    "asNeededCodeableConcept": {"text": "Pain"},
                    "doseAndRate": [{"doseQuantity": quantity}],
                    "maxDosePerPeriod": {
                        "numerator": {**quantity, "value": 30},
                        "denominator": {"value": 1, "code": "d"},
                    },
                }
            ],
        },
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "subject": ref("Patient", "p1"),
            "encounter": ref("Encounter", "e1"),
            "category": [
                coding(
                    "laboratory",
                    "Laboratory",
                    "http://terminology.hl7.org/CodeSystem/observation-category",
                )
            ],
            "code": coding("2345-7", "Glucose", "http://loinc.org"),
            "valueQuantity": {"value": 9.1, "unit": "mmol/L"},
            "referenceRange": [{"text": "3.9-6.1"}],
            "interpretation": [coding("H", "High")],
            "effectiveDateTime": "2026-11-30T09:30:00+01:00",
        },
        {
            "resourceType": "ServiceRequest",
            "id": "s1",
            "status": "active",
            "intent": "order",
            "priority": "stat",
            "subject": ref("Patient", "p1"),
            "encounter": ref("Encounter", "e1"),
            "requester": ref("Practitioner", "doc"),
            "identifier": [identifier("ORD-1", "PLAC")],
            "code": coding("2345-7", "Glucose", "http://loinc.org"),
            "authoredOn": "2026-11-30T09:00:00+01:00",
            "specimen": [{"display": "Blood"}],
        },
        {
            "resourceType": "Flag",
            "id": "f1",
            "status": "inactive",
            "subject": ref("Patient", "p1"),
            "code": coding("40174006", "Contact isolation"),
            "period": {
                "start": "2026-11-20T08:00:00+01:00",
                "end": "2026-11-25T08:00:00+01:00",
            },
        },
        {
            "resourceType": "Schedule",
            "id": "sch",
            "actor": [ref("Location", "clinic"), ref("Practitioner", "doc")],
        },
        {
            "resourceType": "Slot",
            "id": "slot",
            "schedule": ref("Schedule", "sch"),
            "status": "busy",
            "start": "2026-12-01T09:30:00+01:00",
            "end": "2026-12-01T10:00:00+01:00",
        },
        {
            "resourceType": "Appointment",
            "id": "ap1",
            "status": "booked",
            "description": "Cardiology check",
            "appointmentType": coding(
                "EMERGENCY",
                "Emergency",
                "http://terminology.hl7.org/CodeSystem/v2-0276",
            ),
            "start": "2026-12-01T09:30:00+01:00",
            "minutesDuration": 30,
            "slot": [ref("Slot", "slot")],
            "participant": [
                {"actor": ref("Patient", "p1")},
                {"actor": ref("Practitioner", "doc")},
                {"actor": ref("Location", "clinic")},
            ],
        },
        {
            "resourceType": "MedicationAdministration",
            "id": "ma1",
            "status": "not-done",
            "statusReason": [{"text": "Refused by the patient"}],
            "medicationCodeableConcept": coding("7052", "Morphine 10 mg"),
            "subject": ref("Patient", "p1"),
            "effectiveDateTime": "2026-11-30T08:00:00+01:00",
            "performer": [{"actor": ref("Practitioner", "doc")}],
            "request": ref("MedicationRequest", "m1"),
            "dosage": {"route": {"text": "Intravenous"}, "dose": quantity},
        },
        {
            "resourceType": "DiagnosticReport",
            "id": "dr1",
            "status": "final",
            "category": [{"text": "Radiology"}],
            "code": coding("24627-2", "CT chest", "http://loinc.org"),
            "subject": ref("Patient", "p1"),
            "encounter": ref("Encounter", "e1"),
            "issued": "2026-11-30T10:00:00+01:00",
            "performer": [{"display": "Dr Radiologist"}],
            "conclusion": "Right lower lobe consolidation.",
            "presentedForm": [
                {
                    "contentType": "text/html",
                    "data": "PHA+Q1QgY2hlc3Q6IGNvbnNvbGlkYXRpb24uPC9wPg==",
                },
                {
                    "contentType": "application/pdf",
                    "url": "https://pacs.example/report.pdf",
                    "title": "Signed report",
                },
            ],
        },
    ]


def fhir_import() -> None:
    updated = {"lastUpdated": "2026-11-30T12:00:00+01:00"}
    resources = [{**resource, "meta": updated} for resource in fhir_samples()]
    summary = fhir_load_import(
        load=from_resources(resources, origin="test"),
        feed=FHIR,
        replace_sets=False,
    )
    assert summary.quarantined == 0, summary.as_dict()


DOCTOR = "D1^HOUSE^GREGORY^^^Dr^^^GENERAL"
FULL_PID = (
    "PID|1||MRN-7^^^GENERAL^MR||JANSSENS^Marie^^^Mevr||19480105|F|||"
    "Kerkstraat 2^^Gent^^9000^BE||+32 9 555 00 00" + "|" * 16 + "20261201100000|Y"
)
PV1 = (
    f"PV1|1|I|WARD-A^R1^B1|URG^Urgent|||{DOCTOR}"
    + "|" * 12
    + "V7"
    + "|" * 25
    + "20261130080000"
)


RADIOLOGY_OBR = (
    "OBR|1|RAD-7||71045^XR Chest 1 view^CPT|||20261130093000"
    + "|" * 15
    + "20261130104500||RAD|F"
    + "|" * 7
    + "R9&ROENTGEN&Wilhelm&&&Dr"
)


def hl7_messages() -> list[bytes]:
    """An admission with everything ADT gives, then an order, a result, a
    prescription and its doses, a radiology report, a letter, an
    appointment, and the discharge, as an EHR sends them."""
    at = "20261130{}0000"
    return [
        message(
            "ADT^A01^ADT_A01",
            "H1",
            f"EVN|A01|{at.format('08')}",
            FULL_PID,
            "NK1|1|JANSSENS^Jan|SPO^Spouse||+32 470 00 00 00",
            PV1,
            "PV2|||^Pneumonia",
            "AL1|1|DA|PEN^Penicillin|SV|Anaphylaxis|20261101",
            at=at.format("08"),
        ),
        message(
            "ORM^O01^ORM_O01",
            "H2",
            FULL_PID,
            PV1,
            f"ORC|NW|ORD-1|||||^^^^^S||{at.format('09')}|||{DOCTOR}",
            f"OBR|1|ORD-1||2345-7^Glucose^LN|||{at.format('09')}||||||||BLD^Blood",
            at=at.format("09"),
        ),
        message(
            "ORU^R01^ORU_R01",
            "H3",
            FULL_PID,
            PV1,
            f"OBR|1|ORD-1||2345-7^Glucose^LN|||{at.format('09')}",
            f"OBX|1|NM|2345-7^Glucose^LN||9.1|mmol/L|3.9-6.1|H|||F|||{at.format('10')}",
            at=at.format("10"),
        ),
        message(
            "RDE^O11^RDE_O11",
            "H4",
            FULL_PID,
            PV1,
            f"ORC|NW|RX-1|||||||{at.format('11')}|||{DOCTOR}",
            "RXE|^Q8H|MOR^Morphine 10 mg|5||mg||^Slowly" + "|" * 12 + "30^mg&milligram",
            "RXR|IV^Intravenous",
            f"TQ1|1||Q8H|0800~1600|||{at.format('11')}|20261207080000|PRN|Pain",
            at=at.format("11"),
        ),
        message(
            "RAS^O17^RAS_O17",
            "H7",
            FULL_PID,
            PV1,
            "ORC|RE|RX-1",
            f"RXA|0|1|{at.format('11')}||MOR^Morphine 10 mg|5|mg|||{DOCTOR}",
            "RXA|0|2|20261130113000||MOR^Morphine 10 mg|0|mg"
            + "|" * 11
            + "PTREF^Refused by the patient||RE|A",
            "RXR|IV^Intravenous",
            at=at.format("12"),
        ),
        message(
            "ORU^R01^ORU_R01",
            "H8",
            FULL_PID,
            PV1,
            RADIOLOGY_OBR,
            "OBX|1|TX|59776-5^Findings^LN|1|Lungs are clear.||||||F",
            "OBX|2|TX|19005-8^Impression^LN|2|No acute process.||||||F",
            "OBX|3|RP|PDF^Signed report||https://pacs.example/1.pdf^PACS^AP^PDF||||||F",
            at=at.format("12"),
        ),
        message(
            "MDM^T02^MDM_T02",
            "H9",
            f"EVN|T02|{at.format('12')}",
            FULL_PID,
            PV1,
            f"TXA|1|CN^Consultation|TX|{at.format('12')}|||||{DOCTOR}|||DOC-1"
            + "|" * 5
            + "AU||AV",
            "OBX|1|TX|||Seen for chest pain.||||||F",
            at=at.format("12"),
        ),
        message(
            "SIU^S12^SIU_S12",
            "H5",
            "SCH|P-1|F-1|||||EMERGENCY^Emergency||||^^30^20261201093000",
            FULL_PID,
            "AIS|1||CARD^Cardiology check|20261201093000|||30|MIN",
            f"AIP|1||{DOCTOR}",
            "AIL|1||CLIN-1^Room 2|||20261201093000",
            at=at.format("12"),
        ),
        message(
            "ADT^A03^ADT_A03",
            "H6",
            f"EVN|A03|{at.format('13')}",
            FULL_PID,
            PV1,
            at=at.format("13"),
        ),
    ]


def hl7_apply() -> None:
    wards("WARD-A", "CLIN-1")
    for raw in hl7_messages():
        answer = acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))
        assert answer["code"] == "AA", answer


def left_out(feed: str, model: type[models.Model]) -> dict[str, str]:
    """The fields of ``model`` that ``feed`` leaves out, with why."""
    found = {}
    for key, why in LEFT_OUT[feed].items():
        owner, name = key.split(".")
        if owner in ("*", model.__name__):
            found[name] = why
    return found


@pytest.mark.parametrize("feed", [FHIR, HL7])
def test_every_mirror_field_is_written_by_each_feed_or_left_out_with_a_reason(feed):
    fhir_import()
    hl7_apply()

    problems = []
    for model in mirrored_models():
        name = model.__name__
        if name in NOT_FED[feed]:
            if model.objects.filter(source_feed=feed).exists():
                problems.append(f"{name}: {feed} writes it, yet NOT_FED says not")
            continue
        fields = {field.name for field in fields_of(model)}
        leaves = left_out(feed, model)
        found = written(model, feed)
        for field in sorted(fields - found - set(leaves)):
            problems.append(f"{name}.{field}: {feed} never writes it")
        for field in sorted(set(leaves) & found):
            problems.append(f"{name}.{field}: {feed} writes it, yet LEFT_OUT says not")
        for field in sorted(set(leaves) - fields):
            problems.append(f"{name}.{field}: LEFT_OUT names no field of the model")
    for key, why in [*LEFT_OUT[feed].items(), *NOT_FED[feed].items()]:
        if not why.strip():
            problems.append(f"{key}: left out by {feed} without a reason")
    assert not problems, "\n".join(problems)


def test_a_pid_that_leaves_a_field_empty_keeps_what_the_mirror_has():
    """Every patient field HL7 writes is kept when a later PID leaves it
    empty (only HL7's null "" clears one): senders often send a few PID
    fields only. A new field HL7 writes and forgets to keep fails here."""
    hl7_apply()
    before = Patient.objects.get(mrn="MRN-7")
    bookkeeping = {field.name for field in Mirrored._meta.get_fields()}
    kept = written(Patient, HL7) - bookkeeping - {"family", "name_search"}
    assert {"given", "birth_date", "deceased_at", "contact_name"} <= kept

    sparse = message(
        "ADT^A08^ADT_A01",
        "H9",
        "EVN|A08|20261130140000",
        "PID|1||MRN-7^^^GENERAL^MR||JANSSENS-PEETERS",
        PV1,
        at="20261130140000",
    )
    answer = acknowledgement(hl7_receive(raw=sparse, peer="127.0.0.1:5000"))
    assert answer["code"] == "AA", answer

    after = Patient.objects.get(pk=before.pk)
    assert after.family == "JANSSENS-PEETERS"  # applied, not taken as older
    changed = {name for name in kept if getattr(after, name) != getattr(before, name)}
    assert changed == set()
