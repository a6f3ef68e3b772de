"""What the ingest commands print: a progress bar, then a summary table."""

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tqdm import tqdm

from patients.ingest.fhir import NOTED, Outcome, Summary

# The system checks a feed command runs: the models', not the URLs', whose
# views load the PDF stack (a second of start-up for a command that reads
# the feeds); the web and worker processes and `migrate` run them all.
FEED_CHECKS = [Tags.models]

COLUMNS = (
    (Outcome.NEW, gettext_lazy("new")),
    (Outcome.UPDATED, gettext_lazy("updated")),
    (Outcome.UNCHANGED, gettext_lazy("unchanged")),
    (Outcome.OLDER, gettext_lazy("older")),
    (Outcome.IGNORED, gettext_lazy("ignored")),
    (Outcome.QUARANTINED, gettext_lazy("quarantined")),
    (Outcome.DELETED, gettext_lazy("deleted")),
)


def progress_bar(
    command: BaseCommand, *, total: int | None, what: str, unit: str = ""
) -> tqdm:
    """A bar on the terminal (stderr); nothing when output goes to a file."""
    return tqdm(
        total=total,
        desc=what,
        unit=unit or _("resources"),
        disable=None,
        file=command.stderr._out,
        dynamic_ncols=True,
    )


def print_summary(command: BaseCommand, summary: Summary) -> None:
    """Per resource type, what happened; fails the command on quarantine."""
    labels = [str(label) for _, label in COLUMNS]
    width = max([len(_("resource type")), *(len(k) for k in summary.counts)])
    command.stdout.write(
        f"{_('resource type'):<{width}}  " + "  ".join(f"{x:>11}" for x in labels)
    )
    for kind in sorted(summary.counts):
        counter = summary.counts[kind]
        cells = "  ".join(f"{counter[outcome]:>11}" for outcome, _label in COLUMNS)
        command.stdout.write(f"{kind:<{width}}  {cells}")
    for note in summary.skipped:
        command.stdout.write(_("Skipped %(what)s") % {"what": note})
    print_refusals(command, summary)
    for kind, number in sorted(summary.shortened.items()):
        command.stdout.write(
            _(
                "%(number)d texts of %(type)s resources were longer than the mirror "
                "keeps: each was shortened and ends with […]."
            )
            % {"number": number, "type": kind}
        )
    for kind, number in sorted(summary.unresolved.items()):
        command.stdout.write(
            _(
                "%(number)d optional references of %(type)s resources are not in "
                "the mirror yet; those fields stay empty."
            )
            % {"number": number, "type": kind}
        )
    if summary.quarantined:
        raise CommandError(
            _(
                "%(number)d resources were quarantined with the reason; everything "
                "else was imported. See them in the admin (Quarantined resources), "
                "fix the cause, then run `manage.py replay_quarantine`."
            )
            % {"number": summary.quarantined}
        )
    command.stdout.write(command.style.SUCCESS(_("Done: nothing was quarantined.")))


def print_refusals(command: BaseCommand, summary: Summary) -> None:
    """Input refused before it was mapped (unreadable, or holding what the
    mirror cannot store), and the lists left as they were because of it."""
    for note in summary.refused:
        command.stdout.write(_("Not imported: %(what)s") % {"what": note})
    if len(summary.refused) >= NOTED:
        command.stdout.write(
            _("Only the first %(number)d are listed here; the admin lists them all.")
            % {"number": NOTED}
        )
    for kind, number in sorted(summary.removals_skipped.items()):
        command.stdout.write(
            _(
                "%(type)s: the source is complete, but what it no longer lists was "
                "not removed: %(number)d quarantined items may be on that list, "
                "and removing would lose them. Fix them at the source and import "
                "again."
            )
            % {"type": kind, "number": number}
        )
