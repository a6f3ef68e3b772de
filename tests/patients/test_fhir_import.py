import datetime as dt
import json
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from patients.ingest.upsert import upsert
from patients.models import (
    Allergy,
    Encounter,
    MedicationOrder,
    Observation,
    Patient,
    Problem,
    QuarantinedResource,
)
from tests.patients.fhir import (
    BULK,
    BUNDLES,
    MIRRORED,
    allergy,
    encounter,
    patient,
    ward_with_beds,
    write_bundle,
    write_ndjson,
)

pytestmark = pytest.mark.django_db


def distinct_ids_in_fixtures() -> dict[str, set[str]]:
    """Counted straight from the files, without the importer's reader."""
    ids = defaultdict(set)
    for path in BUNDLES.glob("*.json"):
        for entry in json.loads(path.read_text())["entry"]:
            ids[entry["resource"]["resourceType"]].add(entry["resource"]["id"])
    for path in BULK.glob("*.000.ndjson"):
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            ids[resource["resourceType"]].add(resource["id"])
    return ids


def test_shared_synthea_and_bulk_data_import_with_exact_counts():
    call_command("import_fhir", str(BUNDLES), str(BULK))

    expected = distinct_ids_in_fixtures()
    assert {kind: model.objects.count() for kind, model in MIRRORED.items()} == {
        kind: len(expected[kind]) for kind in MIRRORED
    }
    assert not QuarantinedResource.objects.exists()


def test_conditional_references_of_the_bulk_export_resolve_by_identifier():
    call_command("import_fhir", str(BULK))

    bulk_encounters = Encounter.objects.all()
    assert bulk_encounters.count() == 1215
    assert not bulk_encounters.filter(attending=None).exists()
    ordered = MedicationOrder.objects.exclude(prescriber=None).count()
    assert ordered == MedicationOrder.objects.count()


def test_importing_the_same_data_twice_changes_nothing(capsys):
    call_command("import_fhir", str(BUNDLES))
    before = list(Observation.objects.values_list("pk", "received_at", "source_hash"))

    call_command("import_fhir", str(BUNDLES))

    table = capsys.readouterr().out.splitlines()
    patient_row = [line for line in table if line.startswith("Patient ")][-1]
    assert patient_row.split()[1:] == ["0", "0", "34", "0", "0", "0", "0"]
    after = list(Observation.objects.values_list("pk", "received_at", "source_hash"))
    assert after == before


def test_newer_last_updated_wins_and_an_older_copy_is_ignored(tmp_path):
    newer = patient(
        "p1",
        meta={"lastUpdated": "2026-11-21T10:00:00Z"},
        telecom=[{"system": "phone", "value": "+32 2 555 01 01"}],
    )
    write_ndjson(tmp_path / "new", [newer])
    call_command("import_fhir", str(tmp_path / "new"))

    older = {
        **newer,
        "meta": {"lastUpdated": "2026-11-20T10:00:00Z"},
        "telecom": [{"system": "phone", "value": "+32 2 555 09 09"}],
    }
    write_ndjson(tmp_path / "old", [older])
    call_command("import_fhir", str(tmp_path / "old"))
    assert Patient.objects.get().phone == "+32 2 555 01 01"

    newest = {**older, "meta": {"lastUpdated": "2026-11-22T10:00:00Z"}}
    write_ndjson(tmp_path / "newest", [newest])
    call_command("import_fhir", str(tmp_path / "newest"))
    assert Patient.objects.get().phone == "+32 2 555 09 09"


def test_the_database_keeps_the_newer_copy_when_two_imports_race(tmp_path):
    """An import that compared versions before a newer copy was committed
    (two imports at once) still cannot overwrite it: the upsert checks too."""
    newer = patient("p1", meta={"lastUpdated": "2026-11-21T10:00:00Z"})
    call_command("import_fhir", str(write_ndjson(tmp_path, [newer])))
    stored = Patient.objects.values().get()
    older = {
        **stored,
        "phone": "+32 2 555 09 09",
        "source_updated_at": stored["source_updated_at"] - dt.timedelta(days=1),
    }
    del older["id"]

    with transaction.atomic():
        pks = upsert(Patient, [older])

    assert pks == {"p1": stored["id"]}
    assert Patient.objects.values().get() == stored


def test_every_value_a_nurse_reads_arrives_as_the_source_gave_it(tmp_path):
    """Text, numbers, dates, flags, JSON and links all survive the bulk write."""
    chart = [
        patient(
            "p1",
            mrn="MRN-77",
            telecom=[{"system": "phone", "value": "+32 2 555 01 01"}],
        ),
        *ward_with_beds("bed-1"),
        encounter("e1", "p1", bed="bed-1"),
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "encounter": {"reference": "Encounter/e1"},
            "authoredOn": "2026-11-20T09:30:00+01:00",
            "medicationCodeableConcept": {"text": "Paracetamol 1 g tablet"},
            "dosageInstruction": [
                {
                    "text": "Met water innemen",
                    "route": {"text": "oral"},
                    "timing": {
                        "repeat": {
                            "frequency": 4,
                            "period": 1,
                            "periodUnit": "d",
                            "timeOfDay": ["06:00:00", "12:00:00"],
                        }
                    },
                    "asNeededCodeableConcept": {"text": "pain"},
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}],
                }
            ],
        },
    ]
    call_command("import_fhir", str(write_ndjson(tmp_path, chart)))

    mirrored = Patient.objects.get()
    assert (mirrored.mrn, mirrored.given, mirrored.phone) == (
        "MRN-77",
        "Anaïs",
        "+32 2 555 01 01",
    )
    assert mirrored.birth_date == dt.date(1950, 3, 1)
    assert mirrored.identifiers[0]["value"] == "MRN-77"
    stay = Encounter.objects.get()
    assert (stay.patient, stay.bed.source_id, stay.ward.source_id) == (
        mirrored,
        "bed-1",
        "ward-a",
    )
    order = MedicationOrder.objects.get()
    assert (order.patient, order.encounter) == (mirrored, stay)
    assert (order.drug, order.dose, order.route, order.frequency) == (
        "Paracetamol 1 g tablet",
        "1 g",
        "oral",
        "4x/d",
    )
    assert order.timing == {
        "frequency": 4,
        "period": 1,
        "period_unit": "d",
        "times": ["06:00:00", "12:00:00"],
    }
    assert (order.as_needed, order.as_needed_reason) == (True, "pain")
    assert order.instructions == "Met water innemen"
    assert order.starts_at == dt.datetime(2026, 11, 20, 8, 30, tzinfo=dt.UTC)
    assert order.ends_at is None


def test_a_complete_source_replaces_the_allergy_list_as_a_whole(tmp_path):
    first = [
        patient("p1"),
        allergy("a1", "p1", "Penicillin"),
        allergy("a2", "p1", "Latex"),
    ]
    call_command("import_fhir", str(write_bundle(tmp_path / "one.json", first)))
    assert set(Allergy.objects.values_list("substance", flat=True)) == {
        "Penicillin",
        "Latex",
    }

    second = [
        patient("p1"),
        allergy("a2", "p1", "Latex"),
        allergy("a3", "p1", "Iodine contrast"),
    ]
    call_command("import_fhir", str(write_bundle(tmp_path / "two.json", second)))

    assert set(Allergy.objects.values_list("substance", flat=True)) == {
        "Latex",
        "Iodine contrast",
    }


def test_a_partial_source_never_removes_allergies(tmp_path):
    call_command(
        "import_fhir",
        str(
            write_bundle(
                tmp_path / "one.json",
                [patient("p1"), allergy("a1", "p1", "Penicillin")],
            )
        ),
    )

    only_new = [patient("p1"), allergy("a2", "p1", "Latex")]
    call_command(
        "import_fhir", "--partial", str(write_bundle(tmp_path / "two.json", only_new))
    )

    assert Allergy.objects.count() == 2


def test_a_finished_encounter_takes_the_patient_off_the_census(tmp_path):
    admitted = [
        *ward_with_beds("bed-1"),
        patient("p1"),
        encounter("e1", "p1", bed="bed-1"),
    ]
    call_command("import_fhir", str(write_ndjson(tmp_path / "in", admitted)))
    stay = Encounter.objects.get()
    assert (stay.ward.name, stay.room.name, stay.bed.name) == (
        "WARD-A",
        "ROOM-BED-1",
        "BED-1",
    )
    assert Encounter.objects.filter(status__in=Encounter.ON_CENSUS).count() == 1

    finished = encounter("e1", "p1", status="finished", bed="bed-1")
    call_command("import_fhir", str(write_ndjson(tmp_path / "out", [finished])))

    assert not Encounter.objects.filter(status__in=Encounter.ON_CENSUS).exists()


def test_a_newer_admission_to_a_bed_displaces_the_previous_occupant(tmp_path):
    first = [
        *ward_with_beds("bed-1"),
        patient("p1"),
        encounter("e1", "p1", bed="bed-1", updated="2026-11-21T08:00:00Z"),
    ]
    call_command("import_fhir", str(write_ndjson(tmp_path / "a", first)))

    second = [
        patient("p2"),
        encounter("e2", "p2", bed="bed-1", updated="2026-11-22T08:00:00Z"),
    ]
    call_command("import_fhir", "--partial", str(write_ndjson(tmp_path / "b", second)))

    occupant = Encounter.objects.get(bed__source_id="bed-1")
    assert occupant.source_id == "e2"
    displaced = Encounter.objects.get(source_id="e1")
    assert displaced.bed is None
    assert displaced.ward == occupant.ward


def test_the_database_refuses_two_occupants_in_one_bed(tmp_path):
    call_command(
        "import_fhir",
        str(
            write_ndjson(
                tmp_path,
                [
                    *ward_with_beds("bed-1"),
                    patient("p1"),
                    patient("p2"),
                    encounter("e1", "p1", bed="bed-1"),
                ],
            )
        ),
    )
    intruder = Encounter.objects.get()
    intruder.pk = None
    intruder.source_id = "e2"
    intruder.patient = Patient.objects.get(source_id="p2")

    with pytest.raises(IntegrityError), transaction.atomic():
        intruder.save()


def test_a_second_record_with_the_same_mrn_is_quarantined(tmp_path):
    twins = [patient("p1", mrn="123"), patient("p2", mrn="123")]
    with pytest.raises(CommandError, match="1 resources were quarantined"):
        call_command("import_fhir", str(write_ndjson(tmp_path, twins)))

    assert Patient.objects.get().source_id == "p1"
    held = QuarantinedResource.objects.get()
    assert held.resource_id == "p2"
    assert "MRN already belongs to Patient/p1" in held.reason


def test_bulk_manifest_deleted_list_removes_those_records(tmp_path):
    export = write_ndjson(tmp_path, [patient("p1"), patient("p2")])
    call_command("import_fhir", str(export))
    deletion = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Patient/p2"}}],
    }
    (export / "del.ndjson").write_text(json.dumps(deletion) + "\n")
    (export / "manifest.json").write_text(
        json.dumps(
            {
                "transactionTime": "2026-11-22T10:00:00Z",
                "request": "https://ehr.example/fhir/$export?_since=2026-11-21T10:00:00Z",
                "requiresAccessToken": True,
                "output": [
                    {
                        "type": "Patient",
                        "url": "https://ehr.example/f/Patient.000.ndjson",
                    }
                ],
                "deleted": [
                    {"type": "Bundle", "url": "https://ehr.example/f/del.ndjson"}
                ],
                "error": [],
            }
        )
    )

    call_command("import_fhir", str(export))

    assert list(Patient.objects.values_list("source_id", flat=True)) == ["p1"]


def test_bad_input_is_quarantined_with_its_reason_and_the_rest_imported(tmp_path):
    folder = write_ndjson(
        tmp_path,
        [
            patient("good"),
            patient("bad-date", birthDate="1950-13-45"),
            {**patient("no-mrn"), "identifier": []},
            {
                "resourceType": "Condition",
                "id": "c1",
                "code": {"text": "Asthma"},
                "subject": {"reference": "Patient/nobody"},
            },
            {"resourceType": "Frobnicator", "id": "x1"},
        ],
    )
    with (folder / "Patient.000.ndjson").open("a") as lines:
        lines.write('{"resourceType": "Patient", "id": \n')

    with pytest.raises(CommandError, match="5 resources were quarantined"):
        call_command("import_fhir", str(folder))

    assert list(Patient.objects.values_list("source_id", flat=True)) == ["good"]
    assert not Problem.objects.exists()
    reasons = dict(QuarantinedResource.objects.values_list("resource_id", "reason"))
    assert reasons["bad-date"] == "Patient.birthDate is not a real calendar date"
    assert "no medical record number" in reasons["no-mrn"]
    assert reasons["c1"] == (
        "Condition.subject: Patient/nobody is not in the mirror (broken reference)"
    )
    assert reasons["x1"] == "Frobnicator is not a FHIR R4 resource type"
    assert reasons[""].startswith("not valid JSON")
    held = QuarantinedResource.objects.get(resource_id="c1")
    assert json.loads(held.raw)["code"] == {"text": "Asthma"}


def test_replay_applies_a_quarantined_resource_once_its_cause_is_fixed(tmp_path):
    orphan = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"text": "Asthma"},
        "subject": {"reference": "Patient/p1"},
    }
    with pytest.raises(CommandError):
        call_command("import_fhir", str(write_ndjson(tmp_path / "a", [orphan])))
    with pytest.raises(CommandError, match="1 resources were quarantined"):
        call_command("replay_quarantine")

    call_command(
        "import_fhir", "--partial", str(write_ndjson(tmp_path / "b", [patient("p1")]))
    )
    call_command("replay_quarantine")

    assert Problem.objects.get().patient.source_id == "p1"
    held = QuarantinedResource.objects.get()
    assert held.status == QuarantinedResource.Status.REPLAYED
    assert held.attempts == 3
