"""The station's own catalogue: every word it shows, in French and Dutch."""

import ast
import re
from pathlib import Path

import downtime_station
from downtime_station.i18n import CATALOGUE, _, set_language

PACKAGE = Path(downtime_station.__file__).parent
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def marked() -> set[str]:
    """Every literal passed to ``_()`` in the package."""
    found = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_every_marked_string_is_translated_with_its_placeholders():
    strings = marked()
    assert len(strings) > 20  # the page, the list, the errors
    for text in strings:
        assert text in CATALOGUE, f"not in the catalogue: {text!r}"
        for language in ("fr", "nl"):
            translated = CATALOGUE[text].get(language)
            assert translated, f"no {language} for {text!r}"
            assert sorted(PLACEHOLDER.findall(translated)) == sorted(
                PLACEHOLDER.findall(text)
            ), (language, text)


def test_nothing_in_the_catalogue_is_left_unused():
    assert set(CATALOGUE) - marked() == set()


def test_the_language_follows_the_server():
    try:
        set_language("nl")
        assert _("Print") == "Afdrukken"
        set_language("de")  # not one of ours: English
        assert _("Print") == "Print"
    finally:
        set_language("en")
