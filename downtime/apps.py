from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from patients.signals import patient_merged


class DowntimeConfig(AppConfig):
    name = "downtime"
    verbose_name = _("Downtime operations")

    def ready(self) -> None:
        patient_merged.connect(_merged, dispatch_uid="downtime-journal-merge")


def _merged(sender, *, merged, survivor, **kwargs) -> None:
    """The census journal's entries follow a patient merged into another."""
    from downtime.journal import journal_patient_merged

    journal_patient_merged(merged=merged, survivor=survivor)
