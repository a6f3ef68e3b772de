"""Incremental pull from a FHIR R4 server.

For each mirrored type, in dependency order: search with
``_lastUpdated=ge<cursor>``, follow the ``next`` links, apply each page as it
comes. Then, for each type, read ``_history?_since=<cursor>`` for deletions:
a resource whose newest entry there is a DELETE leaves the mirror (a search
never returns what is gone). The new cursor is the server's own time when the
pull began (the first page's ``Bundle.meta.lastUpdated``, else its Date
header), saved only when every type went through, so a pull that fails is
simply done again from the old cursor; importing is idempotent, so overlap
costs nothing.
"""

import datetime as dt
import email.utils
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from patients.ingest import values
from patients.ingest.fhir import Importer, Summary
from patients.ingest.mappers import MAPPERS
from patients.ingest.references import Ref
from patients.ingest.sources import ORDER, Item, Unreadable, read_json

PULLED_TYPES = tuple(kind for kind in ORDER if kind in MAPPERS)
# SMART v2 scopes to read them (search and read), as a backend client.
PULL_SCOPES = " ".join(f"system/{kind}.rs" for kind in PULLED_TYPES)


class PullError(Exception):
    """The server could not be read; the message says which request failed."""


class PullStopped(Exception):
    """Told to stop between two pages (the feeds were cut meanwhile)."""


@dataclass
class Page:
    bundle: dict
    server_time: str


class BearerToken:
    """A fixed token (``FHIR_BEARER_TOKEN``), for servers that give one."""

    renews = False

    def __init__(self, token: str) -> None:
        self.token = token

    def authorization(self) -> str:
        return f"Bearer {self.token}"

    def refused(self, header: str) -> None:
        """Nothing to renew."""


class FhirClient:
    """GETs on one FHIR server. ``auth``: what gives the Authorization
    header (``BearerToken``, ``smart.SmartAuth``), None for none; a token
    that ``renews`` is asked for again once when the server answers 401."""

    def __init__(self, base_url: str, *, auth=None, timeout: int = 60) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise PullError("The FHIR base URL must be an http(s) URL with a host.")
        self.base_url = base_url.rstrip("/")
        self.origin = (parts.scheme, parts.netloc)
        self.auth = auth
        self.timeout = timeout

    def pages(self, resource_type: str, params: dict[str, str]) -> Iterator[Page]:
        url = f"{self.base_url}/{resource_type}?{urlencode(params)}"
        while url:
            page = self.get(url)
            yield page
            url = next(
                (
                    link.get("url")
                    for link in page.bundle.get("link") or []
                    if link.get("relation") == "next"
                ),
                None,
            )

    def get(self, url: str) -> Page:
        parts = urlsplit(url)
        # A next link may only lead back to the same server.
        if (parts.scheme, parts.netloc) != self.origin:
            raise PullError(
                f"The server sent a link to another address ({parts.netloc})."
            )
        where = f"GET {parts.path}"
        body, date = self._read(url, where)
        try:
            _text, bundle = read_json(body)
        except Unreadable as error:
            raise PullError(
                f"{where} did not answer with JSON that can be read: {error}."
            ) from None
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise PullError(f"{where} did not answer with a Bundle.")
        for element in ("entry", "link"):
            listed = bundle.get(element) or []
            if not isinstance(listed, list) or not all(
                isinstance(x, dict) for x in listed
            ):
                raise PullError(
                    f"{where} answered with a Bundle whose {element} is not a list "
                    "of objects."
                )
        server_time = _object(bundle.get("meta")).get("lastUpdated") or _http_date(date)
        return Page(bundle, server_time)

    def _read(self, url: str, where: str) -> tuple[bytes, str]:
        """The body and Date header of a GET."""
        with self.open(url, where=where) as response:
            return response.read(), response.headers.get("Date", "")

    def open(
        self,
        url: str,
        *,
        where: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ):
        """The server's answer to a request (a 1xx-3xx status), signed by
        ``auth`` unless told not to; a 401 to a token that renews is tried
        once more with a new one. Any other 4xx or 5xx raises HttpFailure."""
        renews = auth and getattr(self.auth, "renews", False)
        for attempt in (1, 2):
            sent = self.auth.authorization() if auth and self.auth else ""
            wanted = {"Accept": "application/fhir+json", **(headers or {})}
            if sent:
                wanted["Authorization"] = sent
            request = urllib.request.Request(url, headers=wanted, method=method)  # noqa: S310 - http(s), checked by the callers
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
            except urllib.error.HTTPError as error:
                if error.code == 401 and renews and attempt == 1:
                    self.auth.refused(sent)
                    continue
                raise HttpFailure(
                    _refused(where, error.code, self.auth if auth else None, renews),
                    status=error.code,
                    retry_after=error.headers.get("Retry-After", ""),
                    body=error.read(65536),
                ) from None
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise PullError(f"{where} failed: {reason}.") from None
        raise AssertionError("unreachable")


class HttpFailure(PullError):
    """The server answered a request with an HTTP error status."""

    def __init__(self, message: str, *, status: int, retry_after: str, body: bytes):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body


def _refused(where: str, status: int, auth, renewed: bool) -> str:
    """What a failed GET's status tells IT."""
    if status == 401 and renewed:
        return (
            f"{where} answered HTTP 401 to a new access token: the EHR gives this "
            "client tokens but does not accept them for its FHIR API."
        )
    if status == 401 and auth is not None:
        return f"{where} answered HTTP 401: the server refused FHIR_BEARER_TOKEN."
    if status == 401:
        return (
            f"{where} answered HTTP 401: the server asks for authorization "
            "(FHIR_CLIENT_ID for SMART Backend Services, or FHIR_BEARER_TOKEN)."
        )
    if status == 403:
        return (
            f"{where} answered HTTP 403: this client may not read it; check the "
            "scopes the EHR granted it (FHIR_SCOPES)."
        )
    return f"{where} answered HTTP {status}."


def fhir_pull(
    *,
    client: FhirClient,
    feed: str,
    since: str = "",
    page_size: int = 500,
    progress: Callable[[str, int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[Summary, str]:
    """Pull what changed since ``since`` (everything when empty).

    Returns the summary and the cursor for the next pull. ``stop`` is asked
    before each page is applied: true, and PullStopped is raised, the page
    and the rest left out.
    """
    importer = Importer(feed=feed, replace_sets=False)
    cursor = ""
    for kind in PULLED_TYPES:
        params = {"_count": str(page_size)}
        if since:
            params["_lastUpdated"] = f"ge{since}"
        for number, page in enumerate(client.pages(kind, params)):
            if stop and stop():
                raise PullStopped(f"stopped before {kind} page {number + 1}")
            cursor = cursor or page.server_time
            items = [
                Item(
                    f"{kind} page {number + 1} entry {index}",
                    json.dumps(entry.get("resource"), ensure_ascii=False),
                    entry.get("resource")
                    if isinstance(entry.get("resource"), dict)
                    else None,
                )
                for index, entry in enumerate(page.bundle.get("entry") or [], 1)
                if _object(entry.get("search")).get("mode") != "outcome"
            ]
            importer.apply(items)
            if progress:
                progress(kind, len(items))
    if since:
        for kind in PULLED_TYPES:
            importer.delete(deleted_since(client, kind, since, page_size))
    return importer.summary, resume_point(cursor)


def deleted_since(
    client: FhirClient, kind: str, since: str, page_size: int
) -> list[Ref]:
    """Resources of ``kind`` whose newest change since ``since`` is a deletion.

    A history bundle lists the newest entries first, so the first entry seen
    for an id is its current state: a resource deleted and then created again
    stays.
    """
    newest: dict[str, str] = {}
    params = {"_since": since, "_count": str(page_size)}
    for page in client.pages(f"{kind}/_history", params):
        for entry in page.bundle.get("entry") or []:
            request = _object(entry.get("request"))
            path = str(request.get("url") or "").split("?")[0].rstrip("/")
            parts = path.split("/")
            resource = entry.get("resource")
            if isinstance(resource, dict) and resource.get("id"):
                source_id = str(resource["id"])
            elif len(parts) >= 2 and parts[-2] == kind:
                source_id = parts[-1]
            else:
                continue  # a creation by POST without its resource: nothing to do
            newest.setdefault(source_id, str(request.get("method") or "").upper())
    return [Ref(kind, id=source_id) for source_id, m in newest.items() if m == "DELETE"]


def resume_point(server_time: str) -> str:
    """Millisecond UTC form (``2026-11-22T03:57:36.547Z``), which servers
    compare exactly."""
    try:
        moment = values.datetime(server_time, "server time") if server_time else None
    except values.Invalid:
        moment = None  # the server's clock said nothing usable: stay on the safe side
    if moment is None:
        moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _object(value) -> dict:
    """A JSON object where one is due; anything else reads as empty."""
    return value if isinstance(value, dict) else {}


def _http_date(header: str) -> str:
    if not header:
        return ""
    try:
        return email.utils.parsedate_to_datetime(header).isoformat()
    except (TypeError, ValueError):
        return ""
