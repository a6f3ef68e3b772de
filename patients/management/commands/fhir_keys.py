import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from patients.ingest import smart


class Command(BaseCommand):
    help = (
        "The key this server signs in to the EHR's FHIR API with (SMART Backend "
        "Services): made the first time, kept outside the database; prints the "
        "public key set to register with the EHR."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--alg",
            choices=smart.ALGORITHMS,
            default="RS384",
            help="Algorithm of a key made now (default RS384).",
        )
        parser.add_argument(
            "--new",
            action="store_true",
            help="Make a new key that signs from now on; the old ones stay "
            "published until retired.",
        )
        parser.add_argument(
            "--retire", metavar="KID", help="Delete a key that no longer signs."
        )
        parser.add_argument(
            "--jwks",
            action="store_true",
            help="Print only the public key set (JSON), to register with the EHR.",
        )

    def handle(self, *args, alg, new, retire, jwks, **options) -> None:
        if jwks:
            if not smart.client_keys():
                raise CommandError(_("There is no key yet: run `fhir_keys` first."))
            self.stdout.write(json.dumps(smart.jwks(), indent=2))
            return
        if retire:
            if not smart.key_retire(retire):
                raise CommandError(
                    _("%(kid)s is not a key kept here, or it is the one signing.")
                    % {"kid": retire}
                )
            self.stdout.write(_("Key %(kid)s deleted.") % {"kid": retire})
            return
        if new or not smart.client_keys():
            key = smart.key_new(alg)
            self.stdout.write(
                _("Made a %(alg)s key, %(kid)s, in %(folder)s.")
                % {"alg": alg, "kid": key.kid, "folder": smart.key_dir()}
            )
        keys = smart.client_keys()
        self.stdout.write(
            ngettext(
                "Signing with %(kid)s (%(alg)s); %(count)d key published.",
                "Signing with %(kid)s (%(alg)s); %(count)d keys published.",
                len(keys),
            )
            % {
                "kid": keys[-1].kid,
                "alg": keys[-1].get("alg"),
                "count": len(keys),
            }
        )
        self.stdout.write(
            _(
                "Register the public keys with the EHR as this client's JWKS: "
                "`manage.py fhir_keys --jwks` prints them, and this server "
                "serves them at /.well-known/jwks.json."
            )
        )
