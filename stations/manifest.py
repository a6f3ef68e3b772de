"""What a station should hold now: its manifest.

The newest ready, signed file of each of its wards and clinics, each with
its signed statement, the server's chain of signing keys, the intervals it
polls at, and the downtime, if one is declared, with how far the final set
of the station's wards has got.
"""

import hashlib
import json

from django.conf import settings
from django.urls import reverse

from downtime.selectors import downtime_active, downtime_final_set
from printouts.models import Pack, Printout
from printouts.selectors import newest_ready, paper_languages, printouts_kept
from printouts.signing import iso, keys_chain
from stations.models import Station


def station_manifest(*, station: Station) -> tuple[bytes, str]:
    """The manifest as JSON bytes, and its ETag (a hash of those bytes: the
    same content gives the same tag, so a station's conditional request is
    answered 304 until something changes)."""
    places = list(station.locations.all())
    ids = {place.pk for place in places}
    manifest = {
        "format": 1,
        "station": {
            "id": station.pk,
            "name": station.name,
            "locations": [
                {"id": place.pk, "name": place.name, "kind": place.kind}
                for place in sorted(places, key=lambda p: (p.kind != "ward", p.name))
            ],
        },
        "intervals": {
            "check": settings.STATION_CHECK_SECONDS,
            "sync": settings.STATION_SYNC_SECONDS,
            "downtime": settings.STATION_DOWNTIME_SECONDS,
        },
        "downtime": _downtime(ids),
        "keys": keys_chain(),
        "items": [
            *(
                _item(f"pack-{pack.pk}", pack, location=pack.location_id, day=pack.day)
                for pack in newest_ready(
                    locations=station.locations.all().order_by("kind", "name")
                )
                if pack.signature
            ),
            *(
                _item(
                    f"{printout.kind}-{printout.pk}",
                    printout,
                    location=printout.location_id,
                )
                for printout in printouts_kept(
                    locations=station.locations.all(),
                    # the blank forms in the language of each of its wards
                    languages=paper_languages(locations=station.locations.all())
                    or [settings.LANGUAGE_CODE],
                )
            ),
        ],
        "language": settings.LANGUAGE_CODE,
    }
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return body, hashlib.sha256(body).hexdigest()[:32]


def _item(item: str, row: Pack | Printout, *, location: int | None, day=None) -> dict:
    """A file to keep: what the station checks (the signed statement) and
    where it downloads it."""
    return {
        "item": item,
        "kind": row.kind,
        "location": location,
        "day": day.isoformat() if day else None,
        "sha256": row.sha256,
        "size": row.size,
        "url": reverse("station_api:file", args=[item]),
        "statement": row.statement,
        "signature": row.signature,
        "key_id": row.signing_key,
    }


def _downtime(places: set[int]) -> dict | None:
    """The downtime declared, and whether the final set of these places is
    all ready (the station polls faster until it is)."""
    active = downtime_active()
    if active is None:
        return None
    final = [
        pack
        for pack in downtime_final_set(downtime=active).packs
        if pack.location_id in places
    ]
    ready = sum(pack.status == Pack.Status.READY for pack in final)
    return {
        "id": active.pk,
        "state": active.state,
        "drill": active.drill,
        "declared_at": iso(active.declared_at),
        "final_set": {
            "total": len(final),
            "ready": ready,
            "complete": bool(final) and ready == len(final),
        },
    }
