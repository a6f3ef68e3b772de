"""A downtime that isolates the inbound feeds (a cyberattack): the real
listener keeps every message but applies none, and answers with the reject
set in HL7_ISOLATED_ACK; the FHIR pull does not contact the server. Both
flow again once the downtime closes."""

import io
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from downtime.models import Downtime
from downtime.services import downtime_declare, downtime_recover
from patients.ingest.hl7v2.isolation import CHECK_SECONDS, ISOLATED
from patients.models import Encounter, FeedState, InboundMessage, Patient
from tests.downtime.steps import close_leaving_items
from tests.patients.fhir import bundle_server
from tests.patients.hl7 import Sender, adt, listener, mirror, wards
from tests.printouts.test_views import person
from tests.processes import REPO, app_env

pytestmark = pytest.mark.timeout(180)
REASON = "Ransomware on the EHR servers: isolate everything"


def declare(user, **extra) -> Downtime:
    return downtime_declare(
        user=user, kind=Downtime.Kind.UNPLANNED, reason=REASON, **extra
    )


def end(downtime: Downtime, user) -> None:
    """Recovery, then back to normal."""
    downtime = downtime_recover(downtime=downtime, user=user, why="EHR restored")
    close_leaving_items(downtime=downtime, user=user, why="Paper entered")


def settle() -> None:
    """Long enough for the listener to ask again whether the feeds are
    isolated (it keeps the answer CHECK_SECONDS): within 2 s of a change."""
    time.sleep(CHECK_SECONDS + 0.5)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("env", "code"), [({}, "AR"), ({"HL7_ISOLATED_ACK": "AE"}, "AE")]
)
def test_isolated_feeds_keep_every_message_rejected_until_the_downtime_closes(
    test_database_url, tmp_path, env, code
):
    wards("WARD-A")
    ivan = person("ivan", None)
    with listener(test_database_url, tmp_path / "mllp.log", **env) as (port, _p):
        sender = Sender(port)
        first = adt("A01", "I1", at="20261130080000", place="WARD-A^R1^B1")
        assert sender.send(first)["code"] == "AA"
        before = mirror()

        downtime = declare(ivan, isolate_feeds=True)
        settle()
        during = [
            adt("A02", "I2", at="20261130081000", place="WARD-A^R2^B2"),
            adt(
                "A01",
                "I3",
                at="20261130082000",
                mrn="MRN-2",
                visit="V2",
                place="WARD-A^R3^B3",
            ),
        ]
        answers = [sender.send(raw) for raw in during]
        downtime = downtime_recover(downtime=downtime, user=ivan, why="EHR back")
        settle()
        renamed = adt(
            "A08",
            "I4",
            at="20261130083000",
            family="PEETERS-DUBOIS",
            place="WARD-A^R2^B2",
        )
        answers.append(sender.send(renamed))  # recovery: still isolated
        with pytest.raises(CommandError, match="isolated during a downtime"):
            call_command("replay_hl7", "--isolated", stdout=io.StringIO())
        assert mirror() == before

        close_leaving_items(downtime=downtime, user=ivan, why="Paper entered")
        settle()
        after = adt(
            "A01",
            "I5",
            at="20261130084000",
            mrn="MRN-3",
            visit="V3",
            place="WARD-A^R4^B4",
        )
        assert sender.send(after)["code"] == "AA"
        training = adt("A08", "T1", place="WARD-A^R1^B1").replace(b"|P|", b"|T|")
        assert sender.send(training)["code"] == "AR"  # rejected for its own reason
        sender.close()

    for answer, control in zip(answers, ["I2", "I3", "I4"], strict=True):
        assert answer["code"] == code, answer
        assert answer["control"] == control
        assert answer["text"] == answer["error"] == ISOLATED
        assert answer["condition"] == "207"  # application internal error
        assert "ransomware" not in answer["raw"].lower()  # IT's reason stays in
    kept = InboundMessage.objects.filter(error=ISOLATED).order_by("pk")
    assert list(
        kept.values_list("control_id", "message_type", "status", "ack_code")
    ) == [
        ("I2", "ADT^A02", "rejected", code),
        ("I3", "ADT^A01", "rejected", code),
        ("I4", "ADT^A08", "rejected", code),
    ]
    assert [bytes(m.raw) for m in kept] == [*during, renamed]
    assert Patient.objects.filter(mrn="MRN-3").exists()

    out = io.StringIO()
    call_command("replay_hl7", "--isolated", stdout=out)

    assert "Applied: 3" in out.getvalue()
    replayed = InboundMessage.objects.filter(control_id__in=["I2", "I3", "I4"])
    assert set(replayed.values_list("status", flat=True)) == {"applied"}
    assert InboundMessage.objects.get(control_id="T1").status == "rejected"
    stay = Encounter.objects.select_related("bed").get(patient__mrn="MRN-1")
    assert (stay.bed.name, stay.patient.family) == ("B2", "PEETERS-DUBOIS")
    assert Encounter.objects.get(patient__mrn="MRN-2").status == "in-progress"


@pytest.mark.django_db(transaction=True)
def test_a_drill_or_a_downtime_without_isolation_lets_messages_through(
    test_database_url, tmp_path
):
    wards("WARD-A")
    ivan = person("ivan", None)
    with listener(test_database_url, tmp_path / "mllp.log") as (port, _p):
        sender = Sender(port)
        assert sender.send(adt("A01", "D0", place="WARD-A^R1^B1"))["code"] == "AA"
        drill = declare(ivan, drill=True, isolate_feeds=True)
        assert not drill.feeds_isolated
        settle()
        assert sender.send(adt("A02", "D1", place="WARD-A^R1^B2"))["code"] == "AA"
        end(drill, ivan)
        declare(ivan, isolate_feeds=False)
        settle()
        assert sender.send(adt("A02", "D2", place="WARD-A^R1^B3"))["code"] == "AA"
        sender.close()
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"applied"}
    assert Encounter.objects.select_related("bed").get().bed.name == "B3"


@pytest.mark.django_db(transaction=True)
def test_the_fhir_pull_refuses_to_run_while_the_feeds_are_isolated(
    test_database_url,
):
    cursor = "2026-11-30T08:00:00.000Z"
    FeedState.objects.create(name="fhir-pull", cursor=cursor)
    server_time = "2026-12-01T10:00:00.000Z"
    empty = {
        "resourceType": "Bundle",
        "type": "searchset",
        "meta": {"lastUpdated": server_time},
        "entry": [],
    }

    def pull(base: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "pull_fhir", "--base-url", base],
            cwd=REPO,
            env=app_env(DATABASE_URL=test_database_url),
            capture_output=True,
            text=True,
            timeout=120,
        )

    ivan = person("ivan", None)
    downtime = declare(ivan, isolate_feeds=True)
    with bundle_server(empty) as (base, asked):
        refused = pull(base)

        assert refused.returncode != 0
        assert "The inbound feeds are isolated during a downtime" in refused.stderr
        assert "FHIR server was not contacted" in refused.stderr
        assert asked == []
        state = FeedState.objects.get(name="fhir-pull")
        assert (state.cursor, state.last_success_at) == (cursor, None)
        assert state.last_error.startswith("The inbound feeds are isolated")
        assert state.last_error_at is not None
        assert REASON not in refused.stderr + state.last_error

        end(downtime, ivan)
        pulled = pull(base)

    assert pulled.returncode == 0, pulled.stderr
    assert asked
    state = FeedState.objects.get(name="fhir-pull")
    assert (state.cursor, state.last_error) == (server_time, "")
