"""The mirror: what the EHR knew about each patient, as last received.

Only the ingest services (``patients.ingest``) write these tables. Every
mirrored row remembers where it came from (feed, resource type and id), the
source's own last-updated time and a hash of the content it was built from, so
that a repeated import changes nothing and an older copy never overwrites a
newer one.
"""

import datetime as dt

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _


class Mirrored(models.Model):
    source_feed = models.CharField(_("feed"), max_length=64)
    source_type = models.CharField(_("source resource type"), max_length=64)
    source_id = models.CharField(_("source id"), max_length=128)
    source_updated_at = models.DateTimeField(
        _("last updated at the source"), null=True, blank=True
    )
    # What the mirror shows of the row, digested (patients.ingest.rules).
    source_hash = models.CharField(_("content hash"), max_length=40)
    # The digest of the FHIR resource the row was built from; empty when
    # something else wrote it since.
    source_digest = models.CharField(
        _("source resource digest"), max_length=40, blank=True, default=""
    )
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["source_type", "source_id"],
                name="%(app_label)s_%(class)s_one_row_per_source",
            )
        ]


class Organization(Mirrored):
    name = models.CharField(_("name"), max_length=255)
    identifier_system = models.CharField(
        _("identifier system"), max_length=255, blank=True
    )
    identifier_value = models.CharField(_("identifier"), max_length=128, blank=True)
    phone = models.CharField(_("phone"), max_length=64, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        indexes = [models.Index(fields=["identifier_system", "identifier_value"])]

    def __str__(self) -> str:
        return self.name


class Location(Mirrored):
    """A ward, room, bed or clinic (FHIR Location), in a part-of hierarchy."""

    class Kind(models.TextChoices):
        SITE = "site", _("Site")
        WARD = "ward", _("Ward")
        ROOM = "room", _("Room")
        BED = "bed", _("Bed")
        CLINIC = "clinic", _("Clinic")
        OTHER = "other", _("Other location")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=255)
    code = models.CharField(_("code"), max_length=64, blank=True)
    identifier_system = models.CharField(
        _("identifier system"), max_length=255, blank=True
    )
    identifier_value = models.CharField(_("identifier"), max_length=128, blank=True)
    status = models.CharField(_("status"), max_length=16, blank=True)
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    part_of = models.ForeignKey(
        "self",
        verbose_name=_("part of"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="parts",
    )
    # The ward a room or bed belongs to, worked out from part_of at import so
    # that a census never has to walk the hierarchy.
    ward = models.ForeignKey(
        "self",
        verbose_name=_("ward"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta(Mirrored.Meta):
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        indexes = [
            models.Index(fields=["identifier_system", "identifier_value"]),
            models.Index(fields=["kind", "name"]),
            # A PL's room and bed, under its ward, by code or by name (HL7
            # v2: mirror.place_read), without reading the ward's every row.
            models.Index(fields=["ward", "code"]),
            models.Index(fields=["ward", "name"]),
        ]

    def __str__(self) -> str:
        return self.name


class Clinician(Mirrored):
    family = models.CharField(_("family name"), max_length=128, blank=True)
    given = models.CharField(_("given names"), max_length=128, blank=True)
    prefix = models.CharField(_("title"), max_length=32, blank=True)
    identifier_system = models.CharField(
        _("identifier system"), max_length=255, blank=True
    )
    identifier_value = models.CharField(_("identifier"), max_length=128, blank=True)
    phone = models.CharField(_("phone"), max_length=64, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name = _("clinician")
        verbose_name_plural = _("clinicians")
        indexes = [models.Index(fields=["identifier_system", "identifier_value"])]

    def __str__(self) -> str:
        return " ".join(part for part in (self.prefix, self.given, self.family) if part)


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class Patient(Mirrored):
    mrn_system = models.CharField(_("MRN assigning authority"), max_length=255)
    mrn = models.CharField(_("MRN"), max_length=64)
    # Every identifier as received: [{"type": "MR", "system": ..., "value": ...}].
    identifiers = models.JSONField(_("identifiers"), default=list, blank=True)
    family = models.CharField(_("family name"), max_length=128)
    given = models.CharField(_("given names"), max_length=128, blank=True)
    prefix = models.CharField(_("title"), max_length=32, blank=True)
    # Lower case, accents removed: what a name search compares with.
    name_search = models.CharField(_("name for searching"), max_length=256)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices)
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=512, blank=True)
    contact_name = models.CharField(_("emergency contact"), max_length=255, blank=True)
    contact_relationship = models.CharField(
        _("emergency contact relationship"), max_length=64, blank=True
    )
    contact_phone = models.CharField(
        _("emergency contact phone"), max_length=64, blank=True
    )
    deceased_at = models.DateTimeField(_("deceased at"), null=True, blank=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            *Mirrored.Meta.constraints,
            models.UniqueConstraint(
                fields=["mrn_system", "mrn"], name="patients_one_patient_per_mrn"
            ),
            models.CheckConstraint(
                condition=~Q(mrn=""), name="patients_patient_has_mrn"
            ),
        ]
        indexes = [
            models.Index(fields=["name_search"]),
            models.Index(fields=["birth_date"]),
        ]

    def __str__(self) -> str:
        return f"{self.family.upper()}, {self.given}"


class EncounterQuerySet(models.QuerySet):
    def on_census(self) -> "EncounterQuerySet":
        """The patients in a bed now: the EHR's census stays that the
        downtime census journal has not replaced, and the journal's own."""
        replaced = Encounter.objects.filter(replaces=OuterRef("pk"))
        return self.filter(
            Q(status__in=Encounter.ON_CENSUS) & ~Exists(replaced)
            | Q(status=Encounter.Status.JOURNAL)
        )


class Encounter(Mirrored):
    """A stay, as the EHR sent it; or, with source_feed "downtime", the
    stay as the census journal has it now (``downtime.journal``): status
    JOURNAL while on a ward, finished once discharged, standing in for the
    EHR's stay it ``replaces`` until the EHR catches up. The feeds never
    read or write those (JOURNAL is no status of theirs)."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        ARRIVED = "arrived", _("Arrived")
        TRIAGED = "triaged", _("Triaged")
        IN_PROGRESS = "in-progress", _("In progress")
        ON_LEAVE = "onleave", _("On leave")
        FINISHED = "finished", _("Finished")
        CANCELLED = "cancelled", _("Cancelled")
        ENTERED_IN_ERROR = "entered-in-error", _("Entered in error")
        UNKNOWN = "unknown", _("Unknown")
        JOURNAL = "journal", _("On the ward, per the downtime journal")

    # Statuses of a patient the EHR has on the ward's census.
    ON_CENSUS = (Status.ARRIVED, Status.TRIAGED, Status.IN_PROGRESS, Status.ON_LEAVE)
    JOURNAL_FEED = "downtime"

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="encounters",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    encounter_class = models.CharField(_("class"), max_length=16, blank=True)
    encounter_type = models.CharField(_("type"), max_length=255, blank=True)
    ward = models.ForeignKey(
        Location,
        verbose_name=_("ward"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    room = models.ForeignKey(
        Location,
        verbose_name=_("room"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    bed = models.ForeignKey(
        Location,
        verbose_name=_("bed"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    admitted_at = models.DateTimeField(_("admitted at"), null=True, blank=True)
    discharged_at = models.DateTimeField(_("discharged at"), null=True, blank=True)
    attending = models.ForeignKey(
        Clinician,
        verbose_name=_("attending clinician"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    diet = models.CharField(_("diet"), max_length=255, blank=True)
    # Journal stays only: the EHR stay this one stands in for, and the
    # entries that made it, as marks to print ({"kind", "text", "by", "at"}).
    replaces = models.ForeignKey(
        "self",
        verbose_name=_("stands in for"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replaced_by",
    )
    marks = models.JSONField(_("downtime journal marks"), default=list, blank=True)

    objects = EncounterQuerySet.as_manager()

    class Meta:
        verbose_name = _("encounter")
        verbose_name_plural = _("encounters")
        constraints = [
            *Mirrored.Meta.constraints,
            models.UniqueConstraint(
                fields=["bed"],
                condition=Q(status__in=["arrived", "triaged", "in-progress", "onleave"])
                & Q(bed__isnull=False),
                name="patients_one_occupant_per_bed",
            ),
            models.UniqueConstraint(
                fields=["bed"],
                condition=Q(status="journal") & Q(bed__isnull=False),
                name="patients_one_journal_occupant_per_bed",
            ),
        ]
        indexes = [models.Index(fields=["ward", "status"])]

    def __str__(self) -> str:
        return f"{self.source_type}/{self.source_id}"


class Allergy(Mirrored):
    class Criticality(models.TextChoices):
        LOW = "low", _("Low")
        HIGH = "high", _("High")
        UNABLE_TO_ASSESS = "unable-to-assess", _("Unable to assess")

    class Severity(models.TextChoices):
        MILD = "mild", _("Mild")
        MODERATE = "moderate", _("Moderate")
        SEVERE = "severe", _("Severe")

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="allergies",
    )
    substance = models.CharField(_("substance"), max_length=255)
    substance_code = models.CharField(_("substance code"), max_length=64, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True)
    reactions = models.CharField(_("reactions"), max_length=512, blank=True)
    severity = models.CharField(
        _("severity"), max_length=8, choices=Severity.choices, blank=True
    )
    criticality = models.CharField(
        _("criticality"), max_length=16, choices=Criticality.choices, blank=True
    )
    clinical_status = models.CharField(_("clinical status"), max_length=16)
    verification_status = models.CharField(
        _("verification status"), max_length=16, blank=True
    )
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name = _("allergy or intolerance")
        verbose_name_plural = _("allergies and intolerances")

    def __str__(self) -> str:
        return self.substance


class Problem(Mirrored):
    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="problems",
    )
    description = models.CharField(_("description"), max_length=255)
    code = models.CharField(_("code"), max_length=64, blank=True)
    clinical_status = models.CharField(_("clinical status"), max_length=16)
    onset_at = models.DateTimeField(_("onset"), null=True, blank=True)
    abated_at = models.DateTimeField(_("abated"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name = _("problem")
        verbose_name_plural = _("problems")

    def __str__(self) -> str:
        return self.description


class MedicationOrder(Mirrored):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ON_HOLD = "on-hold", _("On hold")
        CANCELLED = "cancelled", _("Cancelled")
        COMPLETED = "completed", _("Completed")
        ENTERED_IN_ERROR = "entered-in-error", _("Entered in error")
        STOPPED = "stopped", _("Stopped")
        DRAFT = "draft", _("Draft")
        UNKNOWN = "unknown", _("Unknown")

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="medication_orders",
    )
    encounter = models.ForeignKey(
        Encounter,
        verbose_name=_("encounter"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    drug = models.CharField(_("drug"), max_length=255)
    drug_code = models.CharField(_("drug code"), max_length=64, blank=True)
    dose = models.CharField(_("dose"), max_length=64, blank=True)
    route = models.CharField(_("route"), max_length=64, blank=True)
    frequency = models.CharField(_("frequency"), max_length=128, blank=True)
    # Structured timing for the MAR: {"frequency": 2, "period": 1,
    # "period_unit": "d", "times": ["08:00", "20:00"]}; empty when unknown.
    timing = models.JSONField(_("timing"), default=dict, blank=True)
    as_needed = models.BooleanField(_("as needed (PRN)"), default=False)
    as_needed_reason = models.CharField(_("PRN reason"), max_length=255, blank=True)
    # The most that may be given, when the EHR limits it: {"per_period":
    # "4 g", "period": 1, "period_unit": "d", "per_dose": "1 g"} (amounts as
    # sent, like ``dose``); empty when it does not.
    max_dose = models.JSONField(_("maximum dose"), default=dict, blank=True)
    instructions = models.CharField(_("instructions"), max_length=512, blank=True)
    starts_at = models.DateTimeField(_("start"), null=True, blank=True)
    ends_at = models.DateTimeField(_("stop"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    prescriber = models.ForeignKey(
        Clinician,
        verbose_name=_("prescriber"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta(Mirrored.Meta):
        verbose_name = _("medication order")
        verbose_name_plural = _("medication orders")
        indexes = [models.Index(fields=["patient", "status"])]

    def __str__(self) -> str:
        return self.drug


class MedicationAdministration(Mirrored):
    """A dose given, or not given, as the EHR recorded it: what the MAR and
    the patient page say was last given, so that nothing is given twice or
    missed when the EHR goes dark."""

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Given")
        IN_PROGRESS = "in-progress", _("Being given")
        NOT_DONE = "not-done", _("Not given")
        ON_HOLD = "on-hold", _("Held")
        STOPPED = "stopped", _("Stopped")
        ENTERED_IN_ERROR = "entered-in-error", _("Entered in error")
        UNKNOWN = "unknown", _("Unknown")
        # HL7 RDS^O13, where the EHR sends dispenses and not doses given.
        DISPENSED = "dispensed", _("Dispensed, not recorded as given")

    # Doses that were given, at least in part.
    GIVEN = ("completed", "in-progress", "stopped")
    # Never shown: the EHR withdrew the record.
    WITHDRAWN = ("entered-in-error",)

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="medication_administrations",
    )
    # The order the dose fulfils; null when the EHR did not say, or the
    # order is not in the mirror (the summary then matches it by drug).
    order = models.ForeignKey(
        MedicationOrder,
        verbose_name=_("medication order"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="administrations",
    )
    drug = models.CharField(_("drug"), max_length=255, blank=True)
    drug_code = models.CharField(_("drug code"), max_length=64, blank=True)
    dose = models.CharField(_("dose"), max_length=64, blank=True)
    route = models.CharField(_("route"), max_length=64, blank=True)
    given_at = models.DateTimeField(_("given at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    # Why a dose was not given (refused, held, missed): as the EHR wrote it.
    reason = models.CharField(_("reason not given"), max_length=255, blank=True)
    performer = models.ForeignKey(
        Clinician,
        verbose_name=_("given by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta(Mirrored.Meta):
        verbose_name = _("medication administration")
        verbose_name_plural = _("medication administrations")
        indexes = [models.Index(fields=["patient", "-given_at"])]

    def __str__(self) -> str:
        return self.drug


class Report(Mirrored):
    """A clinical report or document (imaging, pathology, a discharge
    letter, a note), as plain text: whatever markup it came in was taken
    out on the way in (``patients.ingest.text``)."""

    class Kind(models.TextChoices):
        DIAGNOSTIC = "diagnostic", _("Report")
        DOCUMENT = "document", _("Document")

    # Statuses of a report withdrawn at the source: never shown.
    WITHDRAWN = ("cancelled", "entered-in-error")
    # Replaced by a newer version: listed on the patient page, marked so,
    # never printed.
    REPLACED = ("superseded",)
    PRELIMINARY = ("registered", "partial", "preliminary")

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="reports",
    )
    encounter = models.ForeignKey(
        Encounter,
        verbose_name=_("encounter"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    category = models.CharField(_("category"), max_length=128, blank=True)
    title = models.CharField(_("title"), max_length=255)
    code = models.CharField(_("code"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=32)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    author = models.CharField(_("author"), max_length=255, blank=True)
    conclusion = models.TextField(_("conclusion"), blank=True)
    text = models.TextField(_("text"), blank=True)
    # What was not taken in as text (a PDF, an image, a file by URL):
    # [{"title": ..., "type": "application/pdf", "url": ...}]. Listed on the
    # pages, never fetched.
    attachments = models.JSONField(_("attachments"), default=list, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        indexes = [models.Index(fields=["patient", "-issued_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def preliminary(self) -> bool:
        return self.status in self.PRELIMINARY


class Observation(Mirrored):
    class Category(models.TextChoices):
        VITAL_SIGNS = "vital-signs", _("Vital signs")
        LABORATORY = "laboratory", _("Laboratory")
        OTHER = "other", _("Other")

    # Statuses of a result withdrawn at the source: never shown or printed.
    WITHDRAWN = ("cancelled", "entered-in-error")
    # Weight and height, for dosing: the pages show the newest of each on
    # its own, whatever the category the EHR filed them under. LOINC, then
    # SNOMED CT.
    WEIGHT_CODES = frozenset(
        {
            "29463-7",  # body weight
            "3141-9",  # measured
            "3142-7",  # stated
            "8335-2",  # estimated
            "75292-3",  # reported
            "79348-9",  # used for drug calculation
            "27113001",
            "363808001",
        }
    )
    HEIGHT_CODES = frozenset(
        {
            "8302-2",  # body height
            "3137-7",  # measured
            "3138-5",  # stated
            "8306-3",  # lying
            "8308-9",  # standing
            "50373000",
            "1153637007",
        }
    )

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="observations",
    )
    encounter = models.ForeignKey(
        Encounter,
        verbose_name=_("encounter"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    code = models.CharField(_("code"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=255)
    value = models.CharField(_("value"), max_length=255, blank=True)
    value_number = models.FloatField(_("numeric value"), null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=32, blank=True)
    reference_range = models.CharField(_("reference range"), max_length=64, blank=True)
    # HL7 interpretation code: H, L, HH, LL, A, AA, N...; empty when not given.
    abnormal_flag = models.CharField(_("abnormal flag"), max_length=8, blank=True)
    status = models.CharField(_("status"), max_length=16)
    effective_at = models.DateTimeField(_("effective at"), null=True, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name = _("observation")
        verbose_name_plural = _("observations")
        indexes = [models.Index(fields=["patient", "category", "-effective_at"])]

    def __str__(self) -> str:
        return self.name


class LabOrder(Mirrored):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        ON_HOLD = "on-hold", _("On hold")
        REVOKED = "revoked", _("Revoked")
        COMPLETED = "completed", _("Completed")
        ENTERED_IN_ERROR = "entered-in-error", _("Entered in error")
        UNKNOWN = "unknown", _("Unknown")

    class Priority(models.TextChoices):
        ROUTINE = "routine", _("Routine")
        URGENT = "urgent", _("Urgent")
        ASAP = "asap", _("As soon as possible")
        STAT = "stat", _("Stat")

    PENDING = (Status.DRAFT, Status.ACTIVE, Status.ON_HOLD)

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="lab_orders",
    )
    encounter = models.ForeignKey(
        Encounter,
        verbose_name=_("encounter"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    order_number = models.CharField(_("order number"), max_length=64)
    test = models.CharField(_("test"), max_length=255)
    test_code = models.CharField(_("test code"), max_length=64, blank=True)
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, blank=True
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    ordered_at = models.DateTimeField(_("ordered at"), null=True, blank=True)
    specimen = models.CharField(_("specimen"), max_length=128, blank=True)
    requester = models.ForeignKey(
        Clinician,
        verbose_name=_("requester"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta(Mirrored.Meta):
        verbose_name = _("lab order")
        verbose_name_plural = _("lab orders")
        indexes = [models.Index(fields=["patient", "status"])]

    def __str__(self) -> str:
        return self.order_number


class Flag(Mirrored):
    """Code status, isolation and other alerts (FHIR Flag, or a code-status
    Observation)."""

    class Kind(models.TextChoices):
        CODE_STATUS = "code_status", _("Code status")
        ISOLATION = "isolation", _("Isolation")
        DIET = "diet", _("Diet")
        OTHER = "other", _("Alert")

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="flags",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    text = models.CharField(_("text"), max_length=255)
    code = models.CharField(_("code"), max_length=64, blank=True)
    active = models.BooleanField(_("active"), default=True)
    starts_at = models.DateTimeField(_("start"), null=True, blank=True)
    ends_at = models.DateTimeField(_("end"), null=True, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name = _("flag")
        verbose_name_plural = _("flags")

    def __str__(self) -> str:
        return self.text


class Schedule(Mirrored):
    clinic = models.ForeignKey(
        Location,
        verbose_name=_("clinic"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    clinician = models.ForeignKey(
        Clinician,
        verbose_name=_("clinician"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta(Mirrored.Meta):
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")

    def __str__(self) -> str:
        return f"{self.source_type}/{self.source_id}"


class Slot(Mirrored):
    schedule = models.ForeignKey(
        Schedule,
        verbose_name=_("schedule"),
        on_delete=models.CASCADE,
        related_name="slots",
    )
    starts_at = models.DateTimeField(_("start"))
    ends_at = models.DateTimeField(_("end"))
    status = models.CharField(_("status"), max_length=16)

    class Meta(Mirrored.Meta):
        verbose_name = _("slot")
        verbose_name_plural = _("slots")

    def __str__(self) -> str:
        return f"{self.source_type}/{self.source_id}"


class Appointment(Mirrored):
    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        PENDING = "pending", _("Pending")
        BOOKED = "booked", _("Booked")
        ARRIVED = "arrived", _("Arrived")
        FULFILLED = "fulfilled", _("Fulfilled")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "noshow", _("No show")
        ENTERED_IN_ERROR = "entered-in-error", _("Entered in error")
        CHECKED_IN = "checked-in", _("Checked in")
        WAITLIST = "waitlist", _("Waiting list")

    class Type(models.TextChoices):
        """HL7 table 0276, which both feeds use for the kind of appointment."""

        ROUTINE = "ROUTINE", _("Routine")
        WALKIN = "WALKIN", _("Walk-in")
        CHECKUP = "CHECKUP", _("Check-up")
        FOLLOWUP = "FOLLOWUP", _("Follow-up")
        EMERGENCY = "EMERGENCY", _("Emergency")

    # Still to honour: what a clinic's call list holds (a patient to call
    # if the clinic cannot see them), not those already seen, here or off.
    TO_HONOUR = (Status.BOOKED, Status.PENDING)

    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.CASCADE,
        related_name="appointments",
    )
    clinic = models.ForeignKey(
        Location,
        verbose_name=_("clinic"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    clinician = models.ForeignKey(
        Clinician,
        verbose_name=_("clinician"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    starts_at = models.DateTimeField(_("start"))
    minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # The EHR's code of what kind of appointment it is: HL7 table 0276
    # (ROUTINE, WALKIN, CHECKUP, FOLLOWUP, EMERGENCY) or the sender's own.
    appointment_type = models.CharField(
        _("appointment type"), max_length=32, blank=True
    )
    # To be seen even during a downtime: not postponed by default
    # (``rules.appointment_kind`` decides it, for both feeds).
    urgent = models.BooleanField(_("urgent"), default=False)

    class Meta(Mirrored.Meta):
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        indexes = [models.Index(fields=["clinic", "starts_at"])]

    def __str__(self) -> str:
        return f"{self.source_type}/{self.source_id}"


class FeedState(models.Model):
    """How fresh one feed is: its last successful sync and its last error."""

    name = models.CharField(_("feed"), max_length=64, unique=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # Where an incremental pull resumes: the server time of the last
    # complete pull.
    cursor = models.CharField(_("resume from"), max_length=64, blank=True)
    last_summary = models.JSONField(_("last summary"), default=dict, blank=True)
    # When the SMART access token of its last pull runs out (never the token).
    token_expires_at = models.DateTimeField(
        _("access token expires"), null=True, blank=True
    )
    # How its last pull read the server: "search" or "bulk" ($export).
    way = models.CharField(_("way"), max_length=16, blank=True)
    # Its last Bulk Data export: finished (ISO time), seconds, files, bytes,
    # errors the server reported, transactionTime.
    last_export = models.JSONField(_("last export"), default=dict, blank=True)

    class Meta:
        verbose_name = _("feed state")
        verbose_name_plural = _("feed states")

    def __str__(self) -> str:
        return self.name

    @property
    def export_finished_at(self) -> dt.datetime | None:
        """When its last Bulk Data export finished, if it made one."""
        finished = (self.last_export or {}).get("finished_at")
        return dt.datetime.fromisoformat(finished) if finished else None


class QuarantinedResource(models.Model):
    """A resource that could not be applied, kept as received with the reason."""

    class Status(models.TextChoices):
        HELD = "held", _("Held")
        REPLAYED = "replayed", _("Replayed")

    feed = models.CharField(_("feed"), max_length=64)
    origin = models.CharField(_("origin"), max_length=512, blank=True)
    resource_type = models.CharField(_("resource type"), max_length=64, blank=True)
    resource_id = models.CharField(_("resource id"), max_length=128, blank=True)
    # The id of the Patient it is about, when it says so: a held allergy is
    # then flagged on that patient's pages instead of silently missing.
    patient_source_id = models.CharField(
        _("patient source id"), max_length=128, blank=True, db_index=True
    )
    reason = models.TextField(_("reason"))
    raw = models.TextField(_("raw content"))
    # urn:uuid: references of the resource's bundle, resolved to Type/id, so
    # that a replay can resolve them without the bundle.
    references = models.JSONField(_("bundle references"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.HELD
    )
    received_at = models.DateTimeField(_("received at"))
    replayed_at = models.DateTimeField(_("replayed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=1)

    class Meta:
        verbose_name = _("quarantined resource")
        verbose_name_plural = _("quarantined resources")
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


class InboundMessage(models.Model):
    """An HL7 v2 message as received over MLLP, kept whatever became of it.

    Written (and committed) before the message is applied; its status then
    says what came of it. Nothing received is ever dropped: a failed message
    stays here with its error until it is replayed.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received, not yet applied")
        APPLIED = "applied", _("Applied")
        IGNORED = "ignored", _("Ignored (a type the mirror does not keep)")
        DUPLICATE = "duplicate", _("Duplicate of an applied message")
        FAILED = "failed", _("Failed (AE)")
        REJECTED = "rejected", _("Rejected (AR)")

    received_at = models.DateTimeField(_("received at"))
    peer = models.CharField(_("from address"), max_length=64, blank=True)
    raw = models.BinaryField(_("raw bytes"))
    sender = models.CharField(_("sender (MSH-3^MSH-4)"), max_length=255, blank=True)
    control_id = models.CharField(_("control id (MSH-10)"), max_length=199, blank=True)
    # SHA-256 of the raw bytes: a resend is the same control id with the
    # same bytes; a sender that reuses control ids for new messages is not
    # mistaken for one resending.
    digest = models.CharField(_("SHA-256"), max_length=64, blank=True)
    message_type = models.CharField(_("message type"), max_length=16, blank=True)
    event_at = models.DateTimeField(_("event at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    ack_code = models.CharField(_("acknowledgement"), max_length=2, blank=True)
    error = models.TextField(_("error"), blank=True)
    outcome = models.CharField(_("what changed"), max_length=255, blank=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)

    class Meta:
        verbose_name = _("inbound HL7 message")
        verbose_name_plural = _("inbound HL7 messages")
        constraints = [
            # A message is applied once, however often the sender sends it.
            models.UniqueConstraint(
                fields=["sender", "control_id", "digest"],
                condition=Q(status="applied") & ~Q(control_id=""),
                name="patients_inboundmessage_applied_once",
            )
        ]
        indexes = [models.Index(fields=["status", "id"])]

    def __str__(self) -> str:
        return f"{self.message_type or '?'} {self.control_id} ({self.status})"
