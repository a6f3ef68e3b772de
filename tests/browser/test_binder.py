"""A clerk keeps the ward's binder current over a long downtime: the full
pack once, then only the pages that changed, from the clerk's page in a
real browser against the real web server, the render done by a real
Celery worker."""

import io
import re
from urllib.parse import urljoin

import pytest
from pypdf import PdfReader

from accounts.services import demo_accounts_ensure
from printouts.models import PackPrint
from tests.browser.conftest import ARTIFACTS
from tests.printouts.test_changes import a_shift_later, patient_pages, ward  # noqa: F401 - the fixture
from tests.printouts.test_views import ready
from tests.processes import app_env, celery_worker, redis_server, web_server

pytestmark = pytest.mark.django_db(transaction=True)


def follow(page, name: str) -> bytes:
    """The PDF behind the link the page shows, fetched with the browser's
    own session (the link opens the browser's PDF viewer)."""
    link = page.get_by_role("link", name=re.compile(name)).first
    answer = page.request.get(urljoin(page.url, link.get_attribute("href")))
    assert answer.ok
    assert answer.headers["content-type"] == "application/pdf"
    return answer.body()


def test_a_clerk_prints_the_pack_once_then_only_what_changed(
    page,
    ward,  # noqa: F811 - the fixture
    settings,
    tmp_path,
    test_database_url,
):
    settings.PACK_DIR = tmp_path / "packs"  # where the web server reads them
    password = {c.username: c.password for c in demo_accounts_ensure()}["clerk"]
    ready(ward)
    with (
        redis_server(tmp_path) as (broker, _redis),
        celery_worker(
            broker_url=broker,
            database_url=test_database_url,
            log=tmp_path / "worker.log",
            extra_env={"DATA_DIR": str(tmp_path)},
        ),
        web_server(
            env=app_env(
                DATABASE_URL=test_database_url,
                DATA_DIR=str(tmp_path),
                CELERY_BROKER_URL=broker,
            ),
            log=tmp_path / "web.log",
        ) as base,
    ):
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill("clerk")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name=re.compile("Welcome")).wait_for()
        page.goto(f"{base}/packs/")
        page.get_by_text("Binder: no print from this page yet").wait_for()

        full = follow(page, "Open to print")
        page.reload()
        page.get_by_text(re.compile("Binder: printed in full .* by")).wait_for()
        page.get_by_text("Binder up to date").wait_for()

        # A shift later; the clerk asks for a render, which the worker does,
        # and the page (refreshing itself meanwhile) offers the changes.
        a_shift_later()
        page.get_by_role("button", name="Render now").click()
        page.get_by_role("link", name=re.compile(r"Print changes \(3 beds\)")).wait_for(
            timeout=90_000
        )
        changes = follow(page, r"Print changes \(3 beds\)")
        page.reload()
        page.get_by_text(re.compile("Binder: changes printed .* by")).wait_for()
        page.get_by_text("Binder up to date").wait_for()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "binder.png", full_page=True)

    texts = [page.extract_text() for page in PdfReader(io.BytesIO(changes)).pages]
    assert "Changes for the binder: WARD-A" in texts[0]
    assert set(patient_pages(texts)) == {"Adams", "Dubois"}
    everyone = [page.extract_text() for page in PdfReader(io.BytesIO(full)).pages]
    assert set(patient_pages(everyone)) == {"Adams", "Baert", "Claes"}
    assert list(PackPrint.objects.order_by("pk").values_list("kind", flat=True)) == [
        "full",
        "changes",
    ]
