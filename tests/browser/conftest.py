"""Real headless Chromium (Debian's build) driven by Playwright.

Playwright cannot download its own browser here; the test scripts install
Debian's ``chromium``. A failing test leaves a screenshot of the page in
``var/test-artifacts/``.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import REPO, missing

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "var" / "test-artifacts"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _sync_playwright_beside_django(monkeypatch) -> None:
    """Playwright's synchronous API runs an event loop in this thread, which
    Django takes for async code; the test's own database calls are still made
    one at a time. Only during a browser test: nothing else inherits it."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    """A browser per test: Playwright's event loop lives no longer than it."""
    if not CHROMIUM.exists():
        missing(f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    context.close()
