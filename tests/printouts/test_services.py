"""The pack pipeline: rows first, atomic publish, what is due, retention."""

import datetime as dt
import hashlib
import io
import socket

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from patients.ingest.references import Ref
from patients.ingest.sources import from_resources
from patients.models import FeedState, Patient
from patients.services import fhir_load_import
from printouts.documents import ward_digests
from printouts.models import Pack, PackSchedule
from printouts.services import (
    pack_path,
    pack_render,
    pack_request,
    packs_due,
    packs_prune,
)
from tests.patients.fhir import allergy, encounter, location, medication, patient
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts

pytestmark = pytest.mark.django_db


def rendered(ward, reason=Pack.Reason.COMMAND) -> Pack:
    return pack_render(pack_id=pack_request(location=ward, reason=reason).pk)


def test_a_pack_is_published_under_its_sha256_and_only_then_ready(small_ward):
    queued = pack_request(location=small_ward, reason=Pack.Reason.REQUESTED)
    assert queued.status == Pack.Status.QUEUED
    with pytest.raises(ValueError, match="has no file"):
        pack_path(queued)
    again = pack_request(location=small_ward, reason=Pack.Reason.SCHEDULED)
    assert again.pk == queued.pk  # one queued render per ward

    pack = pack_render(pack_id=queued.pk)

    data = pack_path(pack).read_bytes()
    assert pack.status == Pack.Status.READY
    assert pack.sha256 == hashlib.sha256(data).hexdigest()
    assert pack.size == len(data)
    assert pack.page_count == 4  # cover, census, one page a patient
    assert pack.patient_count == 2
    assert pack.content_digest
    assert pack.attempts == 1
    assert pack.worker
    assert pack.as_of == FeedState.objects.get(name="test").last_success_at
    leftovers = [p for p in pack_path(pack).parent.iterdir() if p != pack_path(pack)]
    assert leftovers == []  # nothing half-written; no label sheets without a station


def test_every_page_names_the_feeds_older_than_its_data_as_of_time(small_ward):
    """ "Data as of" is the newest feed's time; a feed that stopped (or never
    worked) may hold older data, and every page says which."""
    FeedState.objects.create(
        name="nightly-pull",
        last_attempt_at=timezone.now(),
        last_success_at=dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC),
    )
    FeedState.objects.create(name="lab-pull", last_attempt_at=timezone.now())

    texts = page_texts(pack_path(rendered(small_ward)).read_bytes())

    for text in texts:
        assert (
            "⚠ older feeds: lab-pull never, nightly-pull 20/11/2026 10:00"
            in " ".join(text.split())
        )


def test_a_failed_render_leaves_the_previous_pack_ready(small_ward, settings, tmp_path):
    previous = rendered(small_ward)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    good_dir, settings.PACK_DIR = settings.PACK_DIR, blocker / "packs"

    failing = pack_request(location=small_ward, reason=Pack.Reason.REQUESTED)
    with pytest.raises(NotADirectoryError):
        pack_render(pack_id=failing.pk)

    failing.refresh_from_db()
    assert failing.status == Pack.Status.FAILED
    assert failing.error == "NotADirectoryError (see the worker or command output)"
    settings.PACK_DIR = good_dir
    previous.refresh_from_db()
    assert previous.status == Pack.Status.READY
    assert (
        hashlib.sha256(pack_path(previous).read_bytes()).hexdigest() == previous.sha256
    )


def test_a_ward_is_due_without_a_pack_then_when_its_data_changes(small_ward):
    now = timezone.now()
    first = packs_due(now=now)
    assert len(first) == 1
    assert Pack.objects.get(pk=first[0]).reason == Pack.Reason.SCHEDULED
    assert packs_due(now=now) == []  # queued already
    pack_render(pack_id=first[0])

    later = now + dt.timedelta(minutes=2)
    assert packs_due(now=later) == []  # nothing changed
    load(
        [{**patient("p2", mrn="MRN-2"), "telecom": [{"system": "phone", "value": "1"}]}]
    )
    changed = packs_due(now=later)

    assert len(changed) == 1
    assert Pack.objects.get(pk=changed[0]).reason == Pack.Reason.CHANGED


def test_the_digest_changes_with_what_the_pack_shows_and_only_then(small_ward):
    """The tick compares digests instead of reading every ward: a change it
    missed would leave an old pack ready, so each kind of change is tried."""
    now = timezone.now()

    def digest(at: dt.datetime = now) -> str:
        return ward_digests(now=at, language="en")[small_ward.pk]

    def changes(resources: list[dict], deleted: tuple[str, str] | None = None):
        before = digest()
        source = from_resources(resources, origin="test")
        if deleted:
            source.deleted.append(Ref(*deleted))
        fhir_load_import(load=source, feed="test", replace_sets=False)
        return digest() != before

    assert ward_digests(now=now, language="en") != ward_digests(now=now, language="fr")
    assert not changes([patient("p9", mrn="MRN-9")])  # not on the ward
    assert not changes([allergy("a1", "p1", "Latex")])  # the same again
    assert changes([allergy("a2", "p2", "Peanut")])
    assert changes([], deleted=("AllergyIntolerance", "a1"))
    # held in quarantine: the pages then say an allergy could not be read
    assert changes([{**allergy("a3", "p1", "Latex"), "recordedDate": "yesterday"}])
    assert changes([{**patient("p1", mrn="MRN-1"), "gender": "male"}])
    starts = now + dt.timedelta(hours=1)
    assert changes(
        [
            {
                **medication("m1", "p1", "Paracetamol 1 g tablet"),
                "authoredOn": starts.isoformat(),
            }
        ]
    )
    # Printed "from 14:00" until it starts; not after.
    assert (
        ward_digests(now=starts + dt.timedelta(minutes=1), language="en")[small_ward.pk]
        != digest()
    )
    assert changes([encounter("e2", "p2", bed="bed-2", status="finished")])
    assert changes([location("ward-a", "wa") | {"name": "Ward A2"}])


def test_rows_committed_by_a_pull_that_then_failed_are_put_on_paper(small_ward):
    """A pull that commits some chunks and then fails records no success
    time; the tick compares digests anyway, so the change is seen."""
    rendered(small_ward)
    succeeded = FeedState.objects.get(name="test").last_success_at
    Patient.objects.filter(source_id="p1").update(phone="1", source_hash="chunk 2")

    due = packs_due(now=timezone.now() + dt.timedelta(minutes=2))

    assert FeedState.objects.get(name="test").last_success_at == succeeded
    assert [Pack.objects.get(pk=pk).reason for pk in due] == [Pack.Reason.CHANGED]


def test_renders_are_debounced_and_refreshed_on_the_ward_schedule(small_ward, settings):
    settings.PACK_DEBOUNCE_SECONDS = 60
    now = timezone.now()
    pack = rendered(small_ward)
    load([{**patient("p1", mrn="MRN-1"), "gender": "male"}])

    assert packs_due(now=now + dt.timedelta(seconds=30)) == []  # within debounce
    assert len(packs_due(now=now + dt.timedelta(seconds=90))) == 1
    Pack.objects.filter(status=Pack.Status.QUEUED).delete()
    pack_render(pack_id=pack_request(location=small_ward, reason="command").pk)

    PackSchedule.objects.create(location=small_ward, refresh_minutes=5)
    assert packs_due(now=now + dt.timedelta(minutes=4)) == []
    due = packs_due(now=now + dt.timedelta(minutes=6))
    assert Pack.objects.get(pk=due[0]).reason == Pack.Reason.SCHEDULED
    assert pack.pk not in due


def test_a_pack_left_rendering_by_a_dead_worker_is_taken_back(small_ward, settings):
    pack = pack_request(location=small_ward, reason=Pack.Reason.SCHEDULED)
    started = timezone.now()
    Pack.objects.filter(pk=pack.pk).update(
        status=Pack.Status.RENDERING, started_at=started, worker="gone:1"
    )
    assert packs_due(now=started + dt.timedelta(seconds=60)) == []

    later = started + dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 61)
    assert packs_due(now=later) == [pack.pk]
    pack.refresh_from_db()
    assert pack.status == Pack.Status.QUEUED
    assert pack_render(pack_id=pack.pk).status == Pack.Status.READY


def test_retention_keeps_the_newest_packs_and_deletes_the_rest(small_ward):
    packs = []
    for phone in "1234":
        load(
            [
                {
                    **patient("p1", mrn="MRN-1"),
                    "telecom": [{"system": "phone", "value": phone}],
                }
            ]
        )
        packs.append(rendered(small_ward))
    files = [pack_path(p) for p in packs]
    assert len(set(files)) == 4

    assert packs_prune(keep=2) == 2

    assert list(Pack.objects.order_by("pk")) == packs[2:]
    assert [f.exists() for f in files] == [False, False, True, True]


def test_render_packs_renders_every_ward_without_celery(small_ward):
    out = io.StringIO()
    call_command("render_packs", "--all", stdout=out)

    pack = Pack.objects.get()
    assert pack.status == Pack.Status.READY
    assert pack.reason == Pack.Reason.COMMAND
    assert f"{small_ward.name}: 4 pages, 2 patients" in out.getvalue()
    assert str(pack_path(pack)) in out.getvalue()


def test_render_packs_names_an_unknown_ward(small_ward):
    with pytest.raises(CommandError, match="No single ward is called 4Z"):
        call_command("render_packs", "--ward", "4Z")
    assert not Pack.objects.exists()


def test_render_packs_due_renders_only_what_changed(small_ward, settings):
    settings.PACK_DEBOUNCE_SECONDS = 0
    first = rendered(small_ward)
    call_command("render_packs", "--due", stdout=io.StringIO())
    assert Pack.objects.count() == 1  # nothing changed

    load([{**patient("p1", mrn="MRN-1"), "gender": "male"}])
    call_command("render_packs", "--due", stdout=io.StringIO())

    again = Pack.objects.exclude(pk=first.pk).get()
    assert (again.status, again.reason) == (Pack.Status.READY, Pack.Reason.CHANGED)


def test_a_pack_another_worker_renders_is_not_taken_twice(small_ward):
    """A second message for a pack being rendered by a live worker (a resend,
    a second "render now") renders nothing; the pack stays that worker's."""
    pack = pack_request(location=small_ward, reason=Pack.Reason.REQUESTED)
    alive = f"{socket.gethostname()}:1"  # process 1 exists on every host
    now = timezone.now()
    Pack.objects.filter(pk=pack.pk).update(
        status=Pack.Status.RENDERING, started_at=now, heartbeat_at=now, worker=alive
    )

    again = pack_render(pack_id=pack.pk)

    assert (again.status, again.worker, again.attempts) == ("rendering", alive, 0)


def test_a_ward_that_keeps_failing_is_given_up_and_not_retried_every_minute(
    small_ward,
):
    pack = pack_request(location=small_ward, reason=Pack.Reason.REQUESTED)
    Pack.objects.filter(pk=pack.pk).update(attempts=5)

    given_up = pack_render(pack_id=pack.pk)

    assert given_up.status == Pack.Status.QUEUED  # as read before giving up
    given_up.refresh_from_db()
    assert (given_up.status, given_up.error) == ("failed", "given up after 5 attempts")
    assert packs_due(now=timezone.now() + dt.timedelta(minutes=2)) == []
    assert len(packs_due(now=timezone.now() + dt.timedelta(minutes=11))) == 1
