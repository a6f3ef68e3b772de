"""Units, doses and PRN limits as a nurse reads them, from what the feeds send.

The mirror keeps what the EHR sent; this module is the one place that decides
how it shows, on the pages and on paper alike. The forms ISMP lists as
error-prone never show: "U" and "IU" read "units" (a U is misread as 0 or 4,
IU as IV or 10), "ug" and "µg" read "micrograms" (misread as mg); a dose has no
trailing zero (5.0 mg is read 50 mg) and always a leading one (.5 mg is read
5 mg). Words are translated: call these with the reader's language active.
"""

import re
from collections.abc import Callable

from django.utils.translation import gettext as _
from django.utils.translation import ngettext, npgettext

DISPLAY = {
    "Cel": "°C",
    "[degF]": "°F",
    "mm[Hg]": "mmHg",
    "uL": "µL",
    "umol/L": "µmol/L",
    "10*9/L": "10⁹/L",
    "10*12/L": "10¹²/L",
    "10*3/uL": "10³/µL",
    "10*6/uL": "10⁶/µL",
    "/min": "/min",
    "{beats}/min": "/min",
    "{breaths}/min": "/min",
    "kg/m2": "kg/m²",
}

# Error-prone unit atoms (UCUM codes and what EHRs type) and the word each
# reads as, by the count before it. A lone lower-case "u" is not one: Dutch
# writes the hour so ("2 mg/u").
WORDS: dict[str, Callable[[int], str]] = {
    "units": lambda n: npgettext("amount", "unit", "units", n),
    "milliunits": lambda n: npgettext("amount", "milliunit", "milliunits", n),
    "microunits": lambda n: npgettext("amount", "microunit", "microunits", n),
    "kilounits": lambda n: npgettext("amount", "kilounit", "kilounits", n),
    "micrograms": lambda n: npgettext("amount", "microgram", "micrograms", n),
}
_UNIT_BODIES = ("U", "IU", "iU", "UI", "[iU]", "[IU]")
ATOMS = {
    **{
        f"{prefix}{body}": word
        for body in _UNIT_BODIES
        for prefix, word in (
            ("", "units"),
            ("m", "milliunits"),
            ("u", "microunits"),
            ("µ", "microunits"),
            ("μ", "microunits"),  # Greek mu, as some keyboards type micro
            ("k", "kilounits"),
        )
    },
    "iu": "units",
    "ug": "micrograms",
    "µg": "micrograms",
    "μg": "micrograms",
    "mcg": "micrograms",
}
# An atom stands alone: not inside a word ("Ug", "mug"), a UCUM bracket
# ("[USP'U]") or a product name ("U-100" is a concentration, not a dose).
_ATOM = re.compile(
    r"(?<![A-Za-zµμ\[\]'])("
    + "|".join(re.escape(atom) for atom in sorted(ATOMS, key=len, reverse=True))
    + r")(?![A-Za-zµμ\]'-])"
)
_NUMBER_BEFORE = re.compile(r"(\d+(?:[.,]\d+)?)\s*$")
# A decimal number on its own: not part of a word, a version (1.2.3) or a
# date (22.11.2026).
_DECIMAL = re.compile(r"(?<![\w.,])(\d*)([.,])(\d+)(?![.,]?\d)")


def display_unit(unit: str) -> str:
    """A unit as a nurse writes it: "mm[Hg]" as "mmHg", "Cel" as "°C",
    "U/L" as "units/L", "ug/L" as "micrograms/L"."""
    return DISPLAY.get(unit) or _spelled(unit, after_number=False)


def display_dose(dose: str) -> str:
    """A dose as it is safe to read: "5.0 mg" as "5 mg", ".5 mg" as
    "0.5 mg", "16 U" as "16 units", "75 ug" as "75 micrograms".

    A point is a decimal point, as HL7 (NM) and FHIR write numbers: "1.000
    mg" is 1 mg, and a Belgian nurse would read it as a thousand. A comma
    followed by one, two or four and more digits is a decimal comma ("2,50");
    followed by exactly three it could be a thousands separator ("1,000") and
    is left as it is.
    """
    return _spelled(_DECIMAL.sub(_plain_decimal, dose), after_number=False)


def display_text(text: str) -> str:
    """Free text about a medication (its name, its instructions) with the
    error-prone units that follow a number spelled out: "Heparin 5000 U/mL"
    as "Heparin 5000 units/mL". Elsewhere a letter is left alone."""
    return _spelled(text, after_number=True)


def _plain_decimal(match: re.Match) -> str:
    whole, point, fraction = match.groups()
    if point == "," and len(fraction) == 3 and whole not in ("", "0"):
        return match.group()  # 1,000: maybe a thousand, as English writes it
    fraction = fraction.rstrip("0")
    whole = whole or "0"
    return f"{whole}{point}{fraction}" if fraction else whole


def _spelled(text: str, *, after_number: bool) -> str:
    def word(match: re.Match) -> str:
        number = _NUMBER_BEFORE.search(text, 0, match.start())
        if after_number and number is None:
            return match.group()
        count = 1 if number and number.group(1) == "1" else 2
        spelled = WORDS[ATOMS[match.group(1)]](count)
        before = text[match.start() - 1] if match.start() else ""
        return f" {spelled}" if before.isdigit() else spelled

    return _ATOM.sub(word, text)


# PRN limits: how often, and how much at most.

_PERIOD_UNITS = {
    "min": "min",
    "h": "h",
    "hr": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "wk": "wk",
    "week": "wk",
    "weeks": "wk",
}
_EVERY: dict[str, Callable[[int], str]] = {
    "min": lambda n: ngettext("every %(count)s minute", "every %(count)s minutes", n),
    "h": lambda n: ngettext("every %(count)s hour", "every %(count)s hours", n),
    "d": lambda n: ngettext("every %(count)s day", "every %(count)s days", n),
    "wk": lambda n: ngettext("every %(count)s week", "every %(count)s weeks", n),
}


def display_interval(timing: dict) -> str:
    """How often a PRN dose may be given, from the order's structured
    timing: "every 4 hours", "every 4 to 6 hours", "up to 3 times a day";
    "" when the timing does not say it plainly (the frequency text then)."""
    frequency = timing.get("frequency", 1)
    period, period_max = timing.get("period"), timing.get("period_max")
    unit = _PERIOD_UNITS.get(str(timing.get("period_unit", "")))
    if not _is_number(period) or period <= 0 or unit is None:
        return ""
    if timing.get("frequency_max") is not None or not _is_number(frequency):
        return ""
    if frequency == 1 and period_max is None:
        return _EVERY[unit](_count(period)) % {"count": _number(period)}
    if frequency == 1 and unit == "h" and _is_number(period_max):
        return _("every %(low)s to %(high)s hours") % {
            "low": _number(period),
            "high": _number(period_max),
        }
    if unit == "d" and period == 1 and period_max is None:
        count = int(frequency) if float(frequency).is_integer() else 2
        return ngettext(
            "up to %(count)s time a day", "up to %(count)s times a day", count
        ) % {"count": _number(frequency)}
    return ""


def display_max_dose(max_dose: dict) -> str:
    """The most a PRN order allows, from the order's ``max_dose``: "max 4 g
    per 24 h", "max 1 g per dose"; "" when the EHR gives no maximum."""
    limits = []
    amount = max_dose.get("per_period")
    if amount:
        dose, period = display_dose(amount), _period(max_dose)
        limits.append(
            _("max %(dose)s per %(period)s") % {"dose": dose, "period": period}
            if period
            else _("max %(dose)s") % {"dose": dose}
        )
    if max_dose.get("per_dose"):
        limits.append(
            _("max %(dose)s per dose") % {"dose": display_dose(max_dose["per_dose"])}
        )
    return ", ".join(limits)


def _period(max_dose: dict) -> str:
    """The period of a maximum: "24 h" for a day, as the ward counts; ""
    when unknown."""
    period = max_dose.get("period", 1)
    raw_unit = str(max_dose.get("period_unit", ""))
    unit = _PERIOD_UNITS.get(raw_unit)
    if not raw_unit:
        return ""  # per what, the EHR did not say
    if not _is_number(period) or unit is None:
        return f"{period} {display_unit(raw_unit)}"
    if unit in ("h", "d"):
        hours = period * 24 if unit == "d" else period
        return _("%(count)s h") % {"count": _number(hours)}
    if unit == "min":
        return _("%(count)s min") % {"count": _number(period)}
    days = period * 7
    return ngettext("%(count)s day", "%(count)s days", _count(days)) % {
        "count": _number(days)
    }


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: float) -> str:
    """A count of hours, days or times: 4, 0.5, never 4.0."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _count(value: float) -> int:
    """What a plural form is chosen by: the number, or "many" for a fraction."""
    return int(value) if float(value).is_integer() else 2
