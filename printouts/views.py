"""The clerk's page and the downloads. Every download of patient data is
scoped by ``user_locations`` and written to the access log first."""

import datetime as dt
import io
import logging
import zipfile

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import roles_required
from accounts.models import AccessLog, Role
from accounts.selectors import (
    user_locations,
    user_name,
    user_roles,
    user_stay,
    user_stays,
)
from accounts.services import access_denied, access_record
from printouts import documents
from printouts.models import Pack, PackPrint
from printouts.selectors import (
    newest_ready,
    pack_print_before,
    pack_print_last,
    pack_rows,
    paper_language,
    paper_languages,
)
from printouts.services import (
    PackDamaged,
    changes_printable,
    pack_print_record,
    pack_printable,
    transfer_summary_printable,
)
from printouts.tasks import render_requested

logger = logging.getLogger(__name__)
READERS = (Role.NURSE, Role.CLERK, Role.IT)
PRINTERS = (Role.CLERK, Role.IT)


@require_GET
@roles_required(*READERS)
def packs(request: HttpRequest) -> HttpResponse:
    places = user_locations(user=request.user)
    rows = pack_rows(locations=places)
    return render(
        request,
        "printouts/packs.html",
        {
            "rows": rows,
            "busy": any(row.pending for row in rows),
            "can_render": bool(set(user_roles(user=request.user)) & set(PRINTERS)),
            "forms": documents.FORMS,
            "transfer_beds": _beds_by_ward(request),
            # Paper speaks the wards' languages: one link per form and language.
            "form_languages": [
                get_language_info(code) for code in paper_languages(locations=places)
            ],
        },
    )


@require_GET
@roles_required(*READERS, action=AccessLog.Action.DOWNLOAD)
def pack_download(request: HttpRequest, pack_id: int) -> HttpResponse:
    pack = Pack.objects.filter(
        pk=pack_id,
        status=Pack.Status.READY,
        location__in=user_locations(user=request.user),
    ).first()
    if pack is None:
        access_denied(
            request=request, action=AccessLog.Action.DOWNLOAD, target=f"pack {pack_id}"
        )
    now = timezone.now()
    record = {
        "request": request,
        "action": AccessLog.Action.DOWNLOAD,
        "target": f"pack {pack.pk}",
        "locations": [pack.location_id],
        "patients": pack.patients,
    }
    try:
        with transaction.atomic():
            data = _printable(pack, request, now)
            access_record(outcome=AccessLog.Outcome.ALLOWED, **record)
            _printed_in_full(request, pack, now)
    except PackDamaged:
        access_record(outcome=AccessLog.Outcome.FAILED, **record)
        _render_again(request, pack)
        return redirect("printouts:packs")
    return _pdf(data, _file_name(pack), attachment="download" in request.GET)


@require_GET
@roles_required(*READERS, action=AccessLog.Action.DOWNLOAD_ALL)
def packs_zip(request: HttpRequest) -> HttpResponse:
    """Every newest ready pack of the user's wards and clinics, in one ZIP."""
    chosen = newest_ready(locations=user_locations(user=request.user))
    if not chosen:
        raise Http404
    now = timezone.now()
    buffer = io.BytesIO()
    with transaction.atomic():
        access_record(
            request=request,
            action=AccessLog.Action.DOWNLOAD_ALL,
            outcome=AccessLog.Outcome.ALLOWED,
            target=", ".join(f"pack {pack.pk}" for pack in chosen),
            locations=sorted({pack.location_id for pack in chosen}),
            patients=sorted({pid for pack in chosen for pid in pack.patients}),
        )
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for pack in chosen:
                try:
                    data = _printable(pack, request, now)
                except PackDamaged:
                    _render_again(request, pack)  # left out, rendered again
                    continue
                archive.writestr(f"{pack.pk}-{_file_name(pack)}", data)
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="packs-{stamp}.zip"'
    return response


@require_GET
@roles_required(*PRINTERS, action=AccessLog.Action.CHANGES)
def pack_changes_download(request: HttpRequest, pack_id: int) -> HttpResponse:
    """The pages of a ward pack that the ward's binder (its last print from
    this page) lacks, behind a cover that lists the beds; recorded as the
    ward's print."""
    pack = Pack.objects.filter(
        pk=pack_id,
        kind=Pack.Kind.WARD,
        status=Pack.Status.READY,
        location__in=user_locations(user=request.user),
    ).first()
    if pack is None:
        access_denied(
            request=request, action=AccessLog.Action.CHANGES, target=f"pack {pack_id}"
        )
    since = pack_print_last(location=pack.location)
    if since is None or not pack.index or not since.index:
        messages.warning(request, _("Print this ward's pack in full first."))
        return redirect("printouts:packs")
    if pack.generated_at < since.pack_generated_at:
        messages.warning(
            request,
            _("A newer pack was printed since: print the changes of the newest pack."),
        )
        return redirect("printouts:packs")
    if since.kind == PackPrint.Kind.CHANGES and since.pack_id == pack.pk:
        # These changes were printed already: the same again (a print that
        # failed), against the print they replace.
        since = pack_print_before(printed=since)
    now = timezone.now()
    record = {
        "request": request,
        "action": AccessLog.Action.CHANGES,
        "target": f"pack {pack.pk} since print {since.pk if since else '-'}",
        "locations": [pack.location_id],
    }
    try:
        with transaction.atomic():
            document = since and changes_printable(
                pack=pack, since=since, printed_by=_printer(request), at=now
            )
            if not document:
                messages.info(request, _("Nothing changed since the last print."))
                return redirect("printouts:packs")
            access_record(
                outcome=AccessLog.Outcome.ALLOWED,
                # Those on its pages: the census's, and those who left.
                patients=sorted(set(pack.patients) | set(document.patient_ids)),
                **record,
            )
            pack_print_record(
                pack=pack,
                kind=PackPrint.Kind.CHANGES,
                user=request.user,
                printed_by=_printer(request),
                at=now,
                pages=document.pages,
            )
    except PackDamaged:
        access_record(outcome=AccessLog.Outcome.FAILED, **record)
        _render_again(request, pack)
        return redirect("printouts:packs")
    name = _file_name(pack).replace(".pdf", "-changes.pdf")
    return _pdf(document.pdf, name, attachment="download" in request.GET)


def _printed_in_full(request: HttpRequest, pack: Pack, now) -> None:
    """A ward pack a clerk (or IT) opens or downloads from its row is what
    the ward's binder holds from now on; a nurse reading one on screen is
    not, nor the ZIP of every pack (a copy kept, not a binder printed): an
    unrecorded print only makes the next print of changes longer."""
    if pack.kind != Pack.Kind.WARD or not set(user_roles(user=request.user)) & set(
        PRINTERS
    ):
        return
    pack_print_record(
        pack=pack,
        kind=PackPrint.Kind.FULL,
        user=request.user,
        printed_by=_printer(request),
        at=now,
        pages=pack.page_count,
    )


@require_POST
@roles_required(*PRINTERS, action=AccessLog.Action.RENDER)
def pack_render_now(request: HttpRequest, location_id: int) -> HttpResponse:
    location = user_locations(user=request.user).filter(pk=location_id).first()
    if location is None:
        access_denied(
            request=request,
            action=AccessLog.Action.RENDER,
            target=f"location {location_id}",
        )
    kind = Pack.Kind.WARD if location.kind == location.Kind.WARD else Pack.Kind.CLINIC
    day = None
    if kind == Pack.Kind.CLINIC:
        today = timezone.localdate()
        days = {
            str(today + dt.timedelta(days=n)): today + dt.timedelta(days=n)
            for n in (0, 1)
        }
        day = days.get(request.POST.get("day", str(today)))
        if day is None:
            return HttpResponseBadRequest(_("A clinic list is for today or tomorrow."))
    with transaction.atomic():
        pack = render_requested(
            location=location, kind=kind, day=day, user=request.user
        )
        access_record(
            request=request,
            action=AccessLog.Action.RENDER,
            outcome=AccessLog.Outcome.ALLOWED,
            target=f"pack {pack.pk}",
            locations=[location.pk],
        )
    if Pack.objects.filter(pk=pack.pk, queued_at__isnull=True).exists():
        messages.error(request, _unreachable())
    else:
        messages.success(
            request,
            _("A new pack of %(name)s is on its way.") % {"name": location.name},
        )
    return redirect("printouts:packs")


def _unreachable() -> str:
    return _(
        "The workers cannot be reached (Redis): the pack is rendered once they "
        "are back. Meanwhile, print the pack you have; IT can run "
        "`manage.py render_packs` on the server."
    )


@require_GET
@roles_required(*READERS, action=AccessLog.Action.LABELS)
def labels_download(request: HttpRequest, location_id: int) -> HttpResponse:
    """The label sheets of a ward's patients; with ``?patient=`` (an internal
    id), of that one of them only: a patient just admitted."""
    ward = user_locations(user=request.user).filter(kind="ward", pk=location_id).first()
    if ward is None:
        access_denied(
            request=request,
            action=AccessLog.Action.LABELS,
            target=f"labels {location_id}",
        )
    patient = request.GET.get("patient")
    entries = documents.label_entries(ward=ward)
    if patient is not None:
        entries = [e for e in entries if str(e["patient_id"]) == patient]
        if not entries:  # not on the ward's census
            access_denied(
                request=request,
                action=AccessLog.Action.LABELS,
                target=f"labels {location_id} patient {patient}"[:64],
            )
    with transaction.atomic():
        sheets = documents.label_sheets(
            ward=ward, language=paper_language(location=ward), entries=entries
        )
        access_record(
            request=request,
            action=AccessLog.Action.LABELS,
            outcome=AccessLog.Outcome.ALLOWED,
            target=f"labels {ward.pk}",
            locations=[ward.pk],
            patients=sheets.patient_ids,
        )
    name = f"{slugify(ward.name)}-{patient}" if patient else slugify(ward.name)
    return _pdf(sheets.pdf, f"labels-{name}.pdf")


def _beds_by_ward(request: HttpRequest) -> list[tuple[str, list[tuple[int, str]]]]:
    """The patients of the user's wards by bed, to pick a transfer summary
    by: beds, no names (the page is no census); a patient without a bed by
    the MRN on their wristband."""
    by_ward: dict[str, list[tuple[int, str]]] = {}
    for ward, patient, bed, mrn in (
        user_stays(user=request.user)
        .values_list("ward__name", "patient_id", "bed__name", "patient__mrn")
        .order_by("ward__name", F("bed__name").asc(nulls_last=True), "patient__mrn")
    ):
        label = bed or _("no bed · MRN %(mrn)s") % {"mrn": mrn}
        by_ward.setdefault(ward, []).append((patient, label))
    return list(by_ward.items())


@require_GET
@roles_required(*READERS)
def transfer_summary_pick(request: HttpRequest) -> HttpResponse:
    """The clerk's page picks a bed; the summary's own view decides."""
    patient = request.GET.get("patient", "")
    if not (patient.isascii() and patient.isdigit()):
        raise Http404
    return redirect("printouts:transfer-summary", int(patient))


@require_GET
@roles_required(*READERS, action=AccessLog.Action.TRANSFER)
def transfer_summary_download(request: HttpRequest, patient_id: int) -> HttpResponse:
    """One patient's summary, to go with them to another hospital: made on
    demand in the ward's language, logged, and never kept."""
    stay = user_stay(user=request.user, patient_id=patient_id)
    if stay is None:
        access_denied(
            request=request,
            action=AccessLog.Action.TRANSFER,
            target=f"transfer {patient_id}",
        )
    with transaction.atomic():
        document = transfer_summary_printable(
            stay=stay, printed_by=_printer(request), at=timezone.now()
        )
        access_record(
            request=request,
            action=AccessLog.Action.TRANSFER,
            outcome=AccessLog.Outcome.ALLOWED,
            target=f"transfer {patient_id}",
            locations=[stay.ward_id],
            patients=[patient_id],
        )
    return _pdf(document.pdf, f"transfer-{patient_id}.pdf")


@require_GET
@roles_required(*READERS)
def form_download(request: HttpRequest, form: str) -> HttpResponse:
    """A blank form: no patient data, nothing to log. In the language asked
    for (``?language=``), else in that of the user's wards, never in the
    browser's: paper follows the ward."""
    languages = paper_languages(locations=user_locations(user=request.user))
    language = request.GET.get("language") or next(
        iter(languages), settings.LANGUAGE_CODE
    )
    if form not in documents.FORMS or language not in dict(settings.LANGUAGES):
        raise Http404
    data = documents.blank_form(form=form, language=language)
    return _pdf(data, f"{form}-{language}.pdf")


def _printer(request: HttpRequest) -> str:
    """The name stamped on what a person prints."""
    return user_name(user=request.user)


def _printable(pack: Pack, request: HttpRequest, now) -> bytes:
    try:
        return pack_printable(pack=pack, printed_by=_printer(request), at=now)
    except PackDamaged:
        logger.exception("pack %s cannot be served", pack.pk)
        raise


def _render_again(request: HttpRequest, pack: Pack) -> None:
    """A damaged file is never served: a new render is queued instead."""
    with transaction.atomic():
        render_requested(
            location=pack.location, kind=pack.kind, day=pack.day, user=request.user
        )
    messages.error(
        request,
        _(
            "The file of this pack is damaged and was not served; a new pack is "
            "being rendered. Use the previous copy on paper meanwhile."
        ),
    )


def _file_name(pack: Pack) -> str:
    day = f"-{pack.day:%Y%m%d}" if pack.day else ""
    made = timezone.localtime(pack.generated_at).strftime("%Y%m%d-%H%M")
    return f"{slugify(pack.title)}{day}-{made}.pdf"


def _pdf(data: bytes, name: str, *, attachment: bool = False) -> HttpResponse:
    """Inline opens in the browser's viewer, one click from printing."""
    response = HttpResponse(data, content_type="application/pdf")
    disposition = "attachment" if attachment else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response["Cache-Control"] = "no-store, private"
    return response
