"""Filters of the pack templates: the data carries ISO text (it is hashed),
these format it as the hospital reads it."""

import datetime as dt

from django import template
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from patients.selectors import freshness_level
from printouts.pdf import (
    BAR_HEIGHT_MM,
    HOURS_WIDTH_MM,
    boxes_row,
    code128,
    hour_header,
    hour_row,
)

register = template.Library()
BAND_ALLERGIES = 4  # named in a page's header band; the allergy box has all


# Dates as each language writes them, day first in all: Django's own English
# format is American (month first), which a ward would misread.
DATE_FORMATS = {"en": "d/m/Y", "fr": "d/m/Y", "nl": "d-m-Y"}


def _date_format() -> str:
    """The active language's (paper: the ward's; a page: the reader's)."""
    return DATE_FORMATS.get(translation.get_language() or "", "d/m/Y")


@register.filter
def when(value: str) -> str:
    """ISO date-time to "22/11/2026 14:05" (in Dutch "22-11-2026 14:05");
    ISO date to "22/11/2026"."""
    if not value:
        return ""
    if "T" in value:
        moment = dt.datetime.fromisoformat(value)
        return date_format(moment, f"{_date_format()} H:i")
    return date_format(dt.date.fromisoformat(value), _date_format())


@register.filter
def day_when(value: str) -> str:
    """ISO date to "Monday 22/11/2026", the day named in the active
    language ("lundi 22/11/2026", "maandag 22-11-2026")."""
    if not value:
        return ""
    return date_format(dt.date.fromisoformat(value), f"l {_date_format()}")


@register.filter
def day_time(value: str) -> str:
    """ISO date-time to "22/11 14:05" (in Dutch "22-11 14:05"): a time of a
    downtime that may last weeks, in a narrow column."""
    if not value:
        return ""
    day = _date_format().replace("/Y", "").replace("-Y", "")
    return date_format(dt.datetime.fromisoformat(value), f"{day} H:i")


@register.filter
def pairs(items: list) -> list[list]:
    """[a, b, c] to [[a, b], [c]]: two to a row."""
    return [items[start : start + 2] for start in range(0, len(items), 2)]


@register.filter
def page_range(pages) -> str:
    """(3, 3) to "3"; (3, 5) to "3-5"."""
    first, last = pages
    return str(first) if first == last else f"{first}-{last}"


@register.filter
def time_of_day(value: str) -> str:
    """ISO date-time to "14:05"."""
    return date_format(dt.datetime.fromisoformat(value), "H:i") if value else ""


@register.filter
def barcode(value: str) -> str:
    """An <img> of the value's Code 128 barcode, at its true size."""
    if not value:
        return ""
    url, width = code128(value)
    return format_html(
        '<img class="barcode" src="{}" style="width: {}mm; height: {}mm" alt="">',
        url,
        f"{width:.2f}",
        f"{BAR_HEIGHT_MM:.1f}",
    )


MAR_START_HOUR = 6  # the day sheet's first column: the morning shift
MAR_ROW_MM = 8.5


@register.simple_tag
def hours_header() -> str:
    """The MAR's hour numbers, from 06 to 05, as one image."""
    return format_html(
        '<img class="hours" src="{}" style="width: {}mm; height: 4mm" alt="">',
        hour_header(MAR_START_HOUR),
        f"{HOURS_WIDTH_MM:.2f}",
    )


@register.simple_tag
def hours_row(due=()) -> str:
    """One medication's 24 hour cells, the due ones shaded: a background
    image that stretches to the row's height, whatever the drug cell needs."""
    url = hour_row(tuple(sorted(due)), MAR_START_HOUR, MAR_ROW_MM)
    return format_html('<td class="hours" style="background-image: url({})"></td>', url)


PRN_BOXES = 6
PRN_BOX_DOTS = 201  # 17 mm at 300 dpi: room for a time and initials


@register.simple_tag
def prn_boxes(boxes: int = PRN_BOXES) -> str:
    """An as-needed order's boxes, one per dose given: a background image,
    as the MAR's hour cells."""
    url = boxes_row(boxes, PRN_BOX_DOTS, MAR_ROW_MM)
    return format_html(
        '<td class="entries" style="width: {}mm; background-image: url({})"></td>',
        f"{boxes * PRN_BOX_DOTS * 25.4 / 300:.2f}",
        url,
    )


@register.filter
def freshness(pack) -> str:
    """ "fresh", "amber" or "red": how old the pack's data is."""
    return freshness_level(pack.as_of, timezone.now())


@register.inclusion_tag("printouts/name_alert.html")
def name_alert(places: list[str], at: str = "bed") -> dict:
    """NAME ALERT and where the others with a like family name are:
    ``places`` are beds (``at="bed"``) or appointment times (``"time"``)."""
    return {"places": places, "at": at, "shown": ", ".join(places)}


@register.simple_tag
def ident_allergies(p: dict) -> str:
    """The allergies as a patient's header band names them, on one line:
    the first few by name (severe ones inverse), then how many more."""
    recorded = [a for a in p["allergies"] if not a["no_known"]]
    shown = [
        format_html(
            '<span class="alg{}">{}{}</span>',
            " sev-band" if a["severe"] else "",
            "⚠ " if a["severe"] else "",
            a["substance"],
        )
        for a in recorded[:BAND_ALLERGIES]
    ]
    more = len(recorded) - BAND_ALLERGIES
    if more > 0:
        shown.append(
            format_html(
                '<span class="alg">{}</span>',
                ngettext(
                    "and %(count)d more: see the allergy box",
                    "and %(count)d more: see the allergy box",
                    more,
                )
                % {"count": more},
            )
        )
    if p["allergies_held"]:
        shown.append(
            format_html(
                '<span class="alg sev-band">⚠ {}</span>',
                ngettext(
                    "%(count)d unreadable: check",
                    "%(count)d unreadable: check",
                    p["allergies_held"],
                )
                % {"count": p["allergies_held"]},
            )
        )
    if shown:
        return format_html_join(", ", "{}", ((item,) for item in shown))
    if p["allergies"]:
        return _("No known allergies")
    return format_html('<em class="alg">{}</em>', _("None recorded: ask"))


@register.simple_tag
def measure(taken: dict | None) -> str:
    """A weight or a height as dosing needs it: value, unit, and the day it
    was taken (a weight of last month is not today's)."""
    if not taken:
        return format_html('<em class="unmeasured">{}</em>', _("not recorded"))
    day = when(taken["at"][:10]) if taken["at"] else "?"
    return format_html(
        '<strong>{} {}</strong> <span class="taken">({})</span>',
        taken["value"],
        taken["unit"],
        day,
    )


@register.inclusion_tag("printouts/journal_marks.html")
def journal_marks(marks: list[dict], short: bool = False) -> dict:
    """Where a patient's ward, bed or name came from when it was entered on
    the downtime census journal: what, by whom, when (``short``: one line
    each, for a census row)."""
    return {"marks": marks, "short": short}


@register.inclusion_tag("printouts/doses.html")
def dose_history(
    doses: dict, key: str, ordered: str = "", compact: bool = False
) -> dict:
    """One order's doses (``patients.summary.dose_values``): the last given
    (its amount when not the ``ordered`` one), and the 24 hours' by day,
    oldest first, unless the last given is the only one of them.
    ``compact`` (paper): the 24 hours' given doses counted, the others
    listed."""
    found = doses.get(key) or {"last": None, "recent": []}
    recent = found["recent"]
    days: dict[str, list[dict]] = {}
    if recent != [found["last"]]:
        for dose in reversed(recent):
            days.setdefault(day_month(dose["at"]), []).append(dose)
    return {
        "last": found["last"],
        "ordered": ordered,
        "days": list(days.items()),
        "compact": compact,
        "given": sum(dose["given"] for dose in recent),
        "not_given": [dose for dose in reversed(recent) if not dose["given"]],
    }


@register.filter
def day_month(value: str) -> str:
    """ISO date-time to "22/11" (in Dutch "22-11")."""
    day = _date_format().replace("/Y", "").replace("-Y", "")
    return date_format(dt.datetime.fromisoformat(value), day)


# About a page of reports: what the conclusions of a patient's reports may
# take on paper, in characters (a line break counts as a short line's
# worth), and at most this much of any one of them.
REPORT_PAGE_CHARACTERS = 3400
REPORT_CHARACTERS = 600
REPORT_LINES = 6
REPORT_HEADING = 160
LINE_BREAK = 60


@register.simple_tag
def printed_reports(reports: list[dict], in_full: bool = False) -> dict:
    """What a pack prints of a patient's reports (newest first): in full,
    or each one's conclusion (else the start of its text) until about a
    page is filled; ``left``: how many did not fit."""
    if in_full:
        return {
            "items": [r | {"body": r["text"], "cut": False} for r in reports],
            "left": 0,
        }
    items, budget = [], REPORT_PAGE_CHARACTERS
    for report in reports:
        conclusion, cut = _cut(report["conclusion"])
        body, cut_body = _cut("" if conclusion else report["text"])
        shown = conclusion + body
        cost = REPORT_HEADING + len(shown) + LINE_BREAK * shown.count("\n")
        if items and cost > budget:
            break
        # Cut, or a conclusion printed without the text it concludes.
        more = cut or cut_body or bool(conclusion and report["text"])
        items.append(report | {"conclusion": conclusion, "body": body, "cut": more})
        budget -= cost
    return {"items": items, "left": len(reports) - len(items)}


def _cut(text: str) -> tuple[str, bool]:
    """At most ``REPORT_CHARACTERS`` and ``REPORT_LINES`` of ``text``, cut
    at a word; whether it was cut."""
    # Blank lines are left out: paragraphs still start on lines of their own.
    lines = [line for line in text.split("\n") if line.strip()]
    whole = "\n".join(lines)
    kept = "\n".join(lines[:REPORT_LINES])
    if len(kept) > REPORT_CHARACTERS:
        kept = kept[:REPORT_CHARACTERS].rsplit(" ", 1)[0]
    if kept == whole:
        return whole, False
    return kept.rstrip() + " …", True
