"""What ward stations keep beside packs, published and signed like them:
label sheets with each ward pack, the blank forms, downtime number labels."""

import json

import pytest

from downtime.numbers import (
    number_labels_due,
    number_labels_publish,
    numbers_allocate,
)
from printouts.models import Printout
from printouts.published import forms_due, forms_publish, printouts_prune
from printouts.signing import keys_chain, statement_verify
from stations.services import station_create
from tests.patients.fhir import encounter, patient
from tests.patients.test_pages import wards  # noqa: F401 - the fixture
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts
from tests.printouts.test_views import person, ready

pytestmark = pytest.mark.django_db


def verifies(printout: Printout) -> bool:
    keys = {entry["id"]: entry["public_key"] for entry in keys_chain()}
    return statement_verify(
        statement=printout.statement,
        signature=printout.signature,
        public_key=keys[printout.signing_key],
    )


def on_a_station(*places) -> None:
    """Label sheets are made for the wards a ward station keeps."""
    station_create(name="PC", locations=places, notes="", user=person("it", "it"))


def test_without_a_station_a_ward_pack_makes_no_label_sheets(small_ward):
    ready(small_ward)
    assert not Printout.objects.exists()


def test_a_ward_pack_brings_its_label_sheets_new_only_when_the_census_changes(
    small_ward, pack_dir
):
    on_a_station(small_ward)
    pack = ready(small_ward)
    labels = Printout.objects.get(kind=Printout.Kind.LABELS)
    assert labels.location == small_ward
    assert sorted(labels.patients) == sorted(pack.patients)
    assert labels.page_count == 2  # a sheet per patient
    assert verifies(labels)
    about = json.loads(labels.statement)
    assert (about["item"], about["kind"], about["sha256"]) == (
        f"labels-{labels.pk}",
        "labels",
        labels.sha256,
    )
    texts = page_texts((pack_dir / "files" / labels.file_name).read_bytes())
    assert "MRN-1" in texts[0] or "MRN-1" in texts[1]

    ready(small_ward)  # nothing changed on the census
    assert Printout.objects.filter(kind=Printout.Kind.LABELS).count() == 1

    load([patient("p3", mrn="MRN-3"), encounter("e3", "p3", bed="bed-2")])
    ready(small_ward)
    assert Printout.objects.filter(kind=Printout.Kind.LABELS).count() == 2


def test_the_blank_forms_are_published_once_per_template_version(db):
    assert len(forms_due()) == 5

    published = forms_publish()

    assert sorted(p.key for p in published) == [
        "lab",
        "mar",
        "order",
        "progress",
        "registration",
    ]
    assert all(verifies(p) and p.location is None for p in published)
    assert forms_due() == []
    assert forms_publish() == []
    assert {p.title for p in published} >= {"Medication administration record"}


def test_a_block_of_downtime_numbers_is_published_for_its_ward(wards):  # noqa: F811
    ward_a, _ward_b = wards
    block = numbers_allocate(location=ward_a, count=21, user=person("ivan", "it"))
    assert number_labels_due() == [block]

    printout = number_labels_publish(block=block)

    assert number_labels_due() == []
    assert (printout.kind, printout.location, printout.key) == (
        "numbers",
        ward_a,
        f"block-{block.pk}",
    )
    assert printout.title == "DT0000018 - DT0000216"
    assert verifies(printout)


def test_older_printouts_go_beyond_the_newest_three(small_ward, pack_dir):
    on_a_station(small_ward)
    ready(small_ward)
    for number in range(5):
        load(
            [
                patient(f"q{number}", mrn=f"Q-{number}"),
                encounter(f"f{number}", f"q{number}", bed="bed-2"),
            ]
        )
        ready(small_ward)
    kept = Printout.objects.filter(kind=Printout.Kind.LABELS)
    assert kept.count() == 6
    oldest = kept.order_by("generated_at").first()

    deleted, files = printouts_prune()

    assert deleted == 3
    assert kept.count() == 3
    assert oldest.sha256 in files
