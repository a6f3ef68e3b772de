"""Doses given (RAS^O17) and dispensed (RDS^O13), as a nurse checks them on
the MAR: on their order, at the time given, with the amount, route and who
gave it; a refusal with why; a withdrawn record withdrawn."""

import pytest

from patients.models import (
    InboundMessage,
    MedicationAdministration,
    MedicationOrder,
    Patient,
)
from tests.patients.hl7 import (
    adt,
    extra,
    local,
    message,
    pid,
    pid_of,
    pv1,
    receive,
    wards,
)

pytestmark = pytest.mark.django_db

NURSE = "N7^NURSE^Nina^^^Mrs^^^GENERAL"


def rde(control: str = "C2", *, number: str = "RX-1", person: str = "") -> bytes:
    return message(
        "RDE^O11^RDE_O11",
        control,
        person or pid(),
        f"ORC|NW|{number}",
        "RXE|^BID|1234^Paracetamol 500 mg tablet|1000||mg",
        "RXR|PO^Oral",
        at="20261130070000",
    )


def ras(control: str, *rxa: str, at: str = "20261130081000", orc: str = "") -> bytes:
    return message(
        "RAS^O17^RAS_O17",
        control,
        pid(),
        orc or "ORC|RE|RX-1",
        *rxa,
        at=at,
    )


def rxa(
    given: str = "20261130080000",
    *,
    amount: str = "1000",
    status: str = "CP",
    action: str = "A",
    refusal: str = "",
    notes: str = "",
) -> str:
    fields = ["RXA", "0", "1", given, "", "1234^Paracetamol 500 mg tablet"]
    fields += [amount, "mg", "", notes, NURSE]
    fields += [""] * (18 - len(fields)) + [refusal, "", status, action]
    return "|".join(fields)


@pytest.fixture
def ordered():
    """MRN-1 admitted to WARD-A, with paracetamol ordered (RX-1)."""
    wards("WARD-A")
    assert receive(adt("A01", "C1", at="20261130060000"))["code"] == "AA"
    assert receive(rde())["code"] == "AA"
    return MedicationOrder.objects.get()


def test_a_dose_given_at_eight_is_on_its_order_with_amount_route_and_nurse(ordered):
    answer = receive(ras("D1", rxa(), "RXR|PO^Oral"))

    assert answer["code"] == "AA", answer
    dose = MedicationAdministration.objects.select_related("performer").get()
    assert dose.order == ordered
    assert dose.patient == ordered.patient
    assert local(dose.given_at) == "2026-11-30 08:00"
    assert (dose.drug, dose.drug_code) == ("Paracetamol 500 mg tablet", "1234")
    assert (dose.dose, dose.route) == ("1000 mg", "Oral")
    assert dose.status == MedicationAdministration.Status.COMPLETED
    assert dose.reason == ""
    assert str(dose.performer) == "Mrs Nina NURSE"
    assert (dose.source_feed, dose.source_type) == ("hl7", "MedicationAdministration")


def test_a_refused_dose_is_not_given_with_why(ordered):
    receive(ras("D1", rxa(amount="0", status="RE")))
    receive(
        ras(
            "D2",
            rxa("20261130200000", amount="0", status="RE", refusal="PTS^Asleep"),
            at="20261130201000",
        )
    )
    receive(
        ras(
            "D3",
            rxa("20261201080000", amount="999", status="NA", notes="^Nil by mouth"),
            at="20261201081000",
        )
    )
    # A refusal reason without a completion status: not given either.
    receive(
        ras(
            "D4",
            rxa("20261201200000", amount="0", status="", refusal="PTS^Nauseous"),
            at="20261201201000",
        )
    )

    doses = MedicationAdministration.objects.order_by("given_at")
    assert [(d.status, d.reason, d.dose) for d in doses] == [
        ("not-done", "refused", ""),
        ("not-done", "Asleep", ""),
        ("not-done", "Nil by mouth", ""),
        ("not-done", "Nauseous", ""),
    ]
    assert all(dose.order == ordered for dose in doses)


def test_a_dose_withdrawn_by_the_ehr_is_entered_in_error_on_the_same_row(ordered):
    receive(ras("D1", rxa()))
    receive(ras("D2", rxa(amount="500", action="U"), at="20261130083000"))
    dose = MedicationAdministration.objects.get()
    assert (dose.dose, dose.status) == ("500 mg", "completed")

    answer = receive(ras("D3", rxa(amount="500", action="D"), at="20261130090000"))

    assert answer["code"] == "AA", answer
    dose = MedicationAdministration.objects.get()
    assert dose.status == MedicationAdministration.Status.ENTERED_IN_ERROR
    assert dose.status in MedicationAdministration.WITHDRAWN


def test_an_older_record_of_a_dose_does_not_overwrite_a_newer_one(ordered):
    receive(ras("D2", rxa(amount="500", action="U"), at="20261130100000"))
    late = receive(ras("D1", rxa(amount="1000"), at="20261130081000"))

    assert late["code"] == "AA", late
    assert "older" in late["text"]
    assert MedicationAdministration.objects.get().dose == "500 mg"


def test_a_dose_without_its_time_is_an_error_that_changes_nothing(ordered):
    answer = receive(
        ras("D1", rxa(given=""), "RXR|PO^Oral", orc="ORC|RE|RX-1", at="20261130081000")
    )

    assert answer["code"] == "AE", answer
    assert answer["where"] == "RXA^1^3^1"
    assert answer["condition"] == "101"
    assert "RXA-3" in answer["error"]
    assert "when the dose was given is unknown" in answer["error"]
    assert "PEETERS" not in answer["raw"].split("ERR")[1]
    assert not MedicationAdministration.objects.exists()
    assert InboundMessage.objects.get(control_id="D1").status == "failed"


@pytest.mark.parametrize(
    ("segments", "where", "condition"),
    [
        ([], "ORC^1", "100"),
        (["ORC|RE|RX-1"], "ORC^1", "100"),
        (["ORC|RE", rxa()], "ORC^1^2^1", "101"),
        (["ORC|RE|RX-1", rxa(status="XX")], "RXA^1^20^1", "103"),
        (["ORC|RE|RX-1", rxa(action="Z")], "RXA^1^21^1", "103"),
        (["ORC|RE|RX-1", rxa(), rxa()], "RXA", "205"),
    ],
    ids=[
        "no-orc",
        "no-rxa",
        "no-order-number",
        "unknown-status",
        "unknown-action",
        "same-dose-twice",
    ],
)
def test_a_dose_message_without_what_it_needs_is_an_error_naming_it(
    ordered, segments, where, condition
):
    patients = list(Patient.objects.values_list("pk", "source_hash"))
    answer = receive(
        message(
            "RAS^O17^RAS_O17", "X1", pid(mrn="MRN-2"), *segments, at="20261130090000"
        )
    )

    assert answer["code"] == "AE", answer
    assert answer["where"].startswith(where), answer
    assert answer["condition"] == condition, answer
    assert not MedicationAdministration.objects.exists()
    assert list(Patient.objects.values_list("pk", "source_hash")) == patients


def test_a_shared_administration_sample_is_recorded_on_its_order():
    """A conformance sample (2.5.1, LF between segments) whose RXA leaves
    out the completion status: given, on the order its filler number names."""
    raw = extra("balneario-de-cofrentes-hl7v2/RAS-O17-01.hl7")
    wards("ICU")
    person = pid_of(raw)
    admit = message(
        "ADT^A01^ADT_A01",
        "C1",
        "EVN|A01|20260408080000",
        person,
        pv1(place="ICU^502^A", visit="V-ICU"),
        at="20260408080000",
    )
    assert receive(admit)["code"] == "AA"
    order = message(
        "RDE^O11^RDE_O11",
        "C2",
        person,
        "ORC|NW||ORD700",
        "RXE|^TID|325850^Amoxicillin 500mg|1||CAP",
        at="20260408090000",
    )
    assert receive(order)["code"] == "AA"

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    dose = MedicationAdministration.objects.get()
    assert dose.order == MedicationOrder.objects.get()
    assert (dose.drug, dose.drug_code) == ("Amoxicillin 500mg", "325850")
    assert (dose.dose, dose.route, dose.status) == ("1", "Oral", "completed")
    assert local(dose.given_at) == "2026-04-08 17:00"
    assert dose.performer is None


def test_two_doses_in_one_message_are_two_rows_without_an_order_the_mirror_has():
    """HAPI's sample, with the time and processing id it leaves out filled
    in: two RXA of one order, no RXR; the order is not in the mirror."""
    raw = extra("hapifhir-hapi-hl7v2/RAS-O17-01.hl7").replace(
        b"MSH|^~\\&|||||||RAS^O17^RAS_O17|00001||2.5",
        b"MSH|^~\\&|||||20171209080000||RAS^O17^RAS_O17|00001|P|2.5",
    )

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    doses = MedicationAdministration.objects.order_by("drug_code")
    assert [(d.drug_code.split("|")[:2], d.dose, d.order) for d in doses] == [
        (["0001", "Tylenol"], "10 mg", None),
        (["0002", "Advil"], "20 mg", None),
    ]
    assert [d.given_at.isoformat() for d in doses] == [
        "2017-12-09T08:10:55+00:00",
        "2017-12-09T09:10:55+00:00",
    ]
    assert {d.route for d in doses} == {""}
    assert Patient.objects.get().mrn == "7000135"


def test_a_dispense_is_kept_where_the_ehr_sends_no_doses_given():
    raw = extra("balneario-de-cofrentes-hl7v2/RDS-O13-01.hl7")
    receive(
        message(
            "RDE^O11^RDE_O11",
            "C1",
            pid_of(raw),
            "ORC|NW||ORD600",
            "RXE|^TID|325850^Amoxicillin 500mg|1||CAP",
            at="20260408090000",
        )
    )

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    row = MedicationAdministration.objects.get()
    assert row.status == MedicationAdministration.Status.DISPENSED
    assert row.status not in MedicationAdministration.GIVEN
    assert row.get_status_display() == "Dispensed, not recorded as given"
    assert row.order == MedicationOrder.objects.get()
    assert (row.drug, row.dose, row.route) == ("Amoxicillin 500mg", "30", "Oral")
    assert local(row.given_at) == "2026-04-08 16:00"
    assert row.source_type == "MedicationDispense"

    again = receive(raw.replace(b"|MSG037|", b"|MSG037-B|"))
    assert again["code"] == "AA", again
    assert MedicationAdministration.objects.count() == 1


def test_a_kitchen_sink_dispense_takes_its_own_route_and_not_the_pharmacist():
    """Microsoft's 2.8 sample: three RXR (the order's IV, then oral twice),
    a dispensing provider who did not give anything."""
    answer = receive(extra("microsoft-fhir-converter/RDS-O13-01.hl7"))

    assert answer["code"] == "AA", answer
    row = MedicationAdministration.objects.get()
    assert (row.drug, row.drug_code) == ("Doxycycline", "01151327")
    assert (row.dose, row.route) == ("10 Tablet", "oral")
    assert row.status == "dispensed"
    assert row.performer is None
    assert local(row.given_at) == "2020-12-12 00:00"


def test_a_dispense_without_its_time_is_an_error_that_changes_nothing():
    raw = extra("balneario-de-cofrentes-hl7v2/RDS-O13-01.hl7").replace(
        b"|20260408160000|30|", b"||30|"
    )

    answer = receive(raw)

    assert answer["code"] == "AE", answer
    assert answer["where"] == "RXD^1^3^1"
    assert "when the drug was dispensed is unknown" in answer["error"]
    assert not Patient.objects.exists()
    assert not MedicationAdministration.objects.exists()
