"""The downtime pages. IT's: declare, follow the final set of packs,
recover, close (each action asks for the password again), readiness,
downtime numbers and the report. Everyone's, scoped by ward: the recovery
worklists."""

import hmac

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
)

from accounts.decorators import roles_required
from accounts.models import AccessLog, Role
from accounts.selectors import user_locations, user_roles
from accounts.services import access_denied, access_record
from downtime.forms import (
    AllocateForm,
    CloseForm,
    DeclareForm,
    MoveForm,
    NumberUseForm,
    PaperItemForm,
    PostponementForm,
)
from downtime.models import Downtime, DowntimeNumber, NumberBlock, WorklistItem
from downtime.numbers import (
    number_labels,
    number_text,
    number_use_record,
    numbers_allocate,
)
from downtime.report import downtime_report, report_csv, report_pdf
from downtime.selectors import (
    downtime_active,
    downtime_final_set,
    downtime_items_left,
    readiness,
    worklist_items,
)
from downtime.services import (
    downtime_cancel,
    downtime_close,
    downtime_declare,
    downtime_postponement_set,
    downtime_recover,
)
from downtime.templatetags.downtime import clock
from downtime.worklists import (
    worklist_add_from_paper,
    worklist_item_done,
    worklist_progress,
)
from printouts.models import Pack
from printouts.selectors import paper_language


@require_GET
@roles_required(Role.IT)
def page(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _page(
    request: HttpRequest,
    *,
    form=None,
    cancel_form=None,
    postpone_form=None,
    status: int = 200,
) -> HttpResponse:
    active = downtime_active()
    recovering = active is not None and active.state == Downtime.State.RECOVERY
    left = downtime_items_left(downtime=active) if recovering else 0
    if form is None:
        if active is None:
            form = DeclareForm(request=request)
        elif recovering:
            form = CloseForm(request=request, left=left)
        else:
            form = MoveForm(request=request)
    context = {
        "active": active,
        "form": form,
        "left": left,
        "progress": worklist_progress(
            items=WorklistItem.objects.filter(downtime=active)
        )
        if left
        else [],
        "final": downtime_final_set(downtime=active) if active else None,
        "postpone_form": postpone_form or _postpone_form(request, active),
        "transitions": active.transitions.select_related("user") if active else [],
        # Each with its own cancel form, the one that failed with its errors.
        "scheduled": [
            (
                planned,
                cancel_form
                if cancel_form and cancel_form.prefix == f"cancel-{planned.pk}"
                else MoveForm(request=request, prefix=f"cancel-{planned.pk}"),
            )
            for planned in Downtime.objects.filter(
                state=Downtime.State.SCHEDULED
            ).order_by("starts_at")
        ],
        "refresh_minutes": settings.DOWNTIME_REFRESH_MINUTES,
        "now": timezone.now(),
        "past": Downtime.objects.filter(
            state__in=(Downtime.State.CLOSED, Downtime.State.CANCELLED)
        )[:10],
    }
    return render(request, "downtime/page.html", context, status=status)


def _postpone_form(request: HttpRequest, active: Downtime | None):
    if active is None or active.state != Downtime.State.DOWNTIME:
        return None
    return PostponementForm(
        request=request,
        prefix="postpone",
        initial={
            "expected_end": active.expected_end
            and timezone.localtime(active.expected_end),
            "clinics": list(active.postponed_clinics.all()),
            "types": active.postponed_types,
            "postpone_urgent": active.postpone_urgent,
        },
    )


@require_POST
@roles_required(Role.IT)
def postponement(request: HttpRequest, downtime_id: int) -> HttpResponse:
    """IT sets the expected end, and which clinics and appointment types the
    downtime postpones; the call lists follow at once."""
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    form = PostponementForm(request.POST, request=request, prefix="postpone")
    if not form.is_valid():
        return _page(request, postpone_form=form, status=400)
    data = form.cleaned_data
    try:
        downtime_postponement_set(
            downtime=downtime,
            expected_end=data["expected_end"],
            clinics=data["clinics"],
            types=data["types"],
            postpone_urgent=data["postpone_urgent"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, postpone_form=form, status=409)
    messages.success(request, _("Saved: the call lists follow it."))
    return redirect("downtime:page")


@require_POST
@roles_required(Role.IT)
def declare(request: HttpRequest) -> HttpResponse:
    form = DeclareForm(request.POST, request=request)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        downtime = downtime_declare(
            user=request.user,
            kind=data["kind"],
            reason=data["reason"],
            drill=data["drill"],
            systems=data["systems"],
            expected_end=data["expected_end"],
            isolate_feeds=data["isolate_feeds"],
            starts_at=data["starts_at"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, form=form, status=409)
    if downtime.state == Downtime.State.SCHEDULED:
        messages.success(
            request,
            _(
                "Downtime scheduled: it begins by itself at %(start)s, and every "
                "pack is rendered again %(minutes)d minutes before."
            )
            % {
                "start": clock(downtime.starts_at),
                "minutes": settings.DOWNTIME_REFRESH_MINUTES,
            },
        )
        return redirect("downtime:page")
    queued = Pack.objects.filter(downtime=downtime)
    if queued.filter(queued_at__isnull=True).exists():
        messages.error(
            request,
            _(
                "Downtime declared, but the workers cannot be reached (Redis): "
                "the packs are rendered once it is back. Meanwhile run "
                "`manage.py render_packs --all` on the server, and use the packs "
                "already printed."
            ),
        )
        return redirect("downtime:page")
    messages.success(
        request,
        _(
            "Downtime declared. %(count)d packs are being rendered at top "
            "priority: follow them below."
        )
        % {"count": queued.count()},
    )
    return redirect("downtime:page")


@require_POST
@roles_required(Role.IT)
def recover(request: HttpRequest, downtime_id: int) -> HttpResponse:
    return _move(request, downtime_id, downtime_recover, _("Recovery started."))


@require_POST
@roles_required(Role.IT)
def close(request: HttpRequest, downtime_id: int) -> HttpResponse:
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    form = CloseForm(
        request.POST, request=request, left=downtime_items_left(downtime=downtime)
    )
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        downtime_close(
            downtime=downtime,
            user=request.user,
            why=form.cleaned_data["why"],
            left_accepted=form.cleaned_data.get("left_accepted") or 0,
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, form=form, status=409)
    messages.success(request, _("Downtime closed."))
    return redirect("downtime:page")


@require_POST
@roles_required(Role.IT)
def cancel(request: HttpRequest, downtime_id: int) -> HttpResponse:
    return _move(
        request,
        downtime_id,
        downtime_cancel,
        _("Scheduled downtime cancelled."),
        prefix=f"cancel-{downtime_id}",
    )


def _move(
    request: HttpRequest, downtime_id: int, service, done: str, prefix: str = ""
) -> HttpResponse:
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    form = MoveForm(request.POST, request=request, prefix=prefix or None)
    shown = {"cancel_form": form} if prefix else {"form": form}
    if not form.is_valid():
        return _page(request, status=400, **shown)
    try:
        service(downtime=downtime, user=request.user, why=form.cleaned_data["why"])
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, status=409, **shown)
    messages.success(request, done)
    return redirect("downtime:page")


@require_GET
@roles_required(Role.IT)
def progress(request: HttpRequest, downtime_id: int) -> JsonResponse:
    """The final set's progress, for the page to follow without reloading
    (a reload would wipe what IT is typing)."""
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    final = downtime_final_set(downtime=downtime)
    return JsonResponse(
        {
            "state": downtime.state,
            "complete": final.complete,
            "counts": final.counts,
            "total": len(final.packs),
            "summary": render_to_string(
                "downtime/summary.html", {"final": final}, request=request
            ),
            "packs": [
                {
                    "id": pack.pk,
                    "status": pack.status,
                    "status_label": str(pack.get_status_display()),
                    "as_of": _local(pack.as_of),
                    "generated_at": _local(pack.generated_at),
                    "error": pack.error,
                }
                for pack in final.packs
            ],
        }
    )


def _local(moment) -> str | None:
    return timezone.localtime(moment).strftime("%H:%M:%S") if moment else None


@require_GET
@roles_required(Role.IT)
def readiness_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "downtime/readiness.html",
        {
            "check": readiness(),
            "download_days": settings.READINESS_DOWNLOAD_DAYS,
            "copy_minutes": settings.STATION_COPY_MAX_MINUTES,
            "silent_minutes": settings.STATION_SILENT_MINUTES,
        },
    )


@require_GET
@never_cache
def readiness_json(request: HttpRequest) -> JsonResponse:
    """The same, for a monitoring system: with READINESS_TOKEN as a bearer
    token, or IT's session. 503 when a ward has no pack recent enough."""
    if not (_monitor(request) or Role.IT in user_roles(user=request.user)):
        return JsonResponse({"error": "forbidden"}, status=403)
    check = readiness()
    return JsonResponse(
        {
            "ready": check.ready,
            "checked_at": check.checked_at.isoformat(),
            "mirror": {
                "as_of": _iso(check.mirror_as_of),
                "level": check.mirror_level,
                "feeds": [
                    {"name": feed.name, "last_success_at": _iso(feed.last_success_at)}
                    for feed in check.feeds
                ],
            },
            "places": [
                {
                    "name": item.row.location.name,
                    "kind": item.row.kind,
                    "day": item.row.day.isoformat() if item.row.day else None,
                    "level": item.level,
                    "pack": {
                        "level": item.pack_level,
                        "as_of": _iso(item.row.ready.as_of if item.row.ready else None),
                        "generated_at": _iso(
                            item.row.ready.generated_at if item.row.ready else None
                        ),
                        "pending": item.row.pending.status
                        if item.row.pending
                        else None,
                        "failed": bool(item.row.failed),
                    },
                    "last_download": {
                        "level": item.download_level,
                        "at": _iso(item.last_download),
                    },
                    "station": {
                        "level": item.station_level,
                        "stations": item.copies.stations,
                        "holds_newest": item.station_holds_newest,
                        "best_as_of": _iso(item.copies.best and item.copies.best.as_of),
                        "best_held_by": item.copies.best.stations
                        if item.copies.best
                        else [],
                    },
                }
                for item in check.rows
            ],
            "silent_stations": [
                {"name": station.name, "last_seen_at": _iso(station.last_seen_at)}
                for station in check.silent_stations
            ],
        },
        status=200 if check.ready else 503,
    )


def _monitor(request: HttpRequest) -> bool:
    token = settings.READINESS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


@require_http_methods(["GET", "POST"])
@roles_required(Role.IT)
def numbers(request: HttpRequest) -> HttpResponse:
    """Allocate blocks of downtime numbers, print them, record their use."""
    # Prefixed: both forms have a "location", and one page must not carry
    # two elements of one id (a label would name the wrong list).
    allocate = AllocateForm(prefix="allocate")
    use = NumberUseForm(prefix="use")
    status = 200
    if request.method == "POST":
        if "allocate" in request.POST:
            allocate = AllocateForm(request.POST, prefix="allocate")
            done = allocate.is_valid() and _attempt(
                allocate,
                lambda data: numbers_allocate(
                    location=data["location"], count=data["count"], user=request.user
                ),
            )
            if done:
                messages.success(
                    request,
                    _("Numbers %(first)s to %(last)s allocated to %(place)s.")
                    % {
                        "first": number_text(done.first),
                        "last": number_text(done.last),
                        "place": done.location.name,
                    },
                )
                return redirect("downtime:numbers")
        else:
            use = NumberUseForm(request.POST, prefix="use")
            done = use.is_valid() and _attempt(
                use,
                lambda data: number_use_record(
                    number=data["number"],
                    location=data["location"],
                    used_at=data["used_at"],
                    used_by=data["used_by"],
                    user=request.user,
                ),
            )
            if done:
                messages.success(
                    request, _("%(number)s recorded.") % {"number": done.number}
                )
                return redirect("downtime:numbers")
        status = 400
    blocks = NumberBlock.objects.select_related("location", "allocated_by").annotate(
        used=Count("numbers", filter=Q(numbers__recorded_at__isnull=False)),
    )
    return render(
        request,
        "downtime/numbers.html",
        {
            "allocate": allocate,
            "use": use,
            "blocks": [
                (block, number_text(block.first), number_text(block.last))
                for block in blocks[:50]
            ],
            "used": DowntimeNumber.objects.filter(recorded_at__isnull=False)
            .select_related("used_on", "recorded_by", "downtime")
            .order_by("-recorded_at")[:100],
            "prefix": settings.DOWNTIME_NUMBER_PREFIX,
        },
        status=status,
    )


def _attempt(form, action):
    """The action's result, or None with its error shown on the form."""
    try:
        return action(form.cleaned_data)
    except ValidationError as error:
        form.add_error(None, error)
        return None


@require_GET
@roles_required(Role.IT)
def number_labels_download(request: HttpRequest, block_id: int) -> HttpResponse:
    block = get_object_or_404(
        NumberBlock.objects.select_related("location"), pk=block_id
    )
    # Paper in the language of the block's ward, not the browser's.
    data = number_labels(block=block, language=paper_language(location=block.location))
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="downtime-numbers-{block.first}-{block.last}.pdf"'
    )
    return response


READERS = (Role.NURSE, Role.CLERK, Role.IT)
PAGE_SIZE = 100  # worklist items on one page, by ward and bed


@require_GET
@roles_required(*READERS)
def worklists(request: HttpRequest, downtime_id: int) -> HttpResponse:
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    return render(
        request,
        "downtime/worklists.html",
        {
            "downtime": downtime,
            "progress": worklist_progress(
                items=worklist_items(user=request.user, downtime=downtime)
            ),
        },
    )


@require_http_methods(["GET", "POST"])
@roles_required(*READERS, action=AccessLog.Action.WORKLIST)
def worklist(request: HttpRequest, downtime_id: int, name: str) -> HttpResponse:
    """One worklist, a page of it at a time, grouped by ward; items from
    paper are added here (laboratory and nursing). Every view is written to
    the access log."""
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    if name not in WorklistItem.Worklist.values:
        raise Http404
    places = user_locations(user=request.user).order_by("kind", "name")
    editable = downtime.state in Downtime.ACTIVE
    takes_paper = editable and name in (
        WorklistItem.Worklist.LABORATORY,
        WorklistItem.Worklist.NURSING,
    )
    add_form = PaperItemForm(places=places) if takes_paper else None
    if request.method == "POST":
        if not takes_paper:
            raise Http404
        add_form = PaperItemForm(request.POST, places=places)
        if add_form.is_valid() and _attempt(
            add_form,
            lambda data: worklist_add_from_paper(
                downtime=downtime, worklist=name, user=request.user, **data
            ),
        ):
            messages.success(request, _("Added."))
            return redirect(request.get_full_path())
    items = worklist_items(user=request.user, downtime=downtime).filter(worklist=name)
    ward_id = request.GET.get("ward", "")
    ward_id = int(ward_id) if ward_id.isdigit() else None
    if ward_id:
        items = items.filter(location_id=ward_id)
    counts = items.aggregate(
        total=Count("pk"), done=Count("pk", filter=Q(done_at__isnull=False))
    )
    open_only = request.GET.get("open") == "1"
    if open_only:
        items = items.filter(done_at__isnull=True)
    pages = Paginator(items.select_related("done_by", "number", "entry"), PAGE_SIZE)
    with transaction.atomic():  # no log row, no data
        page = pages.get_page(request.GET.get("page"))
        shown = list(page.object_list)
        access_record(
            request=request,
            action=AccessLog.Action.WORKLIST,
            outcome=AccessLog.Outcome.ALLOWED,
            target=f"worklist {downtime.pk} {name}",
            locations=sorted({i.location_id for i in shown if i.location_id}),
            patients=sorted({i.patient_id for i in shown if i.patient_id}),
        )
    return render(
        request,
        "downtime/worklist.html",
        {
            "downtime": downtime,
            "label": WorklistItem.Worklist(name).label,
            "items": shown,
            "page": page,
            "page_range": list(pages.get_elided_page_range(page.number, on_ends=1)),
            **counts,
            "places": places,
            "ward_id": ward_id,
            "open_only": open_only,
            "add_form": add_form,
            "editable": editable,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@roles_required(*READERS, action=AccessLog.Action.WORKLIST)
def worklist_done(request: HttpRequest, item_id: int) -> HttpResponse:
    item = WorklistItem.objects.filter(pk=item_id).first()
    if (
        item is None
        or not worklist_items(user=request.user, downtime=item.downtime)
        .filter(pk=item_id)
        .exists()
    ):
        access_denied(
            request=request,
            action=AccessLog.Action.WORKLIST,
            target=f"worklist item {item_id}",
        )
    try:
        worklist_item_done(
            item=item,
            user=request.user,
            note=request.POST.get("note", ""),
            real_mrn=request.POST.get("real_mrn", ""),
        )
    except ValidationError as error:
        messages.error(request, error.messages[0])
    return redirect(
        back_to(
            request,
            reverse("downtime:worklist", args=[item.downtime_id, item.worklist]),
        )
    )


def back_to(request: HttpRequest, fallback: str) -> str:
    """The page the form came from (its ``next``), if it is one of ours."""
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return fallback


@require_GET
@roles_required(Role.IT, action=AccessLog.Action.REPORT)
def report(request: HttpRequest, downtime_id: int, form: str) -> HttpResponse:
    """The downtime report as PDF or CSV; IT only, written to the access log."""
    if form not in ("pdf", "csv"):
        raise Http404
    downtime = get_object_or_404(Downtime, pk=downtime_id)
    with transaction.atomic():  # no log row, no report
        made = downtime_report(downtime=downtime)
        access_record(
            request=request,
            action=AccessLog.Action.REPORT,
            outcome=AccessLog.Outcome.ALLOWED,
            target=f"downtime report {downtime.pk} {form}",
        )
    name = f"downtime-{timezone.localtime(downtime.declared_at):%Y%m%d-%H%M}"
    if form == "csv":
        response = HttpResponse(
            report_csv(made), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    response = HttpResponse(
        report_pdf(made, language=request.LANGUAGE_CODE), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
    return response
