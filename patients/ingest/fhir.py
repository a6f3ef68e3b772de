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

from django.db import DataError, IntegrityError, models, transaction
from django.utils import timezone

from patients.ingest import rules, upsert, values
from patients.ingest.mappers import MAPPERS, REPLACED_AS_A_SET, Context, Mapper, Row
from patients.ingest.mappers.directory import location_kind
from patients.ingest.r4 import RESOURCE_TYPES
from patients.ingest.references import Ref, parse_reference
from patients.ingest.sources import (
    Item,
    Load,
    canonical_json,
    content_problem,
    storable,
    storable_value,
)
from patients.models import (
    Clinician,
    Encounter,
    Location,
    MedicationOrder,
    Organization,
    Patient,
    QuarantinedResource,
    Schedule,
    Slot,
)

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_URN = re.compile(r"urn:uuid:[0-9a-fA-F-]{36}")
# How many refused inputs a summary lists by name.
NOTED = 20
# Where a reference by identifier looks: model, identifier system, value.
TARGETS: dict[str, tuple[type[models.Model], str | None, str | None]] = {
    "Patient": (Patient, "mrn_system", "mrn"),
    "Practitioner": (Clinician, "identifier_system", "identifier_value"),
    "Location": (Location, "identifier_system", "identifier_value"),
    "Organization": (Organization, "identifier_system", "identifier_value"),
    "Encounter": (Encounter, None, None),
    "MedicationRequest": (MedicationOrder, None, None),
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
    # Texts longer than their column, shortened with a visible mark.
    shortened: Counter = field(default_factory=Counter)
    # Input refused before it was mapped (unreadable, or holding what the
    # mirror cannot store): "where: why", the first NOTED of them.
    refused: list[str] = field(default_factory=list)
    # List types a complete source did not replace, because that many held
    # items may be on the list: removing what "is no longer listed" could
    # remove them.
    removals_skipped: dict[str, int] = field(default_factory=dict)

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
            "shortened": dict(self.shortened),
            "refused": self.refused,
            "removals_skipped": self.removals_skipped,
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
        # (type, id) of each held item; "" where it could not be read.
        self._held: list[tuple[str, str]] = []
        self._inserted: Counter = Counter()

    def run(self, load: Load, *, chunk_size: int = 1000, progress=None) -> Summary:
        """Import a load; ``progress(n)`` is told as each chunk is done."""
        self.summary.skipped.extend(load.skipped)
        for chunk in load.chunks(chunk_size):
            self.apply(chunk)
            if progress:
                progress(len(chunk))
        if self.replace_sets:
            held = self._held_unkept()
            for kind in REPLACED_AS_A_SET:
                if kind in load.covered and held[kind]:
                    self.summary.removals_skipped[kind] = held[kind]
                elif kind in load.covered:
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
            if item.error:
                self._refuse(item, item.error)
            elif not kind:
                self._hold(item, "resourceType is missing")
            elif kind not in MAPPERS:
                if kind in RESOURCE_TYPES:
                    self.summary.add(kind, Outcome.IGNORED)
                    self._resolve_quarantine([item])
                else:
                    self._hold(item, f"{kind} is not a FHIR R4 resource type")
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
                # Only what is about to be written is searched for what the
                # mirror cannot hold: the mirror's own copy was searched
                # when it was written.
                if problem := content_problem(candidate.item):
                    self._refuse(candidate.item, problem)
                    continue
                changed.append(candidate)
            else:
                self.summary.add(mapper.resource_type, outcome)
                self._remember(mapper, candidate, before and before[0])
                self._resolve_quarantine([candidate.item])
        self._write(mapper, self._map(mapper, changed), existing)

    def _candidates(self, mapper: Mapper, items: list[Item]) -> list[_Candidate]:
        """Valid ids and timestamps, one candidate per id (the newest)."""
        chosen: dict[str, _Candidate] = {}
        for item in items:
            resource = item.resource
            source_id = resource.get("id")
            if not isinstance(source_id, str) or not _ID.match(source_id):
                self._hold(item, f"{item.resource_type}.id is missing or invalid")
                continue
            try:
                meta = resource.get("meta") or {}
                if not isinstance(meta, dict):
                    raise values.Invalid(f"{item.resource_type}.meta is not an object")
                updated = values.datetime(meta.get("lastUpdated"), "meta.lastUpdated")
            except values.Invalid as error:
                self._hold(item, str(error))
                continue
            digest = _digest(item)
            candidate = _Candidate(item, source_id, digest, updated)
            kind = mapper.resource_type
            prior = chosen.get(source_id)
            if prior is not None:
                # Two copies in one chunk: the newer (or the later) wins.
                same = Outcome.UNCHANGED if prior.digest == digest else Outcome.OLDER
                self.summary.add(kind, same)
                if rules.is_older(updated, prior.updated_at):
                    continue
            elif self._seen[kind].get(source_id) == digest:
                self.summary.add(kind, Outcome.UNCHANGED)
                self._resolve_quarantine([item])
                continue
            chosen[source_id] = candidate
        return list(chosen.values())

    def _compare(self, candidate: _Candidate, before) -> Outcome | None:
        """UNCHANGED when the row was built from this very resource, OLDER
        when the mirror has newer; None to map and write."""
        if before is None:
            return None
        _, _, digest, updated = before
        if digest == candidate.digest:
            return Outcome.UNCHANGED
        if rules.is_older(candidate.updated_at, updated):
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
        linked = [c for c in mapped if self._link(mapper, c, resolved)]
        mapper.finish([c.row for c in linked], self)
        ready = []
        for candidate in linked:
            if candidate.row.problem:
                self._quarantine(candidate.item, candidate.row.problem)
                self._keep(mapper, candidate.source_id)
            else:
                ready.append(candidate)
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

    def _write(self, mapper: Mapper, ready: list[_Candidate], existing) -> None:
        if mapper.model is Patient:
            ready = self._without_mrn_conflicts(mapper, ready, existing)
        if not ready:
            return
        try:
            rows, pks = self._store(mapper, ready)
        except (DataError, IntegrityError):
            # One row the database refuses must not take its neighbours
            # down: each alone, and the one refused quarantined. (Whatever
            # refuses every write, a full disk or a revoked grant, stops
            # the run.)
            if len(ready) == 1:
                self._quarantine(ready[0].item, _refused(mapper))
                self._keep(mapper, ready[0].source_id)
                return
            for candidate in ready:
                self._write(mapper, [candidate], existing)
            return
        for candidate, row in zip(ready, rows, strict=True):
            before = existing.get(candidate.source_id)
            if before is None:
                outcome = Outcome.NEW
                self._inserted[mapper.model] += 1
            elif before[1] == row["source_hash"]:
                outcome = Outcome.UNCHANGED
            else:
                outcome = Outcome.UPDATED
            self.summary.add(mapper.resource_type, outcome)
            self._remember(mapper, candidate, pks[candidate.source_id])
            if mapper.model is Location:
                self._locations[pks[candidate.source_id]] = (
                    row["kind"],
                    row["ward_id"],
                    row["part_of_id"],
                )

    def _store(self, mapper: Mapper, ready: list[_Candidate]):
        """Write ``ready`` in one transaction: (rows, {source id: pk})."""
        rows = [
            {
                **c.row.fields,
                "source_feed": self.feed,
                "source_type": mapper.resource_type,
                "source_id": c.source_id,
                "source_updated_at": c.updated_at,
                "source_digest": c.digest,
                "received_at": self.received_at,
            }
            for c in ready
        ]
        with transaction.atomic():
            if mapper.model is Encounter:
                self._claim_beds(rows)
            for row in rows:
                if shortened := rules.fit_row(mapper.model, row):
                    self.summary.shortened[mapper.resource_type] += shortened
                row["source_hash"] = rules.content_hash(mapper.model, row)
            pks = upsert.upsert(mapper.model, rows)
            self._resolve_quarantine([c.item for c in ready])
        return rows, pks

    def _claim_beds(self, rows: list[dict]) -> None:
        """Stays that lose their bed to a newer arrival get none."""
        claiming = [
            row
            for row in rows
            if row.get("bed_id") and row["status"] in Encounter.ON_CENSUS
        ]
        claims = [
            rules.Claim(
                row["bed_id"],
                (row["source_type"], row["source_id"]),
                row["source_updated_at"] or self.received_at,
            )
            for row in claiming
        ]
        for index in rules.claim_beds(claims):
            claiming[index]["bed_id"] = None

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

    def _without_mrn_conflicts(
        self, mapper: Mapper, ready: list[_Candidate], existing: dict
    ) -> list[_Candidate]:
        """One patient, one row: found by its MRN (system and value), as the
        HL7 feed finds it. A row only the HL7 feed has named takes this
        resource's id (FHIR resources point at it by id). Two FHIR records
        with one MRN are a conflict: the later one waits in quarantine."""
        keys = {(c.row.fields["mrn_system"], c.row.fields["mrn"]) for c in ready}
        owners = {
            (system, mrn): rest
            for system, mrn, *rest in Patient.objects.filter(
                mrn__in=[mrn for _, mrn in keys]
            ).values_list(
                "mrn_system",
                "mrn",
                "source_id",
                "pk",
                "source_hash",
                "source_updated_at",
            )
        }
        kept = []
        for candidate in ready:
            key = (candidate.row.fields["mrn_system"], candidate.row.fields["mrn"])
            owner, pk, digest, updated = owners.setdefault(
                key, [candidate.source_id, None, "", None]
            )
            if owner != candidate.source_id and owner.startswith("hl7:"):
                Patient.objects.filter(pk=pk).update(
                    source_id=candidate.source_id, source_feed=self.feed
                )
                owners[key][0] = owner = candidate.source_id
                existing[candidate.source_id] = (pk, digest, "", updated)
                if rules.is_older(candidate.updated_at, updated):
                    self.summary.add("Patient", Outcome.OLDER)
                    self._remember(mapper, candidate, pk)
                    continue
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
        """Hold an item with the reason, every text made storable (a NUL or
        a lone surrogate in the input is kept as a visible escape)."""
        kind = storable(item.resource_type or item.declared_type)
        self.summary.add(kind, Outcome.QUARANTINED)
        held_type, held_id = _held_as(item)
        self._held.append((held_type, held_id))
        if held_type in REPLACED_AS_A_SET and held_id:
            # Its row, if the mirror has one, stays until a good copy comes.
            self._kept[held_type].add(held_id)
        if item.quarantine_id:
            QuarantinedResource.objects.filter(pk=item.quarantine_id).update(
                reason=storable(reason), attempts=models.F("attempts") + 1
            )
            return
        urns = {
            urn: storable(item.urns[urn])
            for urn in _URN.findall(item.raw)
            if urn in item.urns
        }
        resource_id = item.resource.get("id") if item.resource else ""
        QuarantinedResource.objects.create(
            feed=self.feed,
            origin=storable(item.origin)[:512],
            resource_type=kind[:64],
            resource_id=storable(str(resource_id or ""))[:128],
            patient_source_id=_held_patient(item)[:128],
            reason=storable(reason),
            raw=storable(item.raw),
            references=urns,
            received_at=self.received_at,
        )

    def _hold(self, item: Item, reason: str) -> None:
        """Hold an item for ``reason``, or for what the mirror cannot hold
        in it (a NUL, NaN...), which is what its sender must fix first."""
        if problem := content_problem(item):
            self._refuse(item, problem)
        else:
            self._quarantine(item, reason)

    def _refuse(self, item: Item, reason: str) -> None:
        """Hold input that cannot be read as a resource, and say so."""
        self._quarantine(item, reason)
        if len(self.summary.refused) < NOTED:
            self.summary.refused.append(storable(f"{item.origin}: {reason}"))

    def _held_unkept(self) -> Counter:
        """Per list type, the held items that may be on that list and whose
        id no removal spares (not read, or not kept)."""
        held: Counter = Counter()
        for kind, source_id in self._held:
            for listed in (kind,) if kind else REPLACED_AS_A_SET:
                if listed in REPLACED_AS_A_SET and source_id not in self._kept[listed]:
                    held[listed] += 1
        return held

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
        """Remove what a complete source no longer lists for its patients
        (of this feed's rows: patients.ingest.rules)."""
        removed = rules.replace_list(
            MAPPERS[kind][0].model,
            feed=self.feed,
            patients=self._patients,
            kept=self._kept[kind],
            as_of=None,
        )
        self.summary.add(kind, Outcome.DELETED, removed)

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


def _held_as(item: Item) -> tuple[str, str]:
    """(type, id) of a held item as far as they can be told; "" for a type
    that is not FHIR R4 (it may be a typo of any) and an id not read."""
    kind = item.resource_type or item.declared_type
    source_id = item.resource.get("id") if item.resource else None
    return (
        kind if kind in RESOURCE_TYPES else "",
        source_id if isinstance(source_id, str) and _ID.match(source_id) else "",
    )


def _held_patient(item: Item) -> str:
    """The patient a held item is about, looked up with storable text only
    (its reference may hold the NUL it is held for)."""
    if item.resource is None:
        return ""
    if content_problem(item):
        item = Item(item.origin, "", storable_value(item.resource), item.urns)
    return storable(_patient_of(item))


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


def _refused(mapper: Mapper) -> str:
    return (
        f"{mapper.resource_type}: the database refused the row made from it; "
        "nothing of it was written"
    )
