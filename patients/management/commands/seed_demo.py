import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.demo.hospital import demo_hospital
from patients.demo.pharmacy import pharmacy_messages
from patients.ingest.hl7v2.inbox import hl7_receive
from patients.ingest.sources import from_resources
from patients.management.report import print_summary, progress_bar
from patients.services import fhir_load_import


class Command(BaseCommand):
    help = (
        "Build the demo hospital (wards, beds, inpatients with their charts, "
        "clinics with a day of appointments) as FHIR resources and load them "
        "through the importer, then a few pharmacy orders as HL7 v2 messages "
        "through the listener's receiver. Deterministic for a seed within the "
        "same hour."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--wards", type=int, default=8)
        parser.add_argument("--beds", type=int, default=24, help="Beds per ward.")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, wards: int, beds: int, seed: int, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError(_("The demo hospital is never loaded in production."))
        now = timezone.now()
        resources = demo_hospital(wards=wards, beds=beds, seed=seed, now=now)
        load = from_resources(resources, origin="seed_demo")
        with progress_bar(self, total=len(resources), what=_("Loading")) as bar:
            summary = fhir_load_import(load=load, feed="demo", progress=bar.update)
        print_summary(self, summary)
        self._pharmacy(resources, now)

    def _pharmacy(self, resources: list[dict], now: dt.datetime) -> None:
        """The demo pharmacy's HL7 orders, each acknowledged AA or the
        command fails with the ACK's error."""
        sent = 0
        for raw in pharmacy_messages(resources, now=now):
            answer = hl7_receive(raw=raw, peer="seed_demo")
            if b"\rMSA|AA|" not in answer:
                raise CommandError(
                    _("A demo pharmacy message was not applied: %(ack)s")
                    % {"ack": answer.decode(errors="replace")}
                )
            sent += 1
        self.stdout.write(
            _("HL7 pharmacy messages applied: %(count)d") % {"count": sent}
        )
