"""IT's pages for ward stations: list, add (with its one-time enrolment
code), a station's detail, a new code, revoke."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import roles_required
from accounts.models import Role
from stations.forms import ConfirmForm, StationForm
from stations.models import Station
from stations.selectors import station_holdings, station_silent
from stations.services import (
    CODE_LIFETIME,
    station_create,
    station_new_code,
    station_revoke,
)


@require_http_methods(["GET", "POST"])
@roles_required(Role.IT)
def stations(request: HttpRequest) -> HttpResponse:
    form = StationForm(request=request)
    if request.method == "POST":
        form = StationForm(request.POST, request=request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                station, code = station_create(
                    name=data["name"],
                    locations=list(data["locations"]),
                    notes=data["notes"],
                    user=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return _code_page(request, station, code)
    now = timezone.now()
    rows = [
        (station, station_silent(station, now))
        for station in Station.objects.prefetch_related("locations")
    ]
    return render(
        request,
        "stations/list.html",
        {"rows": rows, "form": form, "silent_minutes": settings.STATION_SILENT_MINUTES},
        status=400 if request.method == "POST" else 200,
    )


def _code_page(request: HttpRequest, station: Station, code: str) -> HttpResponse:
    """Shown once: the code is kept only as a hash."""
    return render(
        request,
        "stations/code.html",
        {
            "station": station,
            "code": code,
            "server": request.build_absolute_uri("/").rstrip("/"),
            "hours": int(CODE_LIFETIME.total_seconds() // 3600),
        },
    )


@require_http_methods(["GET"])
@roles_required(Role.IT)
def detail(request: HttpRequest, station_id: int) -> HttpResponse:
    return _detail(request, get_object_or_404(Station, pk=station_id))


def _detail(
    request: HttpRequest, station: Station, *, status: int = 200, **forms
) -> HttpResponse:
    places, holdings = station_holdings(station=station)
    return render(
        request,
        "stations/detail.html",
        {
            "station": station,
            "places": places,
            "silent": station_silent(station, timezone.now()),
            "holdings": holdings,
            "code_form": forms.get("code_form")
            or ConfirmForm(request=request, prefix="code"),
            "revoke_form": forms.get("revoke_form")
            or ConfirmForm(request=request, prefix="revoke"),
        },
        status=status,
    )


@require_POST
@roles_required(Role.IT)
def new_code(request: HttpRequest, station_id: int) -> HttpResponse:
    station = get_object_or_404(Station, pk=station_id)
    form = ConfirmForm(request.POST, request=request, prefix="code")
    if not form.is_valid():
        return _detail(request, station, code_form=form, status=400)
    try:
        code = station_new_code(station=station)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect("stations:detail", station.pk)
    return _code_page(request, station, code)


@require_POST
@roles_required(Role.IT)
def revoke(request: HttpRequest, station_id: int) -> HttpResponse:
    station = get_object_or_404(Station, pk=station_id)
    form = ConfirmForm(request.POST, request=request, prefix="revoke")
    if not form.is_valid():
        return _detail(request, station, revoke_form=form, status=400)
    station_revoke(station=station, user=request.user)
    messages.success(
        request,
        _("%(name)s is revoked: its token no longer works. Wipe its folder.")
        % {"name": station.name},
    )
    return redirect("stations:detail", station.pk)
