from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Pack(models.Model):
    """One rendering of a ward's pack (or a clinic's list for a day).

    The row exists before any work is done; its file is published under its
    SHA-256 only when complete, and the row says ready in the same step.
    """

    class Kind(models.TextChoices):
        WARD = "ward", _("Ward pack")
        CLINIC = "clinic", _("Clinic appointment list")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RENDERING = "rendering", _("Rendering")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class Reason(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled refresh")
        CHANGED = "changed", _("Mirror changed")
        REQUESTED = "requested", _("Requested by a user")
        COMMAND = "command", _("render_packs command")
        DOWNTIME = "downtime", _("Downtime declared")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    # The ward or clinic; kept as a title too, should the feed remove it.
    location = models.ForeignKey(
        "patients.Location",
        verbose_name=_("ward or clinic"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="packs",
    )
    title = models.CharField(_("title"), max_length=255)
    day = models.DateField(_("day"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=8)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    reason = models.CharField(_("reason"), max_length=10, choices=Reason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested at"))
    # When its task message was last sent: a queued pack whose message is
    # older than a task may run was lost (a restarted broker) and is sent again.
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    # Which process renders it ("host:pid"), to tell a dead worker's claim.
    worker = models.CharField(_("worker"), max_length=128, blank=True)
    # Refreshed every few seconds by the process rendering it: a claim whose
    # heartbeat stopped is taken back (services.packs_take_back).
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    as_of = models.DateTimeField(_("data as of"), null=True, blank=True)
    generated_at = models.DateTimeField(_("generated at"), null=True, blank=True)
    page_count = models.PositiveIntegerField(_("pages"), null=True, blank=True)
    patient_count = models.PositiveIntegerField(_("patients"), null=True, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    # Hash of what the pack shows, times aside: equal means nothing changed.
    content_digest = models.CharField(_("content digest"), max_length=64, blank=True)
    # Internal ids of the patients in it, for the access log of downloads.
    patients = models.JSONField(_("patients (internal ids)"), default=list, blank=True)
    # A ward pack's parts: the census's pages and each patient's, with the
    # hash of what they show (``documents.Document.index``).
    index = models.JSONField(_("parts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    # What the file is (printouts.signing), signed when it was published:
    # ward stations keep and open only files whose statement verifies.
    statement = models.TextField(_("signed statement"), blank=True)
    signature = models.CharField(_("signature"), max_length=128, blank=True)
    signing_key = models.CharField(_("signing key"), max_length=16, blank=True)
    # The downtime whose final set this pack belongs to: rendered at once,
    # at top priority, when it was declared (or just before a planned one).
    downtime = models.ForeignKey(
        "downtime.Downtime",
        verbose_name=_("downtime"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="packs",
    )

    class Meta:
        verbose_name = _("pack")
        verbose_name_plural = _("packs")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="ready")
                | (Q(page_count__gt=0) & Q(size__gt=0) & ~Q(sha256="")),
                name="printouts_ready_pack_has_its_file",
            ),
            models.CheckConstraint(
                condition=Q(kind="ward", day__isnull=True)
                | Q(kind="clinic", day__isnull=False),
                name="printouts_clinic_list_has_a_day",
            ),
        ]
        indexes = [
            models.Index(fields=["location", "kind", "status", "-generated_at"]),
            models.Index(fields=["status", "requested_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.title} #{self.pk}"

    @property
    def file_name(self) -> str:
        return f"{self.sha256}.pdf" if self.sha256 else ""


class PackPrint(models.Model):
    """A ward's pack printed from the clerk's page, in full or as the
    changes since the print before: what the ward's binder holds since.

    Append-only. It keeps the pack's parts (``Pack.index``) itself: the
    pack's row is pruned long before the binder is reprinted.
    """

    class Kind(models.TextChoices):
        FULL = "full", _("In full")
        CHANGES = "changes", _("Changes only")

    location = models.ForeignKey(
        "patients.Location",
        verbose_name=_("ward"),
        on_delete=models.CASCADE,
        related_name="pack_prints",
    )
    pack = models.ForeignKey(
        Pack,
        verbose_name=_("pack"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="prints",
    )
    pack_generated_at = models.DateTimeField(_("pack generated at"))
    kind = models.CharField(_("printed"), max_length=8, choices=Kind.choices)
    printed_at = models.DateTimeField(_("printed at"))
    printed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("printed by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The name stamped on the pages ("Printed by NAME at TIME").
    printed_by_name = models.CharField(_("name on the pages"), max_length=150)
    pages = models.PositiveIntegerField(_("pages"))
    index = models.JSONField(_("parts"), default=dict)

    class Meta:
        verbose_name = _("pack print")
        verbose_name_plural = _("pack prints")
        indexes = [models.Index(fields=["location", "-printed_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(pages__gt=0), name="printouts_a_print_has_pages"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.location_id} {self.printed_at}"


class PackSchedule(models.Model):
    """How often a ward's pack is rendered again when nothing changed."""

    location = models.OneToOneField(
        "patients.Location",
        verbose_name=_("ward or clinic"),
        on_delete=models.CASCADE,
        related_name="pack_schedule",
        limit_choices_to={"kind__in": ["ward", "clinic"]},
    )
    refresh_minutes = models.PositiveIntegerField(
        _("refresh every (minutes)"),
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )

    class Meta:
        verbose_name = _("pack schedule")
        verbose_name_plural = _("pack schedules")
        constraints = [
            models.CheckConstraint(
                condition=Q(refresh_minutes__gte=1, refresh_minutes__lte=24 * 60),
                name="printouts_refresh_between_a_minute_and_a_day",
            )
        ]

    def __str__(self) -> str:
        return str(self.location)


def paper_languages() -> list[tuple[str, str]]:
    """The languages paper can be printed in: the site's (read when the
    choices are shown, never at import)."""
    return settings.LANGUAGES


class WardLanguage(models.Model):
    """The language a ward's (or clinic's) paper is printed in, set by IT:
    its packs, clinic lists, label sheets and blank forms, whatever the
    browser of the person printing says.

    A row of its own, not a field of ``patients.Location``: the feeds own
    that row and overwrite it; no feed writes this one. A place without one
    prints in the hospital's language (``LANGUAGE_CODE``).
    """

    location = models.OneToOneField(
        "patients.Location",
        verbose_name=_("ward or clinic"),
        on_delete=models.CASCADE,
        related_name="ward_language",
        limit_choices_to={"kind__in": ["ward", "clinic"]},
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=paper_languages,
        help_text=_(
            "Packs, clinic lists, label sheets and blank forms of this ward or "
            "clinic are printed in this language, whatever the browser of the "
            "person printing says; the web pages keep each person's language. "
            "What the electronic record wrote (drug names, diagnoses, notes) is "
            "printed as it came. Its packs are rendered again within a minute. "
            "Without a language here, paper is in the hospital's language."
        ),
    )

    class Meta:
        verbose_name = _("ward language")
        verbose_name_plural = _("ward languages")

    def __str__(self) -> str:
        return f"{self.location}: {self.get_language_display()}"


class ReportPrinting(models.Model):
    """A ward whose packs print every recent report in full. Without one, a
    pack prints the conclusions of the last ``PACK_REPORT_DAYS`` days on at
    most a page per patient; the whole text is on the patient page.

    A row of its own, not a field of ``patients.Location``, for the reason
    ``WardLanguage`` gives."""

    location = models.OneToOneField(
        "patients.Location",
        verbose_name=_("ward"),
        on_delete=models.CASCADE,
        related_name="report_printing",
        limit_choices_to={"kind": "ward"},
    )
    full_text = models.BooleanField(
        _("print reports in full"),
        default=True,
        help_text=_(
            "The ward's packs print the whole text of every report and document "
            "of the last days, however many pages it takes. Its packs are "
            "rendered again within a minute."
        ),
    )

    class Meta:
        verbose_name = _("report printing")
        verbose_name_plural = _("report printing")

    def __str__(self) -> str:
        return str(self.location)


class Printout(models.Model):
    """A signed file that a ward keeps beside its packs: its label sheets, a
    blank downtime form, a block of downtime numbers as labels.

    Published like a pack (file first, under its SHA-256, then the row) and
    signed, so that ward stations keep and open it as they do packs. A new
    row only when what it shows changed (``content_digest``).
    """

    class Kind(models.TextChoices):
        LABELS = "labels", _("Patient label sheets")
        FORM = "form", _("Blank downtime form")
        NUMBERS = "numbers", _("Downtime number labels")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    # The ward (labels), the ward or department (numbers); none for a form.
    location = models.ForeignKey(
        "patients.Location",
        verbose_name=_("ward or clinic"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="printouts",
    )
    # Which form, or which block of numbers; "" for label sheets.
    key = models.CharField(_("which"), max_length=32, blank=True)
    title = models.CharField(_("title"), max_length=255)
    language = models.CharField(_("language"), max_length=8)
    as_of = models.DateTimeField(_("data as of"), null=True, blank=True)
    generated_at = models.DateTimeField(_("generated at"))
    page_count = models.PositiveIntegerField(_("pages"))
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    content_digest = models.CharField(_("content digest"), max_length=64)
    # Internal ids of the patients on it, for the access log.
    patients = models.JSONField(_("patients (internal ids)"), default=list, blank=True)
    statement = models.TextField(_("signed statement"))
    signature = models.CharField(_("signature"), max_length=128)
    signing_key = models.CharField(_("signing key"), max_length=16)

    class Meta:
        verbose_name = _("printout")
        verbose_name_plural = _("printouts")
        indexes = [
            models.Index(fields=["kind", "location", "key", "-generated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.title} #{self.pk}"

    @property
    def file_name(self) -> str:
        return f"{self.sha256}.pdf"
