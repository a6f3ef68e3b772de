"""French and Dutch are shipped complete: every marked string, translated.

The ward station program (``station/``) runs without Django and carries a
catalogue of its own (``tests/station/test_i18n.py``)."""

import shutil
import subprocess
import sys

import polib
import pytest

from tests.processes import REPO, app_env

LANGUAGES = ["fr", "nl"]
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".tools", "var", "staticfiles", "station"
)


def catalogue(root, language) -> polib.POFile:
    return polib.pofile(str(root / "locale" / language / "LC_MESSAGES" / "django.po"))


@pytest.fixture(scope="module")
def fresh_catalogues(tmp_path_factory):
    """The catalogues makemessages would write now, made in a copy of the tree."""
    copy = tmp_path_factory.mktemp("tree") / "repo"
    shutil.copytree(REPO, copy, ignore=NOT_SOURCES)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "--no-obsolete",
            *(f"--locale={language}" for language in LANGUAGES),
        ],
        cwd=copy,
        env=app_env(DATA_DIR=str(copy / "var")),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return copy


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_holds_every_marked_string(fresh_catalogues, language):
    wanted = {entry.msgid for entry in catalogue(fresh_catalogues, language)}
    shipped = {entry.msgid for entry in catalogue(REPO, language)}
    assert wanted - shipped == set(), "run `make messages` and translate"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_is_fully_translated(language):
    po = catalogue(REPO, language)
    untranslated = [e.msgid for e in po.untranslated_entries() + po.fuzzy_entries()]
    assert untranslated == []
