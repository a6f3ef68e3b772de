"""Values no test fixture has, read as HL7 v2 defines them and never past it:
NUL bytes in MSH, escape sequences the listener does not read, numbers as
Python's ``float`` would read them, an inpatient registered on no ward, a
patient with thousands of identifiers. Each is answered, and a neighbour on
the same feed is applied."""

import pytest

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.ingest.hl7v2.message import Message
from patients.models import Appointment, Encounter, InboundMessage, Observation, Patient
from tests.patients.hl7 import acknowledgement, adt, message, mirror, pid, wards

pytestmark = pytest.mark.django_db

OBR = "OBR|1|L-1||2345-7^Glucose^LN|||20261130090000"


def receive(raw: bytes) -> dict:
    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


@pytest.fixture
def admitted():
    wards("WARD-A", "CLIN-1")
    assert receive(adt("A01", "C0", place="WARD-A^R1^B1"))["code"] == "AA"
    return mirror()


@pytest.mark.parametrize("field", [3, 9, 10])
def test_a_nul_byte_in_msh_is_refused_and_the_message_kept(admitted, field):
    raw = adt("A08", "N1", family="RENAMED")
    fields = raw.split(b"\r")[0].split(b"|")
    fields[field - 1] += b"\x00X"
    raw = b"|".join(fields) + raw[raw.index(b"\r") :]

    answer = acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))

    assert answer["code"] == "AR", answer
    assert "NUL" in answer["error"]
    stored = InboundMessage.objects.get(status=InboundMessage.Status.REJECTED)
    assert bytes(stored.raw) == raw
    assert mirror() == admitted
    assert receive(adt("A08", "N2", family="NEXT"))["code"] == "AA"


def read(text: str, charset: str = "UNICODE UTF-8") -> Message:
    """A message whose PID-5.1 is ``text`` as written."""
    raw = (
        "MSH|^~\\&|EHR|GENERAL|DOWNTIME|GENERAL|20261130080000||ADT^A08|C1|P|2.5"
        f"||||||{charset}\rPID|1||MRN-1^^^GENERAL^MR||{text}^Anaïs"
    )
    return Message(raw.encode("utf-8" if "UTF" in charset else "latin-1"))


@pytest.mark.parametrize(
    ("written", "read_as"),
    [
        ("O\\F\\BRIEN", "O|BRIEN"),
        ("A\\.br\\B\\.sp2\\C", "A\rB\r\rC"),
        ("A\\.in+2\\B\\.in-2\\C", "A        BC"),
        ("CAF\\XC3A9\\", "CAFÉ"[:-1] + "é"),  # bytes in MSH-18's charset
        # Not read: kept as written, never refused, never dropped.
        ("A\\.spx\\B", "A\\.spx\\B"),
        ("A\\.sp999\\B", "A\\.sp999\\B"),  # at most 99
        ("A\\.sp50000000\\B", "A\\.sp50000000\\B"),
        ("A\\Zfoo\\B", "A\\Zfoo\\B"),  # an application's own
        ("A\\C2842\\B", "A\\C2842\\B"),  # a character set switch
        ("A\\X00\\B", "A\\X00\\B"),  # NUL
        ("A\\XC3\\B", "A\\XC3\\B"),  # half a UTF-8 character
        ("A\\XZZ\\B", "A\\XZZ\\B"),
        ("C:\\TEMP", "C:\\TEMP"),  # a stray escape character
        ("A\\\\B", "A\\\\B"),
    ],
)
def test_escape_sequences_are_read_as_hl7_defines_them(written, read_as):
    assert read(written).value("PID", 5) == read_as


def test_hex_escapes_are_bytes_of_the_messages_charset():
    assert read("CAF\\XE9\\", charset="8859/1").value("PID", 5) == "CAFé"


def test_an_escape_sequence_the_listener_does_not_read_is_applied_as_written(
    admitted,
):
    answer = receive(adt("A08", "E1", family="O\\Zx\\BRIEN"))

    assert answer["code"] == "AA", answer
    assert Patient.objects.get().family == "O\\Zx\\BRIEN"


def test_a_malformed_escape_in_a_time_is_an_error_naming_it(admitted):
    answer = receive(adt("A08", "E2", at="2026\\.spx\\1130"))

    assert answer["code"] == "AE", answer
    assert answer["where"] == "EVN^1^2^1"
    assert mirror() == admitted


def glucose_result(value: str) -> dict:
    """The answer to a glucose result whose OBX-5 is ``value`` (NM)."""
    return receive(
        message(
            "ORU^R01^ORU_R01",
            "R1",
            pid(),
            OBR,
            f"OBX|1|NM|2345-7^Glucose^LN||{value}|mmol/L|||||F",
        )
    )


@pytest.mark.parametrize(
    "value", ["1e5", "1_000", "nan", "inf", "0x1A", "\u0661\u0662", "5,1", "1.2.3"]
)
def test_a_number_hl7_would_not_write_is_an_error(admitted, value):
    answer = glucose_result(value)

    assert answer["code"] == "AE", answer
    assert answer["where"] == "OBX^1^5^1"
    assert not Observation.objects.exists()


@pytest.mark.parametrize(
    ("value", "number"), [("5.1", 5.1), ("-3", -3.0), (".5", 0.5), ("+007", 7.0)]
)
def test_a_number_as_hl7_writes_it_is_read(admitted, value, number):
    answer = glucose_result(value)

    assert answer["code"] == "AA", answer
    assert Observation.objects.get().value_number == number


@pytest.mark.parametrize(
    ("duration", "code"), [("30", "AA"), ("1e3", "AE"), ("-5", "AE"), ("9" * 12, "AE")]
)
def test_an_appointments_duration_is_a_number_of_minutes_up_to_a_year(
    admitted, duration, code
):
    answer = receive(
        message(
            "SIU^S12^SIU_S12",
            "S1",
            "SCH|P-1|F-1|||||^Follow-up||||^^30^20261201093000",
            pid(),
            f"AIL|1||CLIN-1^Room 2|||20261201093000|||{duration}|MIN",
        )
    )

    assert answer["code"] == code, answer
    if code == "AA":
        assert Appointment.objects.get().minutes == 30
    else:
        assert not Appointment.objects.exists()
        assert answer["where"] == "AIL^1^9^1"


def test_a_time_in_digits_of_another_script_is_an_error(admitted):
    answer = receive(adt("A08", "T1", at="\u0662\u0660\u0662\u0666" + "1130080000"))

    assert answer["code"] == "AE", answer
    assert mirror() == admitted


@pytest.mark.parametrize(("klass", "code"), [("I", "AE"), ("E", "AA"), ("O", "AA")])
def test_an_inpatient_registered_on_no_ward_is_an_error(admitted, klass, code):
    """A04 with an empty PV1-3: an inpatient's arrived stay would be on the
    census of no ward; an emergency or outpatient visit may wait for its place."""
    answer = receive(adt("A04", "R1", mrn="MRN-9", visit="V9", place="", klass=klass))

    assert answer["code"] == code, answer
    if code == "AE":
        assert answer["where"] == "PV1^1^3^1"
        assert mirror() == admitted
    else:
        stay = Encounter.objects.get(source_id__endswith="V9")
        assert (stay.status, stay.ward) == ("arrived", None)


def test_the_mrn_after_thousands_of_other_identifiers_is_found(admitted):
    others = "~".join(f"X{n}^^^OTHER^PI" for n in range(5000))
    raw = adt("A08", "M1", mrn=f"{others}~MRN-1", family="RENAMED")

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    assert Patient.objects.get().family == "RENAMED"
