from django.core.management.base import BaseCommand, CommandError

from printouts.published import signatures_renew
from printouts.signing import key_current, key_rotate, keys_chain


class Command(BaseCommand):
    help = (
        "Show the key that signs every file ward stations keep (made on first "
        "use under DATA_DIR/keys), or rotate it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Use a new key from now on, endorsed by the current one: "
            "stations follow it by themselves.",
        )
        parser.add_argument(
            "--break-chain",
            action="store_true",
            help="With --rotate, after the key was stolen: the new key is not "
            "endorsed, and every station must be enrolled again.",
        )

    def handle(self, *args, rotate: bool, break_chain: bool, **options) -> None:
        if break_chain and not rotate:
            raise CommandError("--break-chain goes with --rotate.")
        if rotate:
            key = key_rotate(endorse=not break_chain)
            renewed = signatures_renew()
            self.stdout.write(
                f"New signing key {key.key_id} in use; {renewed} packs and "
                "printouts signed again with it."
            )
            if break_chain:
                self.stdout.write(
                    self.style.WARNING(
                        "The chain is broken: enrol every ward station again "
                        "(a new code on the stations page); until then they "
                        "keep what they hold and take nothing new."
                    )
                )
        key = key_current()
        for entry in keys_chain():
            mark = "*" if entry["id"] == key.key_id else " "
            endorsed = (
                f"after {entry['previous']}" if entry["previous"] else "new chain"
            )
            self.stdout.write(
                f"{mark} {entry['id']} {entry['public_key']} "
                f"{entry['created_at']} ({endorsed})"
            )
