"""Whatever the feeds send, the answer is a documented one and the mirror
stays sound: properties checked on generated input (Hypothesis; the
strategies are in strategies.py).

HL7 v2: every message is answered AA, AE or AR (the last two with an ERR
segment), never with an exception; its inbox row says the same; a good
message before and after a broken one on the same connection is applied in
full. FHIR: ``import_fhir`` ends (exit 0) or says what it quarantined
(CommandError, exit 1); a good file beside a broken one is imported in full.
Both: the database's rules hold (one census stay a bed, an MRN for every
patient, a ward for every inpatient's census stay, a bed on its stay's
ward).

The default Hypothesis profile ("ci", tests/conftest.py) tries a few
examples, the same ones every run. A long search, new examples each time:

    HYPOTHESIS_PROFILE=long pytest tests/patients/test_feed_properties.py
"""

import contextlib
import io
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F
from hypothesis import given
from hypothesis import strategies as st

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.ingest.hl7v2.message import CHARSETS
from patients.models import (
    Allergy,
    Encounter,
    InboundMessage,
    Patient,
    QuarantinedResource,
)
from tests.patients.fhir import write_bundle
from tests.patients.hl7 import wards
from tests.patients.strategies import (
    BOM,
    GOOD_LOCATIONS,
    KNOWN_WARDS,
    MUTATIONS,
    Broken,
    Files,
    Hl7,
    any_control_ids,
    as_files,
    broken_bytes,
    broken_messages,
    broken_resource,
    fhir_records,
    good_admission,
    good_fhir,
    msh,
    valid_messages,
)
from tests.printouts.conftest import load

pytestmark = pytest.mark.django_db

Status = InboundMessage.Status
# What the inbox row of a message answered so says of it.
STATUSES = {
    "AA": {Status.APPLIED, Status.IGNORED, Status.DUPLICATE},
    "AE": {Status.FAILED},
    "AR": {Status.REJECTED},
}


@pytest.fixture
def known_wards() -> None:
    """Kept for the whole test: each example rolls back only its own rows."""
    wards(*KNOWN_WARDS)


@pytest.fixture
def good_bed() -> None:
    load(GOOD_LOCATIONS)


@contextlib.contextmanager
def clean_mirror():
    """An example's rows are rolled back when it ends: the next starts from
    the mirror as the test's fixtures left it."""
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


def assert_mirror_sound() -> None:
    census = Encounter.objects.on_census()
    shared = (
        census.exclude(bed=None).values("bed").annotate(stays=Count("id"))
    ).filter(stays__gt=1)
    assert not shared.exists(), list(shared)
    # An inpatient's stay on the census, or one of no class in progress or
    # on leave, is on a ward's (patients/ingest/rules.py).
    wardless = census.filter(ward=None)
    assert not wardless.filter(encounter_class="IMP").exists()
    unclassed = wardless.filter(encounter_class="")
    assert not unclassed.filter(status__in=["in-progress", "onleave"]).exists()
    assert not Patient.objects.filter(mrn="").exists()
    placed = Encounter.objects.exclude(bed=None).exclude(bed__ward=None)
    elsewhere = placed.exclude(bed__ward=F("ward"))
    assert not elsewhere.exists(), list(elsewhere.values("bed__ward", "ward"))


# HL7 v2


def read_ack(ack: bytes) -> dict:
    """MSA-1, MSA-2 and the segment names of an ACK, read as a sender
    reads it: in the charset its MSH-18 names."""
    assert ack[:3] == b"MSH", ack
    separator = ack[3:4].decode("ascii")
    first = ack.split(b"\r")[0].decode("latin-1").split(separator)
    charset = first[17].upper() if len(first) > 17 else ""
    text = ack.decode(CHARSETS.get(charset, "utf-8"))
    assert text.endswith("\r"), ack
    segments = [line.split(separator) for line in text[:-1].split("\r")]
    names = [fields[0] for fields in segments]
    assert names[:2] == ["MSH", "MSA"], ack
    assert set(names[2:]) <= {"ERR"}, ack
    msa = segments[1]
    return {
        "code": msa[1],
        "control": msa[2] if len(msa) > 2 else "",
        "names": names,
        "raw": text,
    }


def sent_control_id(raw: bytes) -> str | None:
    """MSH-10 as the sender meant it, when its MSH can be read (with the
    usual delimiters) in a charset it names; None when it cannot."""
    body = raw.removeprefix(BOM).lstrip(b"\r\n")
    first = re.split(rb"\r\n|\r|\n", body, maxsplit=1)[0]
    if not first.startswith(b"MSH|^~\\&|"):
        return None
    fields = first.split(b"|")
    charset = fields[17].split(b"~")[0].strip().upper() if len(fields) > 17 else b""
    codec = (
        CHARSETS.get(charset.decode("latin-1"))
        if charset
        else settings.HL7_DEFAULT_CHARSET
    )
    if codec is None:
        return None
    try:
        control = fields[9].decode(codec) if len(fields) > 9 else ""
    except UnicodeDecodeError:
        return None
    return control.split("^")[0].strip()[:199]


def receive(raw: bytes) -> dict:
    """Send ``raw`` as the listener does; its ACK, checked as every ACK must
    be, and the inbox row it left."""
    before = InboundMessage.objects.order_by("-pk").values_list("pk", flat=True)[:1]
    last = next(iter(before), 0)
    answer = read_ack(hl7_receive(raw=raw, peer="127.0.0.1:5000"))
    assert answer["code"] in STATUSES, answer
    if answer["code"] != "AA":
        assert "ERR" in answer["names"], answer
    control = sent_control_id(raw)
    if control is not None:
        assert answer["control"] == control, answer
    row = InboundMessage.objects.get(pk__gt=last)
    assert row.status in STATUSES[answer["code"]], (row.status, answer)
    assert row.ack_code == answer["code"]
    assert bytes(row.raw) == raw
    answer["row"] = row
    return answer


def assert_patient(message: Hl7) -> Patient:
    person = Patient.objects.get(mrn=message.mrn)
    assert (person.family, person.given) == (message.family, message.given)
    return person


def assert_placed(message: Hl7, person: Patient) -> None:
    stay = Encounter.objects.select_related("ward", "bed").get(patient=person)
    assert stay.ward.name == message.ward
    if message.bed:
        assert stay.bed.name == message.bed


def assert_admitted(message: Hl7) -> None:
    """A good neighbour's A01, all of it: patient, stay, bed, allergy."""
    person = assert_patient(message)
    stay = Encounter.objects.select_related("ward", "room", "bed").get(patient=person)
    assert stay.status == Encounter.Status.IN_PROGRESS
    assert (stay.ward.name, stay.room.name, stay.bed.name) == (
        message.ward,
        message.facts["room"],
        message.bed,
    )
    substances = Allergy.objects.filter(patient=person).values_list(
        "substance", flat=True
    )
    assert list(substances) == [message.facts["allergy"]]


def snapshot(mrn: str) -> list:
    """What the mirror holds of a patient, hashed."""
    return [
        list(Patient.objects.filter(mrn=mrn).values_list("pk", "source_hash")),
        list(
            Encounter.objects.filter(patient__mrn=mrn).values_list(
                "pk", "status", "ward", "room", "bed", "source_hash"
            )
        ),
        list(Allergy.objects.filter(patient__mrn=mrn).values_list("pk", "source_hash")),
    ]


def assert_answered_as_expected(broken: Broken, answer: dict) -> None:
    assert answer["code"] in broken.codes, answer["raw"]
    if broken.condition:
        err = answer["raw"].split("\rERR|")[1].split("|")
        assert err[2].split("^")[0] == broken.condition, answer["raw"]


@given(message=valid_messages())
def test_a_valid_message_is_applied_as_sent(known_wards, message):
    with clean_mirror():
        answer = receive(message.raw())

        assert answer["code"] == "AA", answer["raw"]
        expected = Status.APPLIED if message.kept else Status.IGNORED
        assert answer["row"].status == expected, answer["row"].outcome
        if message.kept:
            person = assert_patient(message)
            if message.ward:
                assert_placed(message, person)
        assert_mirror_sound()


@given(control=any_control_ids(), charset=st.sampled_from(["UNICODE UTF-8", "8859/1"]))
def test_the_ack_echoes_the_control_id_as_the_sender_wrote_it(
    known_wards, control, charset
):
    at = "20261130080000"
    header = [*msh("ADT^A31^ADT_A05", control, at), "", "", "", "", "", charset]
    message = Hl7([header, ["EVN", "A31", at], ["PID", "1", "", "M-1", "", "X^Y"]])
    if charset == "8859/1" and max(map(ord, control)) > 255:
        message.segments[0][17] = "UNICODE UTF-8"
    with clean_mirror():
        assert receive(message.raw())["code"] == "AA"


def _connection(first: Hl7, broken: Broken, last: Hl7) -> None:
    """A good message, the broken one, another good one, one after the
    other as on one MLLP connection."""
    with clean_mirror():
        assert receive(first.raw())["code"] == "AA"
        first_kept = snapshot(first.mrn)

        assert_answered_as_expected(broken, receive(broken.raw))

        assert receive(last.raw())["code"] == "AA"
        assert snapshot(first.mrn) == first_kept
        assert_admitted(first)
        assert_admitted(last)
        assert_mirror_sound()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__)
@given(first=good_admission(1), data=st.data(), last=good_admission(2))
def test_a_broken_message_is_answered_and_spares_its_neighbours(
    known_wards, mutation, first, data, last
):
    """Each way of breaking a message is tried on its own examples."""
    broken = data.draw(broken_messages([mutation]), label="broken")
    _connection(first, broken, last)


# FHIR R4


def import_folder(files: dict[str, bytes], good: list[dict]) -> int:
    """``import_fhir`` of a folder of ``files`` and a bundle of ``good``
    resources; its exit code. Any other exception than the command's
    error goes up."""
    folder = Path(tempfile.mkdtemp(prefix="fhir-property-"))
    try:
        for name, body in files.items():
            (folder / name).write_bytes(body)
        write_bundle(folder / "good.json", good)
        try:
            call_command(
                "import_fhir", str(folder), stdout=io.StringIO(), stderr=io.StringIO()
            )
        except CommandError:
            return 1
        return 0
    finally:
        shutil.rmtree(folder)


def assert_patient_imported(resource: dict) -> Patient:
    person = Patient.objects.get(source_id=resource["id"])
    name = resource["name"][0]
    assert (person.mrn, person.family, person.given) == (
        resource["identifier"][0]["value"],
        name["family"].strip(),
        " ".join(name["given"]),
    )
    assert person.sex == resource["gender"]
    assert person.birth_date.isoformat().startswith(resource["birthDate"])
    return person


def assert_good_imported(good: list[dict]) -> None:
    person = assert_patient_imported(good[0])
    stay = Encounter.objects.select_related("ward", "room", "bed").get(
        source_id="good-e"
    )
    assert (stay.patient, stay.status) == (person, Encounter.Status.IN_PROGRESS)
    assert (stay.ward.source_id, stay.room.source_id, stay.bed.source_id) == (
        "good-ward",
        "good-room",
        "good-bed",
    )
    held = QuarantinedResource.objects.filter(resource_id__startswith="good-")
    assert not held.exists(), list(held.values("resource_id", "reason"))


def quarantined() -> list:
    return list(QuarantinedResource.objects.values_list("origin", "reason"))


def _import(files: Files, good: list[dict]) -> None:
    with clean_mirror():
        exit_code = import_folder(files.files, good)

        assert exit_code in files.exits, quarantined()
        held = QuarantinedResource.objects.filter(
            status=QuarantinedResource.Status.HELD
        )
        assert held.exists() == (exit_code == 1)
        assert_good_imported(good)
        assert_mirror_sound()


@given(
    resources=fhir_records(),
    layout=st.sampled_from(["ndjson", "bundle"]),
    good=good_fhir(),
)
def test_a_valid_export_is_imported_whole(good_bed, resources, layout, good):
    files = as_files(resources, layout, {})
    with clean_mirror():
        exit_code = import_folder({n: t.encode() for n, t in files.items()}, good)

        assert exit_code == 0, quarantined()
        for resource in resources:
            if resource["resourceType"] == "Patient":
                assert_patient_imported(resource)
        assert_good_imported(good)
        assert_mirror_sound()


@given(files=broken_resource(), good=good_fhir())
def test_a_resource_of_the_wrong_shape_is_quarantined_and_spares_the_good_file(
    good_bed, files, good
):
    _import(files, good)


@given(files=broken_bytes(), good=good_fhir())
def test_broken_lines_and_bytes_are_quarantined_and_spare_the_good_file(
    good_bed, files, good
):
    _import(files, good)
