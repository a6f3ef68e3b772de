"""Broken FHIR input ends in a result, never in a traceback: what cannot be
read is held in quarantine with the reason (the whole file when the file
cannot be read, the line or the resource when it can), everything else is
imported, and the command exits with status 1.

A complete source replaces allergy, problem and medication lists. A held
resource whose id can be read keeps its row, if the mirror has one, and the
rest of the list is replaced; a list type of which something was held unread
(no id to spare) is left as it was, so that a damaged line never removes an
allergy from the mirror.
"""

import codecs
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from patients.ingest.sources import MAX_DEPTH
from patients.models import (
    Allergy,
    Encounter,
    Observation,
    Patient,
    Problem,
    QuarantinedResource,
)
from tests.patients.fhir import (
    allergy,
    encounter,
    location,
    patient,
    ward_with_beds,
    write_bundle,
    write_ndjson,
)

pytestmark = pytest.mark.django_db


def condition(cid: str, pid: str, text: str, **extra) -> dict:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"text": text},
        "subject": {"reference": f"Patient/{pid}"},
        **extra,
    }


def observation(oid: str, pid: str, value: str) -> bytes:
    """An NDJSON line whose valueQuantity.value is ``value`` as written."""
    resource = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "Heart rate"},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": "VALUE", "unit": "/min"},
    }
    return json.dumps(resource).replace('"VALUE"', value).encode()


@pytest.fixture
def stale(tmp_path: Path) -> None:
    """A first complete import: p1 with an allergy and a problem that the
    next export no longer lists."""
    call_command(
        "import_fhir",
        str(
            write_ndjson(
                tmp_path / "before",
                [
                    patient("p1"),
                    allergy("a-old", "p1", "Old allergy"),
                    condition("c-old", "p1", "Old problem"),
                ],
            )
        ),
        stdout=io.StringIO(),
    )


def export(folder: Path, *bad: bytes, into: str = "AllergyIntolerance") -> Path:
    """A complete export of p1 (allergies a1 and a2, problems c1 and c2),
    with the ``bad`` lines in ``into``'s file between its two good ones."""
    write_ndjson(
        folder,
        [
            patient("p1"),
            allergy("a1", "p1", "Penicillin"),
            allergy("a2", "p1", "Latex"),
            condition("c1", "p1", "Asthma"),
            condition("c2", "p1", "Gout"),
        ],
    )
    path = folder / f"{into}.000.ndjson"
    first, rest = path.read_bytes().split(b"\n", 1)
    path.write_bytes(b"\n".join([first, *bad, rest]))
    return folder


def import_held(*paths: Path) -> str:
    """Import, expecting status 1 (quarantine); what the command printed."""
    out = io.StringIO()
    with pytest.raises(CommandError, match="resources were quarantined"):
        call_command("import_fhir", *map(str, paths), stdout=out)
    return out.getvalue()


def held() -> dict[str, QuarantinedResource]:
    return {row.origin: row for row in QuarantinedResource.objects.all()}


def lists() -> tuple[set[str], set[str]]:
    return (
        set(Allergy.objects.values_list("source_id", flat=True)),
        set(Problem.objects.values_list("source_id", flat=True)),
    )


def test_json_nested_too_deep_is_held_and_the_rest_imported(stale, tmp_path):
    at_the_limit = {
        **allergy("a3", "p1", "Iodine"),
        "extension": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)),
    }
    too_deep = b'{"resourceType": "AllergyIntolerance", "id": "a-deep", "x": '
    folder = export(
        tmp_path / "now",
        json.dumps(at_the_limit).encode(),
        too_deep + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
        too_deep + b"[" * 100_000 + b"]" * 100_000 + b"}",
    )

    out = import_held(folder)

    rows = held()
    assert len(rows) == 2
    for line in (3, 4):
        row = rows[f"AllergyIntolerance.000.ndjson line {line}"]
        assert row.reason == f"nested deeper than {MAX_DEPTH} levels"
        assert row.resource_type == "AllergyIntolerance"
        assert row.raw.startswith(too_deep.decode())
    assert lists() == ({"a-old", "a1", "a2", "a3"}, {"c1", "c2"})
    assert "AllergyIntolerance: the source is complete, but" in out
    assert "Condition: the source is complete" not in out


def test_a_raw_nul_byte_holds_back_its_line_only(stale, tmp_path):
    bad = b'{"resourceType": "AllergyIntolerance", "id": "a9", "note": "x\x00y"}'
    folder = export(tmp_path / "now", bad)

    out = import_held(folder)

    row = QuarantinedResource.objects.get()
    assert row.origin == "AllergyIntolerance.000.ndjson line 2"
    assert row.reason == (
        f"holds a NUL byte (first at offset {bad.index(0)}), which JSON text "
        "cannot hold"
    )
    assert row.raw == bad.decode().replace("\x00", "\\u0000")
    assert row.resource_type == "AllergyIntolerance"
    assert lists() == ({"a-old", "a1", "a2"}, {"c1", "c2"})
    assert f"Not imported: AllergyIntolerance.000.ndjson line 2: {row.reason}" in out


def test_a_raw_nul_byte_holds_back_the_whole_bundle_not_its_neighbour(stale, tmp_path):
    folder = tmp_path / "now"
    folder.mkdir()
    write_bundle(
        folder / "good.json",
        [patient("p1"), allergy("a1", "p1", "Penicillin"), condition("c1", "p1", "X")],
    )
    bad = write_bundle(folder / "bad.json", [allergy("a9", "p1", "Nuts")])
    bad.write_bytes(bad.read_bytes().replace(b"Nuts", b"Nu\x00ts"))

    out = import_held(folder)

    row = QuarantinedResource.objects.get()
    assert (row.origin, row.resource_type, row.resource_id) == ("bad.json", "", "")
    assert row.reason.startswith("holds a NUL byte (first at offset ")
    assert "Nu\\u0000ts" in row.raw
    # What the unread bundle held could be on any list: none is replaced.
    assert lists() == ({"a-old", "a1"}, {"c-old", "c1"})
    assert "AllergyIntolerance: the source is complete, but" in out
    assert "Condition: the source is complete, but" in out


def test_an_escaped_nul_character_holds_back_that_resource_only(stale, tmp_path):
    by_identifier = {"identifier": {"system": "urn:test:mrn", "value": "p\u00001"}}
    folder = export(
        tmp_path / "now",
        json.dumps(allergy("a9", "p1", "Pea\u0000nuts")).encode(),
        json.dumps({**allergy("a8", "p1", "Soy"), "patient": by_identifier}).encode(),
    )

    import_held(folder)

    rows = {row.resource_id: row for row in QuarantinedResource.objects.all()}
    assert rows["a9"].reason == (
        "AllergyIntolerance.code.text holds a NUL character (\\u0000), which the "
        "mirror cannot store"
    )
    assert rows["a9"].patient_source_id == "p1"
    assert json.loads(rows["a9"].raw)["code"]["text"] == "Pea\u0000nuts"
    assert rows["a8"].reason.startswith(
        "AllergyIntolerance.patient.identifier.value holds a NUL character"
    )
    assert lists() == ({"a1", "a2"}, {"c1", "c2"})


def test_a_nul_character_in_a_bundle_holds_back_that_entry_only(stale, tmp_path):
    bundle = write_bundle(
        tmp_path / "now.json",
        [
            patient("p1"),
            allergy("a1", "p1", "Penicillin"),
            allergy("a9", "p1", "Pea\u0000nuts"),
            condition("c1", "p1", "Asthma"),
        ],
    )

    import_held(bundle)

    row = QuarantinedResource.objects.get()
    assert (row.origin, row.resource_id) == ("now.json entry 3", "a9")
    assert row.reason.startswith("AllergyIntolerance.code.text holds a NUL")
    assert lists() == ({"a1"}, {"c1"})


def test_a_lone_surrogate_is_held_and_a_good_patients_allergies_all_arrive(
    stale, tmp_path
):
    folder = export(
        tmp_path / "now",
        json.dumps(patient("p2")).encode(),
        into="Patient",
    )
    with (folder / "AllergyIntolerance.000.ndjson").open("ab") as lines:
        lines.write(b'\n{"resourceType": "AllergyIntolerance", "id": "a9", ')
        lines.write(b'"code": {"text": "Sulfa\\ud800"}, ')
        lines.write(b'"patient": {"reference": "Patient/p2"}}\n')

    out = import_held(folder)

    row = QuarantinedResource.objects.get()
    assert row.resource_id == "a9"
    assert row.reason == (
        "AllergyIntolerance.code.text holds a lone surrogate (\\ud800), which is "
        "not a character: the text was cut or mis-encoded at the source"
    )
    assert row.patient_source_id == "p2"
    assert "Sulfa\\ud800" in row.raw
    assert set(Patient.objects.values_list("source_id", flat=True)) == {"p1", "p2"}
    assert set(
        Allergy.objects.filter(patient__source_id="p1").values_list(
            "source_id", "substance"
        )
    ) == {("a1", "Penicillin"), ("a2", "Latex")}
    assert lists() == ({"a1", "a2"}, {"c1", "c2"})
    assert "Not imported: AllergyIntolerance.000.ndjson line 4:" in out

    with pytest.raises(CommandError, match="1 resources were quarantined"):
        call_command("replay_quarantine", stdout=io.StringIO())
    assert QuarantinedResource.objects.get().status == "held"


def test_a_lone_surrogate_in_a_bundle_holds_back_that_entry_only(stale, tmp_path):
    bundle = write_bundle(
        tmp_path / "now.json",
        [
            patient("p1"),
            allergy("a1", "p1", "Penicillin"),
            condition("c-old", "p1", "Asthma \ud83d"),
            condition("c2", "p1", "Gout"),
        ],
    )

    import_held(bundle)

    row = QuarantinedResource.objects.get()
    assert (row.origin, row.resource_id) == ("now.json entry 3", "c-old")
    assert "holds a lone surrogate (\\ud83d)" in row.reason
    assert "Asthma \\ud83d" in row.raw
    # The held problem keeps its row as it was; the rest of the list is replaced.
    assert lists() == ({"a1"}, {"c-old", "c2"})
    assert Problem.objects.get(source_id="c-old").description == "Old problem"


def test_nan_and_infinity_are_held_never_stored_as_numbers(stale, tmp_path):
    folder = export(
        tmp_path / "now",
        json.dumps(condition("c9", "p1", "Fever", onsetAge={"value": 1})).encode(),
        into="Condition",
    )
    path = folder / "Condition.000.ndjson"
    path.write_bytes(path.read_bytes().replace(b'"value": 1}', b'"value": NaN}'))
    (folder / "Observation.000.ndjson").write_bytes(
        b"\n".join(
            observation(oid, "p1", value)
            for oid, value in [
                ("o1", "72"),
                ("o2", "NaN"),
                ("o3", "Infinity"),
                ("o4", "-Infinity"),
                ("o5", "1e400"),
                ("o6", "1" + "0" * 400),
            ]
        )
    )

    import_held(folder)

    reasons = dict(QuarantinedResource.objects.values_list("resource_id", "reason"))
    value = "Observation.valueQuantity.value"
    assert reasons == {
        "c9": "Condition.onsetAge.value is NaN, which is not a number JSON allows",
        "o2": f"{value} is NaN, which is not a number JSON allows",
        "o3": f"{value} is Infinity (or a number too large to hold), which JSON "
        "does not allow",
        "o4": f"{value} is -Infinity (or a number too large to hold), which JSON "
        "does not allow",
        "o5": f"{value} is Infinity (or a number too large to hold), which JSON "
        "does not allow",
        "o6": f"{value} is a number too large to hold",
    }
    assert list(Observation.objects.values_list("source_id", "value")) == [("o1", "72")]
    assert lists() == ({"a1", "a2"}, {"c1", "c2"})


def test_latin1_bytes_hold_back_the_whole_json_file(stale, tmp_path):
    folder = tmp_path / "now"
    folder.mkdir()
    write_bundle(
        folder / "good.json",
        [patient("p1"), allergy("a1", "p1", "Latex"), condition("c1", "p1", "Gout")],
    )
    latin1 = (
        b'{"resourceType": "Patient", "id": "p2", "name": [{"family": "Cl\xe9ment"}]}'
    )
    (folder / "bad.json").write_bytes(codecs.BOM_UTF8 + latin1)

    import_held(folder)

    row = QuarantinedResource.objects.get()
    assert row.origin == "bad.json"
    offset = len(codecs.BOM_UTF8) + latin1.index(0xE9)  # of the file, as is
    assert row.reason == f"not UTF-8 (first bad byte at offset {offset})"
    assert row.raw.endswith('"name": [{"family": "Cl\\xe9ment"}]}')
    assert list(Patient.objects.values_list("source_id", flat=True)) == ["p1"]
    assert lists() == ({"a-old", "a1"}, {"c-old", "c1"})


def test_latin1_bytes_in_an_ndjson_line_hold_back_that_line_only(stale, tmp_path):
    bad = b'{"resourceType": "AllergyIntolerance", "id": "a9", "note": "Cl\xe9ment"}'
    folder = export(tmp_path / "now", bad)

    out = import_held(folder)

    row = QuarantinedResource.objects.get()
    assert row.origin == "AllergyIntolerance.000.ndjson line 2"
    assert row.reason == f"not UTF-8 (first bad byte at offset {bad.index(0xE9)})"
    assert row.resource_type == "AllergyIntolerance"
    assert row.raw == bad.decode("latin-1").replace("\xe9", "\\xe9")
    assert lists() == ({"a-old", "a1", "a2"}, {"c1", "c2"})
    assert "AllergyIntolerance: the source is complete, but" in out


def test_an_export_file_that_cannot_be_read_is_held_and_the_rest_imported(
    stale, tmp_path
):
    folder = export(tmp_path / "now")
    (folder / "AllergyIntolerance.000.ndjson").unlink()
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "transactionTime": "2026-11-22T10:00:00Z",
                "request": "https://ehr.example/fhir/$export",
                "output": [
                    {"type": kind, "url": f"https://ehr.example/f/{kind}.000.ndjson"}
                    for kind in ("Patient", "AllergyIntolerance", "Condition")
                ],
            }
        )
    )

    import_held(folder)

    row = QuarantinedResource.objects.get()
    assert row.origin == "AllergyIntolerance.000.ndjson"
    assert row.reason == "could not be read (No such file or directory)"
    assert row.resource_type == "AllergyIntolerance"
    assert lists() == ({"a-old"}, {"c1", "c2"})


def test_a_time_the_database_cannot_give_back_is_held(tmp_path):
    write_ndjson(
        tmp_path,
        [patient("p1", deceasedDateTime="0001-01-01T00:00:00+14:00"), patient("p2")],
    )

    import_held(tmp_path)

    row = QuarantinedResource.objects.get()
    assert row.reason == (
        "Patient.deceasedDateTime is outside the years 1 to 9999 in UTC"
    )
    assert list(Patient.objects.values_list("source_id", flat=True)) == ["p2"]


@pytest.mark.parametrize("status", ["arrived", "in-progress", "onleave"])
def test_an_inpatient_stay_whose_locations_give_no_ward_is_held(tmp_path, status):
    """The bed's ward lacks physicalType (it is no ward to the mirror): the
    stay would be on no ward's census. The stay on a ward is imported."""
    unmarked = location("ward-x", "wa")
    del unmarked["physicalType"]
    write_ndjson(
        tmp_path,
        [
            *ward_with_beds("bed-1"),
            unmarked,
            location("room-x", "ro", part_of="ward-x"),
            location("bed-x", "bd", part_of="room-x"),
            patient("p1"),
            patient("p2"),
            encounter("e1", "p1", status=status, bed="bed-x"),
            encounter("e2", "p2", status=status, bed="bed-1"),
        ],
    )

    import_held(tmp_path)

    row = QuarantinedResource.objects.get()
    assert row.resource_id == "e1"
    assert "on no ward" in row.reason
    stay = Encounter.objects.select_related("ward", "bed").get()
    assert (stay.source_id, stay.ward.source_id, stay.bed.source_id) == (
        "e2",
        "ward-a",
        "bed-1",
    )


def test_an_inpatient_stay_that_names_no_location_is_held(tmp_path):
    write_ndjson(tmp_path, [patient("p1"), encounter("e1", "p1")])

    import_held(tmp_path)

    assert "on no ward" in QuarantinedResource.objects.get().reason
    assert not Encounter.objects.exists()
