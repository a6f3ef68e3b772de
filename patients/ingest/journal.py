"""The census journal's writes to the mirror (``downtime.journal`` decides
what they are): the patients it admits with a downtime number, and the
journal stays that stand in for the EHR's census stays.

Its rows are of feed "downtime" (``Encounter.JOURNAL_FEED``), of source
types of their own, so that no EHR feed ever reads or overwrites them.
"""

from django.conf import settings
from django.utils import timezone

from patients.ingest.values import search_key
from patients.models import Encounter, Location, Patient, Sex

PATIENT_TYPE = "JournalPatient"
STAY_TYPE = "JournalStay"


def journal_patient_create(
    *, number: str, family: str, given: str, birth_date=None, sex: str = ""
) -> Patient:
    """A patient with a downtime number for MRN (DOWNTIME_MRN_SYSTEM)."""
    return Patient.objects.create(
        source_feed=Encounter.JOURNAL_FEED,
        source_type=PATIENT_TYPE,
        source_id=number,
        source_hash="",
        received_at=timezone.now(),
        mrn_system=settings.DOWNTIME_MRN_SYSTEM,
        mrn=number,
        family=family[:128],
        given=given[:128],
        name_search=search_key(given, family),
        birth_date=birth_date,
        sex=sex or Sex.UNKNOWN,
    )


def journal_patient_rename(*, patient_id: int, family: str, given: str) -> None:
    """A journal patient's name as its entries now give it (an EHR
    patient's stays the EHR's: the pages show the journal's over it)."""
    Patient.objects.filter(pk=patient_id, source_type=PATIENT_TYPE).exclude(
        family=family, given=given
    ).update(family=family, given=given, name_search=search_key(given, family))


def journal_patient_of(number: str) -> Patient | None:
    return Patient.objects.filter(
        source_type=PATIENT_TYPE,
        mrn_system=settings.DOWNTIME_MRN_SYSTEM,
        mrn=number,
    ).first()


def bed_holder(*, bed: Location, besides: Patient | None = None) -> Encounter | None:
    """Who is in the bed on the census now, the journal's stays included:
    the one rule of a bed the journal may give."""
    holders = Encounter.objects.on_census().filter(bed=bed)
    if besides is not None:
        holders = holders.exclude(patient=besides)
    return holders.first()


def journal_stay_put(*, key: str, values: dict, digest: str, at) -> bool:
    """Write the journal stay ``key`` (``values`` by attname); whether it
    was created or changed."""
    stay, created = Encounter.objects.get_or_create(
        source_type=STAY_TYPE,
        source_id=key,
        defaults=values
        | {
            "source_feed": Encounter.JOURNAL_FEED,
            "source_hash": digest,
            "source_updated_at": at,
            "received_at": timezone.now(),
        },
    )
    if created or stay.source_hash == digest:
        return created
    for name, value in values.items():
        setattr(stay, name, value)
    stay.source_hash = digest
    stay.source_updated_at = at
    stay.received_at = timezone.now()
    stay.save()
    return True


def journal_stays_end(*, keep: set[str], patients: list[int] | None = None) -> int:
    """Remove the journal stays (of ``patients``, if given) not in ``keep``:
    the EHR's stays they stood in for are the census again."""
    stays = Encounter.objects.filter(source_type=STAY_TYPE)
    if patients is not None:
        stays = stays.filter(patient__in=patients)
    deleted, _ = stays.exclude(source_id__in=keep).delete()
    return deleted


def journal_stays_move(*, merged: Patient, survivor: Patient) -> None:
    Encounter.objects.filter(source_type=STAY_TYPE, patient=merged).update(
        patient=survivor
    )
