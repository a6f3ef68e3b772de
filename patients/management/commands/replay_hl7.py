from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils.translation import gettext as _

from patients.ingest.hl7v2.inbox import hl7_replay
from patients.ingest.hl7v2.isolation import ISOLATED, feeds_isolated
from patients.management.report import FEED_CHECKS, progress_bar
from patients.models import InboundMessage

Status = InboundMessage.Status


class Command(BaseCommand):
    requires_system_checks = FEED_CHECKS
    help = (
        "Apply stored HL7 v2 messages again, in the order received, after the "
        "cause of their failure was fixed (a ward added to the mirror, say). By "
        "default every failed one and any left unapplied by a stop."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "ids", nargs="*", type=int, help="Only these inbox ids (any status)."
        )
        parser.add_argument(
            "--rejected",
            action="store_true",
            help="Also those rejected as unreadable (AR).",
        )
        parser.add_argument(
            "--isolated",
            action="store_true",
            help=(
                "Also those rejected because a downtime isolated the inbound "
                "feeds (once it is closed)."
            ),
        )

    def handle(
        self, *args, ids: list[int], rejected: bool, isolated: bool, **options
    ) -> None:
        if feeds_isolated(fresh=True):
            raise CommandError(
                _(
                    "The inbound feeds are isolated during a downtime: nothing was "
                    "replayed. Replay once IT has closed the downtime."
                )
            )
        if ids:
            chosen = InboundMessage.objects.filter(pk__in=ids)
            missing = set(ids) - set(chosen.values_list("pk", flat=True))
            if missing:
                raise CommandError(
                    _("No inbox message with id %(ids)s.")
                    % {"ids": ", ".join(map(str, sorted(missing)))}
                )
        else:
            wanted = Q(status__in=[Status.FAILED, Status.RECEIVED])
            if rejected:
                wanted |= Q(status=Status.REJECTED)
            if isolated:
                wanted |= Q(status=Status.REJECTED, error=ISOLATED)
            chosen = InboundMessage.objects.filter(wanted)
        chosen = chosen.order_by("pk")
        with progress_bar(
            self, total=chosen.count(), what=_("Replaying"), unit=_("messages")
        ) as bar:
            counts = hl7_replay(messages=chosen.iterator(), progress=bar.update)
        labels = dict(Status.choices)
        for status, number in sorted(counts.items()):
            self.stdout.write(f"{labels[status]}: {number}")
        if not counts:
            self.stdout.write(_("Nothing to replay."))
        if counts.get(Status.FAILED) or counts.get(Status.REJECTED):
            for inbox in InboundMessage.objects.filter(
                pk__in=[m.pk for m in chosen],
                status__in=[Status.FAILED, Status.REJECTED],
            ):
                self.stdout.write(f"#{inbox.pk} {inbox.message_type}: {inbox.error}")
            raise CommandError(_("Some messages still fail."))
