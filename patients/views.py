"""The nurses' read-only mirror. Every page of patient data is scoped by
``accounts.selectors`` and written to the access log in the transaction that
reads it: no log row, no data."""

import datetime as dt

from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import roles_required
from accounts.models import NURSING, AccessLog, Role
from accounts.selectors import user_locations, user_roles, user_stay, user_stays
from accounts.services import access_denied, access_record
from patients.forms import SearchForm
from patients.ingest import smart
from patients.models import Encounter, LabOrder, Location, Report
from patients.selectors import (
    feed_states,
    patient_reports,
    vital_trends,
    ward_counts,
)
from patients.summary import census_row, clinic_content, stay_sections
from printouts.selectors import newest_ready

APPOINTMENTS = (Role.NURSE, Role.CLERK, Role.IT)
SEARCH_RESULTS = 50
TREND = 4  # vital sign values shown per sign, newest first


@require_GET
@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """The start page; a signed-out visitor gets the sign-in form right here."""
    if not request.user.is_authenticated:
        form = AuthenticationForm(request)
        return render(request, "accounts/login.html", {"form": form})
    locations = user_locations(user=request.user)
    places = list(locations.order_by("name"))
    mine = {place.pk for place in places}
    packs = {pack.location_id: pack for pack in newest_ready(locations=locations)}
    wards = [
        (row, packs.get(row.ward.pk)) for row in ward_counts() if row.ward.pk in mine
    ]
    return render(
        request,
        "patients/home.html",
        {
            "roles": user_roles(user=request.user),
            "wards": wards,
            "clinics": [p for p in places if p.kind == Location.Kind.CLINIC],
            "feeds": feed_states(),
        },
    )


@require_GET
@never_cache
def fhir_client_jwks(request: HttpRequest) -> JsonResponse:
    """The public keys this server signs in to the EHR's FHIR API with
    (SMART Backend Services): what the EHR's registration reads from its
    JWKS URL. Public by nature; no private part ever leaves ``smart``."""
    return JsonResponse(smart.jwks(), content_type="application/jwk-set+json")


@require_GET
@roles_required(*NURSING, action=AccessLog.Action.CENSUS)
def census(request: HttpRequest, ward_id: int) -> HttpResponse:
    """A ward's patients by bed (or by name), as on the pack's census."""
    ward = _place(request, ward_id, Location.Kind.WARD, AccessLog.Action.CENSUS)
    by_name = request.GET.get("sort") == "name"
    with transaction.atomic():
        sections = stay_sections(
            stays=user_stays(user=request.user).filter(ward=ward),
            now=timezone.now(),
            census_only=True,
        )
        if by_name:
            sections.sort(key=_name_order)
        _allowed(request, AccessLog.Action.CENSUS, ward, _patient_ids(sections))
        return render(
            request,
            "patients/census.html",
            {
                "ward": ward,
                "rows": _rows(sections),
                "by_name": by_name,
            },
        )


@require_GET
@roles_required(*NURSING, action=AccessLog.Action.PATIENT)
def patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    """One patient's summary: what the pack's pages show, and vital trends."""
    now = timezone.now()
    stay = user_stay(user=request.user, patient_id=patient_id)
    if stay is None:
        access_denied(
            request=request,
            action=AccessLog.Action.PATIENT,
            target=f"patient {patient_id}",
        )
    with transaction.atomic():
        sections = stay_sections(stays=Encounter.objects.filter(pk=stay.pk), now=now)
        _allowed(request, AccessLog.Action.PATIENT, stay.ward, [patient_id])
        return render(
            request,
            "patients/patient.html",
            {
                "p": sections[0],
                "ward": stay.ward,
                "trends": vital_trends(patient_id=patient_id, values=TREND),
                "reports": patient_reports(patient_id=patient_id),
            },
        )


@require_GET
@roles_required(*NURSING, action=AccessLog.Action.CLINICAL_REPORT)
def report(request: HttpRequest, patient_id: int, report_id: int) -> HttpResponse:
    """One report's or document's whole text, for a patient the user may
    see; logged as the patient page is."""
    stay = user_stay(user=request.user, patient_id=patient_id)
    found = (
        Report.objects.filter(pk=report_id, patient_id=patient_id)
        .exclude(status__in=Report.WITHDRAWN)
        .first()
    )
    if stay is None or found is None:
        access_denied(
            request=request,
            action=AccessLog.Action.CLINICAL_REPORT,
            target=f"patient {patient_id} report {report_id}",
        )
    with transaction.atomic():
        access_record(
            request=request,
            action=AccessLog.Action.CLINICAL_REPORT,
            outcome=AccessLog.Outcome.ALLOWED,
            target=f"report {report_id}",
            locations=[stay.ward_id],
            patients=[patient_id],
        )
        (section,) = stay_sections(
            stays=Encounter.objects.filter(pk=stay.pk),
            now=timezone.now(),
            census_only=True,
        )
        return render(
            request,
            "patients/report.html",
            {"p": section, "ward": stay.ward, "report": found},
        )


@require_GET
@roles_required(*NURSING, action=AccessLog.Action.PENDING_LABS)
def pending_labs(request: HttpRequest, ward_id: int) -> HttpResponse:
    """Every pending lab order of a ward's patients, oldest first: what to
    chase, and what to send on paper when the lab system is down."""
    ward = _place(request, ward_id, Location.Kind.WARD, AccessLog.Action.PENDING_LABS)
    stays = user_stays(user=request.user).filter(ward=ward)
    with transaction.atomic():
        orders = list(
            LabOrder.objects.filter(
                status__in=LabOrder.PENDING, patient__in=stays.values("patient")
            )
            .select_related("patient")
            .order_by("ordered_at", "order_number")
        )
        beds = dict(stays.values_list("patient_id", "bed__name"))
        _allowed(
            request,
            AccessLog.Action.PENDING_LABS,
            ward,
            sorted({order.patient_id for order in orders}),
        )
        return render(
            request,
            "patients/pending_labs.html",
            {
                "ward": ward,
                "orders": [(order, beds.get(order.patient_id, "")) for order in orders],
            },
        )


@require_GET
@roles_required(*APPOINTMENTS, action=AccessLog.Action.CLINIC)
def clinic(request: HttpRequest, clinic_id: int) -> HttpResponse:
    """A clinic's appointments of one day (``?day=YYYY-MM-DD``, default
    today): the call list for rescheduling."""
    place = _place(request, clinic_id, Location.Kind.CLINIC, AccessLog.Action.CLINIC)
    today = timezone.localdate()
    try:
        day = dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = today
    with transaction.atomic():
        content = clinic_content(clinic=place, day=day)
        _allowed(
            request, AccessLog.Action.CLINIC, place, _patient_ids(content.appointments)
        )
        return render(
            request,
            "patients/clinic.html",
            {
                "clinic": place,
                "day": day,
                "previous": day - dt.timedelta(days=1),
                "next": day + dt.timedelta(days=1),
                "today": today,
                "appointments": content.appointments,
            },
        )


@require_http_methods(["GET", "POST"])
@roles_required(*NURSING, action=AccessLog.Action.SEARCH)
def search(request: HttpRequest) -> HttpResponse:
    """Find a patient of the user's wards by name (partial, accents and case
    ignored), MRN or birth date. The terms come by POST, so that no name,
    MRN or birth date ends up in a URL, a browser history or a server log."""
    form = SearchForm(request.POST or None)
    if not form.is_valid():
        return render(request, "patients/search.html", {"form": form})
    kind, stays = form.matches(user_stays(user=request.user))
    found = stays.order_by("patient__name_search", "pk").values_list("pk", flat=True)
    with transaction.atomic():
        sections = stay_sections(
            stays=Encounter.objects.filter(pk__in=list(found[:SEARCH_RESULTS])),
            now=timezone.now(),
            census_only=True,
        )
        sections.sort(key=_name_order)
        access_record(
            request=request,
            action=AccessLog.Action.SEARCH,
            outcome=AccessLog.Outcome.ALLOWED,
            target=f"by {kind}",
            patients=_patient_ids(sections),
        )
        return render(
            request,
            "patients/search.html",
            {
                "form": form,
                "rows": _rows(sections),
                "searched": True,
                "more": len(sections) == SEARCH_RESULTS,
            },
        )


def _name_order(section: dict) -> tuple[str, str]:
    return section["family"].casefold(), section["given"].casefold()


def _rows(sections: list[dict]) -> list[tuple[int, dict]]:
    """(patient id, census row): what the census and search tables list."""
    return [(section["patient_id"], census_row(section)) for section in sections]


def _patient_ids(rows: list[dict]) -> list[int]:
    return [row["patient_id"] for row in rows]


def _place(request: HttpRequest, pk: int, kind: str, action: str) -> Location:
    place = user_locations(user=request.user).filter(pk=pk, kind=kind).first()
    if place is None:
        access_denied(request=request, action=action, target=f"{kind} {pk}")
    return place


def _allowed(
    request: HttpRequest, action: str, place: Location, patients: list[int]
) -> None:
    access_record(
        request=request,
        action=action,
        outcome=AccessLog.Outcome.ALLOWED,
        target=f"{place.kind} {place.pk}",
        locations=[place.pk],
        patients=patients,
    )
