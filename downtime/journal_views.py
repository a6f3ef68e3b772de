"""The census journal's pages: a ward's entries of a downtime, and the
forms its clerks and nurses (and IT) enter admissions, transfers,
discharges and corrections with. Another ward's journal answers 404, as
its patients do; every page that shows patients is written to the access
log in the transaction that reads them. The services of
``downtime.journal`` decide what may be entered; a refusal goes back onto
the form and changes nothing."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import roles_required
from accounts.models import AccessLog, Role
from accounts.selectors import user_locations
from accounts.services import access_denied, access_record
from downtime.forms import (
    AdmitKnownForm,
    AdmitNewForm,
    CorrectForm,
    DischargeForm,
    TransferForm,
)
from downtime.journal import (
    free_beds,
    journal_admit,
    journal_correct,
    journal_discharge,
    journal_entries,
    journal_transfer,
)
from downtime.models import CensusEntry, Downtime
from downtime.selectors import (
    downtime_active,
    journal_downtimes,
    journal_numbers_unused,
    journal_ward_patients,
)
from patients.models import Location

STAFF = (Role.NURSE, Role.CLERK, Role.IT)
# The journal's pages and entries, logged as what they are: the census
# journal of a ward (its target names the ward).
ACTION = AccessLog.Action.JOURNAL
Kind = CensusEntry.Kind


@require_GET
@roles_required(*STAFF, action=ACTION)
def journal(
    request: HttpRequest, ward_id: int, downtime_id: int | None = None
) -> HttpResponse:
    """The ward's entries of the active downtime (or of ``downtime_id``),
    each correction under the entry it corrects."""
    ward = _ward(request, ward_id)
    if downtime_id is None:
        downtime = downtime_active()
    else:
        downtime = get_object_or_404(Downtime, pk=downtime_id)
    context = {"ward": ward, "downtime": downtime}
    if downtime is None:
        context["past"] = journal_downtimes(ward=ward)[:20]
        return render(request, "downtime/journal.html", context)
    with transaction.atomic():
        entries = list(journal_entries(downtime=downtime, ward=ward))
        _allowed(request, ward, {entry.patient_id for entry in entries})
        return render(
            request,
            "downtime/journal.html",
            context
            | {
                "rows": _rows(entries),
                "open": downtime.state == Downtime.State.DOWNTIME,
            },
        )


@require_http_methods(["GET", "POST"])
@roles_required(*STAFF, action=ACTION)
def admit(request: HttpRequest, ward_id: int) -> HttpResponse:
    """A new patient with a downtime number, or one the mirror knows."""
    ward = _ward(request, ward_id)
    downtime = _open(request)
    if downtime is None:
        return redirect("downtime:journal", ward.pk)
    free = free_beds(ward=ward)
    posted = request.POST if request.method == "POST" else None
    which = "known" if posted is not None and "known" in posted else "new"
    new = AdmitNewForm(
        posted if which == "new" else None,
        prefix="new",
        numbers=journal_numbers_unused(ward=ward),
        free=free,
    )
    known = AdmitKnownForm(
        posted if which == "known" else None, prefix="known", free=free
    )
    form = new if which == "new" else known

    def enter(data: dict) -> CensusEntry:
        if which == "new":
            keys = ("number", "family", "given", "birth_date", "sex")
        else:
            keys = ("patient",)
        return journal_admit(
            downtime=downtime,
            user=request.user,
            ward=ward,
            bed=data["bed"],
            occurred_at=data["occurred_at"],
            paper_ref=data["paper_ref"],
            **{key: data[key] for key in keys},
        )

    entry = posted is not None and _entered(request, ward, form, enter)
    if entry:
        _admitted(request, ward, entry)
        return redirect("downtime:journal", ward.pk)
    return _form_page(
        request,
        ward,
        _("Admission"),
        [
            (
                new,
                "new",
                _("A new patient, with a downtime number"),
                _("Admit with this number"),
            ),
            (
                known,
                "known",
                _("A patient the system knows, by MRN"),
                _("Admit this patient"),
            ),
        ],
        posted,
    )


@require_http_methods(["GET", "POST"])
@roles_required(*STAFF, action=ACTION)
def transfer(request: HttpRequest, ward_id: int) -> HttpResponse:
    """To another ward, or another bed of this one."""
    ward = _ward(request, ward_id)
    downtime = _open(request)
    if downtime is None:
        return redirect("downtime:journal", ward.pk)
    wards = Location.objects.filter(kind=Location.Kind.WARD).order_by("name")
    posted = request.POST if request.method == "POST" else None
    form = TransferForm(
        posted,
        initial=_chosen(request),
        patients=journal_ward_patients(ward=ward),
        wards=wards,
        free={place: free_beds(ward=place) for place in wards},
    )
    entry = posted is not None and _entered(
        request,
        ward,
        form,
        lambda data: journal_transfer(downtime=downtime, user=request.user, **data),
    )
    if entry:
        messages.success(request, _("Transfer entered."))
        return redirect("downtime:journal", ward.pk)
    return _form_page(
        request,
        ward,
        _("Transfer"),
        [(form, "transfer", "", _("Enter the transfer"))],
        posted,
        _listed(form),
    )


@require_http_methods(["GET", "POST"])
@roles_required(*STAFF, action=ACTION)
def discharge(request: HttpRequest, ward_id: int) -> HttpResponse:
    """The patient leaves the hospital: home, another hospital, deceased."""
    ward = _ward(request, ward_id)
    downtime = _open(request)
    if downtime is None:
        return redirect("downtime:journal", ward.pk)
    posted = request.POST if request.method == "POST" else None
    form = DischargeForm(
        posted, initial=_chosen(request), patients=journal_ward_patients(ward=ward)
    )
    entry = posted is not None and _entered(
        request,
        ward,
        form,
        lambda data: journal_discharge(downtime=downtime, user=request.user, **data),
    )
    if entry:
        messages.success(request, _("Discharge entered."))
        return redirect("downtime:journal", ward.pk)
    return _form_page(
        request,
        ward,
        _("Discharge"),
        [(form, "discharge", "", _("Enter the discharge"))],
        posted,
        _listed(form),
    )


@require_http_methods(["GET", "POST"])
@roles_required(*STAFF, action=ACTION)
def correct(request: HttpRequest, ward_id: int, entry_id: int) -> HttpResponse:
    """A new entry that corrects one of the ward's: its bed, the name, or
    that it never happened. The entry itself stays as it was."""
    ward = _ward(request, ward_id)
    downtime = _open(request)
    if downtime is None:
        return redirect("downtime:journal", ward.pk)
    entry = (
        journal_entries(downtime=downtime, ward=ward)
        .exclude(kind=Kind.CORRECTION)
        .filter(pk=entry_id)
        .first()
    )
    if entry is None:
        access_denied(request=request, action=ACTION, target=f"entry {entry_id}")
    has_bed = entry.kind in (Kind.ADMISSION, Kind.TRANSFER)
    posted = request.POST if request.method == "POST" else None
    form = CorrectForm(posted, free=free_beds(ward=entry.ward) if has_bed else None)
    done = posted is not None and _entered(
        request,
        ward,
        form,
        lambda data: journal_correct(entry=entry, user=request.user, **data),
    )
    if done:
        messages.success(request, _("Correction entered; both entries are shown."))
        return redirect("downtime:journal", ward.pk)
    return _form_page(
        request,
        ward,
        _("Correction"),
        [(form, "correct", "", _("Enter the correction"))],
        posted,
        patients={entry.patient_id},
        corrected=entry,
    )


def _ward(request: HttpRequest, ward_id: int) -> Location:
    """One of the user's wards (any, for IT); else 404, logged."""
    ward = (
        user_locations(user=request.user)
        .filter(pk=ward_id, kind=Location.Kind.WARD)
        .first()
    )
    if ward is None:
        access_denied(request=request, action=ACTION, target=f"journal ward {ward_id}")
    return ward


def _open(request: HttpRequest) -> Downtime | None:
    """The downtime taking entries; None, said on the page, when none is."""
    downtime = downtime_active()
    if downtime is not None and downtime.state == Downtime.State.DOWNTIME:
        return downtime
    messages.error(
        request,
        _(
            "The census journal takes entries only during a downtime: enter "
            "the events in the EHR."
        ),
    )
    return None


def _chosen(request: HttpRequest) -> dict:
    """The patient the patient page sent (an internal id)."""
    patient = request.GET.get("patient", "")
    return {"patient": int(patient)} if patient.isdigit() else {}


def _entered(
    request: HttpRequest, ward: Location, form: Form, enter: Callable
) -> CensusEntry | None:
    """The entry made, or None with why not on the form."""
    if not form.is_valid():
        return None
    try:
        return enter(dict(form.cleaned_data))
    except ValidationError as error:
        form.add_error(None, error)
    except PermissionDenied:
        access_denied(request=request, action=ACTION, target=f"journal ward {ward.pk}")
    return None


def _admitted(request: HttpRequest, ward: Location, entry: CensusEntry) -> None:
    if entry.number_id is None:
        messages.success(request, _("Admission entered."))
        return
    labels = reverse("printouts:labels", args=[ward.pk])
    messages.success(
        request,
        format_html(
            '{} <a href="{}?patient={}">{}</a>',
            _("Admission entered with downtime number %(number)s.")
            % {"number": entry.number.number},
            labels,
            entry.patient_id,
            _("Print the patient's label sheet"),
        ),
    )


def _form_page(
    request: HttpRequest,
    ward: Location,
    title: str,
    forms: list[tuple[Form, str, str, str]],
    posted,
    patients: set | None = None,
    **extra,
) -> HttpResponse:
    """The forms of one kind of entry; the patients they name, logged."""
    with transaction.atomic():
        _allowed(request, ward, patients or set())
        return render(
            request,
            "downtime/journal_form.html",
            {"ward": ward, "title": title, "forms": forms, **extra},
            status=400 if posted is not None else 200,
        )


def _listed(form: Form) -> set:
    """The patients a form's picker offers."""
    return set(form.fields["patient"].queryset.values_list("pk", flat=True))


def _allowed(request: HttpRequest, ward: Location, patients: set) -> None:
    access_record(
        request=request,
        action=ACTION,
        outcome=AccessLog.Outcome.ALLOWED,
        target=f"journal ward {ward.pk}",
        locations=[ward.pk],
        patients=sorted(pk for pk in patients if pk),
    )


def _rows(entries: list[CensusEntry]) -> list[dict]:
    """Each entry with the corrections of it, in the order they came."""
    rows, by_entry = [], {}
    for entry in entries:
        if entry.kind == Kind.CORRECTION and entry.corrects_id in by_entry:
            row = by_entry[entry.corrects_id]
            row["corrections"].append(entry)
            row["void"] = row["void"] or entry.void
            continue
        row = {"entry": entry, "corrections": [], "void": False}
        by_entry[entry.pk] = row
        rows.append(row)
    return rows
