"""``downtime-station``: enrol, sync, run, open, status, configure."""

import argparse
import datetime as dt
import logging
import sys
import webbrowser

from downtime_station import __version__, audit
from downtime_station import config as settings
from downtime_station import home as files
from downtime_station import sync as syncing
from downtime_station.client import ServerError
from downtime_station.store import Store
from downtime_station.viewer import serve

logger = logging.getLogger("downtime_station")


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request
    home = files.home_path(arguments.home)
    try:
        return arguments.command(home, arguments) or 0
    except settings.NotEnrolled as error:
        print(error, file=sys.stderr)
        return 2
    except ServerError as error:
        print(f"downtime-station: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a malformed address or setting
        print(f"downtime-station: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="downtime-station",
        description="Keep this ward's downtime packs, signed and encrypted, "
        "and open and print them with the server gone.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--home",
        help=f"the station's folder (default: ${files.ENVIRONMENT}, else "
        f"{files.default_home()})",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    enrol = commands.add_parser("enrol", help="exchange IT's one-time code for a token")
    enrol.add_argument("url", help="the server, https://...")
    enrol.add_argument("code", help="the enrolment code from the stations page")
    enrol.add_argument("--ca-bundle", help="the hospital's CA certificates (PEM)")
    enrol.add_argument("--no-sync", action="store_true", help="enrol only; sync later")
    enrol.set_defaults(command=_enrol)

    sync = commands.add_parser("sync", help="fetch what changed, once")
    sync.set_defaults(command=_sync)

    run = commands.add_parser("run", help="sync forever (a scheduled task, a service)")
    run.set_defaults(command=_run)

    show = commands.add_parser(
        "open", help="the page that opens and prints the packs, server or not"
    )
    show.add_argument("--port", type=int, default=0, help="on 127.0.0.1 (default: any)")
    show.add_argument(
        "--no-browser", action="store_true", help="print the page's address only"
    )
    show.set_defaults(command=_open)

    status = commands.add_parser("status", help="what this station holds, and how old")
    status.set_defaults(command=_status)

    configure = commands.add_parser("configure", help="change the station's settings")
    configure.add_argument(
        "--print-command",
        help='how to print a PDF, "{file}" standing for its path (e.g. '
        '"lp -d ward3a {file}"); "system" for the default (lp, or Windows\' '
        "default printer)",
    )
    configure.add_argument("--ca-bundle", help="the hospital's CA certificates (PEM)")
    configure.set_defaults(command=_configure)
    return parser


def _enrol(home, arguments) -> int:
    config = syncing.enrol(
        home, server=arguments.url, code=arguments.code, ca_bundle=arguments.ca_bundle
    )
    print(f"Enrolled as {config.station_name!r} with {config.server}; keeping {home}")
    if arguments.no_sync:
        return 0
    status = _sync(home, arguments)
    print(
        "Next: keep it current with `downtime-station run` (a scheduled task or "
        "a service), and try `downtime-station open`."
    )
    return status


def _sync(home, arguments) -> int:
    outcome = syncing.sync(home, force_heartbeat=True)
    print(
        f"kept {len(outcome.kept)}, refused {len(outcome.refused)}, "
        f"dropped {outcome.dropped}" + ("" if outcome.changed else " (nothing changed)")
    )
    for line in outcome.refused:
        print(f"refused: {line}", file=sys.stderr)
    return 1 if outcome.refused else 0


def _run(home, arguments) -> int:
    settings.load(home)  # enrolled, or say so now
    syncing.run(home)
    return 0


def _open(home, arguments) -> int:
    settings.load(home)

    def ready(url: str) -> None:
        print(f"The station's page: {url}  (Ctrl-C to stop)", flush=True)
        if not arguments.no_browser:
            webbrowser.open(url)

    serve(home, port=arguments.port, on_ready=ready)
    return 0


def _status(home, arguments) -> int:
    config = settings.load(home)
    state = settings.state(home)
    print(f"{config.station_name} ({config.server}), folder {home}")
    print(f"last sync {state.last_sync_at or 'never'}")
    print(f"last error: {state.last_error or '-'}")
    now = dt.datetime.now(dt.UTC)
    for held in Store(home, config.trusted).held():
        about = held.about
        if about.get("unverified"):
            print(f"  {held.item}: UNVERIFIED, will not open")
            continue
        place = (about.get("location") or {}).get("name", about.get("title", ""))
        what = f"{place[:32]:<32} {about['kind']:<7} {about.get('day') or '':<10}"
        if about.get("as_of"):
            age = now - dt.datetime.fromisoformat(about["as_of"])
            minutes = int(age.total_seconds() // 60)
            print(f"  {what} as of {about['as_of']} ({minutes} min ago)  {held.item}")
        else:
            print(f"  {what} made {about.get('generated_at')}  {held.item}")
    broken = audit.broken_at(home)
    if broken is not None:
        print(f"the local log's chain breaks at line {broken + 1}", file=sys.stderr)
        return 1
    return 0


def _configure(home, arguments) -> int:
    config = settings.load(home)
    if arguments.print_command:
        command = arguments.print_command
        config.print_command = None if command == "system" else command
    if arguments.ca_bundle:
        config.ca_bundle = arguments.ca_bundle
    config.save(home)
    print(f"print command: {config.print_command or 'the system default'}")
    return 0
