"""The census journal: admissions, transfers, discharges and corrections
recorded on the downtime system while the EHR is down, and the census they
make.

Entries are append-only (``CensusEntry``). A patient's entries of one
downtime fold into one journal stay of the mirror (an ``Encounter`` of
feed "downtime", ``journal_sync``): on a ward (status JOURNAL) or gone
(finished), standing in for the EHR's census stay of the patient, so that
the census, the patient pages and the packs show the ward as it is now.

The EHR decides when the journal stops standing in. While its census stay
of the patient is the one it had at the patient's first entry (the
entry's ``baseline``), the journal is newer. Once it says where one of the
entries put the patient, that entry and those before it are confirmed
(``reconciled_at``); once it says where the last one put them, the journal
stay goes. An EHR that says something none of the entries said is newer
than all of them: the journal stay goes, and the entries stay unconfirmed
(the downtime's report lists them). A drill's journal stays go when the
drill is closed.
"""

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.selectors import user_locations
from downtime.models import CensusEntry, Downtime, DowntimeNumber, WorklistItem
from patients.ingest.journal import (
    bed_holder,
    journal_patient_create,
    journal_patient_of,
    journal_patient_rename,
    journal_stay_put,
    journal_stays_end,
    journal_stays_move,
)
from patients.models import Encounter, Location, Patient

Kind = CensusEntry.Kind
# Paper may say the screens went dark a little before IT declared.
BEFORE_DECLARATION = dt.timedelta(hours=1)
# A PC's clock and the server's may differ by this much.
CLOCK_SKEW = dt.timedelta(minutes=2)


# Entering


def journal_admit(
    *,
    downtime: Downtime,
    user,
    ward: Location,
    bed: Location | None,
    occurred_at: dt.datetime,
    paper_ref: str = "",
    patient: Patient | None = None,
    number: DowntimeNumber | None = None,
    family: str = "",
    given: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
) -> CensusEntry:
    """An admission to ``ward``: a patient of the mirror, or a new one with
    a downtime ``number`` of the ward's block, who becomes a patient of the
    mirror with that number for MRN."""
    if (patient is None) == (number is None):
        raise ValidationError(_("Choose a known patient or a downtime number."))
    with transaction.atomic():
        _open(downtime)
        _may_enter(user, ward)
        _free(bed, ward)
        if number is not None:
            _number_give(downtime, ward, number, user, occurred_at)
            family = family.strip()
            if not family:
                raise ValidationError(
                    _("Write the patient's family name (or UNKNOWN).")
                )
            patient = journal_patient_create(
                number=number.number,
                family=family,
                given=given.strip(),
                birth_date=birth_date,
                sex=sex,
            )
        else:
            here = _census_stay(patient)
            if here is not None:
                raise ValidationError(
                    _("%(name)s is on the census (%(place)s): enter a transfer.")
                    % {"name": patient, "place": _place(here.ward, here.bed)}
                )
        return _enter(
            downtime,
            user,
            Kind.ADMISSION,
            patient,
            occurred_at,
            paper_ref,
            ward=ward,
            bed=bed,
            number=number,
            family=patient.family,
            given=patient.given,
        )


def journal_transfer(
    *,
    downtime: Downtime,
    user,
    patient: Patient,
    ward: Location,
    bed: Location | None,
    occurred_at: dt.datetime,
    paper_ref: str = "",
) -> CensusEntry:
    """A move to another ward, or another bed of the same one: entered by
    the staff of the ward the patient leaves."""
    with transaction.atomic():
        _open(downtime)
        stay = _on_census(patient)
        _may_enter(user, stay.ward)
        if ward.pk == stay.ward_id and (bed is None or bed.pk == stay.bed_id):
            raise ValidationError(_("The patient is in this place already."))
        _free(bed, ward, patient)
        return _enter(
            downtime,
            user,
            Kind.TRANSFER,
            patient,
            occurred_at,
            paper_ref,
            ward=ward,
            bed=bed,
            from_ward=stay.ward,
        )


def journal_discharge(
    *,
    downtime: Downtime,
    user,
    patient: Patient,
    disposition: str,
    occurred_at: dt.datetime,
    destination: str = "",
    paper_ref: str = "",
) -> CensusEntry:
    """The patient leaves the hospital: home, to another hospital, or
    deceased."""
    if disposition not in CensusEntry.Disposition.values:
        raise ValidationError(_("Say where the patient went."))
    with transaction.atomic():
        _open(downtime)
        stay = _on_census(patient)
        _may_enter(user, stay.ward)
        return _enter(
            downtime,
            user,
            Kind.DISCHARGE,
            patient,
            occurred_at,
            paper_ref,
            ward=stay.ward,
            bed=stay.bed,
            disposition=disposition,
            destination=destination[:255],
        )


def journal_correct(
    *,
    entry: CensusEntry,
    user,
    bed: Location | None = None,
    family: str = "",
    given: str = "",
    void: bool = False,
    paper_ref: str = "",
) -> CensusEntry:
    """A correction of an entry: its bed, the patient's name, or that it
    never happened. The entry stays as it was; both are shown."""
    with transaction.atomic():
        entry = CensusEntry.objects.select_for_update().get(pk=entry.pk)
        _open(entry.downtime)
        _may_enter(user, entry.ward, entry.from_ward)
        if entry.kind == Kind.CORRECTION:
            raise ValidationError(_("Correct the entry itself, not a correction."))
        if _voided(entry):
            raise ValidationError(_("This entry was already marked entered in error."))
        family, given = family.strip(), given.strip()
        if not (void or bed or family or given):
            raise ValidationError(_("Give the right bed or name, or mark it in error."))
        if void and (bed or family or given):
            raise ValidationError(
                _("An entry in error is corrected alone: enter the right one anew.")
            )
        if bed is not None:
            if entry.kind not in (Kind.ADMISSION, Kind.TRANSFER):
                raise ValidationError(_("Only an admission or a transfer has a bed."))
            _free(bed, entry.ward, entry.patient)
        if void and _later(entry).exists():
            raise ValidationError(
                _("Later entries of this patient depend on it: correct them first.")
            )
        return _enter(
            entry.downtime,
            user,
            Kind.CORRECTION,
            entry.patient,
            timezone.now(),
            paper_ref,
            ward=entry.ward,
            from_ward=entry.from_ward,
            bed=bed,
            corrects=entry,
            void=void,
            family=family,
            given=given,
            checked_order=False,
        )


def _enter(
    downtime, user, kind, patient, occurred_at, paper_ref, checked_order=True, **values
) -> CensusEntry:
    now = timezone.now()
    if occurred_at > now + CLOCK_SKEW:
        raise ValidationError(_("That time is in the future."))
    if occurred_at < downtime.declared_at - BEFORE_DECLARATION:
        raise ValidationError(
            _("That time is before the downtime began (%(time)s).")
            % {"time": _local(downtime.declared_at)}
        )
    before = CensusEntry.objects.filter(downtime=downtime, patient=patient)
    last = before.exclude(kind=Kind.CORRECTION).order_by("-occurred_at").first()
    if checked_order and last is not None and occurred_at < last.occurred_at:
        raise ValidationError(
            _("The patient's last entry is at %(time)s: this one must be later.")
            % {"time": _local(last.occurred_at)}
        )
    first = before.order_by("pk").first()
    entry = CensusEntry.objects.create(
        downtime=downtime,
        kind=kind,
        patient=patient,
        occurred_at=occurred_at,
        paper_ref=paper_ref.strip()[:64],
        entered_at=now,
        entered_by=user,
        baseline=first.baseline if first else _baseline(patient),
        **values,
    )
    journal_sync(patients=[patient.pk])
    _alone_in_bed(patient)
    return entry


def _alone_in_bed(patient: Patient) -> None:
    """No entry may leave two patients in one bed: an entry in error that
    sends a patient back to a bed someone else has taken since is refused
    (the caller's transaction undoes it)."""
    stay = _census_stay(patient)
    if stay is None or stay.bed is None:
        return
    if bed_holder(bed=stay.bed, besides=patient) is not None:
        raise ValidationError(
            _(
                "The patient would be back in bed %(bed)s, which someone else "
                "has now: move that patient first."
            )
            % {"bed": stay.bed.name}
        )


def _open(downtime: Downtime) -> None:
    if downtime.state != Downtime.State.DOWNTIME:
        raise ValidationError(
            _(
                "The census journal takes entries only during a downtime; "
                "this one is %(state)s: enter the events in the EHR."
            )
            % {"state": downtime.get_state_display().lower()}
        )


def _may_enter(user, *wards: Location | None) -> None:
    """The staff of the ward (or IT) enter its events; to anyone else, the
    ward is as if it did not exist."""
    mine = user_locations(user=user).filter(pk__in=[w.pk for w in wards if w])
    if not mine.exists():
        raise PermissionDenied("not a ward of this user")


def _free(bed: Location | None, ward: Location, patient: Patient | None = None):
    if bed is None:
        return
    if bed.kind != Location.Kind.BED or bed.ward_id != ward.pk:
        raise ValidationError(
            _("Bed %(bed)s is not a bed of %(ward)s.")
            % {"bed": bed.name, "ward": ward.name}
        )
    if bed_holder(bed=bed, besides=patient) is not None:
        raise ValidationError(
            _("Bed %(bed)s is taken: choose a free bed.") % {"bed": bed.name}
        )


def _number_give(downtime, ward, number, user, occurred_at) -> None:
    """The number is the new patient's: one of the ward's, never given
    before; its use is recorded as the paper's would be."""
    number = DowntimeNumber.objects.select_for_update().get(pk=number.pk)
    if number.block.location_id != ward.pk:
        raise ValidationError(
            _("%(number)s is not a number of this ward's block.")
            % {"number": number.number}
        )
    if number.used_at is not None or number.census_entries.exists():
        raise ValidationError(
            _("%(number)s was given already: take the next label.")
            % {"number": number.number}
        )
    number.used_on = ward
    number.used_at = occurred_at
    number.used_by = user.get_full_name() or user.get_username()
    number.downtime = downtime
    number.recorded_at = timezone.now()
    number.recorded_by = user
    number.save()


# Reading


def _census_stay(patient: Patient) -> Encounter | None:
    """Where the census has the patient now, the journal included."""
    return (
        Encounter.objects.on_census()
        .filter(patient=patient)
        .select_related("ward", "bed")
        .order_by("-admitted_at", "-pk")
        .first()
    )


def _on_census(patient: Patient) -> Encounter:
    stay = _census_stay(patient)
    if stay is None or stay.ward is None:
        raise ValidationError(_("This patient is not on a ward's census."))
    return stay


def _ehr_stay(patient_id: int) -> Encounter | None:
    """The EHR's census stay of the patient, whatever the journal says."""
    return (
        Encounter.objects.filter(patient_id=patient_id, status__in=Encounter.ON_CENSUS)
        .order_by("-admitted_at", "-pk")
        .first()
    )


def _baseline(patient: Patient) -> dict:
    return _where(_ehr_stay(patient.pk))


def _where(stay: Encounter | None) -> dict:
    if stay is None:
        return {}
    return {"stay": stay.pk, "ward": stay.ward_id, "bed": stay.bed_id}


def _voided(entry: CensusEntry) -> bool:
    return entry.corrections.filter(void=True).exists()


def _later(entry: CensusEntry) -> QuerySet[CensusEntry]:
    return CensusEntry.objects.filter(
        downtime=entry.downtime,
        patient=entry.patient,
        occurred_at__gte=entry.occurred_at,
    ).exclude(Q(pk=entry.pk) | Q(kind=Kind.CORRECTION))


def free_beds(*, ward: Location) -> list[Location]:
    """The ward's beds no one on the census is in, by name."""
    taken = Encounter.objects.on_census().filter(bed__isnull=False).values("bed")
    return list(
        Location.objects.filter(kind=Location.Kind.BED, ward=ward)
        .exclude(pk__in=taken)
        .exclude(status__in=("inactive", "suspended"))
        .order_by("name")
    )


def journal_entries(*, downtime: Downtime, ward: Location) -> QuerySet[CensusEntry]:
    """The entries of a downtime that concern a ward: those that bring a
    patient to it or take one away."""
    return (
        CensusEntry.objects.filter(downtime=downtime)
        .filter(Q(ward=ward) | Q(from_ward=ward) | Q(corrects__from_ward=ward))
        .select_related(
            "patient", "ward", "from_ward", "bed", "number", "entered_by", "corrects"
        )
        .order_by("occurred_at", "pk")
    )


# Folding into the census


@dataclass
class Folded:
    """What one patient's entries make of a downtime."""

    entries: list[CensusEntry]  # the effective ones, as corrected, in order
    marks: list[dict]
    family: str
    given: str


def journal_sync(*, patients: list[int] | None = None) -> dict:
    """Bring the journal stays in line with the entries and with what the
    EHR says now: of ``patients`` (ids), or of every patient the journal
    still stands in for. Returns counts of what it did."""
    counts = defaultdict(int)
    with transaction.atomic():
        linked = _link_real_patients()
        if patients is not None:  # a patient just linked: the real one now
            patients = [*patients, *(linked[p] for p in patients if p in linked)]
        entries = CensusEntry.objects.filter(downtime__in=_standing_downtimes())
        if patients is not None:
            entries = entries.filter(patient__in=patients)
        groups = defaultdict(list)
        for entry in entries.select_related(
            "downtime", "ward", "from_ward", "bed", "entered_by", "corrects"
        ).order_by("occurred_at", "pk"):
            if entry.patient_id is not None:
                groups[entry.downtime_id, entry.patient_id].append(entry)
        kept = set()
        for (_downtime, patient_id), group in groups.items():
            stay = _sync_one(patient_id, group, counts)
            if stay is not None:
                kept.add(stay)
        counts["ended"] += journal_stays_end(keep=kept, patients=patients)
    return {name: count for name, count in counts.items() if count}


def _standing_downtimes() -> QuerySet[Downtime]:
    """The downtimes whose journal still counts: the active one, and those
    closed that were no drill (until the EHR says the same)."""
    return Downtime.objects.filter(
        Q(state__in=Downtime.ACTIVE) | Q(state=Downtime.State.CLOSED, drill=False)
    )


def journal_patients_unsettled() -> set[int]:
    """The patients ``journal_sync`` still has work for: those with a
    journal stay, and those with an entry of a standing downtime that no
    feed confirmed yet (an entry in error never will be). One query."""
    stays = Encounter.objects.filter(source_feed=Encounter.JOURNAL_FEED)
    unconfirmed = (
        CensusEntry.objects.filter(
            downtime__in=_standing_downtimes(),
            reconciled_at__isnull=True,
            patient__isnull=False,
        )
        .exclude(kind=Kind.CORRECTION)
        .exclude(corrections__void=True)
    )
    return set(
        stays.values_list("patient_id", flat=True).union(
            unconfirmed.values_list("patient_id", flat=True)
        )
    )


def _sync_one(patient_id: int, group: list[CensusEntry], counts) -> str | None:
    folded = fold(group)
    moves = [e for e in folded.entries if e.kind != Kind.CORRECTION]
    if not moves:
        return None
    baseline = group[0].baseline
    ehr = _ehr_stay(patient_id)
    now_says = _where(ehr)
    if now_says != baseline:
        said = [i for i, e in enumerate(moves) if _same(now_says, e)]
        if said:
            confirmed = moves[: said[-1] + 1]
            confirmed_ids = {e.pk for e in confirmed}
            newly = CensusEntry.objects.filter(
                Q(pk__in=confirmed_ids) | Q(corrects__in=confirmed_ids),
                reconciled_at__isnull=True,
            ).update(reconciled_at=timezone.now())
            counts["confirmed"] += newly
        if not said or said[-1] == len(moves) - 1:
            return None  # the EHR has caught up, or knows better
    return _stand_in(patient_id, group, folded, moves[-1], ehr, counts)


def _same(ehr: dict, entry: CensusEntry) -> bool:
    """Whether the EHR's census says where the entry put the patient: the
    same ward (its bed may differ), or gone."""
    if entry.kind == Kind.DISCHARGE:
        return not ehr
    return ehr.get("ward") == entry.ward_id


def fold(entries: list[CensusEntry]) -> Folded:
    """A patient's entries of one downtime, in order, with their corrections
    applied: those that still count, a mark for every one, and the name the
    journal gives the patient (empty: the EHR's)."""
    corrections = defaultdict(list)
    for entry in entries:
        if entry.kind == Kind.CORRECTION:
            corrections[entry.corrects_id].append(entry)
    effective, marks = [], []
    family = given = ""
    for entry in entries:
        marks.append(_mark(entry))
        fixes = corrections.get(entry.pk, [])
        if entry.kind == Kind.CORRECTION:
            family, given = entry.family or family, entry.given or given
        elif not any(fix.void for fix in fixes):
            for fix in fixes:
                entry.bed = fix.bed or entry.bed
            if entry.kind == Kind.ADMISSION and entry.number_id:
                family, given = entry.family, entry.given
            effective.append(entry)
    return Folded(effective, marks, family, given)


def _mark(entry: CensusEntry) -> dict:
    """How the pages and packs say where a fact came from: what was entered,
    by whom, when."""
    mark = {
        "kind": entry.kind,
        "at": _iso(entry.occurred_at),
        "entered_at": _iso(entry.entered_at),
        "by": entry.entered_by.get_full_name() or entry.entered_by.get_username(),
        "ward": entry.ward.name,
        "from_ward": entry.from_ward.name if entry.from_ward else "",
        "bed": entry.bed.name if entry.bed else "",
        "paper": entry.paper_ref,
        "drill": entry.downtime.drill,
    }
    if entry.kind == Kind.CORRECTION:
        mark |= {
            "corrects": entry.corrects.get_kind_display(),
            "corrects_at": _iso(entry.corrects.occurred_at),
            "void": entry.void,
            "family": entry.family,
            "given": entry.given,
        }
    return mark


def _stand_in(patient_id, group, folded, last, ehr, counts) -> str:
    """Write the patient's journal stay: where the last entry put them."""
    key = f"journal-{group[0].pk}"
    gone = last.kind == Kind.DISCHARGE
    admitted = next(
        (e.occurred_at for e in folded.entries if e.kind == Kind.ADMISSION), None
    )
    values = {
        "patient_id": patient_id,
        "status": Encounter.Status.FINISHED if gone else Encounter.Status.JOURNAL,
        "encounter_class": ehr.encounter_class if ehr else "IMP",
        "encounter_type": ehr.encounter_type if ehr else "",
        "ward_id": last.ward_id,
        "room_id": _room(last.bed),
        "bed_id": None if gone else last.bed_id,
        "admitted_at": admitted or (ehr.admitted_at if ehr else None),
        "discharged_at": last.occurred_at if gone else None,
        "attending_id": ehr.attending_id if ehr else None,
        "reason": ehr.reason if ehr else "",
        "diet": ehr.diet if ehr else "",
        "replaces_id": ehr.pk if ehr else None,
        "marks": folded.marks,
    }
    digest = hashlib.sha1(
        json.dumps(values, default=str, sort_keys=True).encode(), usedforsecurity=False
    ).hexdigest()
    at = max(e.entered_at for e in group)
    if journal_stay_put(key=key, values=values, digest=digest, at=at):
        counts["written"] += 1
    if folded.family:
        journal_patient_rename(
            patient_id=patient_id, family=folded.family, given=folded.given
        )
    return key


def _room(bed: Location | None) -> int | None:
    if bed is None or bed.part_of is None or bed.part_of.kind != Location.Kind.ROOM:
        return None
    return bed.part_of_id


def _link_real_patients() -> dict[int, int]:
    """A downtime number's patient whose real MRN registration gave (its
    worklist item) is that patient: once the mirror has them, the entries
    are theirs. Returns {downtime number's patient: real patient} of those
    linked now."""
    given = WorklistItem.objects.filter(
        entry__number__isnull=False,
        entry__patient__source_feed=Encounter.JOURNAL_FEED,  # not linked yet
        done_at__isnull=False,
    ).exclude(real_mrn="")
    linked = {}
    for number, real_mrn in given.values_list("entry__number__number", "real_mrn"):
        own = journal_patient_of(number)
        if own is None:
            continue
        real = (
            Patient.objects.filter(mrn=real_mrn)
            .exclude(source_feed=Encounter.JOURNAL_FEED)
            .first()
        )
        if real is not None:
            journal_patient_merged(merged=own, survivor=real)
            linked[own.pk] = real.pk
    return linked


def journal_patient_merged(*, merged: Patient, survivor: Patient) -> None:
    """Two records were one person: the entries and the journal stays of
    ``merged`` are ``survivor``'s."""
    CensusEntry.objects.filter(patient=merged).update(patient=survivor)
    journal_stays_move(merged=merged, survivor=survivor)


def _iso(moment: dt.datetime | None) -> str:
    """Local time, as the pages' and packs' filters print it as is."""
    return timezone.localtime(moment).isoformat() if moment else ""


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m %H:%M")


def _place(ward: Location | None, bed: Location | None) -> str:
    return " ".join(p.name for p in (ward, bed) if p)
