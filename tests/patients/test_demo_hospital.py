import datetime as dt
import unicodedata

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from patients.demo.hospital import demo_hospital
from patients.demo.overlay import synthea_overlay
from patients.ingest.sources import from_resources
from patients.models import (
    Allergy,
    Appointment,
    Encounter,
    Flag,
    LabOrder,
    Location,
    MedicationOrder,
    Patient,
    QuarantinedResource,
)
from patients.services import fhir_load_import
from tests.patients.fhir import BUNDLES

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_seed_demo_builds_a_realistic_hospital_through_the_importer():
    call_command("seed_demo", "--wards", "3", "--beds", "24", "--seed", "1")

    census = Encounter.objects.on_census()
    beds = Location.objects.filter(kind=Location.Kind.BED).count()
    assert beds == 72
    assert 0.75 <= census.count() / beds <= 0.95
    assert not census.filter(Q(ward=None) | Q(room=None) | Q(bed=None)).exists()
    inpatients = Patient.objects.filter(encounters__in=census)
    active = inpatients.annotate(
        n=Count("medication_orders", filter=Q(medication_orders__status="active"))
    ).values_list("n", flat=True)
    assert min(active) >= 5
    assert max(active) <= 15
    assert MedicationOrder.objects.filter(as_needed=True).exists()
    assert Allergy.objects.filter(severity="severe", criticality="high").exists()
    assert not inpatients.filter(allergies=None).exists()  # NKA is written out
    assert census.count() == Flag.objects.filter(kind=Flag.Kind.CODE_STATUS).count()
    pending = LabOrder.objects.filter(status__in=LabOrder.PENDING)
    assert pending.count() >= census.count()
    clinics = Appointment.objects.values("clinic").distinct().count()
    assert clinics == 4
    names = "".join(Patient.objects.values_list("family", flat=True))
    assert any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", names))
    assert not QuarantinedResource.objects.exists()
    assert set(Patient.objects.values_list("source_feed", flat=True)) == {"demo"}


def test_the_demo_hospital_is_the_same_for_the_same_seed():
    first = demo_hospital(wards=2, beds=10, seed=7, now=NOW)

    assert demo_hospital(wards=2, beds=10, seed=7, now=NOW) == first
    assert demo_hospital(wards=2, beds=10, seed=8, now=NOW) != first


@pytest.mark.django_db
def test_the_overlay_admits_shared_synthea_patients_to_current_beds():
    resources = synthea_overlay(BUNDLES.glob("*.json"), seed=1, now=NOW)

    summary = fhir_load_import(load=from_resources(resources, origin="t"), feed="t")

    assert summary.quarantined == 0
    census = Encounter.objects.on_census()
    synthea = Patient.objects.filter(mrn_system="http://hospital.smarthealthit.org")
    assert synthea.count() == 34
    assert census.filter(patient__in=synthea).count() == 22
    history = Encounter.objects.filter(status="finished")
    latest_end = max(history.values_list("discharged_at", flat=True))
    assert latest_end.date() == NOW.date() - dt.timedelta(days=1)
