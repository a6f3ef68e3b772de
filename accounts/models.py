from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The roles of PRODUCT.md; each is a Django group named by its value."""

    NURSE = "nurse", _("Nurse")
    CLERK = "clerk", _("Ward clerk")
    IT = "it", _("IT administrator")


# Who may browse patient pages: nurses and IT. Clerks print packs.
NURSING = (Role.NURSE, Role.IT)


class WardMembership(models.Model):
    """A user may see this ward's (or clinic's) patients and packs."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="ward_memberships",
    )
    location = models.ForeignKey(
        "patients.Location",
        verbose_name=_("ward or clinic"),
        on_delete=models.CASCADE,
        related_name="+",
        limit_choices_to={"kind__in": ["ward", "clinic"]},
    )

    class Meta:
        verbose_name = _("ward membership")
        verbose_name_plural = _("ward memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "location"], name="accounts_one_membership_per_ward"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.location}"


class AccessLog(models.Model):
    """Who read or printed patient data, when, from where, and what came of it.

    Append-only: the application never changes or deletes a row, and on
    PostgreSQL a trigger refuses it (migration 0003).
    """

    class Action(models.TextChoices):
        CENSUS = "census", _("Ward census")
        PATIENT = "patient", _("Patient summary")
        CLINICAL_REPORT = "clinical_report", _("Report or document, full text")
        SEARCH = "search", _("Patient search")
        CLINIC = "clinic", _("Clinic appointments")
        PENDING_LABS = "pending_labs", _("Pending lab orders")
        DOWNLOAD = "download", _("Pack download")
        DOWNLOAD_ALL = "download_all", _("All packs as one ZIP")
        LABELS = "labels", _("Label sheets")
        TRANSFER = "transfer", _("Transfer summary")
        CHANGES = "changes", _("Pack of changes since the last print")
        CALLS = "calls", _("Postponement call list")
        JOURNAL = "journal", _("Census journal")
        RENDER = "render", _("Render requested")
        WORKLIST = "worklist", _("Recovery worklist")
        REPORT = "report", _("Downtime report")
        STATION_DOWNLOAD = "station_download", _("Downloaded by a ward station")
        STATION_OPEN = "station_open", _("Opened on a ward station")
        STATION_PRINT = "station_print", _("Printed on a ward station")
        PAGE = "page", _("Other page")
        HL7_MESSAGE = "hl7_message", _("Raw HL7 message (admin)")
        QUARANTINED = "quarantined", _("Quarantined FHIR resource (admin)")

    class Outcome(models.TextChoices):
        ALLOWED = "allowed", _("Allowed")
        DENIED = "denied", _("Denied")
        FAILED = "failed", _("Failed")

    # When it happened: now, or on a ward station, as its clock said.
    at = models.DateTimeField(
        _("at"), default=timezone.now, editable=False, db_index=True
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
    )
    username = models.CharField(_("user name"), max_length=150)
    roles = models.CharField(_("roles"), max_length=64, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    target = models.CharField(_("what"), max_length=128, blank=True)
    locations = models.JSONField(_("wards or clinics"), default=list, blank=True)
    patients = models.JSONField(_("patients (internal ids)"), default=list, blank=True)
    address = models.GenericIPAddressField(_("from address"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    # A ward station's downloads, and what people opened and printed on it
    # with the server gone (``username`` is then the name they typed there).
    station = models.ForeignKey(
        "stations.Station",
        verbose_name=_("ward station"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # The station's own id of an entry it logged, and when the server got it:
    # an upload sent twice is recorded once.
    station_entry = models.UUIDField(_("station's entry id"), null=True, blank=True)
    reported_at = models.DateTimeField(_("reported at"), null=True, blank=True)

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        indexes = [models.Index(fields=["user", "-at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "station_entry"],
                name="accounts_station_entry_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action}"
