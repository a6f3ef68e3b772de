"""Postponement calls: every patient whose booked appointment a downtime
postpones is called, and the caller records what came of it.

- Which appointments: booked or pending (``Appointment.TO_HONOUR``), from the
  downtime's start to its expected end (computed on every read, so the list
  follows when IT moves the end; with none, ``CALLS_HORIZON_DAYS`` from now),
  of the clinics and types IT chose (none: all), not urgent unless IT said
  so. ``call_appointments`` is the one scoping selector every page, PDF and
  recording goes through: only the user's clinics (every one for IT).
- What came of it: ``Call`` rows, append-only; an appointment's outcome is
  its latest call, its tries the calls that did not reach the patient.
  Calls made keep their outcome whatever the window does.
- At recovery, each appointment postponed or not reached becomes an item of
  the scheduling worklist (``worklist_add_calls``).
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.selectors import user_locations
from downtime.models import Call, Downtime, WorklistItem
from downtime.worklists import worklist_name
from patients.models import Appointment, Location
from patients.selectors import mirror_as_of
from patients.summary.values import iso
from printouts import pdf
from printouts.services import printed_line
from printouts.templatetags.packs import when

Outcome = Call.Outcome
# Still to call: never called, or called and not reached.
OPEN = ("", Outcome.NOT_REACHED)


@dataclass(frozen=True)
class CallWindow:
    start: dt.datetime
    end: dt.datetime
    expected: bool  # the end is the downtime's expected end, not the horizon
    # The expected end is past while the downtime goes on: appointments
    # after it are not listed until IT sets a new one.
    passed: bool = False


def call_window(*, downtime: Downtime, now: dt.datetime | None = None) -> CallWindow:
    """From the downtime's start to its expected end, or to
    ``CALLS_HORIZON_DAYS`` from now when it has none."""
    now = now or timezone.now()
    if downtime.expected_end is not None:
        passed = downtime.expected_end <= now and downtime.state in Downtime.ACTIVE
        return CallWindow(downtime.declared_at, downtime.expected_end, True, passed)
    horizon = now + dt.timedelta(days=settings.CALLS_HORIZON_DAYS)
    return CallWindow(downtime.declared_at, horizon, False)


def call_clinics(*, user, downtime: Downtime) -> QuerySet[Location]:
    """The clinics whose calls the user makes: theirs (every one for IT)
    that the downtime postpones."""
    return _postponed_clinics(
        downtime, user_locations(user=user).filter(kind=Location.Kind.CLINIC)
    )


def _postponed_clinics(downtime: Downtime, clinics: QuerySet) -> QuerySet[Location]:
    chosen = Downtime.postponed_clinics.through.objects.filter(downtime=downtime)
    return clinics.filter(
        Q(pk__in=chosen.values("location")) | ~Exists(chosen)
    ).order_by("name")


def call_appointments(
    *, user, downtime: Downtime, now: dt.datetime | None = None
) -> QuerySet[Appointment]:
    """The appointments the downtime postpones in the user's clinics, each
    with ``outcome``, its latest call's ("" when never called), in the
    order they are called in."""
    return _postponed(downtime, call_clinics(user=user, downtime=downtime), now)


def _postponed(
    downtime: Downtime, clinics: QuerySet[Location], now: dt.datetime | None
) -> QuerySet[Appointment]:
    window = call_window(downtime=downtime, now=now)
    appointments = Appointment.objects.filter(
        status__in=Appointment.TO_HONOUR,
        starts_at__gte=window.start,
        starts_at__lt=window.end,
        clinic__in=clinics,
    )
    if downtime.postponed_types:
        appointments = appointments.filter(
            appointment_type__in=downtime.postponed_types
        )
    if not downtime.postpone_urgent:
        appointments = appointments.filter(urgent=False)
    latest = Call.objects.filter(
        downtime=downtime, appointment=OuterRef("pk")
    ).order_by("-called_at", "-pk")
    return appointments.annotate(
        outcome=Coalesce(Subquery(latest.values("outcome")[:1]), Value(""))
    ).order_by("starts_at", "clinic__name", "patient__family", "pk")


@dataclass
class Progress:
    """One day and clinic: how many appointments, by outcome."""

    day: dt.date
    clinic_id: int
    clinic: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def to_call(self) -> int:
        return self.counts.get("", 0)

    @property
    def done(self) -> int:
        return self.total - self.to_call - self.counts.get(Outcome.NOT_REACHED, 0)


def call_progress(*, appointments: QuerySet[Appointment]) -> list[Progress]:
    """Per local day and clinic, in order: one query."""
    rows: dict[tuple, Progress] = {}
    for starts_at, clinic_id, clinic, outcome in appointments.values_list(
        "starts_at", "clinic_id", "clinic__name", "outcome"
    ):
        day = timezone.localdate(starts_at)
        row = rows.setdefault(
            (day, clinic, clinic_id), Progress(day, clinic_id, clinic)
        )
        row.counts[outcome] = row.counts.get(outcome, 0) + 1
    return [rows[key] for key in sorted(rows)]


@dataclass
class CallRow:
    appointment: Appointment
    calls: list[Call]  # oldest first

    @property
    def latest(self) -> Call | None:
        return self.calls[-1] if self.calls else None

    @property
    def tries(self) -> int:
        return sum(call.outcome == Outcome.NOT_REACHED for call in self.calls)

    @property
    def is_open(self) -> bool:
        return self.latest is None or self.latest.outcome == Outcome.NOT_REACHED


def call_rows(
    *, downtime: Downtime, appointments: QuerySet[Appointment]
) -> list[CallRow]:
    """The appointments with their patients and calls: two queries."""
    shown = list(appointments.select_related("patient", "clinic", "clinician"))
    calls = defaultdict(list)
    for call in (
        Call.objects.filter(downtime=downtime, appointment__in=[a.pk for a in shown])
        .select_related("called_by")
        .order_by("called_at", "pk")
    ):
        calls[call.appointment_id].append(call)
    return [CallRow(a, calls[a.pk]) for a in shown]


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    end = timezone.make_aware(
        dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    )
    return start, end


def call_record(
    *,
    downtime: Downtime,
    appointment: Appointment,
    user,
    outcome: str,
    new_date: dt.date | None = None,
    note: str = "",
) -> Call:
    """What came of one call, by the person who made it. Only while the
    downtime lasts: at recovery its calls become the schedulers' worklist."""
    if downtime.state != Downtime.State.DOWNTIME:
        raise ValidationError(
            _("This downtime is %(state)s: its calls are kept as they were.")
            % {"state": downtime.get_state_display().lower()}
        )
    if outcome != Outcome.POSTPONED:
        new_date = None
    patient, clinic = appointment.patient, appointment.clinic
    call = Call(
        downtime=downtime,
        appointment=appointment,
        patient=patient,
        patient_name=worklist_name(patient),
        mrn=patient.mrn,
        clinic=clinic,
        clinic_name=clinic.name if clinic else "",
        appointment_at=appointment.starts_at,
        outcome=outcome,
        new_date=new_date,
        note=note.strip()[:255],
        called_at=timezone.now(),
        called_by=user,
    )
    call.full_clean()
    call.save()
    return call


def calls_pdf(
    *,
    downtime: Downtime,
    days: list[tuple[dt.date, list[CallRow]]],
    language: str,
    printed_by: str,
    at: dt.datetime,
) -> bytes:
    """The call list on paper, a page per day, in ``language``: "printed by"
    on every page. Made on request, never stored."""
    with translation.override(language):
        html = render_to_string(
            "downtime/calls_pdf.html",
            {
                "language": language,
                "downtime": downtime,
                "window": call_window(downtime=downtime, now=at),
                "days": days,
                "at": at,
            },
        )
        data, _fetcher = pdf.html_to_pdf(html)
        title = _("POSTPONEMENT CALLS - CONFIDENTIAL")
        as_of = mirror_as_of()
        fresh = _("Data as of %(time)s") % {"time": when(iso(as_of)) if as_of else "-"}
        printed = printed_line(printed_by, at, language)
        data, _pages = pdf.assemble(
            [data],
            [f"{title} · {printed}", fresh],
            page_label=_("Page %(page)d of %(pages)d"),
        )
    return data


def worklist_add_calls(*, downtime: Downtime) -> int:
    """Scheduling's items, once per downtime, at recovery: one per
    appointment whose latest call postponed it or did not reach the
    patient, and one per postponed appointment gone by that no one
    called. How many it made."""
    items = WorklistItem.objects.filter(
        downtime=downtime, worklist=WorklistItem.Worklist.SCHEDULING
    )
    if items.exists():
        return 0
    now = timezone.now()
    latest: dict[tuple, Call] = {}
    tries: dict[tuple, int] = defaultdict(int)
    calls = Call.objects.filter(downtime=downtime).select_related("clinic")
    for call in calls.order_by("called_at", "pk"):
        # An appointment the EHR removed since is still known by its copy.
        key = (call.appointment_id, "", "", None)
        if call.appointment_id is None:
            key = (None, call.mrn, call.clinic_name, call.appointment_at)
        latest[key] = call
        tries[key] += call.outcome == Outcome.NOT_REACHED
    made = [
        _scheduling_item(
            downtime, _called(call), call_to_reschedule(call, tries[key]), now
        )
        for key, call in latest.items()
        if call.outcome in (Outcome.POSTPONED, Outcome.NOT_REACHED)
    ]
    clinics = _postponed_clinics(
        downtime, Location.objects.filter(kind=Location.Kind.CLINIC)
    )
    uncalled = (
        _postponed(downtime, clinics, now)
        .filter(outcome="", starts_at__lt=now)
        .select_related("patient", "clinic")
    )
    made += [
        _scheduling_item(
            downtime, _booked(appointment), _never_called(_booked(appointment)), now
        )
        for appointment in uncalled
    ]
    WorklistItem.objects.bulk_create(made)
    return len(made)


@dataclass(frozen=True)
class _Booked:
    """What the schedulers need of an appointment: from the mirror, or from
    a call's copy when the EHR removed it since."""

    clinic: Location | None
    clinic_name: str
    patient_id: int | None
    patient_name: str
    mrn: str
    starts_at: dt.datetime | None


def _booked(appointment: Appointment) -> _Booked:
    patient, clinic = appointment.patient, appointment.clinic
    return _Booked(
        clinic,
        clinic.name if clinic else "",
        patient.pk,
        worklist_name(patient),
        patient.mrn,
        appointment.starts_at,
    )


def _called(call: Call) -> _Booked:
    return _Booked(
        call.clinic,
        call.clinic_name,
        call.patient_id,
        call.patient_name,
        call.mrn,
        call.appointment_at,
    )


def _scheduling_item(
    downtime: Downtime, booked: _Booked, what: str, now: dt.datetime
) -> WorklistItem:
    return WorklistItem(
        downtime=downtime,
        worklist=WorklistItem.Worklist.SCHEDULING,
        location=booked.clinic,
        ward=booked.clinic_name,
        patient_id=booked.patient_id,
        patient_name=booked.patient_name,
        mrn=booked.mrn,
        what=what[:512],
        added_at=now,
    )


def _appointment_values(booked: _Booked) -> dict:
    return {
        "clinic": booked.clinic_name or "?",
        "time": timezone.localtime(booked.starts_at).strftime("%d/%m %H:%M")
        if booked.starts_at
        else "?",
    }


def _never_called(booked: _Booked) -> str:
    return _(
        "Check: %(clinic)s, %(time)s; the patient was never called. "
        "Reschedule unless they came."
    ) % _appointment_values(booked)


def call_to_reschedule(call: Call, tries: int) -> str:
    """What the scheduler does in the EHR for the appointment, in local time."""
    values = {**_appointment_values(_called(call)), "tries": tries}
    if call.outcome == Outcome.NOT_REACHED:
        return (
            _("Reschedule: %(clinic)s, %(time)s; patient not reached (%(tries)d tries)")
            % values
        )
    if call.new_date is None:
        return _("Reschedule: %(clinic)s, %(time)s; no new date given") % values
    values["new"] = call.new_date.strftime("%d/%m/%Y")
    return _("Reschedule: %(clinic)s, %(time)s; new date %(new)s") % values
