"""The downtime report, for the record and the auditors: what happened,
who did what, what the wards had on paper, and what was re-entered.

Patient names are not in it: packs, numbers and counts are; and, once it
is closed, the census journal's entries no feed of the EHR confirmed, by
downtime number or MRN.
"""

import datetime as dt
import io
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.models import AccessLog
from config.spreadsheet import FormulaSafeWriter
from downtime.models import CensusEntry, Downtime, DowntimeNumber
from downtime.recovery import entry_identifier, journal_entries_counted
from downtime.selectors import downtime_final_set
from downtime.worklists import worklist_progress
from printouts import pdf
from printouts.models import Pack, PackPrint


@dataclass
class Report:
    downtime: Downtime
    since: dt.datetime
    until: dt.datetime
    transitions: list
    packs: list[Pack]  # with download_count and last_download
    numbers: list[DowntimeNumber]
    worklists: list[dict]
    access: list[dict]  # {"action", "outcome", "count", "users"}
    # Per ward and kind: {"ward", "kind", "kind_label", "total", "confirmed",
    # "unconfirmed"}; then, once closed, each entry no feed confirmed:
    # {"ward", "kind", "kind_label", "at", "who", "by"}.
    journal: list[dict]
    unconfirmed: list[dict]
    # Per ward, what its binder was printed as from the clerk's page:
    # {"ward", "full", "full_pages", "changes", "changes_pages"}.
    printing: list[dict]


def downtime_report(*, downtime: Downtime, now: dt.datetime | None = None) -> Report:
    """From the declaration to the close (or now, while it lasts)."""
    transitions = list(downtime.transitions.select_related("user"))
    since = downtime.declared_at
    closing = [t.at for t in transitions if t.state == Downtime.State.CLOSED]
    until = closing[-1] if closing else (now or timezone.now())
    window = AccessLog.objects.filter(at__gte=since, at__lte=until)
    downloads: dict[int, tuple[int, dt.datetime]] = {}  # ward: (count, last)
    for at, locations in (
        window.filter(
            action__in=(AccessLog.Action.DOWNLOAD, AccessLog.Action.DOWNLOAD_ALL),
            outcome=AccessLog.Outcome.ALLOWED,
        )
        .order_by("at")
        .values_list("at", "locations")
    ):
        for place in locations:
            downloads[place] = (downloads.get(place, (0, at))[0] + 1, at)
    access = [
        {
            **row,
            "action_label": AccessLog.Action(row["action"]).label,
            "outcome_label": AccessLog.Outcome(row["outcome"]).label,
        }
        for row in window.values("action", "outcome")
        .annotate(count=Count("pk"), users=Count("username", distinct=True))
        .order_by("action", "outcome")
    ]
    packs = downtime_final_set(downtime=downtime).packs
    for pack in packs:
        pack.download_count, pack.last_download = downloads.get(
            pack.location_id, (0, None)
        )
    return Report(
        downtime=downtime,
        since=since,
        until=until,
        transitions=transitions,
        packs=packs,
        numbers=list(
            DowntimeNumber.objects.filter(downtime=downtime)
            .select_related("used_on", "recorded_by")
            .order_by("sequence")
        ),
        worklists=worklist_progress(items=downtime.worklist_items.all()),
        access=access,
        printing=_printing(since, until),
        **_journal(downtime),
    )


def _printing(since: dt.datetime, until: dt.datetime) -> list[dict]:
    """Pages printed per ward in full and as changes (``PackPrint``)."""
    rows: dict[str, dict] = {}
    for ward, kind, prints, pages in (
        PackPrint.objects.filter(printed_at__gte=since, printed_at__lte=until)
        .values_list("location__name", "kind")
        .annotate(Count("pk"), Sum("pages"))
        .order_by("location__name", "kind")
    ):
        row = rows.setdefault(
            ward,
            {
                "ward": ward,
                "full": 0,
                "full_pages": 0,
                "changes": 0,
                "changes_pages": 0,
            },
        )
        row[kind], row[f"{kind}_pages"] = prints, pages
    return list(rows.values())


KINDS = [
    CensusEntry.Kind.ADMISSION,
    CensusEntry.Kind.TRANSFER,
    CensusEntry.Kind.DISCHARGE,
]


def _journal(downtime: Downtime) -> dict:
    """The census journal's entries that still count (``fold``), and
    whether a feed of the EHR confirmed each."""
    entries = [entry for entry, _folded in journal_entries_counted(downtime=downtime)]
    rows: dict[tuple[str, int], dict] = {}
    for entry in entries:
        row = rows.setdefault(
            (entry.ward.name, KINDS.index(entry.kind)),
            {
                "ward": entry.ward.name,
                "kind": entry.kind,
                "kind_label": entry.get_kind_display(),
                "total": 0,
                "confirmed": 0,
            },
        )
        row["total"] += 1
        row["confirmed"] += entry.reconciled_at is not None
    for row in rows.values():
        row["unconfirmed"] = row["total"] - row["confirmed"]
    closed = downtime.state == Downtime.State.CLOSED
    return {
        "journal": [rows[key] for key in sorted(rows)],
        "unconfirmed": [
            {
                "ward": entry.ward.name,
                "kind": entry.kind,
                "kind_label": entry.get_kind_display(),
                "at": entry.occurred_at,
                "who": entry_identifier(entry),
                "by": entry.entered_by.get_username(),
            }
            for entry in entries
            if closed and entry.reconciled_at is None
        ],
    }


def report_csv(report: Report) -> str:
    """One table of sections: each row starts with its section's name."""
    out = io.StringIO()
    rows = FormulaSafeWriter(out)
    d = report.downtime
    rows.writerow(["section", "what", "at", "by", "detail", "more"])
    rows.writerow(
        ["downtime", d.get_kind_display(), _iso(d.declared_at), "", d.state, ""]
    )
    rows.writerow(["downtime", "drill", "", "", "yes" if d.drill else "no", ""])
    rows.writerow(["downtime", "data frozen at", _iso(d.frozen_at), "", "", ""])
    rows.writerow(
        ["downtime", "systems", "", "", "; ".join(d.systems) or "whole hospital", ""]
    )
    rows.writerow(
        ["downtime", "feeds isolated", "", "", "yes" if d.feeds_isolated else "no", ""]
    )
    for step in report.transitions:
        rows.writerow(
            ["state", step.state, _iso(step.at), step.user.get_username(), step.why, ""]
        )
    for pack in report.packs:
        rows.writerow(
            [
                "pack",
                pack.title + (f" {pack.day.isoformat()}" if pack.day else ""),
                _iso(pack.generated_at),
                pack.status,
                pack.sha256,
                f"data as of {_iso(pack.as_of)}; downloaded {pack.download_count} "
                f"times, last {_iso(pack.last_download)}",
            ]
        )
    for row in report.printing:
        rows.writerow(
            [
                "printed",
                row["ward"],
                "",
                "",
                f"{row['full']} in full, {row['full_pages']} pages",
                f"{row['changes']} as changes, {row['changes_pages']} pages",
            ]
        )
    for number in report.numbers:
        rows.writerow(
            [
                "number",
                number.number,
                _iso(number.used_at),
                number.used_by,
                number.used_on.name if number.used_on else "",
                f"recorded {_iso(number.recorded_at)} by "
                f"{number.recorded_by.get_username() if number.recorded_by else ''}",
            ]
        )
    for worklist in report.worklists:
        rows.writerow(
            [
                "worklist",
                worklist["worklist"],
                "",
                "",
                f"{worklist['done']}/{worklist['total']} done",
                "",
            ]
        )
    for row in report.journal:
        rows.writerow(
            [
                "journal",
                row["kind"],
                "",
                "",
                row["ward"],
                f"{row['total']} entries, {row['confirmed']} confirmed by the EHR, "
                f"{row['unconfirmed']} not",
            ]
        )
    for row in report.unconfirmed:
        rows.writerow(
            [
                "unconfirmed",
                row["kind"],
                _iso(row["at"]),
                row["by"],
                row["ward"],
                row["who"],
            ]
        )
    for row in report.access:
        rows.writerow(
            [
                "access",
                row["action"],
                "",
                f"{row['users']} users",
                row["outcome"],
                f"{row['count']} entries",
            ]
        )
    return out.getvalue()


def report_pdf(report: Report, *, language: str) -> bytes:
    with translation.override(language):
        html = render_to_string(
            "downtime/report.html", {"report": report, "language": language}
        )
        data, _fetcher = pdf.html_to_pdf(html)
    return data


def _iso(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""
