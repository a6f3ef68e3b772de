"""Recovery worklists: what each department must re-enter or check in the
EHR once it is back, built from the mirror as it stood when the downtime
began, each item marked done by whoever did it.

- pharmacy: every active medication order of every inpatient, to reconcile
  with the paper MARs;
- laboratory: every pending lab order, and every order placed on paper
  (added as the paper comes back);
- nursing: every patient on the census, to check against the paper, and the
  admissions, transfers and discharges done on paper (added likewise);
- registration: every downtime number used, to match with the real MRN
  (added when its use is recorded), and every entry of the census journal,
  to enter in the EHR (added at recovery, ``downtime.recovery``);
- scheduling: every appointment the downtime postponed, or whose patient
  was not reached, to reschedule (added at recovery, ``downtime.calls``).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from downtime.journal import journal_sync
from downtime.models import Downtime, DowntimeNumber, WorklistItem
from patients.models import Encounter, LabOrder, Location, MedicationOrder
from patients.units import (
    display_dose,
    display_interval,
    display_max_dose,
    display_text,
)

Worklist = WorklistItem.Worklist


def worklists_build(*, downtime: Downtime) -> int:
    """The snapshot, once per downtime: how many items it made."""
    if WorklistItem.objects.filter(downtime=downtime, from_paper=False).exists():
        return 0
    now = timezone.now()
    stays = {
        stay.patient_id: stay
        for stay in Encounter.objects.on_census()
        .select_related("patient", "ward", "bed")
        .order_by("ward__name", "bed__name", "pk")
    }

    def item(worklist: str, patient_id: int, what: str, stay=None) -> WorklistItem:
        stay = stay or stays.get(patient_id)
        return WorklistItem(
            downtime=downtime,
            worklist=worklist,
            location=stay.ward if stay else None,
            ward=stay.ward.name if stay and stay.ward else "",
            bed=stay.bed.name if stay and stay.bed else "",
            patient_id=patient_id,
            patient_name=worklist_name(stay.patient) if stay else "",
            mrn=stay.patient.mrn if stay else "",
            what=what[:512],
            added_at=now,
        )

    items = [
        item(Worklist.NURSING, patient_id, _("Check the record against the paper"))
        for patient_id in stays
    ]
    medications = (
        MedicationOrder.objects.filter(
            status=MedicationOrder.Status.ACTIVE, patient_id__in=stays.keys()
        )
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("patient_id", "drug", "pk")
    )
    items += [
        item(Worklist.PHARMACY, order.patient_id, _medication(order))
        for order in medications
    ]
    labs = (
        LabOrder.objects.filter(status__in=LabOrder.PENDING)
        .select_related("patient")
        .order_by("patient_id", "ordered_at", "pk")
    )
    for order in labs:
        made = item(Worklist.LABORATORY, order.patient_id, _lab(order))
        if order.patient_id not in stays:  # an outpatient's: no ward
            made.patient_name, made.mrn = (
                worklist_name(order.patient),
                order.patient.mrn,
            )
        items.append(made)
    WorklistItem.objects.bulk_create(items, batch_size=2000)
    return len(items)


def worklist_name(patient) -> str:
    """A patient as worklists name them: FAMILY, Given."""
    return f"{patient.family.upper()}, {patient.given}".strip(", ")


def _medication(order: MedicationOrder) -> str:
    """The order as the pharmacist checks it against the paper MAR, written
    as the packs write it (``patients.units``)."""
    parts = [display_text(order.drug), display_dose(order.dose), order.route]
    if not order.as_needed:
        return " ".join(part for part in [*parts, order.frequency] if part)
    parts += [
        display_interval(order.timing) or order.frequency,
        f"({_('as needed')})",
        display_max_dose(order.max_dose),
    ]
    return " ".join(part for part in parts if part)


def _lab(order: LabOrder) -> str:
    text = f"{order.order_number} {order.test}"
    if order.priority and order.priority != LabOrder.Priority.ROUTINE:
        text += f" ({order.get_priority_display()})"
    return text


def worklist_add_from_paper(
    *,
    downtime: Downtime,
    worklist: str,
    location: Location,
    patient: str,
    what: str,
    user,
) -> WorklistItem:
    """An item the paper brought back: an order, an admission, a transfer."""
    if worklist not in (Worklist.LABORATORY, Worklist.NURSING):
        raise ValidationError(_("Items are added from paper to laboratory or nursing."))
    _still_open(downtime)
    return WorklistItem.objects.create(
        downtime=downtime,
        worklist=worklist,
        location=location,
        ward=location.name,
        patient_name=patient[:255],
        what=what[:512],
        from_paper=True,
        added_at=timezone.now(),
        added_by=user,
    )


def worklist_add_number(*, number: DowntimeNumber) -> WorklistItem | None:
    """A downtime number whose use was recorded: registration matches it
    with the patient's real MRN."""
    if number.downtime_id is None:
        return None
    return WorklistItem.objects.create(
        downtime_id=number.downtime_id,
        worklist=Worklist.REGISTRATION,
        location=number.used_on,
        ward=number.used_on.name if number.used_on else "",
        number=number,
        what=_("Match %(number)s with the patient's real MRN")
        % {"number": number.number},
        from_paper=True,
        added_at=timezone.now(),
        added_by=number.recorded_by,
    )


def worklist_item_done(
    *, item: WorklistItem, user, note: str = "", real_mrn: str = ""
) -> WorklistItem:
    """Marked done by the person who did it, once. An item of a census
    journal entry has it confirmed at once if the EHR's feed says the same;
    ``real_mrn``, the MRN the EHR gave a patient admitted with a downtime
    number, links the two once the mirror has the real one."""
    _still_open(item.downtime)
    real_mrn = _real_mrn(item, real_mrn)
    with transaction.atomic():
        done = WorklistItem.objects.filter(pk=item.pk, done_at__isnull=True).update(
            done_at=timezone.now(), done_by=user, note=note[:255], real_mrn=real_mrn
        )
        item.refresh_from_db()
    if not done:
        raise ValidationError(
            _("Already done by %(name)s at %(time)s.")
            % {
                "name": item.done_by.get_full_name() or item.done_by.get_username(),
                "time": timezone.localtime(item.done_at).strftime("%d/%m %H:%M"),
            }
        )
    if item.entry is not None and item.entry.patient_id is not None:
        journal_sync(patients=[item.entry.patient_id])
    return item


def _real_mrn(item: WorklistItem, given: str) -> str:
    real_mrn = given.strip()
    if not real_mrn:
        return ""
    if item.entry is None or item.entry.number_id is None:
        raise ValidationError(
            _("Only an admission with a downtime number takes a real MRN.")
        )
    if real_mrn.upper() == item.entry.number.number.upper():
        raise ValidationError(
            _("That is the downtime number: give the MRN the EHR gave the patient.")
        )
    if len(real_mrn) > WorklistItem._meta.get_field("real_mrn").max_length:
        raise ValidationError(_("That is too long for an MRN: check it."))
    return real_mrn


def _still_open(downtime: Downtime) -> None:
    """A closed downtime's worklists are kept as they were: its report says
    what was done by then."""
    if downtime.state not in Downtime.ACTIVE:
        raise ValidationError(
            _("This downtime is %(state)s: its worklists are kept as they were.")
            % {"state": downtime.get_state_display().lower()}
        )


def worklist_progress(*, items: QuerySet[WorklistItem]) -> list[dict]:
    """Per worklist: its name, how many items, how many done."""
    counts = {
        row["worklist"]: row
        for row in items.values("worklist").annotate(
            total=Count("pk"), done=Count("pk", filter=Q(done_at__isnull=False))
        )
    }
    return [
        {
            "worklist": worklist,
            "label": label,
            "total": counts.get(worklist, {}).get("total", 0),
            "done": counts.get(worklist, {}).get("done", 0),
        }
        for worklist, label in Worklist.choices
    ]
