"""An appointment's type and urgency, the same from either feed: what a
downtime postpones (every appointment that is not urgent, by default)."""

import pytest

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.ingest.rules import appointment_kind
from patients.models import Appointment
from tests.patients.fhir import patient
from tests.patients.hl7 import acknowledgement, message, pid, wards
from tests.printouts.conftest import load

pytestmark = pytest.mark.django_db

TABLE_0276 = "http://terminology.hl7.org/CodeSystem/v2-0276"


@pytest.mark.parametrize(
    ("code", "priority", "kind"),
    [
        ("EMERGENCY", None, ("EMERGENCY", True)),
        (" followup ", None, ("FOLLOWUP", False)),
        ("ROUTINE", 1, ("ROUTINE", True)),
        ("ROUTINE", 5, ("ROUTINE", False)),
        ("", None, ("", False)),
    ],
)
def test_only_an_emergency_or_the_highest_priority_is_urgent(code, priority, kind):
    assert appointment_kind(code, priority=priority) == kind


def fhir_appointment(aid: str, **extra) -> dict:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": "booked",
        "start": "2026-12-01T09:30:00+01:00",
        "participant": [{"actor": {"reference": "Patient/p1"}}],
        **extra,
    }


def test_fhir_gives_the_type_of_table_0276_and_its_priority():
    load(
        [
            patient("p1", mrn="MRN-1"),
            fhir_appointment(
                "a1",
                appointmentType={
                    "coding": [
                        {"system": "urn:local", "code": "X7"},
                        {"system": TABLE_0276, "code": "EMERGENCY"},
                    ]
                },
            ),
            fhir_appointment(
                "a2",
                appointmentType={"coding": [{"system": TABLE_0276, "code": "ROUTINE"}]},
            ),
            fhir_appointment("a3", priority=1),
            fhir_appointment("a4"),
        ]
    )
    kinds = dict(Appointment.objects.values_list("source_id", "appointment_type"))
    urgent = set(
        Appointment.objects.filter(urgent=True).values_list("source_id", flat=True)
    )
    assert kinds == {"a1": "EMERGENCY", "a2": "ROUTINE", "a3": "", "a4": ""}
    assert urgent == {"a1", "a3"}


def receive(raw: bytes) -> dict:
    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


def siu(trigger: str, control: str, reason: str, at: str) -> bytes:
    return message(
        f"SIU^{trigger}^SIU_S12",
        control,
        f"SCH|P-1|F-1|||||{reason}||||^^30^20261201093000",
        pid(),
        "AIL|1||CLIN-1^Room 2|||20261201093000",
        at=at,
    )


def test_hl7_gives_the_type_in_sch_7_kept_until_nulled():
    wards("CLIN-1")

    assert (
        receive(siu("S12", "C1", "EMERGENCY^Chest pain^HL70276", "20261130080000"))[
            "code"
        ]
        == "AA"
    )
    visit = Appointment.objects.get()
    assert (visit.appointment_type, visit.urgent) == ("EMERGENCY", True)

    receive(siu("S14", "C2", "", "20261130090000"))  # not sent: kept
    visit.refresh_from_db()
    assert (visit.appointment_type, visit.urgent) == ("EMERGENCY", True)

    receive(siu("S14", "C3", "FOLLOWUP^Control", "20261130100000"))
    visit.refresh_from_db()
    assert (visit.appointment_type, visit.urgent) == ("FOLLOWUP", False)

    receive(siu("S14", "C4", '""', "20261130110000"))  # HL7's null: cleared
    visit.refresh_from_db()
    assert (visit.appointment_type, visit.urgent) == ("", False)


def test_hl7_takes_a_table_0276_code_from_sch_8_when_sch_7_has_none():
    wards("CLIN-1")
    raw = siu("S12", "C1", "^Control|EMERGENCY", "20261130080000")

    assert receive(raw)["code"] == "AA"
    assert Appointment.objects.get().urgent is True
