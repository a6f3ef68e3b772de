"""Apps depend one way: ``downtime`` drives ``printouts``, which imports
nothing of it (``printouts.marking`` is how a downtime reaches the packs)."""

import ast
from pathlib import Path

from django.conf import settings


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_printouts_imports_nothing_of_downtime():
    found = {
        f"{path.relative_to(settings.BASE_DIR)}: {name}"
        for path in (settings.BASE_DIR / "printouts").rglob("*.py")
        for name in imported(path)
        if name == "downtime" or name.startswith("downtime.")
    }
    assert found == set()
