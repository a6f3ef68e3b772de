"""Ward packs assembled from separately rendered, cached parts.

1. Read the ward's content from the mirror (``patients.summary.ward_content``).
2. Render the cover, the census and each patient's section as separate
   PDFs. A part whose content, language and templates are unchanged comes
   from the cache: its file is named by the hash of exactly those.
3. Merge the parts and stamp every page with what changes on each render:
   the confidential line, the data as-of time, page X of Y and, during a
   downtime, its marking. The cover shows the marking too (it is part of
   the cover's content); the patients' sections never do, so they stay
   cached across a downtime.

Rendering patient by patient also keeps a worker's memory flat whatever the
ward's size (PDF_NOTES.md).
"""

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import zip_longest
from pathlib import Path

import weasyprint
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.models import Encounter, Location
from patients.summary import (
    WardContent,
    clinic_content,
    clinic_sources,
    section_facets,
    stay_sections,
    ward_content,
    ward_sources,
)
from printouts import pdf
from printouts.marking import Marking
from printouts.selectors import BinderChanges, reports_in_full
from printouts.templatetags.packs import when

APP = Path(__file__).resolve().parent
TEMPLATES = APP / "templates" / "printouts"


@dataclass
class Document:
    pdf: bytes
    pages: int
    # Pack page numbers (1-based, first and last) of each patient's section.
    sections: dict[int, tuple[int, int]] = field(default_factory=dict)
    rendered: int = 0
    cached: int = 0
    patients: int = 0
    patient_ids: list[int] = field(default_factory=list)
    # What a ward pack holds, part by part, for a print of its changes
    # (``changes``): the census's pages and each patient's, with the hash
    # of what they show.
    index: dict = field(default_factory=dict)


def ward_pack(
    *,
    ward: Location,
    as_of: dt.datetime,
    generated_at: dt.datetime,
    language: str,
    lagging: Sequence[tuple[str, dt.datetime | None]] = (),
    marking: Marking | None = None,
    use_cache: bool = True,
) -> Document:
    """``lagging``: feeds older than ``as_of`` (``lagging_feeds``);
    ``marking``: what the pages say of a downtime in progress
    (``marking.marking_now``), if any."""
    with translation.override(language):
        content = ward_content(ward=ward, now=generated_at)
        cached = _cached_parts(content, language)
        times = _times(as_of, generated_at, lagging, marking)
        cover = {
            **_context(content, language),
            "patients": len(content.patients),
            "downtime": _marking_text(times),
        }
        parts = [
            _part("cover.html", cover, use_cache),
            *(_part(name, context, use_cache) for name, context in cached),
        ]
        document = _stamped(
            parts,
            content.ward["name"],
            times,
            cover=[
                _("Data as of %(time)s") % {"time": when(times["as_of"])},
                _("Pack generated %(time)s") % {"time": when(times["generated_at"])},
            ],
        )
        document.patients = len(content.patients)
        document.patient_ids = [section["patient_id"] for section in content.patients]
    document.rendered = sum(part.rendered for part in parts)
    document.cached = sum(part.cached for part in parts)
    document.index = _index(parts, content.patients)
    document.sections = {
        entry["id"]: tuple(entry["pages"]) for entry in document.index["patients"]
    }
    return document


def _index(parts: list["_Part"], sections: list[dict]) -> dict:
    """``Document.index`` of a ward pack: its parts are the cover, the
    census and one per patient, in that order."""
    cover, census, *patients = parts
    first = 1 + cover.pages
    index = {
        "census": {"digest": census.key, "pages": [first, first + census.pages - 1]},
        "patients": [],
    }
    first += census.pages
    for part, section in zip(patients, sections, strict=True):
        index["patients"].append(
            {
                "id": section["patient_id"],
                "bed": section["bed"],
                "name": section["name"],
                "mrn": section["mrn"],
                "pages": [first, first + part.pages - 1],
                "digest": part.key,
                "facets": section_facets(section),
            }
        )
        first += part.pages
    return index


def transfer_summary(
    *,
    stay: Encounter,
    as_of: dt.datetime,
    generated_at: dt.datetime,
    language: str,
    lagging: Sequence[tuple[str, dt.datetime | None]] = (),
    marking: Marking | None = None,
) -> Document:
    """One patient's summary to go with them to another hospital: their
    section of the ward pack (the same cached part, so it takes no render
    when the pack is recent), stamped as the pack is and titled as a
    transfer summary."""
    with translation.override(language):
        (section,) = stay_sections(
            stays=Encounter.objects.filter(pk=stay.pk), now=generated_at
        )
        ward = stay.ward
        context = _ward_context(
            {"id": ward.pk, "name": ward.name, "phone": ward.phone}, language
        )
        part = _part("patient.html", {**context, "p": section})
        title = _("TRANSFER SUMMARY · %(ward)s") % {"ward": ward.name}
        times = _times(as_of, generated_at, lagging, marking)
        document = _stamped([part], title, times)
        document.rendered, document.cached = part.rendered, part.cached
        document.patients = 1
        document.patient_ids = [section["patient_id"]]
    return document


# Why a bed's pages are in a print of changes (``selectors.binder_changes``).
CHANGE_REASONS = {
    "new": gettext_lazy("new patient"),
    "left": gettext_lazy("left the ward"),
    "bed": gettext_lazy("moved bed"),
    "allergies": gettext_lazy("allergies, code status or alerts"),
    "orders": gettext_lazy("medication or orders"),
    "results": gettext_lazy("new results"),
    "doses": gettext_lazy("doses given"),
    "reports": gettext_lazy("reports"),
    "details": gettext_lazy("other details"),
    "layout": gettext_lazy("printed differently (language or layout)"),
}


def ward_changes(
    *,
    pack_pdf: bytes,
    changes: BinderChanges,
    ward: Location,
    since: dict,
    as_of: dt.datetime,
    generated_at: dt.datetime,
    language: str,
    marking: Marking | None = None,
) -> Document:
    """The pages of a ward pack (``pack_pdf``) that a binder printed before
    lacks, as they are in the pack, behind a cover that lists the beds and
    why. ``since``: that print's ``name``, ``printed_at`` and the
    ``generated_at`` of its pack."""
    with translation.override(language):
        rows = [
            {
                **vars(change),
                "reasons": [str(CHANGE_REASONS[r]) for r in change.reasons],
            }
            for change in changes.changed
        ]
        context = {
            "language": language,
            "ward": {"id": ward.pk, "name": ward.name},
            "since": {
                "name": since["name"],
                "printed_at": _iso(since["printed_at"]),
                "generated_at": _iso(since["generated_at"]),
            },
            "census": changes.census,
            "changed": rows,
            "left": [vars(change) for change in changes.left],
        }
        cover = _part("changes.html", context, cached=False)
        title = _("CHANGES · %(ward)s") % {"ward": ward.name}
        times = _times(as_of, generated_at, (), marking)
        cover = _stamped([cover], title, times, numbered=False)
    ranges = [changes.census] if changes.census else []
    ranges += [change.pages for change in changes.changed]
    data, pages = pdf.assemble([cover.pdf, pdf.pages_of(pack_pdf, ranges)])
    return Document(
        data,
        pages,
        patients=len(changes.changed),
        patient_ids=[change.id for change in changes.changed + changes.left],
    )


def clinic_list(
    *,
    clinic: Location,
    day: dt.date,
    as_of: dt.datetime,
    generated_at: dt.datetime,
    language: str,
    lagging: Sequence[tuple[str, dt.datetime | None]] = (),
    marking: Marking | None = None,
    use_cache: bool = True,
) -> Document:
    """A clinic's appointments of one day, as a call list."""
    with translation.override(language):
        times = _times(as_of, generated_at, lagging, marking)
        name, context = _clinic_part(clinic, day, language)
        context["downtime"] = _marking_text(times)
        part = _part(name, context, use_cache)
        document = _stamped([part], clinic.name, times)
        document.rendered, document.cached = part.rendered, part.cached
        document.patients = len(context["appointments"])
        document.patient_ids = sorted(
            {a["patient_id"] for a in context["appointments"]}
        )
    return document


def _clinic_part(clinic: Location, day: dt.date, language: str) -> tuple[str, dict]:
    content = clinic_content(clinic=clinic, day=day)
    return "clinic.html", {
        "language": language,
        "clinic": content.clinic,
        "day": content.day,
        "appointments": content.appointments,
    }


FORMS = {
    "order": gettext_lazy("Order sheet"),
    "mar": gettext_lazy("Medication administration record"),
    "lab": gettext_lazy("Laboratory request"),
    "progress": gettext_lazy("Progress notes"),
    "registration": gettext_lazy("Downtime registration form"),
}
FORM_ROWS = {"order": 18, "mar": 8, "progress": 17}
FORM_PRN_ROWS = 5  # the blank MAR's as-needed orders
# The lab request's tests, each with its box to tick; a test not listed is
# written on one of its "Other" lines.
LAB_TESTS = (
    gettext_lazy("Complete blood count"),
    gettext_lazy("Sodium, potassium, chloride"),
    gettext_lazy("Urea, creatinine"),
    gettext_lazy("Glucose"),
    gettext_lazy("C-reactive protein"),
    gettext_lazy("PT/INR, aPTT"),
    gettext_lazy("Liver tests (AST, ALT, GGT, bilirubin)"),
    gettext_lazy("Magnesium, calcium, phosphate"),
    gettext_lazy("Amylase, lipase"),
    gettext_lazy("Troponin"),
    gettext_lazy("NT-proBNP"),
    gettext_lazy("D-dimer"),
    gettext_lazy("Arterial blood gas"),
    gettext_lazy("Lactate"),
    gettext_lazy("Blood cultures"),
    gettext_lazy("Urinalysis"),
    gettext_lazy("Urine culture"),
    gettext_lazy("Pregnancy test (hCG)"),
    gettext_lazy("Blood group, antibody screen"),
    gettext_lazy("Crossmatch (units: ___ )"),
)
LAB_OTHER_LINES = 4
LABELS_PER_SHEET = 21  # 3 x 7 labels of 63.5 x 38.1 mm


def blank_form(*, form: str, language: str) -> bytes:
    """One blank downtime form, the same for every patient (cached)."""
    with translation.override(language):
        context = {
            "language": language,
            "form": form,
            "title": str(FORMS[form]),
            "rows": range(FORM_ROWS.get(form, 0)),
            "prn_rows": range(FORM_PRN_ROWS),
            "tests": _two_columns([str(test) for test in LAB_TESTS]),
            "other_rows": range(LAB_OTHER_LINES // 2),
        }
        return _part("form.html", context).pdf


def _two_columns(items: list[str]) -> list[tuple[str, str]]:
    """Rows of two, read down the left column, then down the right."""
    half = (len(items) + 1) // 2
    return list(zip_longest(items[:half], items[half:], fillvalue=""))


LABEL_FIELDS = ("name", "mrn", "birth_date", "sex", "bed")


def label_entries(*, ward: Location) -> list[dict]:
    """What the ward's label sheets print, patient by patient, by bed."""
    return [
        {"patient_id": section["patient_id"], **{k: section[k] for k in LABEL_FIELDS}}
        for section in ward_content(ward=ward).patients
    ]


def label_sheets(
    *, ward: Location, language: str, entries: list[dict] | None = None
) -> Document:
    """A sheet of labels for each patient on the ward's census, by bed."""
    if entries is None:
        entries = label_entries(ward=ward)
    with translation.override(language):
        parts = [
            _part(
                "labels.html",
                {
                    "language": language,
                    "slots": range(LABELS_PER_SHEET),
                    "p": {key: entry[key] for key in LABEL_FIELDS},
                },
            )
            for entry in entries
        ]
        data, pages = pdf.assemble(part.pdf for part in parts)
    return Document(
        data,
        pages,
        patients=len(parts),
        patient_ids=[entry["patient_id"] for entry in entries],
    )


def _stamped(
    parts: list["_Part"],
    title: str,
    times: dict,
    cover: list[str] | None = None,
    *,
    numbered: bool = True,
) -> Document:
    """The parts merged, every page stamped with what changes on each render
    (``numbered``: with "page X of Y")."""
    line = _("Data as of %(as_of)s · generated %(generated)s") % {
        "as_of": when(times["as_of"]),
        "generated": when(times["generated_at"]),
    }
    if times["lagging"]:
        line += " · " + _("⚠ older feeds: %(feeds)s") % {
            "feeds": ", ".join(
                f"{name} {when(at) if at else _('never')}"
                for name, at in times["lagging"]
            )
        }
    mark = _marking_text(times)
    data, pages = pdf.assemble(
        (part.pdf for part in parts),
        [f"{_('DOWNTIME COPY - CONFIDENTIAL')} · {title}", line],
        page_label=_("Page %(page)d of %(pages)d") if numbered else "",
        cover=cover or (),
        banner=mark["line"] if mark else "",
        header=_("Data as of %(time)s") % {"time": when(times["as_of"])},
    )
    return Document(data, pages)


def _marking_text(times: dict) -> dict | None:
    """What the pages say of the downtime, in the active language; None
    outside one. A drill says only that it is one: the EHR is working and the
    feeds flow, so no data is frozen (the page's "data as of" holds)."""
    downtime = times["downtime"]
    if downtime is None:
        return None
    if downtime["drill"]:
        line = _("DRILL - not a real downtime, the EHR is working")
        return {"line": line, "drill": True}
    what = _("DOWNTIME")
    if downtime["frozen_at"]:
        frozen = _("data frozen at %(time)s") % {"time": when(downtime["frozen_at"])}
    else:
        frozen = _("no data had been received")
    return {"line": f"{what} - {frozen}", "drill": downtime["drill"]}


def ward_digests(
    *,
    now: dt.datetime,
    language: str,
    wards: Iterable[int] | None = None,
    marking: Marking | None = None,
) -> dict[int, str]:
    """Per ward, the digest of what its pack would show if rendered now
    (``marking``: that of a downtime in progress): it changes whenever the
    content can. Reads no content, renders nothing."""
    sources = ward_sources(now=now, wards=wards)
    shown = _marking_values(marking)
    full = reports_in_full(wards=wards)
    return {
        ward: _versioned(
            f"{digest}|{ward in full}|{settings.PACK_REPORT_DAYS}", language, shown
        )
        for ward, digest in sources.items()
    }


def clinic_digests(
    *,
    day: dt.date,
    language: str,
    clinics: Iterable[int] | None = None,
    marking: Marking | None = None,
) -> dict[int, str]:
    """Per clinic, the digest of its call list of ``day``, as ``ward_digests``."""
    sources = clinic_sources(day=day, clinics=clinics)
    shown = _marking_values(marking)
    return {
        place: _versioned(digest, language, shown) for place, digest in sources.items()
    }


def _versioned(sources: str, language: str, downtime: dict | None) -> str:
    """New templates, another language or the start or end of a downtime
    change a pack as much as new data."""
    marking = json.dumps(downtime, sort_keys=True)
    return hashlib.sha256(
        f"{template_version()}|{language}|{marking}|{sources}".encode()
    ).hexdigest()


def _context(content: WardContent, language: str) -> dict:
    return _ward_context(content.ward, language)


def _ward_context(ward: dict, language: str) -> dict:
    """What every part of a ward's pack is laid out with: its language,
    the ward, and whether its reports are printed in full."""
    return {
        "language": language,
        "ward": ward,
        "reports_in_full": bool(reports_in_full(wards=[ward["id"]])),
        "report_days": settings.PACK_REPORT_DAYS,
    }


def _cached_parts(content: WardContent, language: str) -> list[tuple[str, dict]]:
    """Census and patient sections: the parts that change only with the data."""
    context = _context(content, language)
    return [
        ("census.html", {**context, "census": content.census}),
        *(("patient.html", {**context, "p": section}) for section in content.patients),
    ]


@dataclass
class _Part:
    pdf: bytes
    pages: int
    rendered: int = 0
    cached: int = 0
    # The hash of what it shows (``_key``): equal keys, equal pages.
    key: str = ""


def _part(template: str, context: dict, cached: bool = True) -> _Part:
    """One part, from the cache when its exact content was rendered before."""
    key = _key(template, context)
    path = settings.PACK_DIR / "parts" / key[:2] / f"{key}.pdf"
    if cached and path.exists():
        data = path.read_bytes()
        os.utime(path)  # in use: the cache pruning keeps it
        return _Part(data, pdf.page_count(data), cached=1, key=key)
    html = render_to_string(f"printouts/{template}", context)
    data, _fetcher = pdf.html_to_pdf(html)
    if cached:
        write_atomically(path, data)
    return _Part(data, pdf.page_count(data), rendered=1, key=key)


def _key(template: str, context: dict) -> str:
    text = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(
        f"{template_version()}|{template}|{text}".encode()
    ).hexdigest()


@cache
def template_version() -> str:
    """Changes whenever a template, the stylesheet, what a pack reads or a
    catalogue changes."""
    digest = hashlib.sha256(weasyprint.__version__.encode())
    files = [
        *sorted(TEMPLATES.glob("*.html")),
        pdf.STYLESHEET,
        APP / "templatetags" / "packs.py",
        APP / "pdf.py",  # barcodes and the MAR grid are drawn there
        settings.BASE_DIR / "config" / "invisible.py",  # how invisible text shows
        # What is read: a new field changes every pack.
        *sorted((settings.BASE_DIR / "patients" / "summary").glob("*.py")),
        settings.BASE_DIR / "patients" / "units.py",
        *sorted(settings.BASE_DIR.glob("locale/*/LC_MESSAGES/django.mo")),
    ]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, rename: a reader sees
    the whole file or none of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as output:
            output.write(data)
            output.flush()
            os.fsync(output.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _times(
    as_of: dt.datetime,
    generated_at: dt.datetime,
    lagging: Sequence[tuple[str, dt.datetime | None]],
    marking: Marking | None = None,
) -> dict:
    return {
        "as_of": _iso(as_of),
        "generated_at": _iso(generated_at),
        "lagging": [(name, at and _iso(at)) for name, at in lagging],
        "downtime": _marking_values(marking),
    }


def _marking_values(marking: Marking | None) -> dict | None:
    """The marking as the pages' context and the digests hold it."""
    if marking is None:
        return None
    frozen_at = marking.frozen_at
    return {"drill": marking.drill, "frozen_at": frozen_at and _iso(frozen_at)}


def _iso(moment: dt.datetime) -> str:
    return timezone.localtime(moment).replace(microsecond=0).isoformat()
