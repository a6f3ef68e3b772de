"""``downtime-station open``: a page on this PC that lists the packs it
holds, opens and prints them, with the server long gone.

It listens on 127.0.0.1 only, under a random path that only the browser it
opened knows, and answers only to that host name (a web page elsewhere
cannot reach it, even through DNS tricks). It asks the user's name before
showing anything, and logs every file opened or printed under that name.
"""

import datetime as dt
import html
import logging
import secrets
import threading
from collections.abc import Callable
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from downtime_station import audit
from downtime_station import config as settings
from downtime_station.i18n import _, set_language
from downtime_station.printing import PrintFailed, print_pdf
from downtime_station.store import Held, Refused, Store

logger = logging.getLogger("downtime_station")
COOKIE = "station_session"
STYLE = """
body { font-family: sans-serif; margin: 1.5rem; font-size: 1.25rem; color: #111; }
h1 { font-size: 1.8rem; } h2 { font-size: 1.6rem; margin: 1.5rem 0 .5rem;
  border-bottom: 3px solid #333; }
.copy { border: 2px solid #999; padding: .6rem 1rem; margin: .5rem 0; }
.copy.newest { border-color: #111; border-width: 4px; }
.as-of { font-size: 2rem; font-weight: 700; margin: .2rem 0; }
.age { font-size: 1.6rem; margin: .2rem 0; }
.banner { background: #b00020; color: #fff; padding: .6rem; font-size: 1.6rem;
  font-weight: 700; }
.drill { background: #1a4d8f; }
.error { color: #b00020; font-weight: 700; } .hint { color: #444; }
.done { color: #145a14; font-weight: 700; }
a.button, button { font-size: 1.4rem; padding: .5rem 1.4rem; margin-right: 1rem;
  border: 2px solid #111; background: #fff; color: #111; text-decoration: none;
  cursor: pointer; display: inline-block; }
button.print { background: #111; color: #fff; }
input[type=text] { font-size: 1.5rem; padding: .3rem; width: 20em; }
form.inline { display: inline; }
form.who { margin: .5rem 0; }
form.who button { font-size: 1rem; padding: .2rem .8rem; margin-left: .5rem; }
nav.contents { font-size: 1.3rem; line-height: 2; margin: 1rem 0; }
nav.contents a { color: #111; margin-right: .3rem; }
"""


class Viewer:
    """The page's state: where the files are, and who is at the keyboard."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.secret = secrets.token_urlsafe(24)
        self.people: dict[str, str] = {}  # session cookie: name typed
        self.notices: dict[str, tuple[str, str]] = {}  # session: (notice, error)
        self.lock = threading.Lock()

    def store(self) -> Store:
        return Store(self.home, settings.load(self.home).trusted)

    def find(self, item: str) -> Held | None:
        return next((h for h in self.store().held() if h.item == item), None)


def serve(home: Path, *, port: int = 0, on_ready: Callable[[str], None]) -> None:
    """Serve until interrupted; ``on_ready`` gets the page's URL."""
    viewer = Viewer(home)
    handler = type("Handler", (Handler,), {"viewer": viewer})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    handler.host = f"127.0.0.1:{server.server_address[1]}"
    on_ready(f"http://{handler.host}/{viewer.secret}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()


class Handler(BaseHTTPRequestHandler):
    viewer: Viewer
    host: str

    def log_message(self, format: str, *args) -> None:
        """The path holds the page's secret: log nothing of requests."""

    # Routing ----------------------------------------------------------------

    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        if route == "":
            self._list()
        elif route.startswith("open/"):
            self._open(route.removeprefix("open/"))
        else:
            self._send(404, "text/plain", b"not found")

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        form = self._form()
        if route == "name":
            self._set_name(form.get("name", ""))
        elif route == "leave":
            self._leave()
        elif route.startswith("print/"):
            self._print(route.removeprefix("print/"))
        else:
            self._send(404, "text/plain", b"not found")

    def _route(self) -> str | None:
        """The path under the secret prefix; None (answered) otherwise."""
        prefix = f"/{self.viewer.secret}/"
        if self.headers.get("Host") != self.host or not self.path.startswith(prefix):
            self._send(404, "text/plain", b"not found")
            return None
        return self.path.removeprefix(prefix).split("?")[0]

    def _form(self) -> dict[str, str]:
        length = min(int(self.headers.get("Content-Length") or 0), 10_000)
        body = self.rfile.read(length).decode("utf-8", errors="replace")
        return {key: values[0] for key, values in parse_qs(body).items()}

    # Who is at the keyboard -------------------------------------------------

    def _session(self) -> str:
        jar = cookies.SimpleCookie(self.headers.get("Cookie", ""))
        return jar[COOKIE].value if COOKIE in jar else ""

    def _person(self) -> str | None:
        return self.viewer.people.get(self._session())

    def _then_list(self, *, notice: str = "", error: str = "") -> None:
        """Back to the list, saying what happened: a reload of the list must
        not print again."""
        with self.viewer.lock:
            self.viewer.notices[self._session()] = (notice, error)
        self._redirect()

    def _set_name(self, name: str) -> None:
        name = " ".join(name.split())[:100]
        if len(name) < 2:
            self._page(self._name_form(error=True), status=400)
            return
        session = secrets.token_urlsafe(16)
        with self.viewer.lock:
            self.viewer.people[session] = name
        self._redirect(
            f"{COOKIE}={session}; HttpOnly; SameSite=Strict; "
            f"Path=/{self.viewer.secret}/"
        )

    def _leave(self) -> None:
        jar = cookies.SimpleCookie(self.headers.get("Cookie", ""))
        if COOKIE in jar:
            with self.viewer.lock:
                self.viewer.people.pop(jar[COOKIE].value, None)
        self._redirect(f"{COOKIE}=; Max-Age=0; Path=/{self.viewer.secret}/")

    # Pages ------------------------------------------------------------------

    def _list(self) -> None:
        person = self._person()
        if person is None:
            self._page(self._name_form())
            return
        with self.viewer.lock:
            notice, error = self.viewer.notices.pop(self._session(), ("", ""))
        state = settings.state(self.viewer.home)
        set_language(state.language)
        held = self.viewer.store().held()
        parts = [
            f"<h1>{_e(_('Downtime packs on this ward station'))}</h1>",
            f'<form class="who" method="post" action="leave">'
            f"{_e(_('Signed in as %(name)s') % {'name': person})} "
            f'<button type="submit">{_e(_("Not you?"))}</button></form>',
            _banner(state),
            _sync_line(state),
        ]
        if notice:
            parts.append(f'<p class="done" role="status">{_e(notice)}</p>')
        if error:
            parts.append(f'<p class="error" role="alert">{_e(error)}</p>')
        parts.append(_places(state, held))
        self._page("\n".join(parts))

    def _name_form(self, error: bool = False) -> str:
        set_language(settings.state(self.viewer.home).language)
        title = _e(_("Downtime packs on this ward station"))
        why = _e(_("Type your name: every file opened or printed is logged with it."))
        label = _e(_("Your name, as you sign the ward's papers:"))
        warning = f'<p class="error" role="alert">{why}</p>' if error else ""
        return (
            f"<h1>{title}</h1><h2>{_e(_('Who are you?'))}</h2>{warning}"
            f'<form method="post" action="name"><p><label for="name">{label}</label>'
            '<br><input type="text" id="name" name="name" autofocus required '
            'autocomplete="off"></p>'
            f'<p><button type="submit">{_e(_("Continue"))}</button></p></form>'
        )

    def _open(self, item: str) -> None:
        person = self._person()
        held = self.viewer.find(item)
        if person is None or held is None:
            self._redirect()
            return
        try:
            data = self.viewer.store().opened(held)
        except Refused as error:
            audit.record(
                self.viewer.home,
                person=person,
                action="open",
                item=item,
                outcome="refused",
                reason=str(error),
            )
            self._refused(str(error))
            return
        audit.record(self.viewer.home, person=person, action="open", item=item)
        self._send(200, "application/pdf", data, inline=f"{item}.pdf")

    def _print(self, item: str) -> None:
        person = self._person()
        held = self.viewer.find(item)
        if person is None or held is None:
            self._redirect()
            return
        home = self.viewer.home
        try:
            data = self.viewer.store().opened(held)
        except Refused as error:
            audit.record(
                home,
                person=person,
                action="print",
                item=item,
                outcome="refused",
                reason=str(error),
            )
            self._refused(str(error))
            return
        try:
            print_pdf(home, data, command=settings.load(home).print_command)
        except PrintFailed as error:
            self._then_list(error=_("Printing failed: %(error)s") % {"error": error})
            return
        audit.record(home, person=person, action="print", item=item)
        self._then_list(
            notice=_("Sent to the printer: %(title)s.") % {"title": _title(held)}
        )

    def _refused(self, reason: str) -> None:
        why = _("Refused: %(reason)s. Use another copy and tell IT.") % {
            "reason": reason
        }
        self._page(
            f"<h1>{_e(_('This file cannot be opened'))}</h1>"
            f'<p class="error" role="alert">{_e(why)}</p>'
            f'<p><a class="button" href="./">{_e(_("Back to the list"))}</a></p>',
            status=409,
        )

    # Answers ----------------------------------------------------------------

    def _page(self, body: str, status: int = 200) -> None:
        language = _e(settings.state(self.viewer.home).language)
        document = (
            f'<!doctype html><html lang="{language}">'
            '<head><meta charset="utf-8"><title>Downtime station</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>"
        )
        self._send(status, "text/html; charset=utf-8", document.encode())

    def _redirect(self, cookie: str = "") -> None:
        self.send_response(303)
        self.send_header("Location", f"/{self.viewer.secret}/")
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, kind: str, body: bytes, inline: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'",
        )
        if inline:
            self.send_header("Content-Disposition", f'inline; filename="{inline}"')
        self.end_headers()
        self.wfile.write(body)


def _e(text) -> str:
    return html.escape(str(text))


def _banner(state: settings.State) -> str:
    downtime = state.downtime
    if not downtime or downtime.get("state") != "downtime":
        return ""
    drill = downtime.get("drill")
    text = _("DRILL declared") if drill else _("DOWNTIME declared")
    return f'<p class="banner{" drill" if drill else ""}" role="status">{_e(text)}</p>'


def _sync_line(state: settings.State) -> str:
    if not state.last_sync_at:
        line = f'<p class="hint">{_e(_("Never synced with the server."))}</p>'
    else:
        moment = dt.datetime.fromisoformat(state.last_sync_at)
        line = (
            "<p>"
            + _e(
                _("Last sync with the server: %(time)s (%(age)s ago)")
                % {"time": _clock(moment), "age": _age(moment)}
            )
            + "</p>"
        )
    if state.last_error:
        error = _("Last error: %(error)s") % {"error": state.last_error}
        line += f'<p class="error">{_e(error)}</p>'
    return line


KIND_ORDER = {"ward": 0, "clinic": 0, "labels": 1, "numbers": 2, "form": 3}


def _places(state: settings.State, held: list[Held]) -> str:
    """Each ward and clinic with its packs (newest first), label sheets and
    downtime numbers; then the blank forms."""
    if not held:
        return f'<p class="error">{_e(_("Nothing is kept on this station yet."))}</p>'
    order = [place["id"] for place in state.places]
    by_place: dict = {}
    for entry in held:
        by_place.setdefault(entry.place, []).append(entry)
    ranked = sorted(
        by_place,
        key=lambda p: (p is None, order.index(p) if p in order else len(order)),
    )
    parts = [_contents(ranked, by_place)]
    for place in ranked:
        copies = sorted(
            by_place[place],
            key=lambda h: (
                KIND_ORDER.get(h.about["kind"], 9),
                str(h.slot),
                _moment(h.about) is None,
                -(
                    _moment(h.about) or dt.datetime.min.replace(tzinfo=dt.UTC)
                ).timestamp(),
            ),
        )
        heading = _heading(copies)
        parts.append(f'<h2 id="place-{place or "forms"}">{_e(heading)}</h2>')
        seen: set = set()
        for entry in copies:
            parts.append(_copy(entry, newest=entry.slot not in seen))
            seen.add(entry.slot)
    return "\n".join(parts)


def _contents(ranked: list, by_place: dict) -> str:
    """Links to each ward, clinic and the forms: a station may serve many."""
    if len(ranked) < 3:
        return ""
    links = [
        f'<a href="#place-{place or "forms"}">{_e(_heading(by_place[place]))}</a>'
        for place in ranked
    ]
    return f'<nav class="contents">{" · ".join(links)}</nav>'


def _heading(copies: list[Held]) -> str:
    location = copies[0].about.get("location")
    return location["name"] if location else _("Blank forms")


def _moment(about: dict) -> dt.datetime | None:
    """When its data was taken (as of), else when it was made."""
    text = about.get("as_of") or about.get("generated_at")
    return dt.datetime.fromisoformat(text) if text else None


def _copy(entry: Held, *, newest: bool) -> str:
    about = entry.about
    if about.get("unverified"):
        return (
            f'<div class="copy"><p class="error">{_e(_title(entry))}: '
            f"{_e(_('unverified'))}</p></div>"
        )
    rank = _("newest") if newest else _("older copy")
    size = _pages(about.get("pages", 0))
    if about.get("kind") in ("ward", "clinic", "labels"):
        size += ", " + _patients(about.get("patients", 0))
    lines = [f"<p>{_e(_title(entry, place=False))} · {_e(rank)} · {_e(size)}</p>"]
    if about.get("as_of"):
        as_of = dt.datetime.fromisoformat(about["as_of"])
        when = _("Data as of %(time)s") % {"time": _clock(as_of)}
        lines.append(f'<p class="as-of">{_e(when)}</p>')
        lines.append(
            f'<p class="age">{_e(_("%(age)s old") % {"age": _age(as_of)})}</p>'
        )
    return (
        f'<div class="copy{" newest" if newest else ""}">{"".join(lines)}'
        f'<a class="button" href="open/{_e(entry.item)}" target="_blank">'
        f"{_e(_('Open'))}</a>"
        f'<form class="inline" method="post" action="print/{_e(entry.item)}">'
        f'<button type="submit" class="print">{_e(_("Print"))}</button></form></div>'
    )


def _pages(count: int) -> str:
    return _("1 page") if count == 1 else _("%(count)s pages") % {"count": count}


def _patients(count: int) -> str:
    if count == 1:
        return _("1 patient")
    return _("%(count)s patients") % {"count": count}


def _title(entry: Held, *, place: bool = True) -> str:
    """What it is; with its ward or clinic unless the heading says it."""
    about = entry.about
    kind = about.get("kind")
    if kind == "form":
        return about.get("title") or _("Blank form")
    if kind == "clinic":
        day = dt.date.fromisoformat(about["day"]).strftime("%d/%m/%Y")
        what = _("Clinic list of %(day)s") % {"day": day}
    elif kind == "labels":
        what = _("Label sheets")
    elif kind == "numbers":
        what = _("Downtime numbers %(range)s") % {"range": about.get("title", "")}
    else:
        what = _("Ward pack")
    if not place:
        return what
    return f"{(about.get('location') or {}).get('name', '?')} · {what}"


def _clock(moment: dt.datetime) -> str:
    """In this PC's own time zone, with the date: outages last weeks."""
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def _age(moment: dt.datetime) -> str:
    minutes = max(0, int((dt.datetime.now(dt.UTC) - moment).total_seconds() // 60))
    days, hours = minutes // 1440, minutes % 1440 // 60
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {
            "hours": hours,
            "minutes": minutes % 60,
        }
    return _("%(minutes)d min") % {"minutes": minutes}
