"""Paper speaks its ward's language (set by IT): packs, clinic lists, label
sheets and blank forms, stamps included, whatever the browser of the person
printing says; the EHR's own text stays as it came, and the web pages keep
the reader's language."""

import datetime as dt
import io
import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from accounts.services import demo_accounts_ensure
from downtime.numbers import number_labels_publish, numbers_allocate
from patients.models import Location
from printouts.models import Pack, Printout, WardLanguage
from printouts.published import forms_due, forms_publish, labels_publish
from printouts.selectors import printouts_kept
from printouts.services import pack_path, pack_render, pack_request, packs_due
from printouts.templatetags.packs import day_when, when
from tests.patients.fhir import (
    allergy,
    encounter,
    medication,
    patient,
    ward_with_beds,
)
from tests.printouts.conftest import load
from tests.printouts.pdfs import keep_png, page_texts
from tests.printouts.test_views import person
from tests.printouts.test_worker import renamed, render_sent
from tests.processes import celery_worker, redis_server, wait_for

pytestmark = pytest.mark.django_db

DUTCH_DATE = re.compile(r"\b\d{2}-\d{2}-\d{4} \d{2}:\d{2}\b")


def chart() -> list[dict]:
    """A ward of one patient whose EHR text has a Dutch and a French form
    of its own (Penicilline, Anaphylaxie): it must print as the EHR wrote it."""
    return [
        *ward_with_beds("bed-1"),
        patient("p1", mrn="MRN-1"),
        encounter("e1", "p1", bed="bed-1"),
        allergy("a1", "p1", "Penicillin"),
        medication("m1", "p1", "Amoxicillin 500 mg capsule"),
    ]


@pytest.fixture
def ward(db) -> Location:
    load(chart())
    return Location.objects.get(kind=Location.Kind.WARD)


def speaks(place: Location, language: str) -> Location:
    WardLanguage.objects.update_or_create(
        location=place, defaults={"language": language}
    )
    return Location.objects.get(pk=place.pk)


def rendered(place: Location) -> Pack:
    """The place's pack through the service the workers call."""
    return pack_render(pack_id=pack_request(location=place, reason="command").pk)


def words(text: str) -> str:
    return " ".join(text.split())


def test_a_dutch_wards_pack_is_in_dutch_with_the_ehr_text_as_it_came(ward):
    pack = rendered(speaks(ward, "nl"))

    assert pack.language == "nl"
    data = pack_path(pack).read_bytes()
    keep_png(data, 3, "pack-patient-nl.png")
    texts = [words(text) for text in page_texts(data)]
    for number, text in enumerate(texts, 1):
        assert "STORINGSKOPIE - VERTROUWELIJK" in text
        assert f"Pagina {number} van {len(texts)}" in text
        assert DUTCH_DATE.search(text.split("Gegevens van")[1])
    cover, census, section = texts[0], texts[1], "\n".join(texts[2:])
    assert "Pakket gemaakt op" in cover
    assert "Bezetting: WARD-A" in census
    for label in (
        "Allergieën en intoleranties",
        "Medicatietoedieningsblad",
        "Indien nodig (PRN)",
        "Ernstig",  # the severity, a fixed label
    ):
        assert label in section, label
    for english in ("Allergies and intolerances", "Medication administration"):
        assert english not in section
    # The EHR's own words, not translated.
    assert "Amoxicillin 500 mg capsule" in section
    assert "Penicillin" in section
    assert "Anaphylaxis" in section
    assert "Penicilline" not in section
    assert "Amoxicilline" not in section


def test_a_clerk_whose_browser_asks_for_french_prints_the_dutch_pack(client, ward):
    pack = rendered(speaks(ward, "nl"))
    client.force_login(person("marie", "clerk", ward))

    page = client.get(reverse("printouts:packs"), HTTP_ACCEPT_LANGUAGE="fr")
    printed = client.get(
        reverse("printouts:download", args=[pack.pk]), HTTP_ACCEPT_LANGUAGE="fr"
    )

    assert "Dossiers de secours" in page.text  # the page: the reader's language
    texts = [words(text) for text in page_texts(printed.content)]
    for text in texts:  # the stamp written at download time too
        assert "Afgedrukt door Marie Dupont op" in text
        assert "Imprimé" not in text
    assert "Allergieën en intoleranties" in "\n".join(texts)


@pytest.mark.django_db(transaction=True)
def test_a_french_ward_gets_its_pack_in_french_from_a_real_worker(
    tmp_path, test_database_url
):
    """The worker process runs with the hospital's language (English); the
    ward's own decides."""
    load(chart())
    ward = speaks(Location.objects.get(kind=Location.Kind.WARD), "fr")
    pack = pack_request(location=ward, reason=Pack.Reason.REQUESTED)
    with (
        redis_server(tmp_path) as (broker_url, _redis),
        celery_worker(
            broker_url=broker_url,
            database_url=test_database_url,
            log=tmp_path / "worker.log",
            extra_env={"DATA_DIR": str(tmp_path), "LANGUAGE_CODE": "en"},
        ),
    ):
        render_sent(broker_url, pack)
        wait_for(
            lambda: Pack.objects.get(pk=pack.pk).status == Pack.Status.READY,
            timeout=120,
            what=f"the pack rendered (log: {tmp_path / 'worker.log'})",
        )

    pack.refresh_from_db()
    texts = [words(text) for text in page_texts(pack_path(pack).read_bytes())]
    for number, text in enumerate(texts, 1):
        assert "COPIE DE PANNE - CONFIDENTIEL" in text
        assert f"Page {number} sur {len(texts)}" in text
    pages = "\n".join(texts)
    assert "Allergies et intolérances" in pages
    assert "Feuille d'administration des médicaments" in pages
    assert "Amoxicillin 500 mg capsule" in pages


def test_a_clinic_list_names_its_day_in_the_clinics_language():
    call_command("seed_demo", "--wards", "1", "--beds", "4", stdout=io.StringIO())
    clinic = speaks(Location.objects.filter(kind=Location.Kind.CLINIC).first(), "fr")
    today = timezone.localdate()

    pack = pack_render(
        pack_id=pack_request(
            location=clinic, kind=Pack.Kind.CLINIC, day=today, reason="command"
        ).pk
    )

    with translation.override("fr"):
        day = day_when(today.isoformat())
    first = words(page_texts(pack_path(pack).read_bytes())[0])
    assert f"Rendez-vous : {clinic.name}, {day}" in first
    assert day.split()[0] in {"lundi", "mardi", "mercredi", "jeudi", "vendredi"} | {
        "samedi",
        "dimanche",
    }


def test_it_setting_the_language_in_the_admin_has_the_pack_rendered_again(client, ward):
    first = rendered(ward)
    assert first.language == settings.LANGUAGE_CODE == "en"
    later = timezone.now() + dt.timedelta(seconds=settings.PACK_DEBOUNCE_SECONDS + 1)
    assert packs_due(now=later) == []  # nothing changed yet
    demo_accounts_ensure()
    client.force_login(User.objects.get(username="it"))

    form = client.get(reverse("admin:printouts_wardlanguage_add"))
    assert "whatever the browser of the person printing says" in form.text
    saved = client.post(
        reverse("admin:printouts_wardlanguage_add"),
        {"location": ward.pk, "language": "nl"},
    )

    assert saved.status_code == 302
    due = packs_due(now=later)
    assert len(due) == 1
    again = Pack.objects.get(pk=due[0])
    assert (again.reason, again.language) == (Pack.Reason.CHANGED, "nl")
    texts = page_texts(pack_path(pack_render(pack_id=again.pk)).read_bytes())
    assert "Allergieën en intoleranties" in "\n".join(texts)


def test_a_feed_that_updates_the_ward_leaves_its_language(ward):
    speaks(ward, "nl")

    load([renamed(ward, "Ward renamed")])

    ward.refresh_from_db()
    assert ward.name == "Ward renamed"
    assert WardLanguage.objects.get(location=ward).language == "nl"
    assert rendered(ward).language == "nl"


def test_label_sheets_and_blank_forms_follow_the_ward_not_the_browser(client, ward):
    speaks(ward, "nl")
    client.force_login(person("nina", "nurse", ward))

    labels = client.get(
        reverse("printouts:labels", args=[ward.pk]), HTTP_ACCEPT_LANGUAGE="fr"
    )
    form = client.get(
        reverse("printouts:form", args=["mar"]), HTTP_ACCEPT_LANGUAGE="fr"
    )
    french = client.get(
        reverse("printouts:form", args=["mar"]) + "?language=fr",
        HTTP_ACCEPT_LANGUAGE="nl",
    )

    assert "geboren" in page_texts(labels.content)[0]
    assert "Medicatietoedieningsblad" in page_texts(form.content)[0]
    assert "Feuille d'administration des médicaments" in page_texts(french.content)[0]
    unknown = client.get(reverse("printouts:form", args=["mar"]) + "?language=xx")
    assert unknown.status_code == 404
    published = labels_publish(ward=ward, as_of=timezone.now())
    assert published.language == "nl"
    assert "geboren" in page_texts(pack_path(published).read_bytes())[0]


def test_the_clerks_page_offers_each_form_in_each_of_her_wards_languages(client, ward):
    load([{**chart()[0], "id": "ward-b", "name": "WARD-B"}])
    other = speaks(Location.objects.get(source_id="ward-b"), "fr")
    client.force_login(person("marie", "clerk", ward, other))

    page = client.get(reverse("printouts:packs"), HTTP_ACCEPT_LANGUAGE="nl")

    mar = reverse("printouts:form", args=["mar"])
    assert f'href="{mar}?language=en"' in page.text
    assert f'href="{mar}?language=fr"' in page.text
    assert f'href="{mar}?language=nl"' not in page.text
    assert 'lang="fr"' in page.text


def test_stations_keep_the_blank_forms_and_number_labels_in_their_wards_language(
    ward,
):
    speaks(ward, "nl")
    it = User.objects.create_user("it-admin", password="pw-long-enough-1")

    published = forms_publish()
    block = numbers_allocate(location=ward, count=21, user=it)
    numbers = number_labels_publish(block=block)

    assert {p.language for p in published} == {"en", "nl"}
    assert forms_due() == []
    assert numbers.language == "nl"
    kept = printouts_kept(
        locations=Location.objects.filter(pk=ward.pk), languages=["nl"]
    )
    forms = [p for p in kept if p.kind == Printout.Kind.FORM]
    assert sorted(p.key for p in forms) == sorted(
        ["order", "mar", "lab", "progress", "registration"]
    )
    assert {p.language for p in forms} == {"nl"}
    mar = next(p for p in forms if p.key == "mar")
    assert mar.title == "Medicatietoedieningsblad"


def test_dates_on_paper_are_written_as_the_language_writes_them():
    moment, day = "2026-11-22T14:05:00+01:00", "2026-11-22"
    expected = {
        "en": ("22/11/2026 14:05", "Sunday 22/11/2026"),
        "fr": ("22/11/2026 14:05", "dimanche 22/11/2026"),
        "nl": ("22-11-2026 14:05", "zondag 22-11-2026"),
    }
    for language, written in expected.items():
        with translation.override(language):
            assert (when(moment), day_when(day)) == written
