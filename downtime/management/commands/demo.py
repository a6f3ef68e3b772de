import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.services import demo_accounts_ensure
from stations.services import station_demo_ensure


class Command(BaseCommand):
    help = (
        "Set up the demo hospital on this machine (database, demo accounts, "
        "demo data) and serve it. Refuses to run when PRODUCTION is true."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--addrport", default="127.0.0.1:8000", help="Where to serve the site."
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="Set up, then stop."
        )
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give the demo accounts new passwords and print them.",
        )

    def handle(
        self, *args, addrport: str, no_serve: bool, reset_passwords: bool, **options
    ) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                _(
                    "The demo creates accounts with printed passwords; "
                    "it never runs with PRODUCTION=true."
                )
            )
        self.stdout.write(_("Preparing the database..."))
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(_("Loading the demo hospital through the FHIR importer..."))
        call_command("seed_demo", stdout=self.stdout, stderr=self.stderr)
        credentials = demo_accounts_ensure(reset_passwords=reset_passwords)
        # Before the packs: its wards' label sheets are made with them.
        code = station_demo_ensure(user=User.objects.get(username="it"))
        self.stdout.write(_("Rendering the ward packs..."))
        call_command("render_packs", "--all", stdout=self.stdout, stderr=self.stderr)
        self._print_accounts(credentials)
        self._print_station(addrport, code)
        if no_serve:
            return
        self.stdout.write(
            self.style.SUCCESS(_("Serving the demo on http://%s/") % addrport)
        )
        call_command("runserver", addrport, use_reloader=False)

    def _print_station(self, addrport: str, code: str | None) -> None:
        """The demo's ward station: the one command that enrols and syncs it,
        to run in another terminal while the demo serves."""
        home = settings.DATA_DIR / "demo-station"
        program = Path(sys.executable).parent / "downtime-station"
        command = f"{program} --home {home}"
        if code is None:
            self.stdout.write(
                _(
                    "The demo ward station is enrolled; keep it current with "
                    "`%(command)s run`, open its page with `%(command)s open`."
                )
                % {"command": command}
            )
            return
        self.stdout.write(
            self.style.WARNING(
                _(
                    "A demo ward station waits to be enrolled. In another "
                    "terminal, while the demo serves:"
                )
            )
        )
        self.stdout.write(f"  {command} enrol http://{addrport} {code}")
        self.stdout.write(
            _(
                "Then see it on the readiness page, and open its packs without "
                "the server: `%(command)s open`."
            )
            % {"command": command}
        )

    def _print_accounts(self, credentials) -> None:
        if not credentials:
            self.stdout.write(
                _(
                    "Demo accounts exist already; their passwords were printed "
                    "when they were made. `manage.py demo --reset-passwords` "
                    "prints new ones."
                )
            )
            return
        self.stdout.write(
            self.style.WARNING(_("Demo accounts (shown only this once):"))
        )
        for credential in credentials:
            self.stdout.write(
                _("  %(role)-18s user %(username)-6s password %(password)s")
                % {
                    "role": credential.role.label,
                    "username": credential.username,
                    "password": credential.password,
                }
            )
