"""What each HL7 v2 event does to the mirror, and what it answers."""

import pytest

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.models import Allergy, Encounter, FeedState, InboundMessage, Patient
from tests.patients.hl7 import acknowledgement, adt, message, pid, wards

pytestmark = pytest.mark.django_db


def receive(raw: bytes) -> dict:
    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


def stay(mrn: str = "MRN-1") -> Encounter:
    return Encounter.objects.select_related("ward", "room", "bed").get(patient__mrn=mrn)


def test_admit_places_the_patient_in_a_bed_and_acknowledges_after_commit():
    wards("WARD-A")
    answer = receive(adt("A01", "C1", place="WARD-A^R12^B1"))
    assert answer["code"] == "AA", answer
    assert answer["control"] == "C1"

    person = Patient.objects.get(mrn="MRN-1")
    assert (person.family, person.given, person.sex) == ("PEETERS", "Anaïs", "female")
    assert str(person.birth_date) == "1950-03-12"
    here = stay()
    assert here.status == Encounter.Status.IN_PROGRESS
    assert (here.ward.name, here.room.name, here.bed.name) == ("WARD-A", "R12", "B1")
    assert here.bed.ward == here.ward
    assert here.attending.family == "HOUSE"
    assert here.source_hash
    assert here.source_updated_at
    inbox = InboundMessage.objects.get()
    assert inbox.status == InboundMessage.Status.APPLIED
    assert (inbox.control_id, inbox.message_type) == ("C1", "ADT^A01")
    assert FeedState.objects.get(name="hl7").last_success_at


def test_transfer_discharge_and_their_cancels_move_the_patient_as_a_nurse_expects():
    wards("WARD-A", "WARD-B")
    receive(adt("A01", "C1", place="WARD-A^R1^B1", at="20261130080000"))
    assert (
        receive(adt("A02", "C2", place="WARD-B^R7^B2", at="20261130090000"))["code"]
        == "AA"
    )
    assert (stay().ward.name, stay().bed.name) == ("WARD-B", "B2")

    receive(adt("A12", "C3", place="WARD-A^R1^B1", at="20261130091000"))
    assert stay().ward.name == "WARD-A"

    receive(adt("A03", "C4", place="WARD-A^R1^B1", at="20261130100000"))
    assert stay().status == Encounter.Status.FINISHED
    assert stay().discharged_at is not None
    assert not Encounter.objects.filter(status__in=Encounter.ON_CENSUS).exists()

    receive(adt("A13", "C5", place="WARD-A^R1^B1", at="20261130101000"))
    assert stay().status == Encounter.Status.IN_PROGRESS
    assert stay().discharged_at is None

    receive(adt("A11", "C6", place="WARD-A^R1^B1", at="20261130102000"))
    assert stay().status == Encounter.Status.CANCELLED


def test_an_older_event_never_overwrites_newer_state():
    wards("WARD-A", "WARD-B")
    receive(adt("A02", "C2", place="WARD-B^R7^B2", at="20261130090000"))
    late = receive(adt("A01", "C1", place="WARD-A^R1^B1", at="20261130080000"))
    assert late["code"] == "AA"
    assert "older" in late["text"]
    assert stay().ward.name == "WARD-B"


def test_a_duplicate_control_id_is_acknowledged_and_not_applied_twice():
    wards("WARD-A", "WARD-B")
    receive(adt("A01", "C1", place="WARD-A^R1^B1", at="20261130080000"))
    receive(adt("A02", "C2", place="WARD-B^R1^B1", at="20261130090000"))
    again = receive(adt("A01", "C1", place="WARD-A^R1^B1", at="20261130080000"))
    assert again["code"] == "AA"
    assert again["text"] == "already applied"
    assert stay().ward.name == "WARD-B"
    statuses = list(
        InboundMessage.objects.order_by("pk").values_list("status", flat=True)
    )
    assert statuses == ["applied", "applied", "duplicate"]


def test_a_new_patient_in_an_occupied_bed_takes_it_and_the_other_keeps_the_ward():
    wards("WARD-A")
    receive(adt("A01", "C1", place="WARD-A^R1^B1", visit="V1"))
    receive(
        adt(
            "A01",
            "C2",
            place="WARD-A^R1^B1",
            visit="V2",
            mrn="MRN-2",
            at="20261130081000",
        )
    )
    assert stay("MRN-2").bed.name == "B1"
    assert stay("MRN-1").bed is None
    assert stay("MRN-1").ward.name == "WARD-A"


def test_an_unknown_ward_is_an_error_that_names_the_field_and_changes_nothing():
    wards("WARD-A")
    answer = receive(adt("A01", "C1", place="WARD-Z^R1^B1"))
    assert answer["code"] == "AE"
    assert answer["where"] == "PV1^1^3^1^1"
    assert answer["condition"] == "103"
    assert "PV1-3.1" in answer["error"]
    assert "ward or clinic the mirror does not know" in answer["error"]
    assert not Patient.objects.exists()  # the patient of the message neither
    inbox = InboundMessage.objects.get()
    assert inbox.status == InboundMessage.Status.FAILED
    assert "PV1-3.1" in inbox.error
    assert bytes(inbox.raw).startswith(b"MSH|")


def test_a60_replaces_the_allergy_list_as_a_whole():
    wards("WARD-A")
    receive(adt("A01", "C1"))
    person = Patient.objects.get()
    receive(
        message(
            "ADT^A60^ADT_A60",
            "C2",
            "EVN|A60|20261130090000",
            pid(),
            "AL1|1|DA|PEN^Penicillin|SV|Anaphylaxis",
            "AL1|2|FA|NUT^Peanut|MO|Hives",
            at="20261130090000",
        )
    )
    assert sorted(person.allergies.values_list("substance", "criticality")) == [
        ("Peanut", ""),
        ("Penicillin", "high"),
    ]
    receive(
        message(
            "ADT^A60^ADT_A60",
            "C3",
            "EVN|A60|20261130100000",
            pid(),
            "AL1|1|DA|PEN^Penicillin|SV|Anaphylaxis",
            at="20261130100000",
        )
    )
    assert list(person.allergies.values_list("substance", flat=True)) == ["Penicillin"]
    empty = receive(message("ADT^A60^ADT_A60", "C4", "EVN|A60|20261130110000", pid()))
    assert empty["code"] == "AE"
    assert Allergy.objects.count() == 1


def test_a40_merges_the_old_record_into_the_surviving_one():
    wards("WARD-A")
    receive(adt("A01", "C1", mrn="OLD-9", visit="V9"))
    receive(
        message(
            "ADT^A40^ADT_A39",
            "C2",
            "EVN|A40|20261130090000",
            pid(mrn="MRN-1"),
            "MRG|OLD-9^^^GENERAL^MR",
            at="20261130090000",
        )
    )
    assert list(Patient.objects.values_list("mrn", flat=True)) == ["MRN-1"]
    assert stay("MRN-1").ward.name == "WARD-A"


def test_a_failed_message_is_replayed_once_its_cause_is_fixed(client):
    from django.contrib.auth.models import User
    from django.core.management import CommandError, call_command
    from django.urls import reverse

    from accounts.services import demo_accounts_ensure

    wards("WARD-A")
    assert receive(adt("A01", "C1", place="WARD-Q^R1^B1"))["code"] == "AE"
    failed = InboundMessage.objects.get()

    demo_accounts_ensure()
    client.force_login(User.objects.get(username="it"))
    listing = client.get(
        reverse("admin:patients_inboundmessage_changelist"), {"status": "failed"}
    )
    assert listing.context["cl"].result_count == 1
    assert "PV1-3.1" in listing.text
    page = client.get(reverse("admin:patients_inboundmessage_change", args=[failed.pk]))
    assert "WARD-Q^R1^B1" not in page.text  # on the raw page only, logged
    raw = client.post(reverse("admin:patients_inboundmessage_raw", args=[failed.pk]))
    assert "WARD-Q^R1^B1" in raw.text  # the message as received

    with pytest.raises(CommandError, match="still fail"):
        call_command("replay_hl7")
    wards("WARD-Q")  # the interface analyst adds the ward
    call_command("replay_hl7")
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("applied", 3)
    assert stay().ward.name == "WARD-Q"
    call_command("replay_hl7")  # nothing left: a no-op
    assert Encounter.objects.count() == 1


def test_a_reused_control_id_with_new_content_is_applied_not_dropped():
    wards("WARD-A", "WARD-B")
    receive(adt("A01", "SAME", place="WARD-A^R1^B1", at="20261130080000"))
    answer = receive(adt("A02", "SAME", place="WARD-B^R1^B1", at="20261130090000"))
    assert answer["code"] == "AA"
    assert answer["text"] != "already applied"
    assert stay().ward.name == "WARD-B"


def test_events_and_types_the_mirror_does_not_keep_are_acknowledged_and_counted():
    wards("WARD-A")
    for raw in (
        adt("A47", "I1"),  # change of an identifier: not applied here
        message("DFT^P03^DFT_P03", "I2", pid()),  # a charge: not kept
        message("SIU^S23^SIU_S12", "I3", pid()),
    ):
        answer = receive(raw)
        assert answer["code"] == "AA", answer
        assert "not kept" in answer["text"]
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"ignored"}
    assert not Patient.objects.exists()


def test_an_unexpected_failure_answers_ae_and_logs_no_patient_data(monkeypatch, caplog):
    from patients.ingest.hl7v2 import inbox

    def broken(message):
        raise RuntimeError("duplicate key (mrn)=(MRN-1) for PEETERS")

    monkeypatch.setitem(inbox.APPLIERS, "ADT", broken)
    answer = receive(adt("A01", "C1"))
    assert (answer["code"], answer["condition"]) == ("AE", "207")
    assert "kept for replay" in answer["error"]
    assert "RuntimeError" in caplog.text
    assert "PEETERS" not in caplog.text
    assert "MRN-1" not in caplog.text
    assert InboundMessage.objects.get().status == "failed"


def test_the_charset_of_msh_18_is_used_and_lf_between_segments_is_accepted():
    wards("WARD-A")
    latin = adt("A01", "C1", given="Anaïs").decode().replace("UNICODE UTF-8", "8859/1")
    answer = receive(latin.replace("\r", "\n").encode("latin-1"))
    assert answer["code"] == "AA", answer
    assert Patient.objects.get().given == "Anaïs"
    assert stay().ward.name == "WARD-A"  # PV1 was read: LF did not hide it


def test_an_appointment_is_booked_moved_and_cancelled():
    from patients.models import Appointment, Location

    wards("CLIN-1")

    def siu(trigger: str, control: str, start: str, at: str) -> bytes:
        return message(
            f"SIU^{trigger}^SIU_S12",
            control,
            f"SCH|P-1|F-1|||||^Follow-up||||^^30^{start}",
            pid(),
            "AIP|1||D1^HOUSE^GREGORY",
            f"AIL|1||CLIN-1^Room 2|||{start}",
            at=at,
        )

    assert receive(siu("S12", "C1", "20261201093000", "20261130080000"))["code"] == "AA"
    visit = Appointment.objects.get()
    assert (visit.status, visit.clinic, visit.clinician.family) == (
        "booked",
        Location.objects.get(name="CLIN-1"),
        "HOUSE",
    )
    receive(siu("S13", "C2", "20261202140000", "20261130090000"))
    visit.refresh_from_db()
    assert visit.starts_at.day == 2
    assert visit.status == "booked"
    receive(siu("S15", "C3", "20261202140000", "20261130100000"))
    visit.refresh_from_db()
    assert visit.status == "cancelled"


def test_an_order_or_result_never_rewrites_what_adt_said_of_the_patient():
    wards("WARD-A")
    receive(adt("A01", "C1", "NK1|1|PEETERS^Jan|SPO^Spouse||+32 470 00 00 00"))
    short_pid = "PID|1||MRN-1^^^GENERAL^MR||DOE^JOHN"
    receive(
        message(
            "ORU^R01^ORU_R01",
            "C2",
            short_pid,
            "OBR|1|L1||2345-7^Glucose^LN|||20261130090000||||||||||||||||||F",
            "OBX|1|NM|2345-7^Glucose^LN||5.1|mmol/L|||||F",
        )
    )
    person = Patient.objects.get()
    assert (person.family, person.given) == ("PEETERS", "Anaïs")
    assert str(person.birth_date) == "1950-03-12"
    assert person.contact_name == "Jan PEETERS"
    assert person.sex == "female"


def test_an_update_keeps_what_it_leaves_empty_and_clears_an_explicit_null():
    wards("WARD-A")
    receive(adt("A01", "C1"))
    sparse = "PID|1||MRN-1^^^GENERAL^MR||PEETERS^Anaïs" + "|" * 8 + '""'
    receive(
        message(
            "ADT^A08^ADT_A01",
            "C2",
            "EVN|A08|20261130090000",
            sparse,
            "PV1|1|I|WARD-A^R1^B1",
            at="20261130090000",
        )
    )
    person = Patient.objects.get()
    assert str(person.birth_date) == "1950-03-12"  # PID-7 left empty: kept
    assert person.sex == "female"
    assert person.address  # PID-11 left empty: kept
    assert person.phone == ""  # PID-13 "": cleared


def test_a_late_event_does_not_take_a_bed_from_a_newer_arrival():
    wards("WARD-A")
    receive(
        adt(
            "A01",
            "C1",
            mrn="MRN-1",
            visit="V1",
            place="WARD-A^R1^B1",
            at="20261130080000",
        )
    )
    receive(
        adt(
            "A02",
            "C2",
            mrn="MRN-2",
            visit="V2",
            place="WARD-A^R1^B1",
            at="20261130100000",
        )
    )
    assert stay("MRN-2").bed.name == "B1"
    assert stay("MRN-1").bed is None
    # MRN-1's transfer into B1 at 09:00 arrives late: MRN-2 came at 10:00.
    receive(
        adt(
            "A02",
            "C3",
            mrn="MRN-1",
            visit="V1",
            place="WARD-A^R1^B1",
            at="20261130090000",
        )
    )
    assert stay("MRN-2").bed.name == "B1"
    assert stay("MRN-1").bed is None
    assert stay("MRN-1").ward.name == "WARD-A"


def test_iam_segments_change_one_allergy_each():
    wards("WARD-A")
    receive(adt("A01", "C1"))
    for control, segments in (
        ("C2", ["AL1|1|DA|PEN^Penicillin|SV", "AL1|2|EA|LAT^Latex|MO"]),
        ("C3", ["IAM|1|DA|COD^Codeine|MO||A"]),
        ("C4", ["IAM|1|EA|LAT^Latex|MO||D"]),
    ):
        receive(
            message(
                "ADT^A60^ADT_A60",
                control,
                "EVN|A60|2026113009" + control[1] + "000",
                pid(),
                *segments,
                at="2026113009" + control[1] + "000",
            )
        )
    assert sorted(Allergy.objects.values_list("substance", flat=True)) == [
        "Codeine",
        "Penicillin",
    ]


def test_bytes_that_did_not_come_as_a_whole_frame_are_kept_not_applied():
    from patients.ingest.hl7v2.framing import UNFINISHED

    wards("WARD-A")
    answer = acknowledgement(
        hl7_receive(raw=adt("A01", "C1")[:-20], peer="x", unframed=UNFINISHED)
    )
    assert answer["code"] == "AR"
    assert not Patient.objects.exists()
    assert InboundMessage.objects.get().status == "rejected"


def test_after_a_merge_an_order_is_found_under_the_surviving_patient():
    from patients.models import MedicationOrder

    wards("WARD-A")
    receive(adt("A01", "C1", mrn="OLD-9", visit="V9"))

    def rde(control: str, action: str, at: str, mrn: str) -> bytes:
        return message(
            "RDE^O11^RDE_O11",
            control,
            pid(mrn=mrn),
            f"ORC|{action}|RX-1",
            "RXE||MOR^Morphine 10 mg|10||mg",
            at=at,
        )

    receive(rde("C2", "NW", "20261130090000", "OLD-9"))
    receive(
        message(
            "ADT^A40^ADT_A39",
            "C3",
            "EVN|A40|20261130100000",
            pid(mrn="MRN-1"),
            "MRG|OLD-9^^^GENERAL^MR",
            at="20261130100000",
        )
    )
    receive(rde("C4", "DC", "20261130110000", "MRN-1"))
    assert list(MedicationOrder.objects.values_list("status", flat=True)) == ["stopped"]


def test_a_withdrawn_result_leaves_the_pages():
    from django.utils import timezone

    from patients.summary import stay_sections

    wards("WARD-A")
    receive(adt("A01", "C1"))
    obr = "OBR|1|L1||2823-3^Potassium^LN|||20261130090000||||||||||||||||||F"
    receive(
        message(
            "ORU^R01^ORU_R01",
            "C2",
            pid(),
            obr,
            "OBX|1|NM|2823-3^Potassium^LN||9.9|mmol/L|||||F",
        )
    )
    receive(
        message(
            "ORU^R01^ORU_R01",
            "C3",
            pid(),
            obr,
            "OBX|1|NM|2823-3^Potassium^LN|||mmol/L|||||D",
            at="20261130100000",
        )
    )
    section = stay_sections(stays=Encounter.objects.all(), now=timezone.now())[0]
    assert "9.9" not in str(section)


def test_same_second_admissions_without_visit_numbers_each_apply():
    wards("WARD-A")
    for control, trigger in (("C1", "A01"), ("C2", "A03"), ("C3", "A01")):
        answer = receive(adt(trigger, control, visit="", place="WARD-A^R1^B1"))
        assert answer["code"] == "AA", answer
    assert Encounter.objects.filter(status="in-progress").count() == 1


def test_the_ack_returns_the_control_id_exactly_as_sent():
    wards("WARD-A")
    answer = receive(adt("A01", "C\\F\\1"))
    assert answer["control"] == "C\\F\\1"


def test_a_partial_birth_date_is_not_made_into_a_day():
    wards("WARD-A")
    receive(
        message(
            "ADT^A01^ADT_A01",
            "C1",
            "EVN|A01|20261130",
            pid().replace("19500312", "1950"),
            "PV1|1|I|WARD-A",
        )
    )
    assert Patient.objects.get().birth_date is None


def test_another_patients_visit_number_is_an_error():
    wards("WARD-A")
    receive(adt("A01", "C1", mrn="MRN-1", visit="V1"))
    answer = receive(adt("A08", "C2", mrn="MRN-2", visit="V1", at="20261130090000"))
    assert answer["code"] == "AE"
    assert "PV1-19" in answer["error"]
    assert stay("MRN-1").patient.mrn == "MRN-1"


def test_an_order_and_its_cancel_in_one_message_leave_one_cancelled_order():
    """The second ORC finds the order the first one made, in the same
    transaction: the order's read sent ahead serves the first ORC only."""
    from patients.models import LabOrder

    wards("WARD-A")
    receive(adt("A01", "C1"))  # the patient is known: their orders are read ahead
    obr = "OBR|1|ORD-1||2345-7^Glucose^LN|||20261130090000"
    answer = receive(
        message(
            "ORM^O01^ORM_O01",
            "C2",
            pid(),
            "ORC|NW|ORD-1",
            obr,
            "ORC|CA|ORD-1",
            obr,
            at="20261130090000",
        )
    )
    assert answer["code"] == "AA", answer
    assert list(LabOrder.objects.values_list("order_number", "status")) == [
        ("ORD-1", LabOrder.Status.REVOKED)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_patient_added_meanwhile_by_another_connection_is_found_on_a_second_try(
    monkeypatch,
):
    """Another connection adds the patient after this message has looked for
    them and before it commits: the commit clashes, and the message is
    applied again, to the patient now there. Nothing is answered AE."""
    import threading

    from django.db import connections

    from patients.ingest.hl7v2 import adt as adt_events
    from patients.ingest.hl7v2 import rows

    wards("WARD-A")
    answers = []

    def and_meanwhile(*reads):
        found = rows.find(*reads)
        if not answers:  # once: the other connection's own message comes here
            answers.append(None)
            other = threading.Thread(target=lambda: other_connection(answers))
            other.start()
            other.join(timeout=30)
        return found

    def other_connection(answers):
        try:
            answers.append(receive(adt("A31", "C2", at="20261130070000")))
        finally:
            connections.close_all()

    monkeypatch.setattr(adt_events, "find", and_meanwhile)
    answer = receive(adt("A01", "C1", place="WARD-A^R1^B1"))
    assert answers[1]["code"] == "AA", answers  # the A31 came and went
    assert answer["code"] == "AA", answer
    person = Patient.objects.get(mrn="MRN-1")
    assert stay().patient == person
    assert stay().bed.name == "B1"
    assert set(InboundMessage.objects.values_list("control_id", "status")) == {
        ("C1", "applied"),
        ("C2", "applied"),
    }


def test_a_read_made_again_after_a_write_sees_the_row_as_written():
    """The rows of reads sent together are taken once: asked for again
    within the message (a write since may have changed them), the read is
    made again."""
    from patients.ingest.hl7v2 import rows
    from patients.models import Location

    wards("WARD-A")
    ward = Location.objects.get(name="WARD-A")
    named = rows.one(Location, "id = %s", [ward.pk])
    with rows.transaction():
        found = rows.find(named, rows.one(Patient, "mrn = %s", ["MRN-404"]))
        assert found.first(named).name == "WARD-A"
        rows.save_row(Location, ward.pk, {"name": "WARD-B"})
        assert found.first(named).name == "WARD-B"
    assert Location.objects.get(pk=ward.pk).name == "WARD-B"


@pytest.mark.django_db(transaction=True)
def test_the_orm_inside_a_message_transaction_is_refused_and_nothing_is_kept():
    """Django's ORM does not know psycopg's transaction (rows.py): a
    statement of it there raises, and the transaction is rolled back."""
    from patients.ingest.hl7v2 import rows
    from patients.models import Location

    wards("WARD-A")
    ward = Location.objects.get(name="WARD-A")

    def rename_then_update_by_the_orm():
        with rows.transaction():
            rows.save_row(Location, ward.pk, {"name": "WARD-B"})
            Location.objects.filter(pk=ward.pk).update(name="WARD-C")

    with pytest.raises(RuntimeError, match="ORM"):
        rename_then_update_by_the_orm()
    assert Location.objects.get(pk=ward.pk).name == "WARD-A"


def _inbox_values(**values) -> dict:
    from django.utils import timezone

    return {
        "received_at": timezone.now(),
        "raw": b"MSH|^~\\&|",
        "digest": "d",
        "status": InboundMessage.Status.RECEIVED,
        **values,
    }


@pytest.mark.django_db(transaction=True)
def test_an_inbox_row_is_committed_before_the_message_transaction():
    """A transaction after it that fails, in the same pipeline, takes
    nothing of the inbox row back: it is there with its id."""
    from django.db import DataError

    from patients.ingest.hl7v2 import rows

    with rows.pipeline() as within:
        row = rows.store(InboundMessage, _inbox_values(), within)
        with pytest.raises(DataError), rows.transaction(within):
            rows.find(rows.one(Patient, "id = 1 / 0", []))
    assert list(InboundMessage.objects.values_list("pk", "status")) == [
        (row.pk, "received")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_message_failing_before_its_first_statement_is_still_kept(monkeypatch):
    """Nothing sent the waiting inbox row before the failure: the answer's
    own statements do, and the row is kept with its error for replay."""
    from patients.ingest.hl7v2 import inbox

    def broken(message):
        raise RuntimeError("a bug")

    monkeypatch.setitem(inbox.APPLIERS, "ADT", broken)
    wards("WARD-A")
    answer = receive(adt("A01", "F1", place="WARD-A^R1^B1"))
    assert answer["code"] == "AE", answer
    kept = InboundMessage.objects.get()
    assert (kept.status, kept.control_id) == ("failed", "F1")
    assert "RuntimeError" in kept.error
    assert not Patient.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("connection_replaced_after")
def test_a_connection_the_database_ended_is_replaced_and_the_message_applied(
    test_database_url, monkeypatch
):
    """Noticed only by the message's first round trip, which carries its
    inbox row (the listener's check before each message can miss it): that
    row was not stored, so the message is tried once more, on a new
    connection, and applied."""
    import time

    import psycopg
    from django.db import connection

    from patients.ingest.hl7v2 import isolation

    wards("WARD-A")
    assert receive(adt("A01", "R1", place="WARD-A^R1^B1"))["code"] == "AA"
    # The feeds' isolation was just asked: not again for this message, however
    # slow the machine, so its first round trip is what meets the dead end.
    monkeypatch.setattr(isolation, "CHECK_SECONDS", 3600)
    with psycopg.connect(test_database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
        )
    time.sleep(0.2)  # the server has closed it
    answer = receive(adt("A08", "R2", place="WARD-A^R1^B2"))
    assert answer["code"] == "AA", answer
    assert stay().bed.name == "B2"
    assert set(InboundMessage.objects.values_list("control_id", "status")) == {
        ("R1", "applied"),
        ("R2", "applied"),
    }


def test_a_weight_or_height_by_any_of_their_codes_is_a_vital_sign():
    from patients.models import Observation

    wards("WARD-A")
    receive(adt("A01", "W1"))
    receive(
        message(
            "ORU^R01^ORU_R01",
            "W2",
            pid(),
            "OBR|1|N1||X^Nursing^L|||20261130090000||||||||||||||||||F",
            "OBX|1|NM|3141-9^Body weight measured^LN||71.2|kg|||||F|||20261130090000",
            "OBX|2|NM|8306-3^Body height lying^LN||168|cm|||||F|||20261130090000",
        )
    )
    assert sorted(Observation.objects.values_list("code", "category")) == [
        ("3141-9", "vital-signs"),
        ("8306-3", "vital-signs"),
    ]
