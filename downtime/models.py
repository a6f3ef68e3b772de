from django.db import models
from django.utils.translation import gettext_lazy as _


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
