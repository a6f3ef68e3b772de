"""CSV files for people who open them in a spreadsheet."""

import csv
from collections.abc import Iterable
from typing import Any

# What a spreadsheet reads as the start of a formula (OWASP's list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class FormulaSafeWriter:
    """A CSV writer whose cells cannot start a spreadsheet formula: a reason
    or a name typed as "=HYPERLINK(...)" is written as text, after a '."""

    def __init__(self, out) -> None:
        self.writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self.writer.writerow(
            "'" + cell
            if isinstance(cell, str) and cell.startswith(_FORMULA_START)
            else cell
            for cell in row
        )
