import pytest

from patients.ingest.sources import from_resources
from patients.models import Location
from patients.services import fhir_load_import
from tests.patients.fhir import allergy, encounter, patient, ward_with_beds


@pytest.fixture(autouse=True)
def pack_dir(settings, tmp_path):
    """Each test renders into a folder of its own."""
    settings.PACK_DIR = tmp_path / "packs"
    return settings.PACK_DIR


def load(resources: list[dict], feed: str = "test") -> None:
    summary = fhir_load_import(
        load=from_resources(resources, origin="test"), feed=feed, replace_sets=False
    )
    assert summary.quarantined == 0, summary.as_dict()


@pytest.fixture
def small_ward(db) -> Location:
    load(
        [
            *ward_with_beds("bed-1", "bed-2"),
            patient("p1", mrn="MRN-1"),
            patient("p2", mrn="MRN-2"),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            allergy("a1", "p1", "Latex"),
        ]
    )
    return Location.objects.get(kind=Location.Kind.WARD)
