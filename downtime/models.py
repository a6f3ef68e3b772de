from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Heartbeat(models.Model):
    """The last scheduled heartbeat a worker ran.

    A fresh row proves that beat, the broker and a worker work together; the
    readiness check reads its age.
    """

    SCHEDULER = "scheduler"

    name = models.CharField(_("name"), max_length=40, unique=True)
    beat_at = models.DateTimeField(_("beat at"))
    worker = models.CharField(_("worker"), max_length=255)

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class Downtime(models.Model):
    """One downtime of the EHR (or a drill of one), from declaration to close.

    The hospital is in "normal" state when no downtime is active; at most one
    is in downtime or recovery at a time, which the database enforces.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DOWNTIME = "downtime", _("Downtime")
        RECOVERY = "recovery", _("Recovery")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled before it began")

    class Kind(models.TextChoices):
        PLANNED = "planned", pgettext_lazy("downtime", "Planned")
        UNPLANNED = "unplanned", pgettext_lazy("downtime", "Unplanned")

    ACTIVE = (State.DOWNTIME, State.RECOVERY)

    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.DOWNTIME
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    drill = models.BooleanField(
        _("drill"),
        default=False,
        help_text=_("An exercise: labelled as a drill everywhere."),
    )
    reason = models.TextField(_("reason"))
    systems = models.JSONField(
        _("affected systems"),
        default=list,
        blank=True,
        help_text=_("Empty: the whole hospital."),
    )
    expected_end = models.DateTimeField(_("expected end"), null=True, blank=True)
    # When it began (entered downtime); for one still scheduled, when it was
    # scheduled.
    declared_at = models.DateTimeField(_("declared at"))
    # A planned downtime's start: it begins by itself then, and its packs are
    # rendered again DOWNTIME_REFRESH_MINUTES before.
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    packs_queued_at = models.DateTimeField(
        _("final packs queued at"), null=True, blank=True
    )
    frozen_at = models.DateTimeField(
        _("data frozen at"),
        null=True,
        blank=True,
        help_text=_("How recent the mirror's data was when downtime was declared."),
    )
    # It cut the inbound feeds (while active; kept after, for the record).
    feeds_isolated = models.BooleanField(_("inbound feeds isolated"), default=False)
    # Which booked appointments it postpones (``downtime.calls``): those of
    # these clinics (none: every clinic), of these types (none: every type),
    # and not urgent unless ``postpone_urgent``.
    postponed_clinics = models.ManyToManyField(
        "patients.Location",
        verbose_name=_("postponed clinics"),
        blank=True,
        related_name="+",
        limit_choices_to={"kind": "clinic"},
    )
    postponed_types = models.JSONField(
        _("postponed appointment types"), default=list, blank=True
    )
    postpone_urgent = models.BooleanField(
        _("urgent appointments postponed too"), default=False
    )

    class Meta:
        verbose_name = _("downtime")
        verbose_name_plural = _("downtimes")
        ordering = ["-declared_at"]
        constraints = [
            models.UniqueConstraint(
                models.Value(True),
                condition=models.Q(state__in=["downtime", "recovery"]),
                name="downtime_one_active",
                violation_error_message=_("Another downtime is already active."),
            ),
            models.CheckConstraint(
                condition=~models.Q(state="scheduled", starts_at__isnull=True),
                name="downtime_scheduled_has_a_start",
            ),
            models.CheckConstraint(
                condition=~models.Q(drill=True, feeds_isolated=True),
                name="downtime_drill_never_isolates",
                violation_error_message=_("A drill does not isolate the feeds."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.declared_at:%Y-%m-%d %H:%M}"


class Transition(models.Model):
    """A change of a downtime's state: who, when (UTC) and why. Append-only."""

    downtime = models.ForeignKey(
        Downtime,
        verbose_name=_("downtime"),
        on_delete=models.PROTECT,
        related_name="transitions",
    )
    state = models.CharField(_("to state"), max_length=16, choices=Downtime.State)
    at = models.DateTimeField(_("at"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    why = models.TextField(_("why"))

    class Meta:
        verbose_name = _("downtime transition")
        verbose_name_plural = _("downtime transitions")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.state}"


class NumberBlock(models.Model):
    """A range of downtime registration numbers, pre-allocated by IT and
    handed to one ward or the emergency department as label sheets. New
    arrivals during a downtime get one of these instead of an MRN."""

    location = models.ForeignKey(
        "patients.Location",
        verbose_name=_("ward or department"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    first = models.PositiveIntegerField(_("first number"))
    last = models.PositiveIntegerField(_("last number"))
    allocated_at = models.DateTimeField(_("allocated at"))
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("allocated by"),
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("block of downtime numbers")
        verbose_name_plural = _("blocks of downtime numbers")
        ordering = ["-first"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(last__gte=models.F("first")),
                name="downtime_block_not_empty",
            )
        ]

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class DowntimeNumber(models.Model):
    """One temporary MRN. Never reused (a unique sequence); its use is
    recorded when the paper comes back, and in recovery it is matched to
    the patient's real MRN."""

    sequence = models.PositiveIntegerField(_("sequence"), unique=True)
    number = models.CharField(_("downtime number"), max_length=32, unique=True)
    block = models.ForeignKey(
        NumberBlock,
        verbose_name=_("block"),
        on_delete=models.PROTECT,
        related_name="numbers",
    )
    # From the paper: where, when and by whom it was given to a patient.
    used_on = models.ForeignKey(
        "patients.Location",
        verbose_name=_("used on"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_by = models.CharField(_("used by"), max_length=150, blank=True)
    downtime = models.ForeignKey(
        Downtime,
        verbose_name=_("downtime"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="numbers",
    )
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("downtime number")
        verbose_name_plural = _("downtime numbers")
        ordering = ["sequence"]

    def __str__(self) -> str:
        return self.number


class WorklistItem(models.Model):
    """One thing to re-enter or check in the EHR after a downtime. Names and
    places are copied as they stood when it was made: the mirror moves on
    once the feeds flow again, the worklist must not."""

    class Worklist(models.TextChoices):
        PHARMACY = "pharmacy", _("Pharmacy")
        LABORATORY = "laboratory", _("Laboratory")
        NURSING = "nursing", _("Nursing")
        REGISTRATION = "registration", _("Registration")
        SCHEDULING = "scheduling", _("Scheduling")

    downtime = models.ForeignKey(
        Downtime,
        verbose_name=_("downtime"),
        on_delete=models.PROTECT,
        related_name="worklist_items",
    )
    worklist = models.CharField(_("worklist"), max_length=16, choices=Worklist)
    location = models.ForeignKey(
        "patients.Location",
        verbose_name=_("ward or department"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ward = models.CharField(_("ward"), max_length=255, blank=True)
    bed = models.CharField(_("bed"), max_length=255, blank=True)
    patient = models.ForeignKey(
        "patients.Patient",
        verbose_name=_("patient"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    patient_name = models.CharField(_("patient"), max_length=255, blank=True)
    mrn = models.CharField(_("MRN"), max_length=64, blank=True)
    number = models.ForeignKey(
        DowntimeNumber,
        verbose_name=_("downtime number"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    what = models.CharField(_("to do"), max_length=512)
    from_paper = models.BooleanField(_("from paper"), default=False)
    added_at = models.DateTimeField(_("added at"))
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    # Registration: the census journal entry to enter in the EHR, and the
    # real MRN the patient has there, when the person who did it gave it.
    entry = models.ForeignKey(
        "CensusEntry",
        verbose_name=_("census journal entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="worklist_items",
    )
    real_mrn = models.CharField(_("real MRN"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("worklist item")
        verbose_name_plural = _("worklist items")
        ordering = ["ward", "bed", "patient_name", "pk"]
        indexes = [models.Index(fields=["downtime", "worklist", "location"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done_at__isnull=True, done_by__isnull=True)
                | models.Q(done_at__isnull=False, done_by__isnull=False),
                name="downtime_worklist_done_by_someone",
            )
        ]

    def __str__(self) -> str:
        return self.what


class CensusEntry(models.Model):
    """One event of the census journal: an admission, a transfer, a
    discharge or a correction recorded on the downtime system while the EHR
    is down. Append-only: a mistake is corrected by a new entry that
    ``corrects`` it. ``downtime.journal`` folds a patient's entries into the
    stay the census shows, until the EHR's feeds say the same."""

    class Kind(models.TextChoices):
        ADMISSION = "admission", _("Admission")
        TRANSFER = "transfer", _("Transfer")
        DISCHARGE = "discharge", _("Discharge")
        CORRECTION = "correction", _("Correction")

    class Disposition(models.TextChoices):
        HOME = "home", _("Home")
        HOSPITAL = "hospital", _("To another hospital")
        DECEASED = "deceased", _("Deceased")
        OTHER = "other", _("Other")

    downtime = models.ForeignKey(
        Downtime,
        verbose_name=_("downtime"),
        on_delete=models.PROTECT,
        related_name="census_entries",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # The patient it is about: a new one admitted with a downtime number is
    # a patient of the mirror too, with that number for MRN. Moves to the
    # survivor of a merge (downtime.apps).
    patient = models.ForeignKey(
        "patients.Patient",
        verbose_name=_("patient"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    number = models.ForeignKey(
        DowntimeNumber,
        verbose_name=_("downtime number"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="census_entries",
    )
    # Where the patient is after it (a discharge: the ward left), and where
    # from (a transfer): a transfer shows on both wards.
    ward = models.ForeignKey(
        "patients.Location",
        verbose_name=_("ward"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    from_ward = models.ForeignKey(
        "patients.Location",
        verbose_name=_("from ward"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    bed = models.ForeignKey(
        "patients.Location",
        verbose_name=_("bed"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    disposition = models.CharField(
        _("discharged to"), max_length=12, choices=Disposition.choices, blank=True
    )
    destination = models.CharField(_("destination"), max_length=255, blank=True)
    # An admission's name, or a correction's new one.
    family = models.CharField(_("family name"), max_length=128, blank=True)
    given = models.CharField(_("given names"), max_length=128, blank=True)
    corrects = models.ForeignKey(
        "self",
        verbose_name=_("corrects"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
    )
    # A correction that says the entry it corrects never happened.
    void = models.BooleanField(_("entered in error"), default=False)
    occurred_at = models.DateTimeField(_("happened at"))
    paper_ref = models.CharField(_("paper form reference"), max_length=64, blank=True)
    entered_at = models.DateTimeField(_("entered at"))
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The EHR's census stay of the patient at the patient's first entry of
    # the downtime ({"stay", "ward", "bed"}; {} when not on the census): while
    # the EHR still says that, the journal is newer.
    baseline = models.JSONField(_("EHR census at the first entry"), default=dict)
    # When a feed of the EHR first said what this entry says.
    reconciled_at = models.DateTimeField(_("confirmed by the EHR at"), null=True)

    class Meta:
        verbose_name = _("census journal entry")
        verbose_name_plural = _("census journal entries")
        ordering = ["occurred_at", "entered_at", "pk"]
        indexes = [models.Index(fields=["downtime", "patient"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="correction", corrects__isnull=False)
                | (~models.Q(kind="correction") & models.Q(corrects__isnull=True)),
                name="downtime_census_correction_corrects_one",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="discharge", disposition=""),
                name="downtime_census_discharge_says_where",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M}"


class Call(models.Model):
    """One call to a patient whose appointment the downtime postpones, and
    what came of it. Append-only: the appointment's outcome is its latest
    call; a patient not reached is called again (each try is a row)."""

    class Outcome(models.TextChoices):
        POSTPONED = "postponed", _("Reached: postponed")
        NOT_REACHED = "not_reached", _("Not reached: try again")
        URGENT = "urgent", _("To be seen anyway (urgent)")

    downtime = models.ForeignKey(
        Downtime,
        verbose_name=_("downtime"),
        on_delete=models.PROTECT,
        related_name="calls",
    )
    # The mirror's appointment; the call is kept if the EHR later removes
    # it (a delete, a merge), with what the schedulers need of it, copied
    # when the call was made.
    appointment = models.ForeignKey(
        "patients.Appointment",
        verbose_name=_("appointment"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    patient = models.ForeignKey(
        "patients.Patient",
        verbose_name=_("patient"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    patient_name = models.CharField(_("patient"), max_length=255, blank=True)
    mrn = models.CharField(_("MRN"), max_length=64, blank=True)
    clinic = models.ForeignKey(
        "patients.Location",
        verbose_name=_("clinic"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    clinic_name = models.CharField(_("clinic"), max_length=255, blank=True)
    appointment_at = models.DateTimeField(_("appointment at"), null=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    new_date = models.DateField(_("new date"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    called_at = models.DateTimeField(_("called at"))
    called_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("called by"),
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("postponement call")
        verbose_name_plural = _("postponement calls")
        ordering = ["called_at", "pk"]
        indexes = [models.Index(fields=["downtime", "appointment", "called_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(new_date__isnull=True)
                | models.Q(outcome="postponed"),
                name="downtime_call_new_date_when_postponed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.called_at:%Y-%m-%d %H:%M}"
