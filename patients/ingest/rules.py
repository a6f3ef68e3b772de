"""One rule per fact, applied by both feeds (the FHIR importer and the HL7
listener) through this module, so that the same event sent either way leaves
the same mirror.

- **Older.** A fact is older than the mirror's when the time its source gives
  it (FHIR ``meta.lastUpdated``, HL7 EVN-2 or MSH-7) is before the time the
  row was last written from (``source_updated_at``). Unknown on either side:
  not older. An older fact never overwrites a newer one; the same time does
  (the later arrival wins a tie).
- **source_hash** is the digest of what the mirror shows of a row: every
  column but the bookkeeping ones. Whoever changes a row (a feed's write, a
  bed taken by another stay, a merge, a result closing an order) recomputes
  it, so equal hashes mean the same row, and packs see every change.
  ``source_digest`` is the FHIR importer's own note of the resource a row was
  built from (to skip mapping it again); any other change clears it.
- **Who holds a bed.** One stay on the census per bed: the newest arrival by
  that same time. A stay whose arrival is older than the occupant's gets no
  bed (it stays on its ward's census without one); an occupant whose arrival
  is older leaves the bed, and stays on the census without a bed until the
  EHR says where they went.
- **Which list a feed may replace.** A source that sends a patient's whole
  list (a FHIR import of complete records, HL7 AL1 segments) removes, of that
  patient's rows of the list, only its own feed's that it no longer lists
  and that were not written after it. Another feed's rows are that feed's.
- **An empty value.** A value the source does not state keeps what the mirror
  has; a value stated empty clears it. A FHIR resource states all of itself
  (it replaces the whole resource: an element it lacks is empty). An HL7
  message states only the fields it sends: an empty field keeps, HL7's
  explicit null ``""`` clears.
- **A stay needs its ward** when it is an inpatient's on the census
  (class IMP: arrived, triaged, in progress or on leave), or of no class
  given and in progress or on leave: without one it would be on no ward's
  census, and is refused. An outpatient's, an emergency's or a registration
  of no class may wait for its place.
- **An urgent appointment** is one of type EMERGENCY (HL7 table 0276, the
  code both feeds give), or one the EHR gave the highest priority (FHIR
  ``priority`` 1, iCal's scale). A downtime postpones only the others by
  default. The type is kept as its code, in capitals.
- **A value longer than its column.** An identifier (an MRN, a visit or order
  number, a source id) is refused, never cut: two cut ids could name one
  record. Free text is shortened, ending with ``SHORTENED`` so that a reader
  sees it, and the feed's outcome counts it.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import models

SHORTENED = "[…]"
BOOKKEEPING = frozenset(
    {
        "source_feed",
        "source_type",
        "source_id",
        "source_updated_at",
        "source_hash",
        "source_digest",
        "received_at",
    }
)
# Written by the downtime census journal alone, on its own stays: no feed's
# content, so no part of what a feed's row digests to.
JOURNAL_ONLY = frozenset({"replaces", "marks"})


def is_older(incoming: dt.datetime | None, current: dt.datetime | None) -> bool:
    return incoming is not None and current is not None and incoming < current


def needs_ward(status: str, encounter_class: str) -> bool:
    if encounter_class == "IMP":
        return status in ("arrived", "triaged", "in-progress", "onleave")
    return encounter_class == "" and status in ("in-progress", "onleave")


def appointment_kind(code: str, *, priority: int | None = None) -> tuple[str, bool]:
    """(type code, urgent) of an appointment whose source gives ``code``
    (HL7 table 0276, or the sender's own) and, FHIR only, ``priority``."""
    code = code.strip().upper()[:32]
    return code, code == "EMERGENCY" or priority == 1


# source_hash


@cache
def content_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in BOOKKEEPING | JOURNAL_ONLY
    )


def content_hash(model: type[models.Model], values: Mapping[str, Any]) -> str:
    """The digest of a row of ``model`` holding ``values`` (by attname or
    name; a related row stands for its key); a field not given counts as
    its default."""
    content = {}
    for attname, name, default in _content_columns(model):
        if attname in values:
            value = values[attname]
        elif name in values:
            value = values[name]
        else:
            value = default()
        content[attname] = value if type(value) in _PLAIN else _plain(value)
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def row_hash(row: models.Model) -> str:
    return content_hash(
        type(row),
        {f.attname: getattr(row, f.attname) for f in content_fields(type(row))},
    )


# Values JSON writes as they are.
_PLAIN = frozenset({str, int, bool, type(None)})


@cache
def _content_columns(model: type[models.Model]) -> tuple:
    return tuple((f.attname, f.name, f.get_default) for f in content_fields(model))


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime):
        # The same instant, whatever zone the feed wrote it in.
        return (
            value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
        )
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return value


# Free text and identifiers


def fit(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: as it is, or shortened and
    ending with ``SHORTENED``."""
    if len(text) <= limit:
        return text
    return text[: limit - len(SHORTENED) - 1].rstrip() + " " + SHORTENED


def fit_row(model: type[models.Model], values: dict[str, Any]) -> int:
    """Shorten, in place, every text of ``values`` (by attname or name)
    longer than its column; how many were."""
    shortened = 0
    for name, limit in _text_columns(model):
        value = values.get(name)
        if type(value) is str and len(value) > limit:
            values[name] = fit(value, limit)
            shortened += 1
    return shortened


@cache
def _text_columns(model: type[models.Model]) -> tuple[tuple[str, int], ...]:
    """(name, length) of the model's text columns (a CharField's name and
    attname are one)."""
    return tuple(
        (f.name, f.max_length)
        for f in content_fields(model)
        if isinstance(f, models.CharField) and f.max_length
    )


def too_long(value: str, model: type[models.Model], name: str) -> int | None:
    """The column's length when an identifier ``value`` does not fit in
    ``model.name``, else None: the caller refuses it."""
    limit = model._meta.get_field(name).max_length
    return limit if limit is not None and len(value) > limit else None


# Beds


@dataclass
class Claim:
    """A stay that will be on the census in ``bed_id``. ``key``: its
    (source type, source id); ``at``: the time its source gives."""

    bed_id: int
    key: tuple[str, str]
    at: dt.datetime | None


def claim_beds(
    claims: Sequence[Claim],
    *,
    occupants: Callable[[list[int]], Iterable] | None = None,
    evict: Callable[[models.Model], None] | None = None,
) -> set[int]:
    """Settle who holds each bed claimed: the indexes of the ``claims`` that
    get no bed. Occupants that leave theirs are written (no bed, a new
    hash) here; call inside the transaction that writes the claims.
    ``occupants`` (the stays on the census in some beds, locked) and
    ``evict`` read and write through the ORM unless given (the HL7
    listener's own statements)."""
    lost: set[int] = set()
    best: dict[int, int] = {}
    for index, claim in enumerate(claims):
        rival = best.get(claim.bed_id)
        if rival is not None and is_older(claim.at, claims[rival].at):
            lost.add(index)
            continue
        if rival is not None:
            lost.add(rival)
        best[claim.bed_id] = index
    if not best:
        return lost
    for occupant in (occupants or _occupants)(sorted(best)):
        index = best[occupant.bed_id]
        claim = claims[index]
        if (occupant.source_type, occupant.source_id) == claim.key:
            continue
        if is_older(claim.at, occupant.source_updated_at):
            lost.add(index)
            continue
        (evict or _evict)(occupant)
    return lost


def _occupants(beds: list[int]):
    from patients.models import Encounter

    return (
        Encounter.objects.select_for_update()
        .filter(bed_id__in=beds, status__in=Encounter.ON_CENSUS)
        .order_by("pk")
    )


def _evict(occupant: models.Model) -> None:
    occupant.bed = None
    restamp(occupant, "bed")


def restamp(row: models.Model, *changed: str) -> None:
    """Save ``changed`` fields of a row changed outside a feed's write, with
    its new hash; the FHIR resource it was built from no longer describes it."""
    row.source_hash = row_hash(row)
    row.source_digest = ""
    row.save(update_fields=[*changed, "source_hash", "source_digest"])


# Lists a source sends whole


def replace_list(
    model: type[models.Model],
    *,
    feed: str,
    patients: Iterable[int],
    kept: Iterable[str],
    as_of: dt.datetime | None,
) -> int:
    """Remove the ``feed``'s rows of ``patients`` whose source id is not
    ``kept`` and that were not written after ``as_of``; how many."""
    patients = sorted(set(patients))
    removed = 0
    for start in range(0, len(patients), 500):
        rows = model.objects.filter(
            patient_id__in=patients[start : start + 500], source_feed=feed
        ).only("pk", "source_id", "source_updated_at")
        gone = left_off(rows, kept, as_of)
        if gone:
            model.objects.filter(pk__in=gone).delete()
            removed += len(gone)
    return removed


def left_off(rows: Iterable[models.Model], kept: Iterable[str], as_of) -> list[int]:
    """The ids of a list's ``rows`` whose source id is not ``kept`` and that
    were not written after ``as_of``: what a list sent whole removes."""
    kept = set(kept)
    return [
        row.pk
        for row in rows
        if row.source_id not in kept and not is_older(as_of, row.source_updated_at)
    ]
