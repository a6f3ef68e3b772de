"""The postponement call lists (``downtime.calls``): a page to call from and
record each call, the same list as PDF, and IT's choice of what a downtime
postpones. Scoped by the user's clinics; every view, download and recorded
call is in the access log, with internal ids only."""

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import roles_required
from accounts.models import AccessLog, Role
from accounts.selectors import user_name
from accounts.services import access_denied, access_record
from downtime.calls import (
    OPEN,
    CallRow,
    call_appointments,
    call_clinics,
    call_progress,
    call_record,
    call_rows,
    call_window,
    calls_pdf,
    day_bounds,
)
from downtime.forms import CallForm
from downtime.models import Downtime
from downtime.views import back_to
from printouts.selectors import paper_language

CALLERS = (Role.NURSE, Role.CLERK, Role.IT)
CALLS = AccessLog.Action.CALLS
OPEN_SHOWN = 200  # still to call, soonest first, on one page


def _filters(request: HttpRequest, downtime: Downtime):
    """(clinics, the one asked for or None, day or None, open only)."""
    clinics = list(call_clinics(user=request.user, downtime=downtime))
    asked = request.GET.get("clinic", "")
    clinic = next((c for c in clinics if str(c.pk) == asked), None)
    try:
        day = dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = None
    return clinics, clinic, day, day is None or request.GET.get("open") == "1"


def _listed(request: HttpRequest, downtime: Downtime, clinic, day, open_only):
    appointments = call_appointments(user=request.user, downtime=downtime)
    if clinic is not None:
        appointments = appointments.filter(clinic=clinic)
    shown = appointments
    if day is not None:
        start, end = day_bounds(day)
        shown = shown.filter(starts_at__gte=start, starts_at__lt=end)
    if open_only:
        shown = shown.filter(outcome__in=OPEN)
    return appointments, shown


def _logged(request: HttpRequest, target: str, rows: list[CallRow]) -> None:
    access_record(
        request=request,
        action=CALLS,
        outcome=AccessLog.Outcome.ALLOWED,
        target=target,
        locations=sorted({row.appointment.clinic_id for row in rows}),
        patients=sorted({row.appointment.patient_id for row in rows}),
    )


@require_GET
@roles_required(*CALLERS, action=CALLS)
def call_list(request: HttpRequest, downtime_id: int) -> HttpResponse:
    """The appointments to call, by day and clinic, with each one's outcome
    and a form to record the next call. Still to call (soonest first) unless
    a day is asked for."""
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    clinics, clinic, day, open_only = _filters(request, downtime)
    appointments, shown = _listed(request, downtime, clinic, day, open_only)
    with transaction.atomic():  # no log row, no data
        rows = call_rows(downtime=downtime, appointments=shown[:OPEN_SHOWN])
        _logged(request, f"calls {downtime.pk}", rows)
    today = timezone.localdate()
    return render(
        request,
        "downtime/calls.html",
        {
            "downtime": downtime,
            "window": call_window(downtime=downtime),
            "horizon_days": settings.CALLS_HORIZON_DAYS,
            "clinics": clinics,
            "clinic": clinic,
            "day": day,
            "open_only": open_only,
            "progress": call_progress(appointments=appointments),
            "rows": rows,
            "more": len(rows) == OPEN_SHOWN,
            "today": today,
            "recording": downtime.state == Downtime.State.DOWNTIME,
            "form": CallForm(),
        },
    )


@require_GET
@roles_required(*CALLERS, action=CALLS)
def call_list_pdf(request: HttpRequest, downtime_id: int) -> HttpResponse:
    """The same list on paper (every day of the window unless one is asked
    for), a page per day, in the clinic's paper language; never stored."""
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    _clinics, clinic, day, _open = _filters(request, downtime)
    open_only = request.GET.get("open") == "1"
    _all, shown = _listed(request, downtime, clinic, day, open_only)
    now = timezone.now()
    with transaction.atomic():
        rows = call_rows(downtime=downtime, appointments=shown)
        _logged(request, f"calls {downtime.pk} pdf", rows)
    days: dict[dt.date, list[CallRow]] = {}
    for row in rows:
        days.setdefault(timezone.localdate(row.appointment.starts_at), []).append(row)
    data = calls_pdf(
        downtime=downtime,
        days=list(days.items()),
        language=paper_language(location=clinic),
        printed_by=user_name(user=request.user),
        at=now,
    )
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="calls-{timezone.localtime(now):%Y%m%d-%H%M}.pdf"'
    )
    return response


@require_POST
@roles_required(*CALLERS, action=CALLS)
def call_add(request: HttpRequest, downtime_id: int, appointment_id: int):
    """One call's outcome, by the person who made it."""
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    appointment = (
        call_appointments(user=request.user, downtime=downtime)
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        access_denied(
            request=request, action=CALLS, target=f"appointment {appointment_id}"
        )
    form = CallForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                call_record(
                    downtime=downtime,
                    appointment=appointment,
                    user=request.user,
                    **form.cleaned_data,
                )
                access_record(
                    request=request,
                    action=CALLS,
                    outcome=AccessLog.Outcome.ALLOWED,
                    target=f"call {appointment.pk}",
                    locations=[appointment.clinic_id],
                    patients=[appointment.patient_id],
                )
            messages.success(request, _("Call recorded."))
        except ValidationError as error:
            messages.error(request, error.messages[0])
    else:
        messages.error(request, _("Not recorded: %(why)s") % {"why": _errors(form)})
    return redirect(back_to(request, reverse("downtime:calls", args=[downtime.pk])))


def _errors(form: CallForm) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)
