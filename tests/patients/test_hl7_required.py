"""An AA means applied: every event sent without what it needs is answered AE
with an ERR naming the segment or field, and changes nothing; what the mirror
does not keep on purpose is answered AA and recorded as "ignored: why"."""

import pytest
from django.test import override_settings

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.models import Appointment, Encounter, InboundMessage, LabOrder
from tests.patients.hl7 import acknowledgement, adt, message, mirror, pid, pv1, wards

pytestmark = pytest.mark.django_db

EVN = "EVN|A01|20261130090000"
ORC = "ORC|NW|L-1||||||||||D1^HOUSE^GREGORY"
OBR = "OBR|1|L-1||2345-7^Glucose^LN|||20261130090000"
RXE = "RXE|^BID|1234^Paracetamol|1000||mg"
SCH = "SCH|P-1|F-1|||||^Follow-up||||^^30^20261201093000"
AIL = "AIL|1||CLIN-1^Room 2|||20261201093000"


def receive(raw: bytes) -> dict:
    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


def inbox(control: str) -> InboundMessage:
    return InboundMessage.objects.get(control_id=control)


@pytest.fixture
def admitted():
    """MRN-1 in WARD-A's bed B1, admitted by visit V1."""
    wards("WARD-A", "WARD-B", "CLIN-1")
    assert receive(adt("A01", "C0", place="WARD-A^R1^B1"))["code"] == "AA"
    return mirror()


STAY_EVENTS = ["A01", "A02", "A03", "A04", "A05", "A06", "A07"]
STAY_EVENTS += ["A11", "A12", "A13", "A21", "A22"]


@pytest.mark.parametrize("trigger", STAY_EVENTS)
def test_a_stay_event_without_pv1_is_an_error_and_changes_nothing(admitted, trigger):
    raw = message(
        f"ADT^{trigger}^ADT_A01",
        f"X-{trigger}",
        f"EVN|{trigger}|20261130090000",
        pid(family="RENAMED"),
        at="20261130090000",
    )
    answer = receive(raw)

    assert answer["code"] == "AE", answer
    assert answer["where"] == "PV1^1"
    assert answer["condition"] == "100"
    assert "PV1" in answer["error"]
    assert mirror() == admitted  # not even the patient's new name
    assert inbox(f"X-{trigger}").status == InboundMessage.Status.FAILED


@pytest.mark.parametrize("trigger", ["A01", "A02", "A06", "A12", "A13", "A22"])
def test_a_stay_event_that_places_nobody_anywhere_is_an_error(admitted, trigger):
    """PV1-3 empty: an inpatient stay on no ward is on no census."""
    answer = receive(
        adt(
            trigger,
            f"X-{trigger}",
            mrn="MRN-9",
            visit="V9",
            place="",
            at="20261130090000",
        )
    )

    assert answer["code"] == "AE", answer
    assert answer["where"] == "PV1^1^3^1"
    assert answer["condition"] == "101"
    assert mirror() == admitted
    assert not Encounter.objects.filter(ward__isnull=True).exists()


def test_a_transfer_or_discharge_that_leaves_pv1_3_empty_keeps_the_stays_ward(
    admitted,
):
    """Without PV1-3, an event about a stay the mirror places keeps its place."""
    assert receive(adt("A08", "U1", place="", at="20261130090000"))["code"] == "AA"
    assert receive(adt("A03", "D1", place="", at="20261130100000"))["code"] == "AA"
    stay = Encounter.objects.get()
    assert (stay.status, stay.ward.name) == ("finished", "WARD-A")


@pytest.mark.parametrize("trigger", ["A08", "A31"])
def test_a_patient_update_without_pv1_updates_the_patient(admitted, trigger):
    raw = message(
        f"ADT^{trigger}^ADT_A01",
        f"U-{trigger}",
        f"EVN|{trigger}|20261130090000",
        pid(family="RENAMED"),
        at="20261130090000",
    )
    answer = receive(raw)

    assert answer["code"] == "AA", answer
    assert inbox(f"U-{trigger}").status == InboundMessage.Status.APPLIED
    assert mirror()[0] != admitted[0]
    assert mirror()[1:] == admitted[1:]


@pytest.mark.parametrize(
    ("kind", "segments", "where", "condition"),
    [
        ("ADT^A01^ADT_A01", [EVN, pv1()], "PID^1", "100"),
        ("ADT^A40^ADT_A39", [EVN, pid(mrn="MRN-2")], "MRG^1^1^1", "101"),
        ("ADT^A60^ADT_A60", [EVN, pid()], "AL1^1", "101"),
        ("ORM^O01^ORM_O01", [pid()], "ORC^1", "100"),
        ("ORM^O01^ORM_O01", [pid(), ORC], "ORC^1^1^1", "100"),
        ("OML^O21^OML_O21", [pid(), ORC, "OBR|1|L-1"], "OBR^1^4^1", "101"),
        ("ORU^R01^ORU_R01", [pid(), "OBX|1|NM|||5.1"], "OBR^1", "100"),
        ("ORU^R01^ORU_R01", [pid(), OBR, "OBX|1|NM|||5.1"], "OBX^1^3^1", "101"),
        ("RDE^O11^RDE_O11", [pid(), ORC], "ORC^1^1^1", "100"),
        ("RDE^O11^RDE_O11", [pid(), RXE], "ORC^1", "100"),
        ("SIU^S12^SIU_S12", [pid(), AIL], "SCH^1", "100"),
        ("SIU^S12^SIU_S12", [SCH, pid()], "AIL^1^3^1", "101"),
        ("SIU^S12^SIU_S12", [SCH.replace("^^30^20261201093000", ""), pid()], "", ""),
    ],
    ids=[
        "adt-without-pid",
        "a40-without-mrg",
        "a60-without-al1",
        "orm-without-orc",
        "orm-without-obr",
        "oml-without-test",
        "oru-without-obr",
        "oru-without-what-was-observed",
        "rde-without-rxe",
        "rde-without-orc",
        "siu-without-sch",
        "siu-without-clinic",
        "siu-without-start",
    ],
)
def test_a_message_without_what_it_needs_is_an_error_naming_it(
    admitted, kind, segments, where, condition
):
    answer = receive(message(kind, "X1", *segments, at="20261130090000"))

    assert answer["code"] == "AE", answer
    if where:
        assert answer["where"] == where, answer
        assert answer["condition"] == condition, answer
    assert answer["error"]
    assert mirror() == admitted
    assert not LabOrder.objects.exists()
    assert not Appointment.objects.exists()
    assert inbox("X1").status == InboundMessage.Status.FAILED


@pytest.mark.parametrize(
    ("kind", "segments", "why"),
    [
        ("ADT^A47^ADT_A30", [EVN, pid()], "ADT^A47 is not kept"),
        ("DFT^P03^DFT_P03", [pid()], "DFT^P03 is not kept"),
        (
            "ORM^O01^ORM_O01",
            [pid(), ORC, OBR + "|" * 17 + "CT"],  # OBR-24: computed tomography
            "imaging orders are not kept",
        ),
        (
            "ORU^R01^ORU_R01",
            [pid(), OBR, "OBX|1|NM|2345-7^Glucose^LN||||||||P"],
            "no result has a value yet",
        ),
    ],
    ids=["adt-a47", "dft", "imaging-order", "result-without-value"],
)
def test_what_the_mirror_does_not_keep_is_acknowledged_as_ignored_with_why(
    admitted, kind, segments, why
):
    answer = receive(message(kind, "I1", *segments, at="20261130090000"))

    assert answer["code"] == "AA", answer
    row = inbox("I1")
    assert row.status == InboundMessage.Status.IGNORED
    assert row.outcome.startswith("ignored: ")
    assert why in row.outcome
    assert mirror() == admitted
    assert not LabOrder.objects.exists()


@pytest.mark.parametrize("version", ["2.1", "2.2", "2.9", "3.0", "2.5.3"])
def test_a_version_outside_the_list_is_refused_as_unsupported(admitted, version):
    raw = adt("A08", "V1", family="RENAMED").replace(
        b"|P|2.5|", f"|P|{version}|".encode()
    )
    answer = receive(raw)

    assert answer["code"] == "AR", answer
    assert answer["condition"] == "203"
    assert answer["where"] == "MSH^1^12^1"
    assert version in answer["error"]
    assert mirror() == admitted
    assert inbox("V1").status == InboundMessage.Status.REJECTED


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5.1", "2.6", "2.8"])
def test_each_version_from_2_3_to_2_8_is_read(admitted, version):
    raw = adt("A08", "V1", family="RENAMED").replace(
        b"|P|2.5|", f"|P|{version}|".encode()
    )
    assert receive(raw)["code"] == "AA"
    assert mirror()[0] != admitted[0]


@override_settings(HL7_VERSIONS=["2.5.1"])
def test_the_versions_read_are_configured(admitted):
    raw = adt("A08", "V1", family="RENAMED")
    answer = receive(raw)
    assert answer["code"] == "AR"
    assert "HL7_VERSIONS" in answer["error"]


def test_an_event_older_than_the_mirror_is_ignored_and_says_so(admitted):
    assert receive(adt("A02", "M1", place="WARD-B^R1^B1", at="20261130100000"))[
        "code"
    ] == ("AA")
    moved = mirror()
    answer = receive(adt("A02", "M0", place="WARD-A^R2^B2", at="20261130090000"))

    assert answer["code"] == "AA", answer
    assert inbox("M0").status == InboundMessage.Status.IGNORED
    assert inbox("M0").outcome.startswith("ignored: older than what the mirror holds")
    assert mirror() == moved


def test_a_time_the_database_cannot_give_back_is_an_error(admitted):
    """Year 1 at +14:00 is a day before year 1 in UTC."""
    answer = receive(adt("A08", "T1", at="00010101000000+1400"))

    assert answer["code"] == "AE", answer
    assert answer["where"] == "EVN^1^2^1"
    assert mirror() == admitted


def test_a_control_id_outside_ascii_comes_back_as_sent(admitted):
    answer = receive(adt("A08", "¡Ñ-1", family="RENAMED"))
    assert (answer["code"], answer["control"]) == ("AA", "¡Ñ-1")
