"""Reading FHIR datatypes strictly: a value that is not what R4 says raises
``Invalid`` with the element's path, never the value (it may be PHI)."""

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from typing import Any

from django.utils import timezone


class Invalid(ValueError):
    """A resource breaks a rule we rely on; the message names the element."""


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})$"
)
_INSTANT_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def date(value: Any, path: str) -> dt.date | None:
    """A FHIR date; a partial one (year, year-month) means its first day."""
    if value is None:
        return None
    match = _DATE.match(value) if isinstance(value, str) else None
    if not match:
        raise Invalid(f"{path} is not a FHIR date")
    year, month, day = match.groups()
    try:
        return dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise Invalid(f"{path} is not a real calendar date") from None


def datetime(value: Any, path: str) -> dt.datetime | None:
    """A FHIR dateTime or instant as an aware datetime.

    A date alone means midnight in the hospital's time zone. A time without a
    zone is invalid in R4 and is refused rather than guessed.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{path} is not a FHIR dateTime")
    if not _INSTANT_LIKE.match(value):
        day = date(value, path)
        midnight = dt.datetime.combine(day, dt.time())
        parsed = timezone.make_aware(midnight, timezone.get_default_timezone())
    elif not _DATETIME.match(value):
        raise Invalid(f"{path} is not a FHIR dateTime (a time needs a time zone)")
    else:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{path} is not a real date and time") from None
    if not storable_moment(parsed):
        raise Invalid(f"{path} is outside the years 1 to 9999 in UTC")
    return parsed


def storable_moment(moment: dt.datetime) -> bool:
    """Whether an aware date and time stays within the years 1 to 9999 in
    UTC, as the database gives it back (0001-01-01T00:00+14:00 does not)."""
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        return False
    return True


def text(value: Any, path: str) -> str:
    """A string element, trimmed. Longer than its column, the importer
    shortens it with a visible mark (``rules.fit_row``)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{path} is not a string")
    return value.strip()


def identifier(value: Any, path: str, *, limit: int) -> str:
    """An identifier (a value, a system): refused when longer than its
    column, never cut (two cut identifiers could name one record)."""
    found = text(value, path)
    if len(found) > limit:
        raise Invalid(
            f"{path} is longer than the {limit} characters the mirror keeps; "
            "an identifier is never cut"
        )
    return found


def code(
    value: Any, path: str, allowed: set[str] | None = None, *, required: bool = False
) -> str:
    if value is None:
        if required:
            raise Invalid(f"{path} is missing")
        return ""
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        choices = ", ".join(sorted(allowed)) if allowed else "a code"
        raise Invalid(f"{path} must be one of: {choices}")
    return value


def concept_text(concept: Any, path: str) -> str:
    """What a person reads for a CodeableConcept: its text, else a display."""
    if concept is None:
        return ""
    if not isinstance(concept, dict):
        raise Invalid(f"{path} is not a CodeableConcept")
    if concept.get("text"):
        return text(concept["text"], f"{path}.text")
    for coding in _codings(concept, path):
        if coding.get("display"):
            return text(coding["display"], f"{path}.coding.display")
    for coding in _codings(concept, path):
        if coding.get("code"):
            return text(coding["code"], f"{path}.coding.code")
    return ""


def concept_code(concept: Any, path: str, system: str | None = None) -> str:
    """The first code of a CodeableConcept (of ``system`` when given)."""
    if not concept:
        return ""
    for coding in _codings(concept, path):
        if system is None or coding.get("system") == system:
            return str(coding.get("code") or "")[:64]
    return ""


def has_coding(concept: Any, system: str, codes: set[str]) -> bool:
    if not isinstance(concept, dict):
        return False
    return any(
        coding.get("system") == system and coding.get("code") in codes
        for coding in concept.get("coding") or []
        if isinstance(coding, dict)
    )


def _codings(concept: dict, path: str) -> list[dict]:
    codings = concept.get("coding") or []
    if not isinstance(codings, list) or not all(isinstance(c, dict) for c in codings):
        raise Invalid(f"{path}.coding is not a list of Codings")
    return codings


def first(value: Any, path: str) -> Any:
    """The first item of a repeating element (or the element itself)."""
    if value is None:
        return None
    if isinstance(value, list):
        return value[0] if value else None
    raise Invalid(f"{path} must be a list")


def items(value: Any, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{path} must be a list")
    return value


def phone(telecoms: Any, path: str) -> str:
    """The first phone number, preferring home and mobile over work."""
    phones = [
        t
        for t in items(telecoms, path)
        if isinstance(t, dict) and t.get("system") == "phone"
    ]
    phones.sort(key=lambda t: {"home": 0, "mobile": 1}.get(t.get("use"), 2))
    return text(phones[0].get("value"), f"{path}.value") if phones else ""


def human_name(names: Any, path: str) -> tuple[str, str, str]:
    """(family, given, prefix) of the official (or usual, or first) name."""
    candidates = [n for n in items(names, path) if isinstance(n, dict)]
    if not candidates:
        return "", "", ""
    rank = {"official": 0, "usual": 1}
    chosen = min(candidates, key=lambda n: rank.get(n.get("use"), 2))
    family = text(chosen.get("family"), f"{path}.family")
    given = " ".join(items(chosen.get("given"), f"{path}.given"))
    prefix = " ".join(items(chosen.get("prefix"), f"{path}.prefix"))
    if not family and chosen.get("text"):
        family = text(chosen["text"], f"{path}.text")
    return family, given, prefix


def address(addresses: Any, path: str) -> str:
    for entry in items(addresses, path):
        if not isinstance(entry, dict):
            raise Invalid(f"{path} is not an Address")
        if entry.get("text"):
            return text(entry["text"], f"{path}.text")
        return address_text(
            items(entry.get("line"), f"{path}.line"),
            *(
                text(entry.get(name), f"{path}.{name}")
                for name in ("postalCode", "city", "state", "country")
            ),
        )
    return ""


def address_text(
    lines: list, postal_code: str, city: str, state: str, country: str
) -> str:
    """An address on one line, as both feeds write it:
    "Rue Haute 1, 1000 Bruxelles, BE"."""
    locality = " ".join(p for p in (postal_code, city) if p)
    return ", ".join(
        str(p) for p in (*lines, locality, state, country) if p and str(p).strip()
    )


def quantity(
    value: Any, path: str, *, exact: bool = False
) -> tuple[str, float | None, str]:
    """(value as text, number, unit) of a Quantity. ``exact``: the number as
    sent, never rounded (a dose: 1.125 mg rounded is another dose)."""
    if not isinstance(value, dict):
        raise Invalid(f"{path} is not a Quantity")
    number = value.get("value")
    if number is not None and (
        isinstance(number, bool) or not isinstance(number, int | float)
    ):
        raise Invalid(f"{path}.value is not a number")
    unit = str(value.get("unit") or value.get("code") or "")[:32]
    written = exact_number if exact else format_number
    shown = "" if number is None else written(number)
    comparator = value.get("comparator") or ""
    return f"{comparator}{shown}", number, unit


def format_number(number: float) -> str:
    """Up to three significant decimals, no trailing zeros: 107.47, 7.2, 140."""
    if float(number).is_integer():
        return str(int(number))
    return (
        f"{number:.3g}" if abs(number) < 1 else f"{number:.2f}".rstrip("0").rstrip(".")
    )


def exact_number(number: float) -> str:
    """The number as JSON gave it, in plain decimals without trailing zeros:
    1.125, 0.00001 (not 1e-05), 2 (not 2.0)."""
    if float(number).is_integer():
        return str(int(number))
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def joined(parts) -> str:
    """Several texts as one, each once, in order: "Rash; Wheezing"."""
    return "; ".join(dict.fromkeys(p for p in parts if p))


def search_key(*parts: str) -> str:
    """Lower case without accents: 'Treviño' and 'trevino' compare equal."""
    joined = " ".join(p for p in parts if p)
    decomposed = unicodedata.normalize("NFKD", joined)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()[:256]
