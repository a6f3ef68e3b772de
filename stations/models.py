from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Station(models.Model):
    """A ward PC that keeps its wards' newest packs, signed and encrypted,
    for when the server, the network and the EHR are all gone.

    IT makes the row and hands out a one-time enrolment code; the station
    exchanges it for a token. Only hashes of both are kept. A revoked
    station stays, for the record; another row replaces it.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    locations = models.ManyToManyField(
        "patients.Location",
        verbose_name=_("wards and clinics"),
        related_name="stations",
        limit_choices_to={"kind__in": ["ward", "clinic"]},
    )
    notes = models.TextField(
        _("notes"), blank=True, help_text=_("Where it stands, its printer, its UPS.")
    )
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # SHA-256 of the one-time enrolment code, until it is used or expires.
    code_hash = models.CharField(_("enrolment code hash"), max_length=64, blank=True)
    code_expires_at = models.DateTimeField(
        _("enrolment code expires at"), null=True, blank=True
    )
    # SHA-256 of the station's token: what its requests are known by.
    token_hash = models.CharField(
        _("token hash"), max_length=64, null=True, blank=True, unique=True
    )
    enrolled_at = models.DateTimeField(_("enrolled at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # What it last said of itself (its heartbeat).
    last_seen_at = models.DateTimeField(_("last heard from"), null=True, blank=True)
    address = models.GenericIPAddressField(_("from address"), null=True, blank=True)
    version = models.CharField(_("program version"), max_length=32, blank=True)
    free_disk = models.PositiveBigIntegerField(
        _("free disk (bytes)"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    # What it holds: per file it verified, the item and its SHA-256, as the
    # server's own rows describe them (stations.services.station_heartbeat).
    holdings = models.JSONField(_("holds"), default=list, blank=True)
    holdings_at = models.DateTimeField(_("holdings reported at"), null=True, blank=True)

    class Meta:
        verbose_name = _("ward station")
        verbose_name_plural = _("ward stations")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(token_hash__isnull=True),
                name="stations_revoked_has_no_token",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
