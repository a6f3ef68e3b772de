"""Applying FHIR R4 resources to the mirror, in chunks.

Each chunk of one resource type is handled in five steps:

1. read ``meta.lastUpdated`` and hash the resource; look up the rows it would
   replace (one query);
2. set aside what is unchanged (same hash) or older than the mirror;
3. map the rest to model fields, resolving every reference in bulk;
4. keep anything that breaks a rule in quarantine, with the reason and the
   raw text, and write everything else in one upsert, in one transaction;
5. remember what a complete source held, so that afterwards allergies,
   problems and medication orders it no longer lists are removed.
"""

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db import models, transaction
from django.utils import timezone

from patients.ingest import upsert, values
from patients.ingest.mappers import MAPPERS, REPLACED_AS_A_SET, Context, Mapper, Row
from patients.ingest.mappers.directory import location_kind
from patients.ingest.r4 import RESOURCE_TYPES
from patients.ingest.references import Ref, parse_reference
from patients.ingest.sources import Item, Load, canonical_json
from patients.models import (
    Clinician,
    Encounter,
    Location,
    Organization,
    Patient,
    QuarantinedResource,
    Schedule,
    Slot,
)

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_URN = re.compile(r"urn:uuid:[0-9a-fA-F-]{36}")
# Where a reference by identifier looks: model, identifier system, value.
TARGETS: dict[str, tuple[type[models.Model], str | None, str | None]] = {
    "Patient": (Patient, "mrn_system", "mrn"),
    "Practitioner": (Clinician, "identifier_system", "identifier_value"),
    "Location": (Location, "identifier_system", "identifier_value"),
    "Organization": (Organization, "identifier_system", "identifier_value"),
    "Encounter": (Encounter, None, None),
    "Schedule": (Schedule, None, None),
    "Slot": (Slot, None, None),
}
_LOCATION_RANK = {
    Location.Kind.SITE: 0,
    Location.Kind.OTHER: 1,
    Location.Kind.CLINIC: 1,
    Location.Kind.WARD: 1,
    Location.Kind.ROOM: 2,
    Location.Kind.BED: 3,
}


class Outcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    OLDER = "older"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"
    DELETED = "deleted"


@dataclass
class Summary:
    """Per resource type, how many resources had each outcome."""

    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    skipped: list[str] = field(default_factory=list)
    # Optional references (a prescriber, an attending) not in the mirror.
    unresolved: Counter = field(default_factory=Counter)

    def add(self, resource_type: str, outcome: Outcome, number: int = 1) -> None:
        if number:
            self.counts[resource_type or "(unreadable)"][outcome] += number

    def total(self, outcome: Outcome) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    @property
    def quarantined(self) -> int:
        return self.total(Outcome.QUARANTINED)

    def as_dict(self) -> dict:
        return {
            "counts": {kind: dict(counter) for kind, counter in self.counts.items()},
            "skipped": self.skipped,
            "unresolved": dict(self.unresolved),
        }


@dataclass
class _Candidate:
    item: Item
    source_id: str
    digest: str
    updated_at: datetime | None
    row: Row | None = None


class Importer(Context):
    """One import run: caches what it resolved and what it has seen."""

    def __init__(self, *, feed: str, replace_sets: bool = True) -> None:
        self.feed = feed
        self.replace_sets = replace_sets
        self.received_at = timezone.now()
        self.summary = Summary()
        self._pks: dict[Ref, int] = {}
        self._locations: dict[int, tuple[str, int | None, int | None]] = {}
        self._seen: dict[str, dict[str, str]] = defaultdict(dict)
        self._patients: set[int] = set()
        self._kept: dict[str, set[str]] = defaultdict(set)
        self._inserted: Counter = Counter()

    def run(self, load: Load, *, chunk_size: int = 1000, progress=None) -> Summary:
        """Import a load; ``progress(n)`` is told as each chunk is done."""
        self.summary.skipped.extend(load.skipped)
        for chunk in load.chunks(chunk_size):
            self.apply(chunk)
            if progress:
                progress(len(chunk))
        if self.replace_sets:
            for kind in REPLACED_AS_A_SET:
                if kind in load.covered:
                    self._replace_set(kind)
        self.delete(load.deleted)
        upsert.refresh_statistics(
            model for model, number in self._inserted.items() if number >= 1000
        )
        return self.summary

    def apply(self, chunk: Iterable[Item]) -> None:
        groups: dict[tuple[int, str, int], list[Item]] = defaultdict(list)
        for item in chunk:
            kind = item.resource_type
            if item.error or not kind:
                self._quarantine(item, item.error or "resourceType is missing")
            elif kind not in MAPPERS:
                if kind in RESOURCE_TYPES:
                    self.summary.add(kind, Outcome.IGNORED)
                    self._resolve_quarantine([item])
                else:
                    self._quarantine(item, f"{kind} is not a FHIR R4 resource type")
            else:
                groups[self._mapper_slot(item)].append(item)
        # Wards before their rooms, rooms before their beds.
        for (_, kind, index), items in sorted(groups.items(), key=lambda g: g[0]):
            if index < 0:
                self.summary.add(kind, Outcome.IGNORED, len(items))
                self._resolve_quarantine(items)
            else:
                self._apply(MAPPERS[kind][index], items)

    def _mapper_slot(self, item: Item) -> tuple[int, str, int]:
        """(order, type, mapper index); index -1: no mapper wants it."""
        kind = item.resource_type
        for index, mapper in enumerate(MAPPERS[kind]):
            try:
                if not mapper.accepts(item.resource):
                    continue
                if kind == "Location":
                    return _LOCATION_RANK.get(location_kind(item.resource), 0), kind, 0
            except (TypeError, AttributeError, values.Invalid):
                pass  # the mapper will say what is wrong
            return 0, kind, index
        return 0, kind, -1

    def _apply(self, mapper: Mapper, items: list[Item]) -> None:
        candidates = self._candidates(mapper, items)
        existing = upsert.existing(
            mapper.model, mapper.resource_type, [c.source_id for c in candidates]
        )
        changed = []
        for candidate in candidates:
            before = existing.get(candidate.source_id)
            outcome = self._compare(candidate, before)
            if outcome is None:
                changed.append(candidate)
            else:
                self.summary.add(mapper.resource_type, outcome)
                self._remember(mapper, candidate, before and before[0])
                self._resolve_quarantine([candidate.item])
        self._write(mapper, self._map(mapper, changed), existing.keys())

    def _candidates(self, mapper: Mapper, items: list[Item]) -> list[_Candidate]:
        """Valid ids and timestamps, one candidate per id (the newest)."""
        chosen: dict[str, _Candidate] = {}
        for item in items:
            resource = item.resource
            source_id = resource.get("id")
            if not isinstance(source_id, str) or not _ID.match(source_id):
                self._quarantine(item, f"{item.resource_type}.id is missing or invalid")
                continue
            try:
                meta = resource.get("meta") or {}
                updated = values.datetime(meta.get("lastUpdated"), "meta.lastUpdated")
            except values.Invalid as error:
                self._quarantine(item, str(error))
                continue
            digest = _digest(item)
            candidate = _Candidate(item, source_id, digest, updated)
            kind = mapper.resource_type
            prior = chosen.get(source_id)
            if prior is not None:
                # Two copies in one chunk: the newer (or the later) wins.
                same = Outcome.UNCHANGED if prior.digest == digest else Outcome.OLDER
                self.summary.add(kind, same)
                if _is_older(updated, prior.updated_at):
                    continue
            elif self._seen[kind].get(source_id) == digest:
                self.summary.add(kind, Outcome.UNCHANGED)
                self._resolve_quarantine([item])
                continue
            chosen[source_id] = candidate
        return list(chosen.values())

    def _compare(self, candidate: _Candidate, before) -> Outcome | None:
        """UNCHANGED or OLDER when the mirror has this already; None to write."""
        if before is None:
            return None
        _, digest, updated = before
        if digest == candidate.digest:
            return Outcome.UNCHANGED
        if _is_older(candidate.updated_at, updated):
            return Outcome.OLDER
        return None

    def _map(self, mapper: Mapper, candidates: list[_Candidate]) -> list[_Candidate]:
        mapped = []
        for candidate in candidates:
            try:
                row = mapper.map(candidate.item.resource, candidate.item.urns)
            except values.Invalid as error:
                self._quarantine(candidate.item, str(error))
                self._keep(mapper, candidate.source_id)
                continue
            except (TypeError, AttributeError, KeyError, ValueError) as error:
                # A value of the wrong JSON type where a structure was due.
                self._quarantine(
                    candidate.item,
                    f"{mapper.resource_type} does not have the structure FHIR R4 "
                    f"gives it ({type(error).__name__})",
                )
                self._keep(mapper, candidate.source_id)
                continue
            candidate.row = row
            mapped.append(candidate)
        resolved = self._resolve({w.ref for c in mapped for w in c.row.wanted})
        ready = [c for c in mapped if self._link(mapper, c, resolved)]
        mapper.finish([c.row for c in ready], self)
        return ready

    def _link(self, mapper: Mapper, candidate: _Candidate, resolved) -> bool:
        row = candidate.row
        for name in mapper.links:
            row.fields[f"{name}_id"] = None
        for wanted in row.wanted:
            pk = resolved.get(wanted.ref)
            if pk is None and wanted.required:
                self._quarantine(
                    candidate.item,
                    f"{wanted.path}: {wanted.ref.describe()} is not in the mirror "
                    "(broken reference)",
                )
                self._keep(mapper, candidate.source_id)
                return False
            if pk is None:
                self.summary.unresolved[mapper.resource_type] += 1
            elif wanted.field.startswith("*"):
                row.extra.setdefault(wanted.field, []).append(pk)
            else:
                row.fields[f"{wanted.field}_id"] = pk
        return True

    def _write(self, mapper: Mapper, ready: list[_Candidate], known) -> None:
        if mapper.model is Patient:
            ready = self._without_mrn_conflicts(ready)
        if not ready:
            return
        rows = [
            {
                **c.row.fields,
                "source_feed": self.feed,
                "source_type": mapper.resource_type,
                "source_id": c.source_id,
                "source_updated_at": c.updated_at,
                "source_hash": c.digest,
                "received_at": self.received_at,
            }
            for c in ready
        ]
        new = {c.source_id for c in ready} - set(known)
        with transaction.atomic():
            if mapper.model is Encounter:
                _free_claimed_beds(rows)
            pks = upsert.upsert(mapper.model, rows)
            self._resolve_quarantine([c.item for c in ready])
        self._inserted[mapper.model] += len(new)
        for candidate, row in zip(ready, rows, strict=True):
            outcome = Outcome.NEW if candidate.source_id in new else Outcome.UPDATED
            self.summary.add(mapper.resource_type, outcome)
            self._remember(mapper, candidate, pks[candidate.source_id])
            if mapper.model is Location:
                self._locations[pks[candidate.source_id]] = (
                    row["kind"],
                    row["ward_id"],
                    row["part_of_id"],
                )

    def _remember(self, mapper: Mapper, candidate: _Candidate, pk: int | None) -> None:
        self._seen[mapper.resource_type][candidate.source_id] = candidate.digest
        self._keep(mapper, candidate.source_id)
        if pk is None:
            return
        if TARGETS.get(mapper.resource_type, (None,))[0] is mapper.model:
            self._pks[Ref(mapper.resource_type, id=candidate.source_id)] = pk
        if mapper.model is Patient:
            self._patients.add(pk)

    def _keep(self, mapper: Mapper, source_id: str) -> None:
        if mapper.resource_type in REPLACED_AS_A_SET:
            self._kept[mapper.resource_type].add(source_id)

    def _without_mrn_conflicts(self, ready: list[_Candidate]) -> list[_Candidate]:
        """Two patient records must never share an MRN: the later one waits."""
        keys = {(c.row.fields["mrn_system"], c.row.fields["mrn"]) for c in ready}
        owners = {
            (system, mrn): source_id
            for system, mrn, source_id in Patient.objects.filter(
                mrn__in=[mrn for _, mrn in keys]
            ).values_list("mrn_system", "mrn", "source_id")
        }
        kept = []
        for candidate in ready:
            key = (candidate.row.fields["mrn_system"], candidate.row.fields["mrn"])
            owner = owners.setdefault(key, candidate.source_id)
            if owner != candidate.source_id:
                self._quarantine(
                    candidate.item,
                    f"Patient.identifier: the MRN already belongs to Patient/{owner} "
                    "in the mirror; merge or correct the records at the source",
                )
                continue
            kept.append(candidate)
        return kept

    # References

    def _resolve(self, refs: set[Ref]) -> dict[Ref, int]:
        wanted = [ref for ref in refs if ref not in self._pks]
        by_type: dict[str, list[Ref]] = defaultdict(list)
        for ref in wanted:
            if ref.type in TARGETS:
                by_type[ref.type].append(ref)
        for kind, group in by_type.items():
            model, _, value_field = TARGETS[kind]
            ids = [ref.id for ref in group if ref.id]
            for source_id, pk in model.objects.filter(
                source_type=kind, source_id__in=ids
            ).values_list("source_id", "pk"):
                self._pks[Ref(kind, id=source_id)] = pk
            by_identifier = [ref for ref in group if not ref.id]
            if by_identifier and value_field:
                self._resolve_identifiers(kind, by_identifier)
        return self._pks

    def _resolve_identifiers(self, kind: str, refs: list[Ref]) -> None:
        model, system_field, value_field = TARGETS[kind]
        matches: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for system, value, pk in model.objects.filter(
            **{f"{value_field}__in": [ref.value for ref in refs]}
        ).values_list(system_field, value_field, "pk"):
            matches[value].append((system, pk))
        for ref in refs:
            found = {
                pk
                for system, pk in matches[ref.value]
                if system == ref.system or not ref.system
            }
            if len(found) == 1:  # none or several: not resolved
                self._pks[ref] = found.pop()

    def location_facts(self, pks: set[int]) -> dict[int, tuple]:
        unknown = pks - self._locations.keys()
        for pk, kind, ward, parent in Location.objects.filter(
            pk__in=unknown
        ).values_list("pk", "kind", "ward_id", "part_of_id"):
            self._locations[pk] = (kind, ward, parent)
        return {pk: self._locations[pk] for pk in pks if pk in self._locations}

    def schedule_clinics(
        self, pks: set[int]
    ) -> dict[int, tuple[int | None, int | None]]:
        return {
            pk: (clinic, clinician)
            for pk, clinic, clinician in Slot.objects.filter(pk__in=pks).values_list(
                "pk", "schedule__clinic_id", "schedule__clinician_id"
            )
        }

    # Quarantine, sets, deletions

    def _quarantine(self, item: Item, reason: str) -> None:
        self.summary.add(item.resource_type, Outcome.QUARANTINED)
        if item.quarantine_id:
            QuarantinedResource.objects.filter(pk=item.quarantine_id).update(
                reason=reason, attempts=models.F("attempts") + 1
            )
            return
        urns = {
            urn: item.urns[urn] for urn in _URN.findall(item.raw) if urn in item.urns
        }
        resource_id = item.resource.get("id") if item.resource else ""
        QuarantinedResource.objects.create(
            feed=self.feed,
            origin=item.origin[:512],
            resource_type=item.resource_type[:64],
            resource_id=str(resource_id or "")[:128],
            patient_source_id=_patient_of(item)[:128],
            reason=reason,
            raw=item.raw,
            references=urns,
            received_at=self.received_at,
        )

    def _resolve_quarantine(self, items: list[Item]) -> None:
        """Replayed items that went through are marked so, never deleted."""
        done = [item.quarantine_id for item in items if item.quarantine_id]
        if done:
            QuarantinedResource.objects.filter(pk__in=done).update(
                status=QuarantinedResource.Status.REPLAYED,
                replayed_at=timezone.now(),
                attempts=models.F("attempts") + 1,
            )

    def _replace_set(self, kind: str) -> None:
        """Remove what a complete source no longer lists for its patients."""
        model = MAPPERS[kind][0].model
        patients = sorted(self._patients)
        kept = self._kept[kind]
        for start in range(0, len(patients), 500):
            rows = model.objects.filter(
                source_type=kind, patient_id__in=patients[start : start + 500]
            ).values_list("pk", "source_id")
            gone = [pk for pk, source_id in rows if source_id not in kept]
            if gone:
                model.objects.filter(pk__in=gone).delete()
                self.summary.add(kind, Outcome.DELETED, len(gone))

    def delete(self, refs: Iterable[Ref]) -> None:
        by_type: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            by_type[ref.type].append(ref.id)
        for kind, ids in by_type.items():
            models_of_type = {mapper.model for mapper in MAPPERS.get(kind, ())}
            if not models_of_type:
                self.summary.add(kind, Outcome.IGNORED, len(ids))
                continue
            for model in models_of_type:
                deleted = model.objects.filter(source_type=kind, source_id__in=ids)
                number = deleted.count()
                deleted.delete()
                self.summary.add(kind, Outcome.DELETED, number)
            for source_id in ids:
                self._pks.pop(Ref(kind, id=source_id), None)


def fhir_import(
    *,
    load: Load,
    feed: str,
    replace_sets: bool = True,
    chunk_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Import everything in ``load`` into the mirror and return the summary."""
    importer = Importer(feed=feed, replace_sets=replace_sets)
    return importer.run(load, chunk_size=chunk_size, progress=progress)


def _patient_of(item: Item) -> str:
    """The id of the Patient a resource is about, if it says so plainly."""
    resource = item.resource or {}
    for name in ("patient", "subject"):
        try:
            ref = parse_reference(resource.get(name), name, ("Patient",), item.urns)
        except values.Invalid:
            continue
        if ref.id or not ref.value:
            return ref.id
        known = Patient.objects.filter(mrn=ref.value)  # by identifier
        if ref.system:
            known = known.filter(mrn_system=ref.system)
        return known.values_list("source_id", flat=True).first() or ""
    return ""


def _digest(item: Item) -> str:
    canonical = item.raw if item.canonical else canonical_json(item.resource)
    return hashlib.blake2b(canonical.encode(), digest_size=20).hexdigest()


def _is_older(incoming: datetime | None, current: datetime | None) -> bool:
    return incoming is not None and current is not None and incoming < current


def _free_claimed_beds(encounters: list[dict]) -> None:
    """A bed has one occupant: the newest admission to it wins.

    The EHR's messages about the previous occupant leaving may come later
    than the new one arriving; that patient stays on the ward's census,
    without a bed, until they do.
    """
    claims: dict[int, dict] = {}
    for encounter in sorted(
        (e for e in encounters if e["bed_id"] and e["status"] in Encounter.ON_CENSUS),
        key=lambda e: e["source_updated_at"] or e["admitted_at"] or e["received_at"],
    ):
        previous = claims.get(encounter["bed_id"])
        if previous is not None:
            previous["bed_id"] = None
        claims[encounter["bed_id"]] = encounter
    occupants = Encounter.objects.filter(
        bed_id__in=claims, status__in=Encounter.ON_CENSUS
    ).values_list("pk", "bed_id", "source_id")
    displaced = [
        pk for pk, bed, source_id in occupants if claims[bed]["source_id"] != source_id
    ]
    if displaced:
        Encounter.objects.filter(pk__in=displaced).update(bed=None)
