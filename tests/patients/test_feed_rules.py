"""One rule per fact: the same story sent through the HL7 listener and through
the FHIR importer leaves the same mirror (patients.ingest.rules)."""

import pytest
from django.test import override_settings

from patients.ingest.fhir import fhir_import
from patients.ingest.hl7v2.inbox import hl7_receive
from patients.ingest.sources import from_resources
from patients.models import Allergy, Encounter, Patient
from tests.patients.fhir import MR, location
from tests.patients.hl7 import acknowledgement, message
from tests.printouts.conftest import load

pytestmark = pytest.mark.django_db

MRN_SYSTEM = "urn:test:mrn"
# When each event happened (EVN-2; FHIR meta.lastUpdated).
ADMITTED = "2026-11-30T08:00:00+01:00"
OTHER_ADMITTED = "2026-11-30T08:30:00+01:00"
MOVED = "2026-11-30T09:00:00+01:00"
ALLERGIES_CHANGED = "2026-11-30T10:00:00+01:00"
DISCHARGED = "2026-11-30T11:00:00+01:00"
# Penicillin stays, peanut goes, latex comes.
BEFORE = [("PEN", "Penicillin", "SV"), ("PNT", "Peanut", "MO")]
AFTER = [("PEN", "Penicillin", "SV"), ("LTX", "Latex", "MI")]
SEVERITY = {"SV": "severe", "MO": "moderate", "MI": "mild"}


def hl7_time(moment: str) -> str:
    return moment[:19].replace("-", "").replace("T", "").replace(":", "") + "+0100"


@pytest.fixture
def wards():
    """Two wards with a room and a bed each, known to both feeds by name."""
    load(
        [
            {**location("ward-a", "wa"), "name": "WARD-A"},
            {**location("ward-b", "wa"), "name": "WARD-B"},
            {**location("r1", "ro", part_of="ward-a"), "name": "R1"},
            {**location("b1", "bd", part_of="r1"), "name": "B1"},
            {**location("r7", "ro", part_of="ward-b"), "name": "R7"},
            {**location("b2", "bd", part_of="r7"), "name": "B2"},
        ]
    )


# The story through HL7


def pid(mrn: str, family: str) -> str:
    return (
        f"PID|1||{mrn}^^^GENERAL^MR||{family}^Anaïs||19500312|F|||"
        "Rue Haute 1^^Bruxelles^^1000^BE||+32 2 555 01 01"
    )


def pv1(place: str, visit: str, admitted: str, discharged: str = "") -> str:
    fields = ["PV1", "1", "I", place] + [""] * 15 + [visit]
    fields += [""] * (44 - len(fields)) + [hl7_time(admitted)]
    if discharged:
        fields.append(hl7_time(discharged))
    return "|".join(fields)


def al1(allergies) -> list[str]:
    return [
        f"AL1|{n}|DA|{code}^{name}|{severity}|Anaphylaxis|20200101"
        for n, (code, name, severity) in enumerate(allergies, 1)
    ]


def send(trigger: str, control: str, at: str, *segments: str) -> None:
    raw = message(
        f"ADT^{trigger}^ADT_A01", control, f"EVN|{trigger}|{hl7_time(at)}", *segments
    )
    answer = acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))
    assert answer["code"] == "AA", answer


def through_hl7() -> None:
    send(
        "A01",
        "C1",
        ADMITTED,
        pid("MRN-1", "PEETERS"),
        pv1("WARD-A^R1^B1", "V1", ADMITTED),
        *al1(BEFORE),
    )
    send(
        "A02", "C2", MOVED, pid("MRN-1", "PEETERS"), pv1("WARD-B^R7^B2", "V1", ADMITTED)
    )
    # Told after the move, but admitted before it: the bed is not theirs.
    send(
        "A01",
        "C3",
        OTHER_ADMITTED,
        pid("MRN-2", "MAES"),
        pv1("WARD-B^R7^B2", "V2", OTHER_ADMITTED),
    )
    send("A60", "C4", ALLERGIES_CHANGED, pid("MRN-1", "PEETERS"), *al1(AFTER))
    send(
        "A03",
        "C5",
        DISCHARGED,
        pid("MRN-1", "PEETERS"),
        pv1("WARD-B^R7^B2", "V1", ADMITTED, DISCHARGED),
    )


# The same story through FHIR


def person(pid_: str, mrn: str, family: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": pid_,
        "identifier": [
            {
                "type": MR,
                "system": MRN_SYSTEM,
                "value": mrn,
            }
        ],
        "name": [{"family": family, "given": ["Anaïs"]}],
        "gender": "female",
        "birthDate": "1950-03-12",
        "telecom": [{"system": "phone", "value": "+32 2 555 01 01"}],
        "address": [
            {
                "line": ["Rue Haute 1"],
                "city": "Bruxelles",
                "postalCode": "1000",
                "country": "BE",
            }
        ],
    }


def stay(eid: str, pid_: str, at: str, bed: str, admitted: str, **more) -> dict:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "meta": {"lastUpdated": at},
        "status": more.get("status", "in-progress"),
        "class": {"code": "IMP"},
        "subject": {"reference": f"Patient/{pid_}"},
        "period": {"start": admitted, **more.get("period", {})},
        "location": [{"location": {"reference": f"Location/{bed}"}}],
    }


def allergies(pid_: str, at: str, listed) -> list[dict]:
    return [
        {
            "resourceType": "AllergyIntolerance",
            "id": f"{pid_}-{code}",
            "meta": {"lastUpdated": at},
            "code": {"coding": [{"code": code, "display": name}]},
            "category": ["medication"],
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "verificationStatus": {"coding": [{"code": "confirmed"}]},
            "patient": {"reference": f"Patient/{pid_}"},
            "recordedDate": "2020-01-01",
            **({"criticality": "high"} if severity == "SV" else {}),
            "reaction": [
                {
                    "manifestation": [{"text": "Anaphylaxis"}],
                    "severity": SEVERITY[severity],
                }
            ],
        }
        for code, name, severity in listed
    ]


def imported(*resources: dict) -> None:
    """One bundle the EHR sends: complete for the patients it holds."""
    summary = fhir_import(load=from_resources(resources, origin="ehr"), feed="fhir")
    assert summary.quarantined == 0, summary.as_dict()


def through_fhir() -> None:
    p1, p2 = person("p1", "MRN-1", "PEETERS"), person("p2", "MRN-2", "MAES")
    imported(
        p1,
        stay("e1", "p1", ADMITTED, "b1", ADMITTED),
        *allergies("p1", ADMITTED, BEFORE),
    )
    imported(
        p1, stay("e1", "p1", MOVED, "b2", ADMITTED), *allergies("p1", ADMITTED, BEFORE)
    )
    imported(p2, stay("e2", "p2", OTHER_ADMITTED, "b2", OTHER_ADMITTED))
    imported(p1, *allergies("p1", ALLERGIES_CHANGED, AFTER))
    imported(
        p1,
        stay(
            "e1",
            "p1",
            DISCHARGED,
            "b2",
            ADMITTED,
            status="finished",
            period={"end": DISCHARGED},
        ),
        *allergies("p1", ALLERGIES_CHANGED, AFTER),
    )


def what_a_nurse_sees() -> dict:
    """Every fact of the mirror that pages and packs show, by MRN."""
    patients = {
        p.mrn: (
            p.family,
            p.given,
            p.birth_date,
            p.sex,
            p.phone,
            p.address,
            p.mrn_system,
            p.name_search,
        )
        for p in Patient.objects.all()
    }
    stays = sorted(
        (
            e.patient.mrn,
            e.status,
            e.encounter_class,
            e.ward and e.ward.name,
            e.room and e.room.name,
            e.bed and e.bed.name,
            e.admitted_at,
            e.discharged_at,
        )
        for e in Encounter.objects.select_related("patient", "ward", "room", "bed")
    )
    allergies_ = sorted(
        (
            a.patient.mrn,
            a.substance,
            a.substance_code,
            a.category,
            a.severity,
            a.criticality,
            a.reactions,
            a.clinical_status,
            a.verification_status,
            a.recorded_at,
        )
        for a in Allergy.objects.select_related("patient")
    )
    return {"patients": patients, "stays": stays, "allergies": allergies_}


@override_settings(HL7_MRN_SYSTEM=MRN_SYSTEM)
def test_the_same_story_through_either_feed_leaves_the_same_mirror(wards):
    through_hl7()
    by_hl7 = what_a_nurse_sees()
    Patient.objects.all().delete()
    through_fhir()
    by_fhir = what_a_nurse_sees()

    assert by_hl7 == by_fhir
    # And the story is what happened: discharged from B2; the patient admitted
    # before the move but told after it is on WARD-B without a bed; peanut
    # went, latex came.
    assert [s[1:6] for s in by_fhir["stays"]] == [
        ("finished", "IMP", "WARD-B", "R7", "B2"),
        ("in-progress", "IMP", "WARD-B", "R7", None),
    ]
    assert [(a[1], a[4]) for a in by_fhir["allergies"]] == [
        ("Latex", "mild"),
        ("Penicillin", "severe"),
    ]


@override_settings(HL7_MRN_SYSTEM=MRN_SYSTEM)
def test_a_feed_replaces_only_its_own_list(wards):
    """The FHIR feed's complete allergy list leaves the HL7 feed's allergies:
    those are the HL7 feed's to remove."""
    send(
        "A01",
        "C1",
        ADMITTED,
        pid("MRN-1", "PEETERS"),
        pv1("WARD-A^R1^B1", "V1", ADMITTED),
        *al1([("LTX", "Latex", "MI")]),
    )
    imported(person("p1", "MRN-1", "PEETERS"), *allergies("p1", MOVED, BEFORE))

    assert sorted(Allergy.objects.values_list("substance", "source_feed")) == [
        ("Latex", "hl7"),
        ("Peanut", "fhir"),
        ("Penicillin", "fhir"),
    ]
    imported(person("p1", "MRN-1", "PEETERS"), *allergies("p1", MOVED, AFTER[:1]))
    assert sorted(Allergy.objects.values_list("substance", "source_feed")) == [
        ("Latex", "hl7"),
        ("Penicillin", "fhir"),
    ]


@override_settings(HL7_MRN_SYSTEM=MRN_SYSTEM)
def test_a_row_changed_by_either_feed_has_the_hash_of_what_it_shows(wards):
    """source_hash has one meaning: equal rows, equal hashes, whoever wrote
    them; a stay that loses its bed gets the hash of a stay without one."""
    imported(
        person("p1", "MRN-1", "PEETERS"), stay("e1", "p1", ADMITTED, "b1", ADMITTED)
    )
    first = Encounter.objects.get()
    send(
        "A01",
        "C1",
        MOVED,
        pid("MRN-2", "MAES"),
        pv1("WARD-A^R1^B1", "V2", MOVED),
    )
    displaced = Encounter.objects.get(pk=first.pk)
    assert displaced.bed is None
    assert displaced.source_hash != first.source_hash
    # The FHIR feed sends the same stay again: its row is rebuilt, the rule
    # decides the bed again (the newer arrival keeps it), and nothing changes.
    imported(
        person("p1", "MRN-1", "PEETERS"), stay("e1", "p1", ADMITTED, "b1", ADMITTED)
    )
    assert Encounter.objects.get(pk=first.pk).bed is None
    assert Encounter.objects.get(pk=first.pk).source_hash == displaced.source_hash
    assert Encounter.objects.get(patient__mrn="MRN-2").bed.name == "B1"


@override_settings(HL7_MRN_SYSTEM=MRN_SYSTEM)
def test_an_inpatient_stay_on_no_ward_is_refused_by_both_feeds(wards):
    raw = message(
        "ADT^A01^ADT_A01",
        "C1",
        f"EVN|A01|{hl7_time(ADMITTED)}",
        pid("MRN-1", "PEETERS"),
        pv1("", "V1", ADMITTED),
    )
    answer = acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))
    assert (answer["code"], answer["where"]) == ("AE", "PV1^1^3^1")

    nowhere = stay("e1", "p1", ADMITTED, "b1", ADMITTED)
    del nowhere["location"]
    summary = fhir_import(
        load=from_resources([person("p1", "MRN-1", "PEETERS"), nowhere], origin="t"),
        feed="fhir",
    )
    assert summary.counts["Encounter"]["quarantined"] == 1
    assert not Encounter.objects.exists()
    # An outpatient's visit in progress may come before its place.
    summary = fhir_import(
        load=from_resources([{**nowhere, "class": {"code": "AMB"}}], origin="t"),
        feed="fhir",
    )
    assert summary.quarantined == 0
