"""How often and how much at most a PRN order allows, from both feeds: the
mirror keeps what the EHR sent, the pages write it out."""

import pytest
from django.core.management import CommandError, call_command

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.models import MedicationOrder, QuarantinedResource
from tests.patients.fhir import medication, patient, write_ndjson
from tests.patients.hl7 import FIXTURES, acknowledgement, message, pid

pytestmark = pytest.mark.django_db


def fhir_order(tmp_path, **dosage) -> MedicationOrder:
    chart = [patient("p1"), medication("m1", "p1", "Morphine 10 mg/mL", **dosage)]
    call_command("import_fhir", str(write_ndjson(tmp_path, chart)))
    return MedicationOrder.objects.get()


def test_a_fhir_prn_keeps_its_interval_and_its_maxima(tmp_path):
    order = fhir_order(
        tmp_path,
        asNeededCodeableConcept={"text": "Pain"},
        timing={"repeat": {"period": 4, "periodMax": 6, "periodUnit": "h"}},
        doseAndRate=[{"doseQuantity": {"value": 2.5, "unit": "mg"}}],
        maxDosePerPeriod={
            "numerator": {"value": 30, "unit": "mg"},
            "denominator": {"value": 1, "unit": "day", "code": "d"},
        },
        maxDosePerAdministration={"value": 10.0, "unit": "mg"},
    )

    assert (order.as_needed, order.as_needed_reason, order.dose) == (
        True,
        "Pain",
        "2.5 mg",
    )
    assert order.timing == {"period": 4, "period_max": 6, "period_unit": "h"}
    assert order.max_dose == {
        "per_period": "30 mg",
        "period": 1,
        "period_unit": "d",
        "per_dose": "10 mg",
    }


def test_a_fhir_dose_is_never_rounded(tmp_path):
    order = fhir_order(
        tmp_path, doseAndRate=[{"doseQuantity": {"value": 1.125, "unit": "mg"}}]
    )
    assert order.dose == "1.125 mg"


def test_r5_as_needed_for_and_repeated_maxima_are_read_too(tmp_path):
    order = fhir_order(
        tmp_path,
        asNeeded=True,
        asNeededFor=[{"text": "Nausea"}],
        maxDosePerPeriod=[
            {
                "numerator": {"value": 800, "unit": "ug"},
                "denominator": {"value": 24, "code": "h"},
            }
        ],
    )
    assert (order.as_needed, order.as_needed_reason) == (True, "Nausea")
    assert order.max_dose == {"per_period": "800 ug", "period": 24, "period_unit": "h"}


def test_a_maximum_that_is_not_a_ratio_is_quarantined_naming_it(tmp_path):
    chart = [patient("p1"), medication("m1", "p1", "X", maxDosePerPeriod="4 g")]
    with pytest.raises(CommandError):
        call_command("import_fhir", str(write_ndjson(tmp_path, chart)))
    assert not MedicationOrder.objects.exists()
    held = QuarantinedResource.objects.get(resource_type="MedicationRequest")
    assert "maxDosePerPeriod is not a Ratio" in held.reason


def rde(*order: str, control: str = "C1") -> dict:
    raw = message("RDE^O11^RDE_O11", control, pid(), "ORC|NW|RX-1", *order)
    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


def test_an_hl7_prn_by_its_priority_keeps_its_condition_and_daily_maximum():
    rxe = "RXE|^Q8H|^Haloperidol 2 mg/mL|.5||mg" + "|" * 13 + "|2^mg&milligram"
    answer = rde(rxe, "TQ1|1||Q8H||||||PRN|Agitation")

    assert answer["code"] == "AA", answer
    order = MedicationOrder.objects.get()
    assert (order.as_needed, order.as_needed_reason) == (True, "Agitation")
    assert order.dose == ".5 mg"  # as sent; the pages write 0.5 mg
    assert order.timing == {"frequency": 1, "period": 8, "period_unit": "h"}
    assert order.max_dose == {"per_period": "2 mg", "period": 1, "period_unit": "d"}


@pytest.mark.parametrize("pattern", ["PRNQ6H", "Q6H PRN", "q6h prn"])
def test_an_hl7_prn_by_its_repeat_pattern_is_as_often_as_the_pattern(pattern):
    answer = rde(f"RXE|^{pattern}|^Tramadol 50 mg|50||mg", f"TQ1|1||{pattern}")

    assert answer["code"] == "AA", answer
    order = MedicationOrder.objects.get()
    assert order.as_needed
    assert order.as_needed_reason == ""  # TQ1-10 is empty
    assert order.timing == {"frequency": 1, "period": 6, "period_unit": "h"}
    assert order.max_dose == {}


def test_a_scheduled_hl7_order_keeps_no_prn_reason_and_reads_any_interval():
    answer = rde("RXE|^Q3H|^Paracetamol 1 g|1||g", "TQ1|1||Q3H||||||R|Fever")

    assert answer["code"] == "AA", answer
    order = MedicationOrder.objects.get()
    assert (order.as_needed, order.as_needed_reason) == (False, "")
    assert order.timing == {"frequency": 1, "period": 3, "period_unit": "h"}


def test_an_hl7_daily_maximum_without_units_is_in_the_dispense_units():
    """RXE-19 of a real pharmacy message: "19", dispensed in bags (RXE-11)."""
    raw = (FIXTURES / "microsoft-FHIR-Converter" / "RDE-O11-02.hl7").read_bytes()

    assert acknowledgement(hl7_receive(raw=raw, peer="x"))["code"] == "AA"
    order = MedicationOrder.objects.get(source_id__endswith=":1163422591")
    assert order.max_dose == {"per_period": "19 BG", "period": 1, "period_unit": "d"}
    assert not order.as_needed  # TQ1-9 is S (stat), its condition not a reason
    assert order.as_needed_reason == ""
