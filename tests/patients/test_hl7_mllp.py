"""The real listener (``manage.py run_mllp``) over TCP, fed by python-hl7's
MLLP client: the shared fixtures, broken input, and a kill mid-flight."""

import contextlib
import re
import socket
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from hl7 import parse_batch, parse_file

from patients.ingest import rules
from patients.models import (
    Allergy,
    Appointment,
    Encounter,
    InboundMessage,
    LabOrder,
    MedicationOrder,
    Observation,
    Patient,
)
from tests.patients.hl7 import FIXTURES, Sender, adt, listener, mirror, wards

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]
S = Encounter.Status


def fixture(name: str) -> bytes:
    found = list(FIXTURES.rglob(name))
    assert len(found) == 1, name
    return found[0].read_bytes()


def stay_of(mrn: str) -> Encounter:
    return Encounter.objects.select_related("ward", "room", "bed").get(patient__mrn=mrn)


@pytest.fixture
def hospital(db):
    """The wards the fixtures' PV1-3 name."""
    wards(
        "HUH AE OMU",
        "6402DH",
        "MBN1",
        "RADUnit01",
        "LABUnit01",
        "PREOP",
        "Ward",
        "055",
        "LabUnit101",
        "4E",
    )


def test_every_shared_fixture_gets_the_right_answer_and_changes_the_mirror(
    hospital, test_database_url, tmp_path
):
    # Several samples are marked as training messages (MSH-11 T): this
    # listener is set, as a test interface would be, to apply them too.
    env = {"HL7_PROCESSING_IDS": "P,T"}
    with listener(test_database_url, tmp_path / "mllp.log", **env) as (port, _p):
        sender = Sender(port)
        answers = {}

        def send(name: str) -> dict:
            answers[name] = answer = sender.send(fixture(name))
            return answer

        # The v2.8 samples tell one patient's stay, in this order.
        assert send("ADT-A01-01.hl7")["code"] == "AA"
        here = stay_of("PATID1234")
        assert (here.ward.name, here.room.name, here.bed.name) == (
            "HUH AE OMU",
            "OMU B",
            "Bed 03",
        )
        assert here.status == S.IN_PROGRESS
        everyman = Patient.objects.get(mrn="PATID1234")
        assert (everyman.family, everyman.given) == ("EVERYMAN", "ADAM A")
        assert everyman.allergies.exists()  # its AL1 segments
        assert send("ADT-A08-01.hl7")["code"] == "AA"
        assert send("ADT-A02-01.hl7")["code"] == "AA"
        assert stay_of("PATID1234").status == S.IN_PROGRESS
        assert send("ADT-A03-01.hl7")["code"] == "AA"
        assert stay_of("PATID1234").status == S.FINISHED
        assert send("ADT-A13-01.hl7")["code"] == "AA"
        assert stay_of("PATID1234").status == S.IN_PROGRESS
        assert send("ADT-A11-01.hl7")["code"] == "AA"
        assert stay_of("PATID1234").status == S.CANCELLED
        for name in ("ADT-A01-02.hl7", "ADT-A02-02.hl7", "ADT-A03-02.hl7"):
            assert send(name)["code"] == "AA", answers[name]
        assert stay_of("PATID1234").status == S.FINISHED
        assert send("ADT-A08-02.hl7")["code"] == "AA"
        assert stay_of("PATID1234").status == S.FINISHED  # an update keeps it
        assert send("ADT-A04-02.hl7")["code"] == "AA"
        assert stay_of("PATID1234").status == S.ARRIVED

        # Other senders' real messages.
        assert send("sample_msh_adt_a01_v23.hl7")["code"] == "AA"
        mbn = stay_of("2148790")
        assert (mbn.ward.name, mbn.room.name, mbn.bed.name) == ("MBN1", "MBN1", "06")
        assert send("adt_a03.txt")["code"] == "AA"
        assert stay_of("5520255").status == S.FINISHED
        assert stay_of("5520255").ward.name == "6402DH"
        assert send("adt_a04_mesa.hl7")["code"] == "AA"
        assert Allergy.objects.filter(patient__mrn="583295").count() == 2
        assert send("ADT04-251.hl7")["code"] == "AA"
        assert Patient.objects.filter(mrn="MRN12345").exists()
        assert send("ADT-A40-01.hl7")["code"] == "AA"
        assert Patient.objects.filter(mrn="12345").exists()

        # Misnamed upstream: an A60 without a single allergy segment. It
        # must not empty the patient's list.
        before = Allergy.objects.filter(patient__mrn="PATID1234").count()
        a60 = send("SIU_12.hl7")
        assert a60["code"] == "AE"
        assert "AL1" in a60["error"]
        assert Allergy.objects.filter(patient__mrn="PATID1234").count() == before

        # Batches are refused whole, with the reason; their messages one by
        # one go through.
        for name, parse in (
            ("sample_batch_adt_a04.hl7", parse_batch),
            ("sample_file_fhs_adt_a04.hl7", parse_file),
        ):
            answer = send(name)
            assert answer["code"] == "AR"
            assert "batch" in answer["error"]
            text = fixture(name).decode().replace("\n", "\r")
            for inner in _messages(parse(text)):
                assert sender.send(str(inner).encode())["code"] == "AA"
        # Both files hold the same message: the second time, a duplicate.
        assert InboundMessage.objects.filter(status="duplicate").count() == 1
        assert Patient.objects.filter(mrn="0000112234").exists()

        # Lab orders, results, pharmacy orders, appointments.
        assert send("LAB-ORM-1.hl7")["code"] == "AA"
        order = LabOrder.objects.get(patient__mrn="10006579")
        assert (order.order_number, order.status) == ("88502218", "active")
        assert order.test == "Hemogram and platelet count, automated"
        ordered_at = order.source_updated_at
        # Two of its ten results are "in process", without a value: not
        # shown yet. OBR-25 says final, which closes the order.
        answer = send("LAB-ORU-1.hl7")
        assert answer["text"] == "8 results, 1 orders closed"
        assert not Observation.objects.filter(name="HEMOGLOBIN").exists()
        order.refresh_from_db()
        assert order.status == "completed"
        # The result is timed before its order: the row's time stays.
        assert order.source_updated_at == ordered_at
        assert order.source_hash == rules.row_hash(order)  # what it shows now
        assert send("LAB-ORU-2.hl7")["code"] == "AA"
        hb = Observation.objects.get(patient__mrn="10006579", name="HEMOGLOBIN")
        assert (hb.value, hb.category) == ("13.4", "laboratory")
        for name in (
            "LRI_2.0-NG_CBC_Typ_Message.hl7",
            "ORU-R01-01.hl7",
            "MDHHS-OML-O21-1.hl7",
            "OML-O21-01.hl7",
            "OML-O21-02.hl7",
            "ORM-O01-01.hl7",
            "ORM-O01-02.hl7",
            "ORM-O01-03.hl7",
        ):
            assert send(name)["code"] == "AA", answers[name]
        assert LabOrder.objects.filter(patient__mrn="MRNTC09SA-Part A").exists()
        assert send("OML-O21-03.hl7")["text"] == "5 lab orders"
        cancelled = LabOrder.objects.get(order_number="NI-2")  # ORC-1 CA
        assert cancelled.status == "revoked"
        assert send("RDE-O11-02.hl7")["text"] == "2 medication orders"
        first = MedicationOrder.objects.get(source_id__endswith=":1163422591")
        assert (first.dose, first.route, first.frequency) == (
            "5 mg/hr",
            "IV Infusion",
            "TID",
        )
        assert first.timing == {"frequency": 3, "period": 1, "period_unit": "d"}
        assert first.status == "active"
        assert send("RDE-O11-01.hl7")["code"] == "AA"
        assert send("SIU-S12-01.hl7")["text"] == "appointment new"
        visit = Appointment.objects.get()
        assert (visit.clinic.name, visit.status, visit.minutes) == ("055", "booked", 50)
        # The same appointment in older messages changes nothing.
        assert send("SIU-S12-02.hl7")["text"] == "appointment older"
        assert send("SIU-S12_1.hl7")["text"] == "appointment older"
        send("SIU-S14-01.hl7")
        assert send("SIU-S15-01.hl7")["code"] == "AA"
        assert Appointment.objects.get().status == "cancelled"
        assert send("SIU-S26-01.hl7")["code"] == "AA"
        assert Appointment.objects.get().status == "noshow"

        # The HL7 standard's ORU example has a birth date of nine digits.
        oru = send("sample_hl7_oru_r01.hl7")
        assert oru["code"] == "AE"
        assert oru["where"] == "PID^1^7^1"

        # nHapi's order dialogue, message by message.
        raw = fixture("OML_O21_messages.txt")
        for part in [p for p in re.split(rb"\r?\n\s*\r?\n", raw) if p.strip()]:
            answer = sender.send(part)
            if b"|||OML^O21||" in part:  # two of them lack MSH-10
                assert answer["code"] == "AR", answer
                assert "MSH-10" in answer["error"]
            else:
                assert answer["code"] == "AA", answer
        unsent = (
            {p.name for p in FIXTURES.rglob("*") if p.suffix in (".hl7", ".txt")}
            - set(answers)
            - {"OML_O21_messages.txt"}
        )
        assert not unsent
        sender.close()

    statuses = set(InboundMessage.objects.values_list("status", flat=True))
    assert statuses <= {"applied", "ignored", "failed", "rejected", "duplicate"}
    assert InboundMessage.objects.filter(status="rejected").count() == 4
    # The A60 without allergies, and the ORU with a nine-digit birth date.
    assert InboundMessage.objects.filter(status="failed").count() == 2
    assert not InboundMessage.objects.filter(status="received").exists()


def _messages(container) -> list:
    """The messages of a parsed batch or file, however deep."""
    found = []
    for item in container:
        if type(item).__name__ == "Message":
            found.append(item)
        elif type(item).__name__ in ("Batch", "File"):
            found.extend(_messages(item))
    return found


def test_one_connection_carries_a_story_and_the_census_follows(
    client, test_database_url, tmp_path
):
    """Admit, transfer, order, result, allergy, discharge; a merge; a cancel:
    the census pages show each step as the nurse expects."""
    from django.contrib.auth.models import Group
    from django.urls import reverse

    from patients.models import Location
    from tests.patients.hl7 import message, pid
    from tests.printouts.test_views import person

    wards("WARD-A", "WARD-B")
    Group.objects.get_or_create(name="nurse")  # flushed by an earlier test
    a, b = (Location.objects.get(name=n) for n in ("WARD-A", "WARD-B"))
    client.force_login(person("anne", "nurse", a, b))

    def census(ward, page: str = "patients:census") -> str:
        answer = client.get(reverse(page, args=[ward.pk]))
        assert answer.status_code == 200
        return answer.content.decode()

    def pending(ward) -> str:
        return census(ward, "patients:pending-labs")

    order = "\r".join(
        [
            "ORC|NW|LAB-77||||||||||D1^HOUSE^GREGORY",
            "OBR|1|LAB-77||2345-7^Glucose^LN|||20261130093000",
        ]
    )
    result = "\r".join(
        [
            "OBR|1|LAB-77||2345-7^Glucose^LN|||20261130093000|||||||||||||||||F",
            "OBX|1|NM|2345-7^Glucose^LN||14.2|mmol/L|3.9-7.8|H|||F",
        ]
    )
    story = [
        (adt("A01", "S1", place="WARD-A^R1^B1", at="20261130080000"), census, a, "B1"),
        (adt("A02", "S2", place="WARD-B^R4^B7", at="20261130090000"), census, b, "B7"),
        (
            message("ORM^O01^ORM_O01", "S3", pid(), *order.split("\r")),
            pending,
            b,
            "LAB-77",
        ),
        (
            message(
                "ORU^R01^ORU_R01",
                "S4",
                pid(),
                *result.split("\r"),
                at="20261130093500",
            ),
            census,
            b,
            "PEETERS",
        ),
        (
            message(
                "ADT^A60^ADT_A60",
                "S5",
                "EVN|A60|20261130100000",
                pid(),
                "AL1|1|DA|PEN^Penicillin|SV|Anaphylaxis",
                at="20261130100000",
            ),
            census,
            b,
            "Penicillin",
        ),
    ]
    with listener(test_database_url, tmp_path / "mllp.log") as (port, _process):
        sender = Sender(port)
        for raw, page, ward, shown in story:
            assert sender.send(raw)["code"] == "AA"
            assert shown in page(ward)
        assert "PEETERS" not in census(a)  # moved to WARD-B
        closed = LabOrder.objects.get()
        assert closed.status == "completed"  # by the result, later than the order
        assert closed.source_updated_at == (
            InboundMessage.objects.get(control_id="S4").event_at
        )
        assert "LAB-77" not in pending(b)
        assert (
            "14.2"
            in client.get(
                reverse("patients:patient", args=[Patient.objects.get().pk])
            ).content.decode()
        )

        # Discharged: off the census.
        assert (
            sender.send(adt("A03", "S6", place="WARD-B^R4^B7", at="20261130110000"))[
                "code"
            ]
            == "AA"
        )
        assert "PEETERS" not in census(b)

        # A second record of another patient, then merged into a third one.
        sender.send(
            adt(
                "A01",
                "S7",
                mrn="TMP-1",
                family="JANSSENS",
                visit="V2",
                place="WARD-A^R2^B2",
                at="20261130120000",
            )
        )
        assert "TMP-1" in census(a)
        merge = message(
            "ADT^A40^ADT_A39",
            "S8",
            "EVN|A40|20261130121000",
            pid(mrn="MRN-2", family="JANSSENS", given="Piet"),
            "MRG|TMP-1^^^GENERAL^MR",
            at="20261130121000",
        )
        assert sender.send(merge)["code"] == "AA"
        page = census(a)
        assert "MRN-2" in page
        assert "TMP-1" not in page

        # The admission was a mistake: cancelled, off the census.
        cancel = adt(
            "A11",
            "S9",
            mrn="MRN-2",
            family="JANSSENS",
            visit="V2",
            place="WARD-A^R2^B2",
            at="20261130122000",
        )
        assert sender.send(cancel)["code"] == "AA"
        assert "JANSSENS" not in census(a)
        sender.close()


GOOD = adt("A01", "OK-1", place="WARD-A^R1^B1")
_PID = "PID|1||MRN-7^^^GENERAL^MR||JANSSENS^Piet||19600101|M"


def _with(control: str, *segments: str, kind: str = "ADT^A01^ADT_A01") -> bytes:
    from tests.patients.hl7 import message

    return message(kind, control, *segments)


# (what is wrong, bytes, expected code, what the answer must name)
BROKEN = [
    ("truncated in MSH", GOOD[:40], "AR", "MSH-9"),
    ("truncated in PID", GOOD[: GOOD.index(b"PID") + 20], "AE", "PID-5"),
    ("empty frame", b"", "AR", "MSH"),
    ("no MSH", b"PID|1||MRN-7||X^Y\rPV1|1|I|WARD-A", "AR", "MSH"),
    ("EVN first", b"EVN|A01|20261130\r" + GOOD, "AR", "MSH"),
    ("wrong field separator", GOOD.replace(b"|", b"#", 1), "AR", "MSH-2"),
    ("separators swapped", GOOD.replace(b"\rPID|", b"\rPID^", 1), "AR", "segment 3"),
    ("alphanumeric delimiters", b"MSHA^~\\&AEHR" + GOOD[12:], "AR", "MSH-2"),
    ("MSH-2 too short", GOOD.replace(b"^~\\&", b"^~", 1), "AR", "MSH-2"),
    ("no message type", GOOD.replace(b"ADT^A01^ADT_A01", b"", 1), "AR", "MSH-9"),
    ("no control id", GOOD.replace(b"|OK-1|", b"||", 1), "AR", "MSH-10"),
    ("no version", GOOD.replace(b"|P|2.5|", b"|P||", 1), "AR", "MSH-12"),
    ("a training message", GOOD.replace(b"|P|2.5|", b"|T|2.5|", 1), "AR", "MSH-11"),
    (
        "no time at all",
        GOOD.replace(b"|20261130080000||", b"|||", 1).replace(
            b"EVN|A01|20261130080000", b"EVN|A01|"
        ),
        "AE",
        "MSH-7",
    ),
    ("a batch", b"BHS|^~\\&|EHR\r" + GOOD + b"BTS|1\r", "AR", "batch"),
    ("two messages in a frame", GOOD + GOOD.replace(b"OK-1", b"OK-2"), "AR", "batch"),
    ("lower-case segment", GOOD.replace(b"\rPID|", b"\rpid|", 1), "AR", "segment 3"),
    # (without MLLP's own start and end bytes, which would frame it anew)
    (
        "binary garbage",
        bytes(b for b in range(256) if b not in (11, 28)) * 4,
        "AR",
        "MSH",
    ),
    ("NUL bytes", GOOD.replace(b"PEETERS", b"PEE\x00TERS"), "AR", "NUL"),
    (
        "Latin-1 bytes declared UTF-8",
        GOOD.replace("Anaïs".encode(), "Anaïs".encode("latin-1")),
        "AR",
        "UNICODE UTF-8",
    ),
    (
        "unknown charset",
        GOOD.replace(b"UNICODE UTF-8", b"EBCDIC-37"),
        "AR",
        "MSH-18",
    ),
    (
        "missing PID-3",
        _with("B1", "EVN|A01|20261130", "PID|1||||X^Y", "PV1|1|I|WARD-A"),
        "AE",
        "PID-3",
    ),
    (
        "missing PID",
        _with("B2", "EVN|A01|20261130", "PV1|1|I|WARD-A"),
        "AE",
        "PID: is missing",
    ),
    (
        "no name",
        _with("B3", "EVN|A01|20261130", "PID|1||MRN-7^^^G^MR", "PV1|1|I|WARD-A"),
        "AE",
        "PID-5",
    ),
    (
        "MRN of 80 characters",
        _with(
            "B4", "EVN|A01|20261130", f"PID|1||{'9' * 80}^^^G^MR||X^Y", "PV1|1|I|WARD-A"
        ),
        "AE",
        "PID-3",
    ),
    (
        "invalid birth date",
        _with(
            "B5",
            "EVN|A01|20261130",
            _PID.replace("19600101", "19601301"),
            "PV1|1|I|WARD-A",
        ),
        "AE",
        "PID-7",
    ),
    (
        "birth date in words",
        _with(
            "B6",
            "EVN|A01|20261130",
            _PID.replace("19600101", "1 Jan 1960"),
            "PV1|1|I|WARD-A",
        ),
        "AE",
        "PID-7",
    ),
    (
        "invalid event time",
        _with("B7", "EVN|A01|20261332", _PID, "PV1|1|I|WARD-A"),
        "AE",
        "EVN-2",
    ),
    (
        "invalid time zone",
        _with("B8", "EVN|A01|20261130080000+9900", _PID, "PV1|1|I|WARD-A"),
        "AE",
        "EVN-2",
    ),
    (
        "invalid admit time",
        _with(
            "B9", "EVN|A01|20261130", _PID, "PV1|1|I|WARD-A" + "|" * 41 + "2026-11-30"
        ),
        "AE",
        "PV1-44",
    ),
    (
        "invalid death date",
        _with(
            "B10", "EVN|A01|20261130", _PID + "|" * 21 + "yesterday|Y", "PV1|1|I|WARD-A"
        ),
        "AE",
        "PID-29",
    ),
    (
        "unknown ward",
        _with("B11", "EVN|A01|20261130", _PID, "PV1|1|I|WARD-Z^1^2"),
        "AE",
        "PV1-3",
    ),
    (
        "transfer to nowhere",
        _with("B12", "EVN|A02|20261130", _PID, "PV1|1|I|", kind="ADT^A02^ADT_A02"),
        "AE",
        "PV1-3",
    ),
    (
        "unknown order control code",
        _with(
            "B13",
            _PID,
            "ORC|ZZ|LAB-1",
            "OBR|1|LAB-1||2345-7^Glucose^LN",
            kind="ORM^O01^ORM_O01",
        ),
        "AE",
        "ORC-1",
    ),
    (
        "merge without MRG",
        _with("B14", "EVN|A40|20261130", _PID, kind="ADT^A40^ADT_A39"),
        "AE",
        "MRG-1",
    ),
    (
        "A60 without allergies",
        _with("B15", "EVN|A60|20261130", _PID, kind="ADT^A60^ADT_A60"),
        "AE",
        "AL1",
    ),
    (
        "allergy without allergen",
        _with("B16", "EVN|A60|20261130", _PID, "AL1|1|DA||SV", kind="ADT^A60^ADT_A60"),
        "AE",
        "AL1-3",
    ),
    (
        "invalid allergy date",
        _with(
            "B17",
            "EVN|A60|20261130",
            _PID,
            "AL1|1|DA|PEN^Penicillin|SV||31/12/2020",
            kind="ADT^A60^ADT_A60",
        ),
        "AE",
        "AL1-6",
    ),
    (
        "oversized",
        b"MSH|^~\\&|EHR|G|D|G|20261130||ADT^A08|BIG|P|2.5\rNTE|1||" + b"x" * 70_000,
        "AR",
        "65536",
    ),
]


def test_broken_messages_get_ae_or_ar_with_the_reason_and_change_nothing(
    test_database_url, tmp_path
):
    assert len(BROKEN) >= 30
    wards("WARD-A")
    env = {"HL7_MAX_MESSAGE_BYTES": "65536"}
    with listener(test_database_url, tmp_path / "mllp.log", **env) as (port, _p):
        sender = Sender(port)
        assert sender.send(GOOD)["code"] == "AA"
        before = mirror()
        for what, raw, code, named in BROKEN:
            answer = sender.send(raw)
            assert answer["code"] == code, (what, answer)
            assert named in answer["error"], (what, answer)
            assert answer["text"], (what, answer)  # MSA-3, for older engines
        # Bytes outside any frame are kept, not answered; the next message is.
        sender.client.socket.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert sender.send(adt("A08", "OK-2", place="WARD-A^R1^B1"))["code"] == "AA"
        sender.close()
    assert mirror()[1:] == before[1:]
    assert mirror()[0] == before[0]  # the A08 changed nothing that was shown
    assert InboundMessage.objects.filter(status="applied").count() == 2
    kept = InboundMessage.objects.exclude(status="applied")
    assert kept.count() == len(BROKEN) + 1  # and the stray bytes
    assert set(kept.values_list("status", flat=True)) == {"failed", "rejected"}
    assert all(m.error for m in kept)
    big = kept.get(control_id="BIG")
    assert len(bytes(big.raw)) == 65536


def test_a_listener_killed_mid_flight_loses_nothing_acknowledged_and_applies_once(
    test_database_url, tmp_path
):
    """The interface engine's way: resend whatever was not acknowledged."""
    import signal

    wards("WARD-A")
    total = 300
    messages = [
        adt("A01", f"K{n}", mrn=f"MRN-{n}", visit=f"V{n}", place=f"WARD-A^R{n}^B{n}")
        for n in range(total)
    ]
    acknowledged: set[int] = set()
    pending = list(range(total))
    killed = False
    for attempt in range(3):
        log = tmp_path / f"mllp-{attempt}.log"
        with listener(test_database_url, log) as (port, process):
            sender = Sender(port)
            try:
                while pending:
                    number = pending[0]
                    if len(acknowledged) == total // 3 and not killed:
                        # The next message is sent, and the process dies
                        # while it is being stored or applied.
                        sender.client.socket.sendall(
                            b"\x0b" + messages[number] + b"\x1c\r"
                        )
                        process.send_signal(signal.SIGKILL)
                        process.wait()
                        killed = True
                        break
                    answer = sender.send(messages[number])
                    assert answer["code"] == "AA", answer
                    acknowledged.add(number)
                    pending.pop(0)
            except (ConnectionError, OSError):
                pass
            finally:
                sender.close()
        if not pending:
            break
    assert killed
    assert acknowledged == set(range(total))
    applied = InboundMessage.objects.filter(status="applied")
    per_control = {}
    for control in applied.values_list("control_id", flat=True):
        per_control[control] = per_control.get(control, 0) + 1
    assert per_control == {f"K{n}": 1 for n in range(total)}
    assert Patient.objects.count() == total
    assert Encounter.objects.filter(status="in-progress").count() == total
    assert not InboundMessage.objects.filter(status="received").exists()


def test_a_message_stored_but_not_applied_before_a_stop_is_applied_at_restart(
    test_database_url, tmp_path
):
    from django.utils import timezone

    from patients.ingest.hl7v2.message import message_digest

    wards("WARD-A")
    raw = adt("A01", "L1", place="WARD-A^R1^B1")
    InboundMessage.objects.create(  # as the process left it when it died
        received_at=timezone.now(), raw=raw, digest=message_digest(raw)
    )
    with listener(test_database_url, tmp_path / "mllp.log") as (port, _process):
        assert InboundMessage.objects.get().status == "applied"
        sender = Sender(port)
        again = sender.send(raw)  # the sender never had its ACK: it resends
        sender.close()
    assert (again["code"], again["text"]) == ("AA", "already applied")
    assert stay_of("MRN-1").ward.name == "WARD-A"


def test_the_listener_carries_on_when_its_database_connection_is_cut(
    test_database_url, tmp_path
):
    wards("WARD-A")
    with listener(test_database_url, tmp_path / "mllp.log") as (port, _process):
        sender = Sender(port)
        assert sender.send(adt("A01", "D1", place="WARD-A^R1^B1"))["code"] == "AA"
        with connection.cursor() as cursor:  # as a database restart would
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchall()
        answer = sender.send(adt("A08", "D2", place="WARD-A^R1^B2"))
        sender.close()
    assert answer["code"] == "AA", answer
    assert stay_of("MRN-1").bed.name == "B2"


def test_a_message_that_cannot_be_stored_gets_no_ack_and_the_connection_closes(
    test_database_url, tmp_path
):
    """With the database unreachable, nothing is acknowledged: the engine
    keeps the message and sends it again, and it goes through once the
    database is back."""
    wards("WARD-A")
    raw = adt("A01", "N1", place="WARD-A^R1^B1")
    name = connection.settings_dict["NAME"]
    with listener(test_database_url, tmp_path / "mllp.log") as (port, process):
        sender = Sender(port)
        assert sender.send(adt("A08", "N0", place="WARD-A^R1^B1"))["code"] == "AA"
        admin = psycopg.connect(
            test_database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True
        )
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(  # the listener's connections, not this test's own
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s",
            (name, connection.connection.info.backend_pid),
        )
        try:
            with pytest.raises(ConnectionError):
                sender.send(raw)
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.close()
        sender.close()
        assert process.poll() is None  # still listening
        sender = Sender(port)  # the engine reconnects and sends it again
        assert sender.send(raw)["code"] == "AA"
        sender.close()
    assert (
        "could not be stored (OperationalError)" in (tmp_path / "mllp.log").read_text()
    )
    assert InboundMessage.objects.filter(control_id="N1").count() == 1


def test_several_connections_are_served_at_once(test_database_url, tmp_path):
    """Three engines' connections, each with its own patients, in parallel."""
    import threading

    wards("WARD-A", "WARD-B", "WARD-C")
    answers: dict[str, list[str]] = {}

    def engine(ward: str) -> None:
        sender = Sender(port)
        answers[ward] = [
            sender.send(
                adt(
                    "A01",
                    f"{ward}-{n}",
                    mrn=f"{ward}-MRN-{n}",
                    visit=f"{ward}-V{n}",
                    place=f"{ward}^R{n}^B{n}",
                )
            )["code"]
            for n in range(20)
        ]
        sender.close()

    with listener(test_database_url, tmp_path / "mllp.log") as (port, _process):
        threads = [
            threading.Thread(target=engine, args=(w,))
            for w in ("WARD-A", "WARD-B", "WARD-C")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert answers == {w: ["AA"] * 20 for w in ("WARD-A", "WARD-B", "WARD-C")}
    for ward in ("WARD-A", "WARD-B", "WARD-C"):
        assert (
            Encounter.objects.filter(ward__name=ward, status="in-progress").count()
            == 20
        )


def test_a_message_held_up_on_one_connection_does_not_hold_up_another(
    test_database_url, tmp_path
):
    """Each connection is served by a thread of its own while there are
    threads to spare: one whose message waits (here for a row another
    transaction holds) leaves the others answered meanwhile."""
    import threading

    from tests.processes import wait_for

    wards("WARD-A", "WARD-B")
    held_up: dict = {}
    with listener(test_database_url, tmp_path / "mllp.log") as (port, process):
        first, second = Sender(port), Sender(port)
        admit = adt("A01", "H1", mrn="MRN-1", place="WARD-A^R1^B1")
        assert first.send(admit)["code"] == "AA"
        with psycopg.connect(test_database_url) as holder:
            holder.execute(
                "SELECT 1 FROM patients_patient WHERE mrn = 'MRN-1' FOR UPDATE"
            )
            update = adt("A08", "H2", mrn="MRN-1", place="WARD-A^R1^B1")
            waiting = threading.Thread(
                target=lambda: held_up.update(first.send(update))
            )
            waiting.start()
            wait_for(
                lambda: (
                    holder.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                        "'Lock' AND datname = current_database()"
                    ).fetchone()[0]
                    == 1
                ),
                timeout=30,
                what="the A08 waiting for the patient's row",
                process=process,
            )
            other = adt("A01", "H3", mrn="MRN-2", visit="V2", place="WARD-B^R1^B1")
            try:
                assert second.send(other)["code"] == "AA"
            except TimeoutError:
                waits = holder.execute(
                    "SELECT wait_event_type, wait_event, state, left(query, 80) "
                    "FROM pg_stat_activity WHERE datname = current_database()"
                ).fetchall()
                log = (tmp_path / "mllp.log").read_text()
                pytest.fail(f"the other connection waited too: {waits}\n{log}")
            assert waiting.is_alive()
            assert not held_up
        waiting.join(timeout=30)  # the holder's transaction is over
        assert held_up["code"] == "AA", held_up
        first.close()
        second.close()
    assert Encounter.objects.filter(ward__name="WARD-B").count() == 1


@contextlib.contextmanager
def _worker_serving(monkeypatch) -> Iterator[socket.socket]:
    """One listener thread (in this process) serving one connection; yields
    the sender's end."""
    from patients.ingest.hl7v2.mllp import _Worker

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as serve() sets
    worker = _Worker(1)
    worker.start()
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    try:
        worker.take(theirs)
        yield ours
    finally:
        ours.close()
        worker.stop()
        worker.thread.join(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_connection_waiting_for_its_next_message_survives_garbage_collection(
    monkeypatch,
):
    """Nothing but the worker keeps a connection's task: asyncio's loop
    holds tasks weakly, and one collected while it waits for the next
    message would leave that connection unanswered (it happened in CI)."""
    import gc
    import time

    with _worker_serving(monkeypatch) as sender:
        time.sleep(0.2)  # waiting for a message
        gc.collect()
        sender.sendall(b"\x0bnot HL7 at all\x1c\r")
        assert b"MSA|AR|" in sender.recv(4096)
    assert InboundMessage.objects.get().status == "rejected"


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_ends_closes_its_database_connection(monkeypatch):
    """Where an event loop runs, Django gives each task, here each MLLP
    connection, a database connection of its own: it must close with it,
    or engines reconnecting would use up the server's connections."""
    import time

    def others() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    with _worker_serving(monkeypatch) as sender:
        sender.sendall(b"\x0bnot HL7 at all\x1c\r")
        assert b"MSA|AR|" in sender.recv(4096)
        assert others() == 1  # the connection's own
        sender.shutdown(socket.SHUT_WR)  # the engine hangs up
        deadline = time.monotonic() + 10
        while others() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert others() == 0
