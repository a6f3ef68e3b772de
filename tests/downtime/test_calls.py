"""Postponement calls: the booked appointments a downtime postpones, by day
and clinic, with phone numbers; each call's outcome recorded, scoped by
clinic, logged; at recovery, the schedulers' worklist."""

import datetime as dt
import io

import pypdf
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from downtime.calls import call_appointments, call_record
from downtime.models import Call, Downtime, WorklistItem
from downtime.services import (
    downtime_declare,
    downtime_postponement_set,
    downtime_recover,
)
from patients.models import Appointment, Location
from tests.downtime.test_page import PASSWORD
from tests.patients.fhir import patient
from tests.printouts.conftest import load
from tests.printouts.pdfs import keep_png
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db
TABLE_0276 = "http://terminology.hl7.org/CodeSystem/v2-0276"


def clinic(cid: str, name: str) -> dict:
    return {
        "resourceType": "Location",
        "id": cid,
        "name": name,
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
    }


def appointment(aid: str, pid: str, cid: str, at: dt.datetime, **extra) -> dict:
    kind = extra.pop("kind", "FOLLOWUP")
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": extra.pop("status", "booked"),
        "start": at.isoformat(),
        "minutesDuration": 20,
        "description": "Control visit",
        "appointmentType": {"coding": [{"system": TABLE_0276, "code": kind}]},
        "participant": [
            {"actor": {"reference": f"Patient/{pid}"}},
            {"actor": {"reference": f"Location/{cid}"}},
        ],
        **extra,
    }


def caller(name: str, mobile: str, **extra) -> dict:
    return {
        **patient(name, mrn=f"MRN-{name.upper()}"),
        "name": [{"family": name.capitalize(), "given": ["Anna"]}],
        "telecom": [{"system": "phone", "value": mobile}],
        **extra,
    }


@pytest.fixture
def clinics(db) -> tuple[Location, Location]:
    """Cardiology: two booked appointments tomorrow (one urgent), one in
    three days, one cancelled; Dermatology: one tomorrow."""
    tomorrow = timezone.localtime().replace(
        hour=9, minute=0, second=0, microsecond=0
    ) + dt.timedelta(days=1)
    load(
        [
            clinic("card", "Cardiology"),
            clinic("derm", "Dermatology"),
            caller(
                "p1",
                "+32 470 11 11 11",
                contact=[
                    {
                        "name": {"family": "Claes", "given": ["Jan"]},
                        "relationship": [{"text": "Spouse"}],
                        "telecom": [{"system": "phone", "value": "+32 470 99 99 99"}],
                    }
                ],
            ),
            caller("p2", "+32 470 22 22 22"),
            caller("p3", "+32 470 33 33 33"),
            caller("p4", "+32 470 44 44 44"),
            caller("p9", "+32 470 99 00 00"),
            appointment("a1", "p1", "card", tomorrow),
            appointment("a2", "p2", "card", tomorrow, kind="EMERGENCY"),
            appointment("a3", "p3", "card", tomorrow + dt.timedelta(days=2)),
            appointment("a4", "p4", "card", tomorrow, status="cancelled"),
            appointment("a9", "p9", "derm", tomorrow),
        ]
    )
    return Location.objects.get(name="Cardiology"), Location.objects.get(
        name="Dermatology"
    )


def declared(hours: int | None = 36) -> Downtime:
    """An unplanned downtime expected to end in ``hours``: by default,
    whatever the time of day, after tomorrow's 09:00 and before the 09:00
    in three days (``clinics``)."""
    end = timezone.now() + dt.timedelta(hours=hours) if hours else None
    return downtime_declare(
        user=person("ivan", "it"),
        kind="unplanned",
        reason="Ransomware",
        expected_end=end,
    )


def ivan():
    return User.objects.get(username="ivan")


def listed(user, downtime: Downtime) -> list[str]:
    return list(
        call_appointments(user=user, downtime=downtime).values_list(
            "source_id", flat=True
        )
    )


def by_id(source_id: str) -> Appointment:
    return Appointment.objects.get(source_id=source_id)


def test_the_list_holds_the_booked_non_urgent_appointments_until_the_expected_end(
    clinics,
):
    card, _derm = clinics
    downtime = declared(hours=36)
    clerk = person("claire", "clerk", card)

    assert listed(clerk, downtime) == ["a1"]  # not urgent, not cancelled, in time
    assert sorted(listed(ivan(), downtime)) == ["a1", "a9"]  # IT: every clinic


def test_the_window_follows_the_expected_end_and_calls_keep_their_outcome(clinics):
    card, _derm = clinics
    downtime = declared(hours=36)
    clerk = person("claire", "clerk", card)
    call_record(
        downtime=downtime,
        appointment=by_id("a1"),
        user=clerk,
        outcome=Call.Outcome.POSTPONED,
        new_date=timezone.localdate() + dt.timedelta(days=30),
    )

    downtime_postponement_set(
        downtime=downtime,
        expected_end=timezone.now() + dt.timedelta(days=5),
        clinics=[],
        types=[],
        postpone_urgent=False,
    )

    outcomes = dict(
        call_appointments(user=clerk, downtime=downtime).values_list(
            "source_id", "outcome"
        )
    )
    assert outcomes == {"a1": "postponed", "a3": ""}


def test_it_chooses_clinics_types_and_urgent_ones(clinics):
    card, _derm = clinics
    downtime = declared()
    it = ivan()

    downtime_postponement_set(
        downtime=downtime,
        expected_end=downtime.expected_end,
        clinics=[card],
        types=["EMERGENCY"],
        postpone_urgent=True,
    )

    assert listed(it, downtime) == ["a2"]


def test_an_expected_end_gone_by_says_so(client, clinics):
    card, _derm = clinics
    downtime = declared(hours=36)
    downtime.expected_end = timezone.now() - dt.timedelta(minutes=5)
    downtime.save(update_fields=["expected_end"])
    client.force_login(person("claire", "clerk", card))

    text = client.get(reverse("downtime:calls", args=[downtime.pk])).content.decode()

    assert "The expected end has passed" in text


def test_no_expected_end_lists_the_horizon_and_says_so(client, clinics, settings):
    card, _derm = clinics
    settings.CALLS_HORIZON_DAYS = 1
    downtime = declared(hours=None)
    client.force_login(person("claire", "clerk", card))

    page = client.get(reverse("downtime:calls", args=[downtime.pk]))

    text = page.content.decode()
    assert "No expected end is set" in text
    assert "MRN-P3" not in text  # in three days
    settings.CALLS_HORIZON_DAYS = 7
    assert (
        "MRN-P3"
        in client.get(reverse("downtime:calls", args=[downtime.pk])).content.decode()
    )


def test_a_clerk_sees_her_clinics_calls_with_phone_numbers_and_it_is_logged(
    client, clinics, django_assert_max_num_queries
):
    card, _derm = clinics
    downtime = declared()
    client.force_login(person("claire", "clerk", card))
    url = reverse("downtime:calls", args=[downtime.pk])
    client.get(url)  # the session's first save differs

    with django_assert_max_num_queries(14):
        page = client.get(url)

    assert page.status_code == 200
    text = page.content.decode()
    assert "MRN-P1" in text
    assert "+32 470 11 11 11" in text
    assert "+32 470 99 99 99" in text
    assert "Spouse" in text
    assert "Control visit" in text
    assert "MRN-P9" not in text  # Dermatology's
    assert "MRN-P2" not in text  # urgent: seen anyway
    entry = AccessLog.objects.filter(action="calls").last()
    assert (entry.outcome, entry.locations) == ("allowed", [card.pk])
    assert entry.patients == [by_id("a1").patient_id]


def test_the_page_costs_the_same_queries_however_many_appointments(client, clinics):
    card, _derm = clinics
    downtime = declared()
    client.force_login(person("claire", "clerk", card))
    url = reverse("downtime:calls", args=[downtime.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    at = by_id("a1").starts_at
    load(
        [
            *(caller(f"x{n}", f"+32 470 00 00 {n:02d}") for n in range(10)),
            *(appointment(f"ax{n}", f"x{n}", "card", at) for n in range(10)),
        ]
    )
    with CaptureQueriesContext(connection) as eleven:
        page = client.get(url)

    assert page.content.decode().count("data-appointment=") == 11
    assert len(eleven) == len(one)


def test_a_call_is_recorded_with_its_tries_and_logged(client, clinics):
    card, _derm = clinics
    downtime = declared()
    client.force_login(person("claire", "clerk", card))
    visit = by_id("a1")
    url = reverse("downtime:call-add", args=[downtime.pk, visit.pk])

    for _try in range(2):
        client.post(url, {"outcome": "not_reached", "note": "voicemail"})
    answer = client.post(
        url, {"outcome": "postponed", "new_date": "2027-01-15", "note": ""}
    )

    assert answer.status_code == 302
    calls = Call.objects.filter(appointment=visit)
    assert list(calls.values_list("outcome", flat=True)) == [
        "not_reached",
        "not_reached",
        "postponed",
    ]
    assert calls.last().new_date == dt.date(2027, 1, 15)
    assert calls.last().called_by.username == "claire"
    logged = AccessLog.objects.filter(action="calls", target=f"call {visit.pk}")
    assert logged.count() == 3
    assert logged.first().patients == [visit.patient_id]
    page = client.get(reverse("downtime:calls", args=[downtime.pk]) + "?open=1")
    assert "MRN-P1" not in page.content.decode()  # done: not still to call
    day = timezone.localtime(visit.starts_at).date().isoformat()
    page = client.get(reverse("downtime:calls", args=[downtime.pk]), {"day": day})
    assert "2 tries without reaching" in page.content.decode()


def test_a_new_date_goes_with_a_postponement_only(client, clinics):
    card, _derm = clinics
    downtime = declared()
    client.force_login(person("claire", "clerk", card))
    visit = by_id("a1")

    client.post(
        reverse("downtime:call-add", args=[downtime.pk, visit.pk]),
        {"outcome": "urgent", "new_date": "2027-01-15"},
    )

    assert not Call.objects.exists()


def test_another_clinics_appointment_is_404_and_logged_denied(client, clinics):
    card, _derm = clinics
    downtime = declared()
    client.force_login(person("claire", "clerk", card))

    answer = client.post(
        reverse("downtime:call-add", args=[downtime.pk, by_id("a9").pk]),
        {"outcome": "postponed"},
    )

    assert answer.status_code == 404
    assert not Call.objects.exists()
    denied = AccessLog.objects.get(action="calls")
    assert (denied.outcome, denied.target) == (
        "denied",
        f"appointment {by_id('a9').pk}",
    )


def test_signed_out_visitors_sign_in_and_users_without_a_role_get_403(client, clinics):
    card, _derm = clinics
    downtime = declared()
    urls = [
        reverse("downtime:calls", args=[downtime.pk]),
        reverse("downtime:calls-pdf", args=[downtime.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(person("nobody", None, card))
    for url in urls:
        assert client.get(url).status_code == 403
    post = client.post(
        reverse("downtime:call-add", args=[downtime.pk, by_id("a1").pk]),
        {"outcome": "postponed"},
    )
    assert post.status_code == 403
    assert not Call.objects.exists()


def test_the_pdf_has_a_page_per_day_in_the_clinics_language_and_is_logged(
    client, clinics, settings
):
    card, _derm = clinics
    downtime = declared(hours=24 * 5)
    client.force_login(person("claire", "clerk", card))

    answer = client.get(reverse("downtime:calls-pdf", args=[downtime.pk]))

    assert answer["Content-Type"] == "application/pdf"
    pages = pypdf.PdfReader(io.BytesIO(answer.content)).pages
    assert len(pages) == 2  # tomorrow (a1) and in three days (a3)
    first, second = (page.extract_text() for page in pages)
    assert "MRN-P1" in first
    assert "+32 470 11 11 11" in first
    assert "MRN-P3" in second
    assert "MRN-P1" not in second
    assert "Printed by Marie Dupont" in first
    entry = AccessLog.objects.get(action="calls")
    assert entry.target == f"calls {downtime.pk} pdf"
    assert sorted(entry.patients) == sorted(
        [by_id("a1").patient_id, by_id("a3").patient_id]
    )
    assert not list(settings.DATA_DIR.rglob("*.pdf"))  # never stored
    keep_png(answer.content, 1, "calls-pdf.png")


def test_recovery_makes_the_schedulers_worklist(clinics):
    card, _derm = clinics
    downtime = declared(hours=24 * 5)
    it = ivan()
    call_record(
        downtime=downtime,
        appointment=by_id("a1"),
        user=it,
        outcome="postponed",
        new_date=dt.date(2027, 1, 15),
    )
    call_record(
        downtime=downtime, appointment=by_id("a3"), user=it, outcome="not_reached"
    )
    call_record(downtime=downtime, appointment=by_id("a9"), user=it, outcome="urgent")
    # The EHR removes the postponed appointment meanwhile (a merge, a delete):
    # its patient must still reach the schedulers.
    by_id("a1").delete()

    downtime_recover(downtime=downtime, user=it, why="EHR back")

    items = WorklistItem.objects.filter(
        downtime=downtime, worklist=WorklistItem.Worklist.SCHEDULING
    ).order_by("pk")
    assert [(i.mrn, i.ward) for i in items] == [
        ("MRN-P1", "Cardiology"),
        ("MRN-P3", "Cardiology"),
    ]
    assert "new date 15/01/2027" in items[0].what
    assert "not reached (1 tries)" in items[1].what
    assert items[0].location == card


def test_it_sets_the_postponement_on_the_downtime_page(client, clinics):
    card, _derm = clinics
    downtime = declared()
    it = ivan()
    client.force_login(it)
    end = timezone.localtime() + dt.timedelta(days=3)

    answer = client.post(
        reverse("downtime:postponement", args=[downtime.pk]),
        {
            "postpone-expected_end": end.strftime("%Y-%m-%dT%H:%M"),
            "postpone-clinics": [card.pk],
            "postpone-types": ["FOLLOWUP", "ROUTINE"],
            "postpone-password": PASSWORD,
        },
    )

    assert answer.status_code == 302
    downtime.refresh_from_db()
    assert list(downtime.postponed_clinics.all()) == [card]
    assert downtime.postponed_types == ["FOLLOWUP", "ROUTINE"]
    assert timezone.localtime(downtime.expected_end).strftime("%H:%M") == end.strftime(
        "%H:%M"
    )
    clerk = person("claire", "clerk", card)
    client.force_login(clerk)
    refused = client.post(
        reverse("downtime:postponement", args=[downtime.pk]),
        {"postpone-password": PASSWORD},
    )
    assert refused.status_code == 403
