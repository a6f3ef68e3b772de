"""What a command loads as it starts: a feed command reads the feeds, and
must not pay for the PDF stack (about a second at every start)."""

import subprocess
import sys

import pytest

from tests.processes import REPO, app_env

PDF_STACK = ("weasyprint", "pikepdf", "reportlab", "printouts.documents")


def loaded(command: list[str], env: dict[str, str]) -> set[str]:
    """The modules a ``manage.py`` command imported, as ``-X importtime``
    lists them."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "manage.py", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize(
    "command", [["import_fhir", "{folder}"], ["replay_quarantine"]]
)
def test_a_feed_command_starts_without_the_pdf_stack(
    command, tmp_path, test_database_url
):
    env = app_env(DATABASE_URL=test_database_url, DATA_DIR=str(tmp_path))
    (tmp_path / "in").mkdir()
    modules = loaded([part.format(folder=tmp_path / "in") for part in command], env)
    assert "patients.services" in modules  # it did start
    assert not [name for name in PDF_STACK if name in modules]


def test_the_web_pages_do_load_it(tmp_path, test_database_url):
    """The same check sees the stack where it belongs: ``check`` loads the
    URLs, and with them the clerk's downloads."""
    env = app_env(DATABASE_URL=test_database_url, DATA_DIR=str(tmp_path))
    assert "weasyprint" in loaded(["check"], env)
