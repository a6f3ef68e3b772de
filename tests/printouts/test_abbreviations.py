"""No error-prone abbreviation anywhere a nurse or a clerk reads the demo
hospital: not on its pages, not in its packs, labels, call lists or forms.

ISMP's list: "U" and "IU" (read as 0, 4, IV or 10) are written "units",
"ug" and "µg" (read as mg) "micrograms"; a dose never has a trailing zero
(5.0 mg read as 50 mg) and always a leading one (.5 mg read as 5 mg). The
demo hospital has orders that the EHR sent in each of those forms, through
both feeds, so a page or a document that printed one fails here.
"""

import html
import io
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.services import demo_accounts_ensure
from downtime.models import WorklistItem
from downtime.services import downtime_declare, downtime_recover
from patients.models import Encounter, Location, MedicationOrder
from printouts import documents
from tests.printouts.pdfs import page_texts

pytestmark = pytest.mark.django_db

UNITS = r"U|IU|UI|ug|µg|μg|mcg"
# As a word: English text has no other use of these.
UNIT_WORD = re.compile(rf"(?<![\w'\[-])(?:{UNITS})(?![\w\]'-])")
# After a number: in any language (Dutch writes "U" for "you").
UNIT_AFTER_NUMBER = re.compile(rf"\d\s*(?:{UNITS})(?![\w\]'-])")
NO_LEADING_ZERO = re.compile(r"(?<![\w.])\.\d")
# A dose (its unit not a lab's concentration, g/dL) with a trailing zero.
TRAILING_ZERO = re.compile(
    r"(?<![\w.,])\d+[.,]\d*0(?!\d)\s*"
    r"(?:mg|g|mL|units?|micrograms?|milliunits?)\b(?!\s*/\s*d?L\b)"
)


def forbidden(text: str, *, english: bool = True) -> list[str]:
    """Each error-prone form in ``text``, with a little around it."""
    rules = [UNIT_AFTER_NUMBER, NO_LEADING_ZERO, TRAILING_ZERO]
    if english:
        rules.append(UNIT_WORD)
    return [
        text[max(0, m.start() - 30) : m.end() + 10]
        for rule in rules
        for m in rule.finditer(text)
    ]


# How the demo's risky orders and lab units read once written out.
WRITTEN_OUT = (
    "5000 units",
    "0.5 mg",
    "2 mg",
    "25 micrograms",
    "units/L",
    "every 8 hours",
    "max 2 mg per 24 h",
    "max 200 micrograms per 24 h",
)


def assert_written_safely(texts: dict[str, str], where: str) -> None:
    """No error-prone form in any of ``texts`` (by where they were read);
    those read where ``where`` begins show the demo's orders written out."""
    found = {name: forbidden(text) for name, text in texts.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}
    shown = " ".join(text for name, text in texts.items() if name.startswith(where))
    assert [form for form in WRITTEN_OUT if form not in shown] == []


def visible(page: str) -> str:
    """What a browser shows of an HTML page, whitespace made single."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page_texts(data)).split())


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The demo hospital as ``make demo`` builds it (FHIR, then the demo
    pharmacy's HL7 orders), once for the module, rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command(
            "seed_demo",
            "--wards",
            "2",
            "--beds",
            "8",
            "--seed",
            "3",
            stdout=io.StringIO(),
        )
        demo_accounts_ensure()
        yield
        transaction.set_rollback(True)


def test_the_scan_finds_each_error_prone_form():
    for text in ("16 U", "5000 IU", "75 ug", "25 µg", "2.0 mg", ".5 mg", "2.50 mg"):
        assert forbidden(f"Insulin {text} SC"), text
    assert forbidden("U/L")
    assert forbidden("10 UI", english=False)
    for text in ("16 units", "0.5 mg", "2 mg", "12.0 g/dL", "U-100", "10.30 uur"):
        assert not forbidden(text), text
    assert not forbidden("U bent afgemeld", english=False)


def test_the_demo_has_each_form_an_ehr_sends(demo):
    """Else the scan below would pass whatever the pages printed."""
    doses = set(MedicationOrder.objects.values_list("dose", flat=True))
    assert {"16 U", "5000 IU", "2.0 mg", ".5 mg", "25 ug"} <= doses
    prn = MedicationOrder.objects.filter(as_needed=True)
    assert prn.filter(source_feed="hl7").exclude(max_dose={}).exists()
    assert prn.filter(source_feed="demo").exclude(max_dose={}).exists()


def test_no_page_a_nurse_or_a_clerk_opens_shows_an_error_prone_form(demo, client):
    texts = dict(_pages(client))

    assert_written_safely(texts, "/patients/")
    pharmacy = " ".join(t for w, t in texts.items() if w.endswith("/pharmacy/"))
    assert "5000 units" in pharmacy
    assert "0.5 mg" in pharmacy


def _pages(client) -> Iterator[tuple[str, str]]:
    """(URL, visible text) of every page the demo's nurse and clerk open,
    and of the recovery worklists of a downtime."""
    nurse, clerk = (
        User.objects.get(username="nurse"),
        User.objects.get(username="clerk"),
    )
    wards = Location.objects.filter(kind=Location.Kind.WARD)
    clinics = Location.objects.filter(kind=Location.Kind.CLINIC)
    stays = Encounter.objects.on_census()
    client.force_login(nurse)
    urls = [reverse("patients:home")]
    for ward in wards:
        urls += [
            reverse("patients:census", args=[ward.pk]),
            reverse("patients:pending-labs", args=[ward.pk]),
        ]
    urls += [reverse("patients:patient", args=[s.patient_id]) for s in stays]
    yield from _get(client, urls)
    family = stays.select_related("patient").first().patient.family
    searched = client.post(reverse("patients:search"), {"q": family})
    yield "search", visible(searched.content.decode())
    downtime = downtime_declare(
        user=User.objects.get(username="it"), kind="unplanned", reason="Test"
    )
    downtime_recover(downtime=downtime, user=User.objects.get(username="it"), why="x")
    yield from _get(
        client,
        [
            reverse("downtime:worklist", args=[downtime.pk, name])
            for name in WorklistItem.Worklist.values
        ],
    )
    client.force_login(clerk)
    yield from _get(
        client,
        [reverse("patients:home"), reverse("printouts:packs")]
        + [reverse("patients:clinic", args=[c.pk]) for c in clinics],
    )


def _get(client, urls: list[str]) -> Iterator[tuple[str, str]]:
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        yield url, visible(response.content.decode())


def test_no_pack_label_sheet_call_list_or_form_prints_an_error_prone_form(demo):
    now = timezone.now()
    times = {"as_of": now, "generated_at": now}
    texts = {}
    for ward in Location.objects.filter(kind=Location.Kind.WARD):
        pack = documents.ward_pack(ward=ward, language="en", **times)
        texts[f"pack {ward.pk}"] = pdf_text(pack.pdf)
        labels = documents.label_sheets(ward=ward, language="en")
        texts[f"labels {ward.pk}"] = pdf_text(labels.pdf)
    for clinic in Location.objects.filter(kind=Location.Kind.CLINIC):
        listing = documents.clinic_list(
            clinic=clinic, day=timezone.localdate(), language="en", **times
        )
        texts[f"clinic {clinic.pk}"] = pdf_text(listing.pdf)
    for form in documents.FORMS:
        texts[f"form {form}"] = pdf_text(documents.blank_form(form=form, language="en"))

    assert_written_safely(texts, "pack")


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_a_french_or_dutch_pack_spells_units_out_too(demo, language):
    now = timezone.now()
    ward = Location.objects.filter(kind=Location.Kind.WARD).order_by("name")[0]

    pack = documents.ward_pack(
        ward=ward, language=language, as_of=now, generated_at=now
    )

    text = pdf_text(pack.pdf)
    assert forbidden(text, english=False) == []
    assert {"fr": "5000 unités", "nl": "5000 eenheden"}[language] in text
