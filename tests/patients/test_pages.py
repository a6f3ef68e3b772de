"""The nurses' pages: who may see what, what is logged, and what is shown."""

import datetime as dt
import html
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from patients.models import Appointment, FeedState, Location, Patient
from patients.templatetags.mirror import next_doses
from tests.patients.fhir import allergy, encounter, medication, patient, ward_with_beds
from tests.printouts.conftest import load
from tests.printouts.test_documents import code_status
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


@pytest.fixture
def wards(db) -> tuple[Location, Location]:
    """WARD-A with two patients (one severely allergic, on medication) and
    WARD-B with one, whom WARD-A's staff must not see."""
    load(
        [
            *ward_with_beds("bed-1", "bed-2"),
            {**ward_with_beds("bed-9")[0], "id": "ward-b", "name": "WARD-B"},
            {**ward_with_beds("bed-9")[1], "partOf": {"reference": "Location/ward-b"}},
            ward_with_beds("bed-9")[2],
            patient("p1", mrn="MRN-4711"),
            {
                **patient("p2", mrn="MRN-4712"),
                "name": [{"family": "Aalst", "given": ["Zoë"]}],
            },
            patient("p9", mrn="MRN-9"),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            encounter("e9", "p9", bed="bed-9"),
            {
                **allergy("a1", "p1", "Penicillin"),
                "criticality": "high",
            },
            medication("m1", "p1", "Paracetamol 1 g tablet"),
        ]
    )
    return (
        Location.objects.get(name="WARD-A"),
        Location.objects.get(name="WARD-B"),
    )


def pages(ward: Location, patient_id: int) -> list[str]:
    return [
        reverse("patients:census", args=[ward.pk]),
        reverse("patients:patient", args=[patient_id]),
    ]


def mrn(value: str) -> int:
    return Patient.objects.get(mrn=value).pk


def test_a_nurse_reads_her_wards_census_by_bed_and_by_name(
    client, wards, django_assert_max_num_queries
):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))

    with django_assert_max_num_queries(24):
        page = client.get(reverse("patients:census", args=[ward_a.pk]))

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    text = page.content.decode()
    assert text.index("MRN-4711") < text.index("MRN-4712")  # bed 1, bed 2
    assert f"{mark('Severe allergy:')}Penicillin" in text
    assert "MRN-9" not in text
    by_name = client.get(reverse("patients:census", args=[ward_a.pk]) + "?sort=name")
    text = by_name.content.decode()
    assert text.index("MRN-4712") < text.index("MRN-4711")  # Aalst first
    log = AccessLog.objects.filter(action="census").order_by("pk")
    assert log.count() == 2
    entry = log.first()
    assert (entry.username, entry.roles, entry.outcome) == ("anne", "nurse", "allowed")
    assert sorted(entry.patients) == sorted([mrn("MRN-4711"), mrn("MRN-4712")])
    assert entry.locations == [ward_a.pk]


def test_the_census_costs_the_same_queries_however_many_patients(client, wards):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    url = reverse("patients:census", args=[ward_a.pk])
    client.get(url)  # the session's first save differs
    with CaptureQueriesContext(connection) as two:
        client.get(url)
    load(
        [
            *ward_with_beds(*(f"bed-x{n}" for n in range(12))),
            *(patient(f"x{n}", mrn=f"MRN-X{n}") for n in range(12)),
            *(encounter(f"ex{n}", f"x{n}", bed=f"bed-x{n}") for n in range(12)),
            *(allergy(f"ax{n}", f"x{n}", "Latex") for n in range(12)),
        ]
    )
    with CaptureQueriesContext(connection) as fourteen:
        page = client.get(url)

    assert page.content.decode().count('href="/patients/') == 14
    assert len(fourteen) == len(two)


def test_a_patient_page_shows_allergies_first_and_what_a_nurse_needs(client, wards):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))

    page = client.get(reverse("patients:patient", args=[mrn("MRN-4711")]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert "MRN <strong>MRN-4711</strong>" in text
    assert text.index("Penicillin") < text.index("Active problems")
    assert "Paracetamol 1 g tablet" in text
    assert "Care team and contacts" in text
    entry = AccessLog.objects.get(action="patient")
    assert entry.patients == [mrn("MRN-4711")]
    assert entry.outcome == "allowed"


def test_another_wards_patient_is_404_like_a_missing_one_and_logged(client, wards):
    ward_a, ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    other = mrn("MRN-9")

    for url in pages(ward_b, other):
        assert client.get(url).status_code == 404
    assert client.get(reverse("patients:patient", args=[99999])).status_code == 404
    denied = AccessLog.objects.filter(outcome="denied")
    assert denied.count() == 3
    assert not AccessLog.objects.filter(outcome="allowed").exists()


def test_signed_out_visitors_go_to_sign_in_and_other_roles_get_403(client, wards):
    ward_a, _ward_b = wards
    for url in pages(ward_a, mrn("MRN-4711")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
    client.force_login(person("claire", "clerk", ward_a))
    for url in pages(ward_a, mrn("MRN-4711")):
        assert client.get(url).status_code == 403
    assert not AccessLog.objects.filter(outcome="allowed").exists()


def test_no_audit_row_no_data(client, wards, monkeypatch):
    """If the access log cannot be written, the patient data is not shown."""
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    client.raise_request_exception = False

    def broken(**kwargs):
        raise RuntimeError("the access log is unavailable")

    monkeypatch.setattr("patients.views.access_record", broken)
    for url in pages(ward_a, mrn("MRN-4711")):
        response = client.get(url)
        assert response.status_code == 500
        assert b"MRN-4711" not in response.content


def test_urls_and_the_log_hold_no_mrn_name_or_birth_date(client, wards):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    page = client.get(reverse("patients:census", args=[ward_a.pk]))
    for href in page.content.decode().split('href="')[1:]:
        url = href.split('"')[0]
        assert "MRN" not in url
        assert "Aalst" not in url
    client.get(reverse("patients:patient", args=[mrn("MRN-4711")]))
    for entry in AccessLog.objects.all():
        assert "MRN" not in entry.target


def lab_order(oid: str, pid: str, number: str, priority: str = "routine") -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": oid,
        "status": "active",
        "intent": "order",
        "priority": priority,
        "subject": {"reference": f"Patient/{pid}"},
        "identifier": [{"type": {"coding": [{"code": "PLAC"}]}, "value": number}],
        "code": {"text": "Potassium"},
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "108252007"}]}
        ],
    }


def test_pending_labs_list_the_wards_orders_and_not_anothers(client, wards):
    ward_a, ward_b = wards
    load(
        [
            lab_order("o1", "p1", "LAB-1", "stat"),
            lab_order("o2", "p2", "LAB-2"),
            lab_order("o9", "p9", "LAB-9"),
        ]
    )
    client.force_login(person("anne", "nurse", ward_a))

    page = client.get(reverse("patients:pending-labs", args=[ward_a.pk]))

    text = page.content.decode()
    assert "LAB-1" in text
    assert "LAB-2" in text
    assert "LAB-9" not in text
    entry = AccessLog.objects.get(action="pending_labs")
    assert sorted(entry.patients) == sorted([mrn("MRN-4711"), mrn("MRN-4712")])
    other = reverse("patients:pending-labs", args=[ward_b.pk])
    assert client.get(other).status_code == 404


def test_a_clinic_clerk_reads_the_days_call_list_with_phone_numbers(client):
    call_command("seed_demo", "--wards", "1", "--beds", "2", stdout=io.StringIO())
    clinics = Location.objects.filter(kind=Location.Kind.CLINIC).order_by("name")
    mine, theirs = clinics[0], clinics[1]
    client.force_login(person("claire", "clerk", mine))
    today = timezone.localdate()
    first = Appointment.objects.filter(clinic=mine).order_by("starts_at").first()
    Appointment.objects.filter(pk=first.pk).update(status="booked")
    booked = Appointment.objects.filter(
        clinic=mine, starts_at__date=today, status__in=Appointment.TO_HONOUR
    ).select_related("patient")

    page = client.get(reverse("patients:clinic", args=[mine.pk]))

    text = page.content.decode()
    assert booked.exists()
    for appointment in booked:
        assert html.escape(appointment.patient.phone) in text
    entry = AccessLog.objects.get(action="clinic")
    assert sorted(entry.patients) == sorted(booked.values_list("patient", flat=True))
    assert client.get(reverse("patients:clinic", args=[theirs.pk])).status_code == 404
    tomorrow = client.get(
        reverse("patients:clinic", args=[mine.pk]),
        {"day": (today + dt.timedelta(days=1)).isoformat()},
    )
    assert tomorrow.status_code == 200


@pytest.mark.parametrize(
    ("term", "kind"),
    [
        ("zoe", "name"),  # Zoë, accents ignored
        ("AAL", "name"),  # part of the family name, any case
        ("mrn-4712", "MRN"),
        ("01/03/1950", "birth date"),
    ],
)
def test_search_finds_by_name_mrn_or_birth_date_within_the_users_wards(
    client, wards, term, kind
):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))

    page = client.post(reverse("patients:search"), {"q": term})

    text = page.content.decode()
    assert "MRN-4712" in text
    assert "MRN-9" not in text  # another ward's patient, same birth date
    entry = AccessLog.objects.get(action="search")
    assert entry.target == f"by {kind}"
    assert term not in entry.target
    assert mrn("MRN-4712") in entry.patients


def test_a_search_term_is_never_in_the_url(client, wards):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    form = client.get(reverse("patients:search")).content.decode()
    assert 'method="post"' in form
    assert client.get(reverse("patients:search"), {"q": "Aalst"}).status_code == 200
    assert not AccessLog.objects.filter(action="search").exists()
    empty = client.post(reverse("patients:search"), {"q": "x"})
    assert "at least 2 characters" in empty.content.decode()


def test_list_pages_cost_a_bounded_number_of_queries_and_need_a_role(
    client, wards, django_assert_max_num_queries
):
    ward_a, _ward_b = wards
    load([lab_order(f"o{n}", "p1", f"LAB-{n}") for n in range(10)])
    client.force_login(person("anne", "nurse", ward_a))
    with django_assert_max_num_queries(20):
        labs = client.get(reverse("patients:pending-labs", args=[ward_a.pk]))
    assert labs.content.decode().count("LAB-") == 10
    with django_assert_max_num_queries(20):
        client.post(reverse("patients:search"), {"q": "MRN-4711"})

    client.force_login(person("nobody", None, ward_a))  # no role yet
    assert (
        client.get(reverse("patients:pending-labs", args=[ward_a.pk])).status_code
        == 403
    )
    assert client.post(reverse("patients:search"), {"q": "aalst"}).status_code == 403


def test_a_clerk_is_not_offered_the_patient_pages(client, wards):
    ward_a, _ward_b = wards
    client.force_login(person("claire", "clerk", ward_a))
    home = client.get(reverse("patients:home")).content.decode()
    assert reverse("patients:search") not in home
    assert reverse("patients:census", args=[ward_a.pk]) not in home
    assert reverse("printouts:packs") in home
    client.force_login(person("anne", "nurse", ward_a))
    home = client.get(reverse("patients:home")).content.decode()
    assert reverse("patients:search") in home
    assert reverse("patients:census", args=[ward_a.pk]) in home


@pytest.mark.parametrize(
    ("minutes", "level"), [(5, "fresh"), (20, "amber"), (90, "red")]
)
def test_every_page_says_how_old_the_data_is_amber_then_red(
    client, wards, minutes, level
):
    ward_a, _ward_b = wards
    FeedState.objects.update(
        last_success_at=timezone.now() - dt.timedelta(minutes=minutes)
    )
    client.force_login(person("anne", "nurse", ward_a))

    for url in (
        reverse("patients:home"),
        *pages(ward_a, mrn("MRN-4711")),
        reverse("printouts:packs"),
    ):
        text = client.get(url).content.decode()
        assert f'class="freshness {level}"' in text
        assert f"({minutes} min ago)" in text


def test_next_doses_count_from_now_and_say_tomorrow():
    hour = timezone.localtime().hour
    later, earlier = (hour + 1) % 24, hour

    doses = next_doses([earlier, later])

    expected_later = f"{later:02d}:00" + (" tomorrow" if later == 0 else "")
    assert doses == [expected_later, f"{earlier:02d}:00 tomorrow"]


def mark(said: str) -> str:
    """The ⚠ as shown, and what a screen reader says instead."""
    hidden = '<span aria-hidden="true">⚠&nbsp;</span>'
    return f'<span class="visually-hidden">{said}</span> {hidden}'


def test_every_recorded_allergy_is_marked_not_only_severe_ones(client, wards):
    ward_a, _ward_b = wards
    load([{**allergy("a5", "p2", "Amoxicillin"), "criticality": "low", "reaction": []}])
    client.force_login(person("anne", "nurse", ward_a))

    census = client.get(reverse("patients:census", args=[ward_a.pk])).content.decode()
    page = client.get(reverse("patients:patient", args=[mrn("MRN-4712")]))

    said = '<span class="visually-hidden">Allergy:</span>'
    assert f'<span class="allergy-tag">{said} Amoxicillin</span>' in census
    severe = mark("Severe allergy:")
    assert f'<span class="allergy-tag severe">{severe}Penicillin</span>' in census
    assert (
        f'<p class="allergy">{said} <strong>Amoxicillin</strong>'
        in page.content.decode()
    )


def test_a_limited_code_status_and_an_isolation_are_marked(client, wards):
    ward_a, _ward_b = wards
    load(
        [
            code_status("f1", "p1", "No intubation, no ICU"),
            code_status("f2", "p2", "Full resuscitation"),
        ]
    )
    client.force_login(person("anne", "nurse", ward_a))

    census = client.get(reverse("patients:census", args=[ward_a.pk])).content.decode()
    page = client.get(reverse("patients:patient", args=[mrn("MRN-4711")])).content

    flag = f"{mark('Warning:')}No intubation, no ICU"
    assert f'<strong class="flag-strong">{flag}</strong>' in census
    assert "⚠&nbsp;</span>Full resuscitation" not in census
    assert flag in page.decode()


def test_like_names_on_a_ward_are_flagged_and_search_shows_birth_dates(client, wards):
    ward_a, _ward_b = wards
    load(
        [
            *ward_with_beds("bed-3"),
            {
                **patient("p3", mrn="MRN-4713", birthDate="1962-07-14"),
                "name": [{"family": "Peters", "given": ["Jan"]}],
            },
            encounter("e3", "p3", bed="bed-3"),
        ]
    )
    client.force_login(person("anne", "nurse", ward_a))

    census = client.get(reverse("patients:census", args=[ward_a.pk])).content.decode()
    own = client.get(reverse("patients:patient", args=[mrn("MRN-4711")])).content
    other = client.get(reverse("patients:patient", args=[mrn("MRN-4712")])).content
    found = client.post(reverse("patients:search"), {"q": "pe"}).content.decode()

    # PEETERS (bed 1) and PETERS (bed 3) on WARD-A; another PEETERS is on
    # WARD-B, which is not this ward's concern.
    assert census.count("⚠ NAME ALERT") == 2
    assert "similar name in bed BED-3" in census
    assert "similar name in bed BED-1" in census
    assert "⚠ NAME ALERT" in own.decode()
    assert "Check the MRN and the date of birth" in own.decode()
    assert "NAME ALERT" not in other.decode()
    assert '<td data-label="Born" class="born">14/07/1962</td>' in found
    assert '<td data-label="Born" class="born">01/03/1950</td>' in found


def test_weight_and_height_are_on_the_patient_page_or_said_missing(client, wards):
    ward_a, _ward_b = wards
    load(
        [
            {
                "resourceType": "Observation",
                "id": "w1",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": "2026-11-20T08:00:00Z",
                "valueQuantity": {"value": 64.5, "unit": "kg"},
            }
        ]
    )
    client.force_login(person("anne", "nurse", ward_a))

    weighed = client.get(reverse("patients:patient", args=[mrn("MRN-4711")]))
    unweighed = client.get(reverse("patients:patient", args=[mrn("MRN-4712")]))

    text = " ".join(weighed.content.decode().split())
    assert '<dt>Weight</dt><dd class="measure"><strong>64.5 kg</strong>' in text
    assert '<dt>Height</dt><dd class="measure"><em class="unmeasured">' in text
    assert unweighed.content.decode().count('class="unmeasured"') == 2
