"""The HL7 listener's own statements (rows.py) on the real PostgreSQL: a
message's transaction in psycopg's pipeline keeps all or nothing, survives
a value that cannot be sent and a lost connection, and prepares what it
repeats."""

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection
from django.utils import timezone

from patients.ingest.hl7v2 import rows
from patients.models import Clinician, InboundMessage, Location, Patient
from tests.patients.hl7 import acknowledgement, adt, wards

pytestmark = pytest.mark.django_db(transaction=True)


def receive(raw: bytes) -> dict:
    from patients.ingest.hl7v2.inbox import hl7_receive

    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


def _clinician(number: str) -> dict:
    return {
        "source_feed": "hl7",
        "source_type": "Practitioner",
        "source_id": f"hl7::{number}",
        "identifier_value": number,
        "family": "Peeters",
        "received_at": timezone.now(),
    }


def test_a_write_that_fails_takes_back_the_whole_transaction():
    """Writes do not wait for their answers: the one that fails raises at
    the end (Django's IntegrityError), and nothing before or after it is
    kept."""
    wards("WARD-A")
    ward = Location.objects.get(name="WARD-A")
    before = (ward.name, ward.code)
    rows.insert_row(Clinician, _clinician("C-1"))

    def rename_copy_recode():
        with rows.transaction():
            rows.save_row(Location, ward.pk, {"name": "WARD-B"})
            rows.execute(
                "INSERT INTO patients_clinician (source_feed, source_type, "
                "source_id) SELECT source_feed, source_type, source_id "
                "FROM patients_clinician",
                [],
                answer=False,
            )
            rows.save_row(Location, ward.pk, {"code": "B"})

    with pytest.raises(IntegrityError):
        rename_copy_recode()
    assert Location.objects.values_list("name", "code").get() == before
    assert Clinician.objects.count() == 1


def test_a_value_that_cannot_be_sent_raises_and_the_next_message_is_applied():
    wards("WARD-A")
    ward = Location.objects.get(name="WARD-A")

    def rename_then_send_an_object():
        with rows.transaction():
            rows.save_row(Location, ward.pk, {"name": "WARD-B"})
            rows.find(rows.one(Patient, "mrn = %s", [object()]))

    with pytest.raises(Exception, match="cannot adapt"):
        rename_then_send_an_object()
    assert Location.objects.get().name == "WARD-A"
    assert receive(adt("A01", "V1", place="WARD-A^R1^B1"))["code"] == "AA"
    assert Patient.objects.count() == 1


@pytest.mark.usefixtures("connection_replaced_after")
def test_a_connection_lost_in_a_transaction_is_replaced_for_the_next_message(
    test_database_url,
):
    wards("WARD-A")
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid

    def read_after_the_end():
        with rows.transaction():
            with psycopg.connect(test_database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [backend])
            rows.find(rows.one(Patient, "mrn = %s", ["MRN-1"]))

    with pytest.raises(OperationalError):
        read_after_the_end()
    assert receive(adt("A01", "L1", place="WARD-A^R1^B1"))["code"] == "AA"
    assert InboundMessage.objects.get().status == "applied"


def _prepared() -> int:
    connection.ensure_connection()
    return connection.connection.execute(
        "SELECT count(*) FROM pg_prepared_statements"
    ).fetchone()[0]


def test_statements_repeated_are_prepared_unless_turned_off(settings):
    """Behind PgBouncer in transaction mode a connection cannot keep them."""
    wards("WARD-A")
    for number in range(8):
        mrn = f"MRN-{number}"
        answer = receive(adt("A01", f"P{number}", mrn=mrn, visit=f"V{number}"))
        assert answer["code"] == "AA", answer
    assert _prepared() > 0
    connection.close()
    settings.HL7_PREPARED_STATEMENTS = False
    for number in range(8, 16):
        mrn = f"MRN-{number}"
        answer = receive(adt("A01", f"P{number}", mrn=mrn, visit=f"V{number}"))
        assert answer["code"] == "AA", answer
    assert _prepared() == 0
