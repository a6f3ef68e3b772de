"""The station API: a few JSON and PDF URLs for ward stations.

Authenticated by the station's token only (``Authorization: Bearer``): no
session, no CSRF, whatever cookies come along. Scoped to the station's
wards and clinics: any other file answers 404, exactly like one that does
not exist, and the attempt is logged. A revoked or unknown token answers
401. Every request counts against a rate limit (``stations.limits``).
"""

import json
import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import AccessLog
from accounts.network import client_address
from printouts.models import Pack, Printout
from printouts.published import printout_discard
from printouts.services import PackDamaged, published_bytes
from printouts.signing import keys_chain
from printouts.tasks import render_requested
from stations import limits
from stations.manifest import station_manifest
from stations.models import Station
from stations.selectors import station_file
from stations.services import (
    EnrolmentRefused,
    ReportInvalid,
    station_authenticated,
    station_download_record,
    station_enrol,
    station_heartbeat,
    station_log_upload,
    station_seen,
)

logger = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # a heartbeat or a log upload


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _too_many() -> JsonResponse:
    response = _error(_("Too many requests: wait a minute."), 429)
    response["Retry-After"] = "60"
    return response


def station_required(view: Callable) -> Callable:
    """The station of the bearer token, or 401. A station's requests count
    against STATION_RATE_PER_MINUTE; failed tokens against their address's
    STATION_AUTH_FAILURES_PER_MINUTE, past which that address's failures
    get 429. A good token is never held back by others' failures: behind
    the hospital's proxy every station has the proxy's address, and a
    revoked PC still asking must not lock out the others."""

    @csrf_exempt
    @never_cache
    @wraps(view)
    def checked(request: HttpRequest, *args, **kwargs):
        scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
        station = (
            station_authenticated(token=token.strip())
            if scheme.lower() == "bearer"
            else None
        )
        if station is None:
            failures = f"failed:{client_address(request)}"
            limit = settings.STATION_AUTH_FAILURES_PER_MINUTE
            if limits.hit(failures, limit=limit):
                return _too_many()
            response = _error(
                _("This station is unknown or revoked: enrol it again."), 401
            )
            response["WWW-Authenticate"] = 'Bearer realm="downtime-station"'
            return response
        if limits.hit(f"station:{station.pk}", limit=settings.STATION_RATE_PER_MINUTE):
            return _too_many()
        return view(request, station, *args, **kwargs)

    return checked


def _json_body(request: HttpRequest) -> dict:
    if len(request.body) > MAX_BODY:
        raise ReportInvalid(f"the body is larger than {MAX_BODY} bytes")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ReportInvalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ReportInvalid("the body must be a JSON object")
    return body


@csrf_exempt
@never_cache
@require_POST
def enrol(request: HttpRequest) -> JsonResponse:
    """A one-time code in, the station's token and the server's signing keys
    out."""
    address = client_address(request)
    if limits.hit(f"enrol:{address}", limit=settings.STATION_ENROL_PER_MINUTE):
        return _too_many()
    try:
        body = _json_body(request)
        code = body.get("code")
        if not isinstance(code, str):
            raise ReportInvalid("code: the enrolment code IT gave")
        version = body.get("version") if isinstance(body.get("version"), str) else ""
        station, token = station_enrol(code=code, address=address, version=version)
    except ReportInvalid as error:
        return _error(str(error), 400)
    except EnrolmentRefused as error:
        return _error(str(error), 403)
    logger.info("station %s enrolled from %s", station.pk, address)
    return JsonResponse(
        {
            "station": {"id": station.pk, "name": station.name},
            "token": token,
            "keys": keys_chain(),
        },
        status=201,
    )


@require_GET
@station_required
def manifest(request: HttpRequest, station: Station) -> HttpResponse:
    station_seen(station=station, address=client_address(request))
    body, etag = station_manifest(station=station)
    tag = f'"{etag}"'
    if request.headers.get("If-None-Match") == tag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = tag
    return response


@require_GET
@station_required
def file(request: HttpRequest, station: Station, item: str) -> HttpResponse:
    """One file of the station's wards, checked against its SHA-256 and
    logged as the station's download in the transaction that reads it."""
    row = station_file(station=station, item=item)
    record = {"station": station, "item": item, "address": client_address(request)}
    if row is None:
        station_download_record(row=None, outcome=AccessLog.Outcome.DENIED, **record)
        return _error(_("No such file for this station."), 404)
    if request.headers.get("If-None-Match") == f'"{row.sha256}"':
        return HttpResponse(status=304)
    with transaction.atomic():
        data = _checked(row)
        outcome = AccessLog.Outcome.ALLOWED if data else AccessLog.Outcome.FAILED
        station_download_record(row=row, outcome=outcome, **record)
    if data is None:
        _repair(row)
        return _error(_("The file is damaged on the server; try again later."), 503)
    response = HttpResponse(data, content_type="application/pdf")
    response["ETag"] = f'"{row.sha256}"'
    return response


def _repair(row: Pack | Printout) -> None:
    """A damaged file is never served: a pack is rendered again, a printout
    made again."""
    if isinstance(row, Printout):
        printout_discard(printout=row)
        return
    with transaction.atomic():
        render_requested(location=row.location, kind=row.kind, day=row.day)


def _checked(row: Pack | Printout) -> bytes | None:
    """The file's bytes if they match its SHA-256; None (and a log line) if
    the file is missing or damaged."""
    try:
        return published_bytes(row)
    except PackDamaged as error:
        logger.error("cannot be served to a station: %s", error)
        return None


@require_POST
@station_required
def heartbeat(request: HttpRequest, station: Station) -> JsonResponse:
    """What the station holds and how it is; its local log comes along."""
    address = client_address(request)
    try:
        body = _json_body(request)
        with transaction.atomic():  # all of it, or none of it
            station_heartbeat(station=station, report=body, address=address)
            logged = station_log_upload(
                station=station, entries=body.get("log", []), address=address
            )
    except ReportInvalid as error:
        return _error(str(error), 400)
    return JsonResponse({"ok": True, "logged": logged})
