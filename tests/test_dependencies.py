"""Apps depend one way: ``downtime`` drives ``printouts`` and the mirror,
which import nothing of it (``printouts.marking`` is how a downtime reaches
the packs, ``patients.isolation`` how it cuts the feeds)."""

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


def imports_of(app: str, other: str) -> set[str]:
    """Where the modules of ``app`` import ``other``."""
    return {
        f"{path.relative_to(settings.BASE_DIR)}: {name}"
        for path in (settings.BASE_DIR / app).rglob("*.py")
        for name in imported(path)
        if name == other or name.startswith(f"{other}.")
    }


def test_printouts_imports_nothing_of_downtime():
    assert imports_of("printouts", "downtime") == set()


def test_the_mirror_imports_nothing_of_downtime_or_printouts():
    assert imports_of("patients", "downtime") == set()
    # The nurses' pages show which packs exist; nothing else of the mirror
    # reads printouts.
    assert imports_of("patients", "printouts") == {
        "patients/views.py: printouts.selectors"
    }
