"""`manage.py pull_fhir` against a real FHIR R4 server (sekmet-fhir) on 127.0.0.1,
loaded with the shared Synthea bundles."""

import io
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection

from patients.models import (
    Allergy,
    FeedState,
    Patient,
    Problem,
    QuarantinedResource,
)
from tests.patients.fhir import (
    BUNDLES,
    MIRRORED,
    bundle_server,
    fhir_request,
    sekmet_load,
    sekmet_server,
)
from tests.processes import free_port

pytestmark = pytest.mark.django_db

CURSOR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
COLUMNS = ("new", "updated", "unchanged", "older", "ignored", "quarantined", "deleted")
ONE_PATIENT_UPDATED = {"Patient": {**dict.fromkeys(COLUMNS, 0), "updated": 1}}


@pytest.fixture(scope="module")
def fhir_base(tmp_path_factory) -> Iterator[str]:
    """A sekmet-fhir server of our own, holding every Synthea bundle."""
    with sekmet_server(tmp_path_factory.mktemp("sekmet")) as base:
        sekmet_load(base, list(BUNDLES.glob("*.json")))
        yield base


def request(method: str, url: str, resource: dict | None = None) -> dict:
    return fhir_request(method, url, resource)


def entries_in_bundles() -> Counter:
    """Counted straight from the files: every entry is a POST, so every one is
    a resource of its own on the server (organisations and practitioners
    repeated in patient bundles included)."""
    counts = Counter()
    for path in BUNDLES.glob("*.json"):
        for entry in json.loads(path.read_text())["entry"]:
            assert entry["request"]["method"] == "POST"
            counts[entry["resource"]["resourceType"]] += 1
    return counts


def pull(base: str, *options: str) -> dict[str, dict[str, int]]:
    """Run the command; its summary table, by resource type and column."""
    out = io.StringIO()
    call_command("pull_fhir", "--base-url", base, *options, stdout=out)
    table = {}
    for line in out.getvalue().splitlines()[1:]:
        kind, *cells = line.split() or [""]
        if len(cells) == len(COLUMNS) and all(cell.isdigit() for cell in cells):
            table[kind] = dict(zip(COLUMNS, map(int, cells), strict=True))
    return table


def new_phone_on_server(base: str, nth: int) -> tuple[str, str]:
    """Give the ``nth`` patient on the server (by id) a new phone number, as
    the EHR would: GET, change, PUT. Returns its id and the number."""
    found = request("GET", f"{base}/Patient?_count=1000")
    ids = sorted(entry["resource"]["id"] for entry in found["entry"])
    pid = ids[nth]
    resource = request("GET", f"{base}/Patient/{pid}")
    phone = f"+32 2 555 {uuid.uuid4().int % 10**6:06d}"
    resource["telecom"] = [{"system": "phone", "value": phone, "use": "home"}]
    request("PUT", f"{base}/Patient/{pid}", resource)
    return pid, phone


def test_a_first_pull_mirrors_everything_the_server_holds_page_by_page(fhir_base):
    table = pull(fhir_base, "--page-size", "100")

    expected = entries_in_bundles()
    assert {kind: model.objects.count() for kind, model in MIRRORED.items()} == {
        kind: expected[kind] for kind in MIRRORED
    }
    assert expected["Observation"] > 100  # so several pages were read
    assert {kind: row["new"] for kind, row in table.items()} == {
        kind: expected[kind] for kind in MIRRORED if expected[kind]
    }
    assert not QuarantinedResource.objects.exists()
    state = FeedState.objects.get(name="fhir-pull")
    assert state.last_success_at is not None
    assert state.last_error == ""
    assert CURSOR.match(state.cursor)


def test_a_second_pull_brings_only_what_changed_since_the_first(fhir_base):
    pull(fhir_base, "--page-size", "1000")
    pid, phone = new_phone_on_server(fhir_base, 0)
    assert Patient.objects.get(source_id=pid).phone != phone

    table = pull(fhir_base, "--page-size", "1000")

    assert table == ONE_PATIENT_UPDATED
    assert Patient.objects.get(source_id=pid).phone == phone
    summary = FeedState.objects.get(name="fhir-pull").last_summary
    assert summary["counts"] == {"Patient": {"updated": 1}}


def test_a_failed_pull_keeps_the_cursor_and_the_next_one_resumes_from_it(
    fhir_base,
):
    pull(fhir_base, "--page-size", "1000")
    cursor = FeedState.objects.get(name="fhir-pull").cursor
    pid, phone = new_phone_on_server(fhir_base, 1)

    with pytest.raises(CommandError, match="starts again from the last successful"):
        pull(f"http://127.0.0.1:{free_port()}/fhir")

    state = FeedState.objects.get(name="fhir-pull")
    assert "GET /fhir/Organization failed" in state.last_error
    assert state.last_error_at is not None
    assert state.cursor == cursor
    assert Patient.objects.get(source_id=pid).phone != phone

    table = pull(fhir_base, "--page-size", "1000")

    assert table == ONE_PATIENT_UPDATED
    assert Patient.objects.get(source_id=pid).phone == phone
    state = FeedState.objects.get(name="fhir-pull")
    assert state.last_error == ""
    assert CURSOR.match(state.cursor)
    assert state.cursor > cursor


def first_on_server(base: str, kind: str) -> dict:
    return request("GET", f"{base}/{kind}?_count=1")["entry"][0]["resource"]


def test_what_the_server_deletes_leaves_the_mirror_at_the_next_pull(fhir_base):
    pull(fhir_base, "--page-size", "1000")
    problem = first_on_server(fhir_base, "Condition")
    allergy = first_on_server(fhir_base, "AllergyIntolerance")
    try:
        request("DELETE", f"{fhir_base}/Condition/{problem['id']}")
        request("DELETE", f"{fhir_base}/AllergyIntolerance/{allergy['id']}")
        # Deleted, then created again: the newest state counts.
        request("PUT", f"{fhir_base}/AllergyIntolerance/{allergy['id']}", allergy)

        table = pull(fhir_base, "--page-size", "1000")

        assert not Problem.objects.filter(source_id=problem["id"]).exists()
        assert Allergy.objects.filter(source_id=allergy["id"]).exists()
        assert table["Condition"]["deleted"] == 1
        assert table["AllergyIntolerance"]["deleted"] == 0
        # Its new version says what the mirror shows already.
        assert table["AllergyIntolerance"]["unchanged"] == 1
    finally:
        # The server is shared by this module's tests: put it back.
        request("PUT", f"{fhir_base}/Condition/{problem['id']}", problem)


def test_an_unexpected_failure_is_recorded_without_the_data_it_quotes(fhir_base):
    """A database that refuses a write (here a trigger, as a full disk or a
    revoked grant would) stops the pull; the feed's state says so."""
    pull(fhir_base, "--page-size", "1000")
    cursor = FeedState.objects.get(name="fhir-pull").cursor
    new_phone_on_server(fhir_base, 2)
    with connection.cursor() as cursor_:
        cursor_.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused: %', NEW.mrn; END $$"
        )
        cursor_.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON patients_patient "
            "FOR EACH ROW EXECUTE FUNCTION refuse()"
        )

    with pytest.raises(DatabaseError):
        pull(fhir_base, "--page-size", "1000")

    state = FeedState.objects.get(name="fhir-pull")
    assert state.last_error == (
        "ProgrammingError (unexpected; see the command or worker output)"
    )
    assert "refused" not in state.last_error
    assert state.last_error_at is not None
    assert state.cursor == cursor


@pytest.fixture
def broken_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers every search with a Bundle
    whose entries are not a list."""
    with bundle_server({"resourceType": "Bundle", "entry": "oops"}) as (base, _asked):
        yield base


def test_a_malformed_bundle_stops_the_pull_with_what_is_wrong(broken_server):
    message = "GET /fhir/Organization answered with a Bundle whose entry is not"
    with pytest.raises(CommandError, match=message):
        pull(broken_server)

    state = FeedState.objects.get(name="fhir-pull")
    assert state.last_error.startswith(message)
    assert state.cursor == ""
    assert not Patient.objects.exists()


def test_feeds_cut_during_a_pull_stop_it_before_the_next_page(fhir_base):
    """IT cuts the feeds while a pull is under way: the page being read is
    the last one applied, and the cursor stays for a later full window."""
    from downtime.services import downtime_declare
    from patients.services import FeedsIsolated, fhir_server_pull
    from tests.printouts.test_views import person

    ivan = person("ivan", None)
    pages = []

    def after_each_page(kind: str, count: int) -> None:
        pages.append((kind, count))
        if len(pages) == 1:  # the attack is noticed during the first page
            downtime_declare(
                user=ivan, kind="unplanned", reason="attack", isolate_feeds=True
            )

    with pytest.raises(FeedsIsolated, match="isolated during the pull"):
        fhir_server_pull(
            feed="fhir-pull", base_url=fhir_base, page_size=5, progress=after_each_page
        )
    assert len(pages) == 1
    assert sum(model.objects.count() for model in MIRRORED.values()) == pages[0][1]
    state = FeedState.objects.get(name="fhir-pull")
    assert state.cursor == ""
    assert "isolated during the pull" in state.last_error
