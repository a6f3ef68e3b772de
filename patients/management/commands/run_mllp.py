import asyncio

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from patients.ingest.hl7v2.mllp import Listener
from patients.management.report import FEED_CHECKS


class Command(BaseCommand):
    requires_system_checks = FEED_CHECKS
    help = (
        "Listen for HL7 v2 messages over MLLP (the interface engine's real-time "
        "feed): store each one, apply it to the mirror, then acknowledge it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind.")
        parser.add_argument("--port", type=int, default=2575, help="TCP port.")
        parser.add_argument(
            "--workers",
            type=int,
            default=4,
            help="Threads serving connections, each applying one message at a "
            "time; more connections share them.",
        )

    def handle(self, *args, host: str, port: int, workers: int, **options) -> None:
        def ready(address: str) -> None:
            self.stdout.write(
                _("Listening for HL7 v2 over MLLP on %(address)s")
                % {"address": address}
            )
            self.stdout.flush()

        asyncio.run(Listener(host, port, workers).serve(ready))
        self.stdout.write(_("Stopped."))
