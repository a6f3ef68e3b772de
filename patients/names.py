"""Similar family names: two patients of one ward or one clinic list whose
family names are the same or alike are easily mixed up (a dose, a sample,
a result given to the wrong one), so both are flagged NAME ALERT.

Alike means, once accents, case, spaces and punctuation are gone: the same
letters; one spelling away (a letter added, dropped, changed or two swapped:
Peeters and Peters, Janssen and Janssens), or two away for long names; or a
whole part of a compound name in common (Martin and Martin-Dupont).
"""

import unicodedata
from collections.abc import Hashable, Iterable

SHORTEST = 4  # letters: below this, only the same name alerts
LONG = 8  # letters: from this on, two spellings away still alerts


def _letters(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalpha())


def _parts(text: str) -> set[str]:
    spaced = "".join(c if c.isalpha() else " " for c in text)
    return {part for part in map(_letters, spaced.split()) if len(part) >= SHORTEST}


def _distance(a: str, b: str, limit: int) -> int:
    """Edits (insert, delete, change, swap of neighbours) from a to b, or
    ``limit + 1`` once it is certain to be more than ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


def similar_family_names(a: str, b: str) -> bool:
    first, second = _letters(a), _letters(b)
    if not first or not second:
        return False
    if first == second:
        return True
    if _parts(a) & _parts(b):
        return True
    shorter = min(len(first), len(second))
    if shorter < SHORTEST:
        return False
    limit = 2 if shorter >= LONG else 1
    return _distance(first, second, limit) <= limit


def name_alerts(
    people: Iterable[tuple[Hashable, str, str]],
) -> dict[Hashable, list[str]]:
    """``people``: (key, family name, where: a bed, a time). For each key
    whose family name is like another's, where those others are."""
    people = list(people)
    alerts: dict[Hashable, dict[str, None]] = {}  # ordered sets
    for i, (key, family, where) in enumerate(people):
        for other, other_family, other_where in people[i + 1 :]:
            if other != key and similar_family_names(family, other_family):
                alerts.setdefault(key, {})[other_where] = None
                alerts.setdefault(other, {})[where] = None
    return {key: list(places) for key, places in alerts.items()}
