"""A value longer than its column is never cut silently: an identifier is
refused, free text is shortened with a mark a reader sees."""

import io

import pytest
from django.core.management import CommandError, call_command

from patients.ingest.fhir import fhir_import
from patients.ingest.hl7v2.inbox import hl7_receive
from patients.ingest.rules import SHORTENED
from patients.ingest.sources import from_resources
from patients.models import Allergy, Encounter, Patient, QuarantinedResource
from tests.patients.fhir import allergy, patient, write_ndjson
from tests.patients.hl7 import acknowledgement, adt, mirror, wards

pytestmark = pytest.mark.django_db


def receive(raw: bytes) -> dict:
    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


def test_two_long_mrns_that_share_their_start_are_both_refused(tmp_path):
    start = "M" * 64
    write_ndjson(
        tmp_path,
        [
            patient("p1", mrn=start + "1" * 16),
            patient("p2", mrn=start + "2" * 16),
            patient("p3", mrn="MRN-3"),
        ],
    )
    with pytest.raises(CommandError):
        call_command("import_fhir", tmp_path)

    assert list(Patient.objects.values_list("mrn", flat=True)) == ["MRN-3"]
    reasons = set(QuarantinedResource.objects.values_list("reason", flat=True))
    assert reasons == {
        "Patient.identifier.value is longer than the 64 characters the mirror "
        "keeps; an identifier is never cut"
    }
    assert QuarantinedResource.objects.count() == 2


def test_long_free_text_from_fhir_is_shortened_with_a_mark_and_counted():
    substance = "Amoxicillin " + "and clavulanic acid " * 20
    summary = fhir_import(
        load=from_resources(
            [patient("p1"), allergy("a1", "p1", substance)], origin="test"
        ),
        feed="fhir",
    )

    kept = Allergy.objects.get().substance
    assert len(kept) == 255
    assert kept.startswith("Amoxicillin and clavulanic acid")
    assert kept.endswith(SHORTENED)
    assert summary.shortened == {"AllergyIntolerance": 1}
    assert summary.quarantined == 0


def test_the_import_says_how_many_texts_it_shortened(tmp_path):
    write_ndjson(tmp_path, [patient("p1"), allergy("a1", "p1", "Latex " * 60)])
    out = io.StringIO()
    call_command("import_fhir", tmp_path, stdout=out)
    assert (
        "1 texts of AllergyIntolerance resources were longer than the mirror keeps"
        in out.getvalue()
    )


def test_a_long_mrn_over_hl7_is_an_error_naming_pid_3():
    wards("WARD-A")
    answer = receive(adt("A01", "C1", mrn="M" * 80))

    assert answer["code"] == "AE", answer
    assert answer["where"] == "PID^1^3^1"
    assert "never cut" in answer["error"]
    assert mirror() == [[], [], []]


def test_long_free_text_over_hl7_is_shortened_with_a_mark():
    wards("WARD-A")
    reason = "Observation after a fall " * 20
    answer = receive(adt("A01", "C1", f"PV2|||^{reason}"))

    assert answer["code"] == "AA", answer
    kept = Encounter.objects.get().reason
    assert len(kept) == 255
    assert kept.endswith(SHORTENED)


def test_two_long_visit_numbers_that_share_their_start_are_two_stays():
    wards("WARD-A")
    start = "V" * 130
    assert receive(adt("A01", "C1", mrn="MRN-1", visit=start + "1"))["code"] == "AA"
    assert (
        receive(adt("A01", "C2", mrn="MRN-2", visit=start + "2", place="WARD-A^R2^B2"))[
            "code"
        ]
        == "AA"
    )
    assert Encounter.objects.count() == 2
    assert all(len(e.source_id) <= 128 for e in Encounter.objects.all())
