"""Handing the census journal back to the EHR after a downtime.

At recovery each entry that still counts becomes an item of the
registration worklist: what to enter in the EHR, done once by whoever does
it (with the patient's real MRN, for an admission with a downtime number).
The EHR's feeds then send the same events and ``journal_sync`` confirms
the entries; it runs after every entry, after an item is done, at the
close, and every minute while it has work (``journal_sync_due``).
"""

from collections import defaultdict

from django.utils import timezone
from django.utils.translation import gettext as _

from downtime.journal import Folded, fold, journal_patients_unsettled, journal_sync
from downtime.models import CensusEntry, Downtime, WorklistItem
from patients.models import Location

Kind = CensusEntry.Kind


def journal_entries_counted(*, downtime: Downtime) -> list[tuple[CensusEntry, Folded]]:
    """The downtime's entries as corrected (``fold``), each with its
    patient's fold: no correction, no entry in error; in order."""
    entries = (
        CensusEntry.objects.filter(downtime=downtime)
        .select_related(
            "downtime",
            "patient",
            "ward",
            "from_ward",
            "bed",
            "number",
            "entered_by",
            "corrects",
        )
        .order_by("occurred_at", "pk")
    )
    groups = defaultdict(list)
    for entry in entries:
        # An entry whose patient record is gone folds with its corrections.
        groups[entry.patient_id or ("entry", entry.corrects_id or entry.pk)].append(
            entry
        )
    counted = []
    for group in groups.values():
        folded = fold(group)
        counted += [(entry, folded) for entry in folded.entries]
    return sorted(counted, key=lambda pair: (pair[0].occurred_at, pair[0].pk))


def worklist_add_entries(*, downtime: Downtime) -> int:
    """Registration's items of the census journal, once per downtime: one
    per entry that still counts, places and names as they stand now. How
    many it made."""
    if WorklistItem.objects.filter(downtime=downtime, entry__isnull=False).exists():
        return 0
    now = timezone.now()
    items = [
        _item(entry, folded, now)
        for entry, folded in journal_entries_counted(downtime=downtime)
    ]
    WorklistItem.objects.bulk_create(items)
    return len(items)


def _item(entry: CensusEntry, folded: Folded, now) -> WorklistItem:
    patient = entry.patient
    if folded.family or folded.given:
        family, given = folded.family, folded.given
    elif patient is not None:
        family, given = patient.family, patient.given
    else:
        family, given = entry.family, entry.given
    return WorklistItem(
        downtime=entry.downtime,
        worklist=WorklistItem.Worklist.REGISTRATION,
        location=entry.ward,
        ward=entry.ward.name,
        bed=entry.bed.name if entry.bed else "",
        patient=patient,
        patient_name=f"{family.upper()}, {given}".strip(", "),
        mrn=patient.mrn if patient else "",
        number=entry.number,
        entry=entry,
        what=entry_to_enter(entry)[:512],
        added_at=now,
    )


def entry_to_enter(entry: CensusEntry) -> str:
    """What registration enters in the EHR for the entry, in local time."""
    values = {
        "who": entry_identifier(entry),
        "place": _place(entry.ward, entry.bed),
        "ward": entry.ward.name,
        "from": entry.from_ward.name if entry.from_ward else "?",
        "time": timezone.localtime(entry.occurred_at).strftime("%d/%m %H:%M"),
    }
    if entry.kind == Kind.ADMISSION:
        text = _("Enter in the EHR: admission of %(who)s to %(place)s at %(time)s")
    elif entry.kind == Kind.TRANSFER:
        text = _(
            "Enter in the EHR: transfer of %(who)s from %(from)s to %(place)s "
            "at %(time)s"
        )
    else:
        values["where"] = _went(entry)
        text = _(
            "Enter in the EHR: discharge of %(who)s from %(ward)s (%(where)s) "
            "at %(time)s"
        )
    return text % values


def entry_identifier(entry: CensusEntry) -> str:
    """The number the patient goes by in the entry: its downtime number,
    else the patient's MRN (a downtime number too, for a transfer of a
    patient admitted with one)."""
    if entry.number is not None:
        return entry.number.number
    return entry.patient.mrn if entry.patient else "?"


def _place(ward: Location, bed: Location | None) -> str:
    if bed is None:
        return ward.name
    return _("%(ward)s, bed %(bed)s") % {"ward": ward.name, "bed": bed.name}


def _went(entry: CensusEntry) -> str:
    where = entry.get_disposition_display().lower()
    if not entry.destination:
        return where
    return _("%(disposition)s: %(destination)s") % {
        "disposition": where,
        "destination": entry.destination,
    }


def journal_sync_due() -> dict:
    """Every minute (``downtime.tasks.sync_journal``): ``journal_sync`` of
    the patients it still has work for; one query when there are none."""
    patients = journal_patients_unsettled()
    if not patients:
        return {}
    return journal_sync(patients=sorted(patients))
