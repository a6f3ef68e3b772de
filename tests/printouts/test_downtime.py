"""Packs rendered while a downtime is in progress say so on paper: on the
cover and on every page, with the time the data was frozen at; a drill says
it is one. A pack made before the downtime is not taken as up to date
during it."""

import datetime as dt

import pytest
from django.utils import timezone

from downtime.models import Downtime
from downtime.selectors import downtime_marking
from patients.models import Location
from printouts import documents
from printouts.models import Pack
from printouts.services import pack_path, pack_render, pack_request, packs_due
from tests.patients.fhir import patient
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts
from tests.printouts.test_documents import AS_OF, GENERATED

pytestmark = pytest.mark.django_db

FROZEN = dt.datetime(2026, 11, 22, 13, 2, tzinfo=dt.UTC)  # 14:02 in Brussels
MARKED = "DOWNTIME - data frozen at 22/11/2026 14:02"
DRILL = "DRILL - not a real downtime, the EHR is working"


def declared(state=Downtime.State.DOWNTIME, **fields) -> Downtime:
    return Downtime.objects.create(
        state=state,
        kind=Downtime.Kind.UNPLANNED,
        reason="Ransomware",
        declared_at=FROZEN + dt.timedelta(minutes=3),
        frozen_at=FROZEN,
        **fields,
    )


def texts_of(pack: Pack) -> list[str]:
    """Each page's text, its whitespace collapsed: the cover may wrap."""
    return [" ".join(text.split()) for text in page_texts(pack_path(pack).read_bytes())]


def rendered(place, **request) -> Pack:
    queued = pack_request(location=place, reason=Pack.Reason.COMMAND, **request)
    return pack_render(pack_id=queued.pk)


def test_a_pack_rendered_during_a_downtime_says_so_on_the_cover_and_every_page(
    small_ward,
):
    declared()

    texts = texts_of(rendered(small_ward))

    assert len(texts) == 4
    cover, *pages = texts
    assert cover.count(MARKED) == 2  # the cover's own, and the foot's
    for text in pages:
        assert MARKED in text
        assert "DOWNTIME COPY - CONFIDENTIAL" in text
        assert "DRILL" not in text


def test_a_pack_rendered_outside_a_downtime_or_after_it_is_not_marked(small_ward):
    before = texts_of(rendered(small_ward))
    declared(state=Downtime.State.RECOVERY)
    recovering = texts_of(rendered(small_ward))
    Downtime.objects.update(state=Downtime.State.CLOSED)
    after = texts_of(rendered(small_ward))

    for text in before + recovering + after:
        assert "DOWNTIME COPY - CONFIDENTIAL" in text
        assert "frozen" not in text
        assert "DOWNTIME -" not in text
        assert "DRILL" not in text


def test_a_drill_says_drill_on_the_cover_and_every_page_not_downtime(small_ward):
    declared(drill=True)

    texts = texts_of(rendered(small_ward))

    assert texts[0].count(DRILL) == 2
    for text in texts:
        assert DRILL in text
        assert "DOWNTIME -" not in text
        assert "frozen" not in text  # the EHR works, the feeds flow


def in_downtime(frozen_at: dt.datetime | None = FROZEN, **fields) -> Downtime:
    """A downtime in progress, not saved: what ``downtime_active`` returns."""
    return Downtime(state=Downtime.State.DOWNTIME, frozen_at=frozen_at, **fields)


def pack_of(ward, downtime: Downtime | None, language="en") -> documents.Document:
    return documents.ward_pack(
        ward=ward,
        as_of=AS_OF,
        generated_at=GENERATED,
        language=language,
        marking=downtime_marking(downtime),
    )


def test_a_downtime_declared_before_any_data_came_says_no_data_was_received(small_ward):
    pack = pack_of(small_ward, in_downtime(frozen_at=None))

    for text in page_texts(pack.pdf):
        assert "DOWNTIME - no data had been received" in " ".join(text.split())


def test_the_marking_speaks_the_pack_language(small_ward):
    pack = pack_of(small_ward, in_downtime(), language="fr")

    for text in page_texts(pack.pdf):
        assert "PANNE - données figées à 22/11/2026 14:02" in " ".join(text.split())


def test_the_patient_sections_stay_cached_across_a_downtime(small_ward):
    pack_of(small_ward, None)
    during = pack_of(small_ward, in_downtime())
    drill = pack_of(small_ward, in_downtime(drill=True))
    after = pack_of(small_ward, None)

    parts = 2 + 2  # cover, census, two patients
    assert (during.rendered, during.cached) == (1, parts - 1)  # a new cover only
    assert (drill.rendered, drill.cached) == (1, parts - 1)
    assert (after.rendered, after.cached) == (0, parts)  # the first cover again
    assert MARKED not in " ".join(page_texts(after.pdf))


def test_a_pack_made_before_the_downtime_is_due_again_during_it_and_after(
    small_ward,
):
    before = rendered(small_ward)
    later = timezone.now() + dt.timedelta(minutes=2)
    assert packs_due(now=later) == []

    downtime = declared()
    due = packs_due(now=later)
    assert len(due) == 1
    assert Pack.objects.get(pk=due[0]).reason == Pack.Reason.CHANGED
    during = pack_render(pack_id=due[0])
    assert during.content_digest != before.content_digest
    assert packs_due(now=later + dt.timedelta(minutes=2)) == []  # up to date now

    Downtime.objects.filter(pk=downtime.pk).update(state=Downtime.State.RECOVERY)
    after = packs_due(now=later + dt.timedelta(minutes=4))
    assert len(after) == 1
    assert pack_render(pack_id=after[0]).content_digest == before.content_digest


def test_the_digest_tells_a_downtime_from_a_drill_and_from_none(small_ward):
    now = timezone.now()

    def digest(downtime: Downtime | None) -> str:
        marking = downtime_marking(downtime)
        digests = documents.ward_digests(now=now, language="en", marking=marking)
        return digests[small_ward.pk]

    real, drill = in_downtime(), in_downtime(drill=True)
    recovery = Downtime(state=Downtime.State.RECOVERY, frozen_at=FROZEN)
    assert len({digest(None), digest(real), digest(drill)}) == 3
    assert digest(recovery) == digest(None)


def clinic_with_an_appointment(at: dt.datetime) -> Location:
    load(
        [
            {
                "resourceType": "Location",
                "id": "card",
                "name": "Cardiology",
                "type": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                "code": "CARD",
                            }
                        ]
                    }
                ],
            },
            patient("p1", mrn="MRN-1"),
            {
                "resourceType": "Appointment",
                "id": "ap1",
                "status": "booked",
                "start": at.isoformat(),
                "minutesDuration": 20,
                "participant": [
                    {"actor": {"reference": "Patient/p1"}},
                    {"actor": {"reference": "Location/card"}},
                ],
            },
        ]
    )
    return Location.objects.get(kind=Location.Kind.CLINIC)


def test_a_clinic_list_rendered_during_a_downtime_says_so_on_every_page():
    today = timezone.localdate()
    clinic = clinic_with_an_appointment(
        timezone.make_aware(dt.datetime.combine(today, dt.time(9, 30)))
    )
    outside = texts_of(rendered(clinic, kind=Pack.Kind.CLINIC, day=today))
    declared(drill=True)
    drill = texts_of(rendered(clinic, kind=Pack.Kind.CLINIC, day=today))
    Downtime.objects.update(drill=False)
    texts = texts_of(rendered(clinic, kind=Pack.Kind.CLINIC, day=today))

    assert "frozen" not in " ".join(outside)
    assert drill[0].count(DRILL) == 2  # atop the list too
    assert "PEETERS, Anaïs" in texts[0]
    assert texts[0].count(MARKED) == 2
    for text in texts:
        assert MARKED in text
