"""Bulk Data Access ``$export`` (FHIR Bulk Data IG 2.0): what changed on
the EHR since the last export, as NDJSON files.

An export is asked for (the kick-off: ``Prefer: respond-async``, the types
the mirror keeps, ``_since`` the last export's ``transactionTime``), its
status polled as the server says (``Retry-After``, with ``X-Progress`` shown
as it comes), then its files downloaded (gzip accepted) beside a manifest
of our own that names them locally, which the Bulk NDJSON importer reads as
it reads a folder IT exports by hand: the output imported, the ``deleted``
entries applied. The export's ``transactionTime`` is the next resume point,
kept only once everything is imported. 429 and 5xx answers are tried again
after the server's ``Retry-After`` or a growing pause; an export given up
(stopped, failed, out of time) is cancelled on the server (``DELETE``).

A server that cannot export (no ``$export``, no ``_since``, no such group)
says so at the kick-off: ``NotSupported``, and the caller pulls by search.
"""

import contextlib
import email.utils
import gzip
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urljoin, urlsplit

from patients.ingest.pull import FhirClient, HttpFailure, PullError, PullStopped
from patients.ingest.sources import Unreadable, read_json

# Statuses tried again, after Retry-After or a growing pause.
TRANSIENT = {429, 500, 502, 503, 504}
TRIES = 6
# Bounds on a Retry-After the client obeys (seconds).
SHORTEST, LONGEST = 1.0, 300.0
NDJSON = "application/fhir+ndjson"


class NotSupported(PullError):
    """The server cannot make this export; the message says what it lacks."""


@dataclass
class Export:
    """A finished export, downloaded."""

    transaction_time: str
    folder: Path  # its files and our manifest.json, for the importer
    files: int
    size: int  # bytes downloaded, uncompressed
    errors: int  # OperationOutcome lines the server reported
    seconds: float


class BulkExport:
    """One ``$export`` against ``client``'s server, downloaded into
    ``folder``. ``progress(text)``: what the server says of its progress, and
    each file as it is downloaded; ``stop()``: asked between polls (true:
    the export is cancelled and PullStopped raised)."""

    def __init__(
        self,
        client: FhirClient,
        folder: Path,
        *,
        max_seconds: float,
        progress: Callable[[str], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.client = client
        self.folder = folder
        self.max_seconds = max_seconds
        self.progress = progress or (lambda text: None)
        self.stop = stop or (lambda: False)

    def run(
        self,
        *,
        types: list[str],
        since: str = "",
        group: str = "",
        patients: bool = False,
    ) -> Export:
        """Export ``types`` changed ``since``: every resource (system level),
        ``patients``' compartments (patient level) or ``group``'s."""
        started = time.monotonic()
        status_url = self._kick_off(types, since, group, patients)
        try:
            manifest = self._poll(status_url, started)
            export = self._download(manifest, started)
        except BaseException:
            self._cancel(status_url)
            raise
        self._cancel(status_url)  # done with: the server may drop the files
        return export

    # Kick-off ----------------------------------------------------------------

    def _kick_off(
        self, types: list[str], since: str, group: str, patients: bool
    ) -> str:
        base = self.client.base_url
        path = "/$export"
        if group:
            path = f"/Group/{quote(group, safe='')}/$export"
        elif patients:
            path = "/Patient/$export"
        params = {"_type": ",".join(types), "_outputFormat": NDJSON}
        if since:
            params["_since"] = since
        where = f"$export kick-off ({path})"
        try:
            with self._retried(
                f"{base}{path}?{urlencode(params)}",
                where=where,
                headers={"Prefer": "respond-async"},
            ) as response:
                status = response.status
                location = response.headers.get("Content-Location", "")
        except HttpFailure as failure:
            raise self._unsupported(failure, since, group) or failure from None
        location = urljoin(f"{base}/", location) if location else ""
        if status != 202 or not location:
            raise NotSupported(
                f"{where} answered HTTP {status} without a status URL "
                "(Content-Location): the server does not export asynchronously."
            )
        if urlsplit(location).netloc != urlsplit(base).netloc:
            raise PullError(f"{where} gave a status URL on another address.")
        return location

    def _unsupported(
        self, failure: HttpFailure, since: str, group: str
    ) -> NotSupported | None:
        """What a refused kick-off says the server lacks, if it is that."""
        said = _outcome_text(failure.body)
        if failure.status in (404, 405, 501) and not group:
            return NotSupported(
                f"The server does not offer this Bulk Data export (HTTP "
                f"{failure.status}{said})."
            )
        if failure.status == 404 and group:
            return NotSupported(
                f"The server has no group {group} to export (HTTP 404{said})."
            )
        if failure.status == 400 and since and "_since" in said:
            return NotSupported(
                f"The server cannot export what changed since a time (_since{said})."
            )
        if failure.status in (400, 422) and group and "group" in said.lower():
            return NotSupported(
                f"The server cannot export a group ({said.strip(': ')})."
            )
        return None

    # Status ------------------------------------------------------------------

    def _poll(self, status_url: str, started: float) -> dict:
        where = "the $export status"
        while True:
            if self.stop():
                raise PullStopped("stopped while the server was exporting")
            if time.monotonic() - started > self.max_seconds:
                raise PullError(
                    f"The export took longer than {self.max_seconds / 3600:.1f} h "
                    "(FHIR_BULK_MAX_HOURS): cancelled."
                )
            try:
                with self._retried(
                    status_url, where=where, headers={"Accept": "application/json"}
                ) as response:
                    if response.status == 202:
                        self.progress(response.headers.get("X-Progress", "")[:100])
                        pause = _pause(response.headers.get("Retry-After", ""), 5.0)
                        body = None
                    else:
                        body = response.read()
            except HttpFailure as failure:
                raise PullError(
                    f"The server's export failed (HTTP {failure.status}"
                    f"{_outcome_text(failure.body)})."
                ) from None
            if body is None:
                time.sleep(pause)
                continue
            try:
                _text, manifest = read_json(body)
            except Unreadable as error:
                raise PullError(f"{where} is not a manifest: {error}.") from None
            if not isinstance(manifest, dict) or not isinstance(
                manifest.get("transactionTime"), str
            ):
                raise PullError(f"{where} is not a manifest (no transactionTime).")
            return manifest

    # Files -------------------------------------------------------------------

    def _download(self, manifest: dict, started: float) -> Export:
        self.folder.mkdir(parents=True, exist_ok=True)
        token = manifest.get("requiresAccessToken") is True
        local = {"output": [], "deleted": [], "error": []}
        size = errors = 0
        for part in local:
            entries = manifest.get(part)
            if not isinstance(entries, list):
                entries = []
            for number, entry in enumerate(entries, 1):
                if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                    raise PullError(
                        f"The manifest's {part} lists an entry without a URL."
                    )
                kind = str(entry.get("type") or "Resource")
                name = f"{part}.{number}.ndjson"
                if part == "output":
                    name = f"{kind}.{number}.ndjson"
                self.progress(f"{kind} {number}/{len(entries)}")
                size += self._fetch(entry["url"], self.folder / name, token=token)
                if part == "error":
                    errors += _lines(self.folder / name)
                else:
                    local[part].append({"type": kind, "url": name})
        (self.folder / "manifest.json").write_text(
            json.dumps(
                {
                    "transactionTime": manifest["transactionTime"],
                    "request": str(manifest.get("request") or ""),
                    "requiresAccessToken": token,
                    **local,
                }
            )
        )
        return Export(
            transaction_time=manifest["transactionTime"],
            folder=self.folder,
            files=len(local["output"]) + len(local["deleted"]),
            size=size,
            errors=errors,
            seconds=time.monotonic() - started,
        )

    def _fetch(self, url: str, path: Path, *, token: bool) -> int:
        """Download ``url`` into ``path`` (gunzipped); its size."""
        url = urljoin(f"{self.client.base_url}/", url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PullError("The manifest lists a file that is not an http(s) URL.")
        same = parts.netloc == urlsplit(self.client.base_url).netloc
        if token and not same:
            # The access token goes to the FHIR server only.
            raise PullError(
                f"The manifest asks for the access token to be sent to another "
                f"address ({parts.netloc}) for its files: refused."
            )
        where = f"GET {parts.path}"
        headers = {"Accept": NDJSON, "Accept-Encoding": "gzip"}
        with self._retried(url, where=where, headers=headers, auth=token) as response:
            stream = response
            if response.headers.get("Content-Encoding", "").lower() == "gzip":
                stream = gzip.GzipFile(fileobj=response)
            try:
                with path.open("wb") as output:
                    shutil.copyfileobj(stream, output, 1 << 20)
            except (OSError, EOFError) as error:
                raise PullError(f"{where} could not be read whole: {error}.") from None
        return path.stat().st_size

    # Requests ----------------------------------------------------------------

    @contextlib.contextmanager
    def _retried(self, url: str, *, where: str, headers: dict, auth: bool = True):
        """``client.open``, with 429 and 5xx answers tried again."""
        for attempt in range(1, TRIES + 1):
            try:
                response = self.client.open(
                    url, where=where, headers=headers, auth=auth
                )
            except HttpFailure as failure:
                if failure.status not in TRANSIENT or attempt == TRIES:
                    raise
                time.sleep(_pause(failure.retry_after, min(2.0**attempt, 60.0)))
                continue
            with response:
                yield response
            return

    def _cancel(self, status_url: str) -> None:
        """DELETE the export on the server; whatever it answers."""
        with (
            contextlib.suppress(PullError),
            self.client.open(status_url, where="cancel", method="DELETE"),
        ):
            pass


def _pause(retry_after: str, default: float) -> float:
    """Seconds to wait, from a Retry-After of seconds or an HTTP date."""
    seconds = default
    if retry_after.strip().isdigit():
        seconds = float(retry_after.strip())
    elif retry_after:
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(retry_after)
            seconds = when.timestamp() - time.time()
    return min(max(seconds, SHORTEST), LONGEST)


def _outcome_text(body: bytes) -> str:
    """An OperationOutcome's diagnostics, shortened, as ": ..." (or "")."""
    try:
        _text, outcome = read_json(body)
    except Unreadable:
        return ""
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    said = [
        str(issue.get("diagnostics") or issue.get("code") or "")
        for issue in issues or []
        if isinstance(issue, dict)
    ]
    text = "; ".join(part for part in said if part)[:300]
    return f": {text}" if text else ""


def _lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.strip())
