"""The server's station API, over HTTPS with the station's token."""

from dataclasses import dataclass

import httpx

from downtime_station import __version__

API = "/station-api/v1/"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ServerError(Exception):
    """The server answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Manifest:
    changed: bool
    etag: str
    body: dict | None


def _client(server: str, *, token: str | None, ca_bundle: str | None) -> httpx.Client:
    headers = {"User-Agent": f"downtime-station/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=server,
        headers=headers,
        timeout=TIMEOUT,
        verify=ca_bundle or True,
        follow_redirects=False,
    )


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        message = response.json().get("error") or response.reason_phrase
    except ValueError:
        message = response.reason_phrase
    raise ServerError(f"{response.status_code}: {message}", response.status_code)


class Api:
    def __init__(
        self, server: str, *, token: str | None = None, ca_bundle=None
    ) -> None:
        self.http = _client(server, token=token, ca_bundle=ca_bundle)

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ServerError(
                f"the server cannot be reached ({type(error).__name__})"
            ) from None
        _raise_for(response)
        return response

    def enrol(self, code: str) -> dict:
        return self._send(
            "POST", API + "enrol", json={"code": code, "version": __version__}
        ).json()

    def manifest(self, etag: str = "") -> Manifest:
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        response = self._send("GET", API + "manifest", headers=headers)
        tag = response.headers.get("ETag", "").strip('"')
        if response.status_code == 304:
            return Manifest(False, tag, None)
        return Manifest(True, tag, response.json())

    def file(self, url: str) -> bytes:
        return self._send("GET", url).content

    def heartbeat(self, report: dict) -> dict:
        return self._send("POST", API + "heartbeat", json=report).json()
