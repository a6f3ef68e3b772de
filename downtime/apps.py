from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from patients.isolation import isolation_source_register
from patients.signals import patient_merged
from printouts.marking import marking_source_register


class DowntimeConfig(AppConfig):
    name = "downtime"
    verbose_name = _("Downtime operations")

    def ready(self) -> None:
        patient_merged.connect(_merged, dispatch_uid="downtime-journal-merge")
        # The app that declares downtimes drives the one that prints: packs
        # learn from here what to say of a downtime; printouts imports
        # nothing of this app.
        from downtime.selectors import downtime_feeds_isolated, downtime_marking_now

        marking_source_register(downtime_marking_now)
        # Likewise the feeds ask this app whether a downtime cut them.
        isolation_source_register(downtime_feeds_isolated)


def _merged(sender, *, merged, survivor, **kwargs) -> None:
    """The census journal's entries follow a patient merged into another."""
    from downtime.journal import journal_patient_merged

    journal_patient_merged(merged=merged, survivor=survivor)
