import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from patients.ingest.pull import (
    PULL_SCOPES,
    PULLED_TYPES,
    FhirClient,
    HttpFailure,
    PullError,
)
from patients.ingest.smart import SmartAuth, fhir_auth
from patients.ingest.sources import Unreadable, read_json


class Command(BaseCommand):
    help = (
        "Check the connection to the EHR's FHIR API as pull_fhir makes it: the "
        "server, the sign-in, each type the mirror reads, Bulk Data export. "
        "Reads one resource of each type at most; changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url", default="", help="FHIR base URL (default: FHIR_BASE_URL)."
        )

    def handle(self, *args, base_url, **options) -> None:
        base_url = base_url or settings.FHIR_BASE_URL
        if not base_url:
            raise CommandError(_("Set FHIR_BASE_URL or give --base-url."))
        self.failed = 0
        try:
            auth = fhir_auth(base_url, PULL_SCOPES)
        except PullError as error:
            self._line(_("Sign-in"), error)
            raise CommandError(_("The connection does not work.")) from None
        client = FhirClient(base_url, auth=auth, timeout=settings.FHIR_TIMEOUT)
        statement = self._check(
            _("Server"), lambda: _capabilities(client), _describe_server
        )
        signed = self._check(_("Sign-in"), lambda: _sign_in(auth), str)
        for kind in PULLED_TYPES:
            if signed is None:
                self._line(kind, _("not checked: no sign-in"))
                continue
            self._check(
                kind,
                lambda kind=kind: client.get(f"{client.base_url}/{kind}?_count=1"),
                lambda page: _("can be read"),
            )
        if statement is not None:
            self._line(_("Bulk Data export"), _export_offered(statement))
        if self.failed:
            raise CommandError(
                ngettext(
                    "%(count)d of the checks above failed.",
                    "%(count)d of the checks above failed.",
                    self.failed,
                )
                % {"count": self.failed}
            )
        self.stdout.write(_("The connection works."))

    def _check(self, what: str, step, describe):
        try:
            result = step()
        except PullError as error:
            self.failed += 1
            self._line(what, _("FAILED: %(error)s") % {"error": error})
            return None
        self._line(what, describe(result))
        return result

    def _line(self, what: str, text) -> None:
        self.stdout.write(f"{what:<20} {text}")


def _capabilities(client: FhirClient) -> dict:
    """The CapabilityStatement: asked for without signing in first (servers
    usually publish it), then signed in if the server wants that."""
    where = "GET /metadata"
    url = f"{client.base_url}/metadata"
    try:
        with client.open(url, where=where, auth=False) as response:
            body = response.read()
    except HttpFailure as failure:
        if failure.status not in (401, 403):
            raise
        with client.open(url, where=where) as response:
            body = response.read()
    try:
        _text, statement = read_json(body)
    except Unreadable as error:
        raise PullError(f"{where} did not answer with JSON: {error}.") from None
    if not isinstance(statement, dict) or (
        statement.get("resourceType") != "CapabilityStatement"
    ):
        raise PullError(f"{where} did not answer with a CapabilityStatement.")
    return statement


def _describe_server(statement: dict) -> str:
    software = statement.get("software")
    name = software.get("name") if isinstance(software, dict) else ""
    return _("FHIR %(version)s (%(software)s)") % {
        "version": statement.get("fhirVersion") or "?",
        "software": name or _("software not named"),
    }


def _sign_in(auth) -> str:
    if auth is None:
        return _("none (neither FHIR_CLIENT_ID nor FHIR_BEARER_TOKEN is set)")
    if not isinstance(auth, SmartAuth):
        return _("a fixed token (FHIR_BEARER_TOKEN)")
    auth.authorization()
    return _("SMART Backend Services: a token from %(url)s, for %(seconds)d s") % {
        "url": auth.token_url,
        "seconds": int(auth.expires_at - time.time()),
    }


def _export_offered(statement: dict) -> str:
    """Whether the CapabilityStatement announces ``$export`` (a server may
    offer it without saying so: ``pull_fhir --bulk`` then finds out)."""
    for rest in statement.get("rest") or []:
        if not isinstance(rest, dict):
            continue
        operations = list(rest.get("operation") or [])
        for resource in rest.get("resource") or []:
            if isinstance(resource, dict):
                operations += resource.get("operation") or []
        for operation in operations:
            if isinstance(operation, dict) and "export" in str(
                operation.get("name", "")
            ):
                return _("announced by the server (pull_fhir --bulk)")
    return _("not announced; pull_fhir --bulk tries it and falls back to search")
