"""Works when its neighbours fail: with Redis out of reach, a clerk's
"Render now" still answers, says why the pack will come later, and the
scheduler sends it once Redis is back."""

import re

import pytest

from accounts.services import demo_accounts_ensure
from printouts.models import Pack
from printouts.services import packs_due
from tests.patients.test_pages import wards  # noqa: F401 - the fixture
from tests.processes import app_env, free_port, web_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clerk_password(wards) -> str:  # noqa: F811 - the fixture
    """The demo clerk's password; she works on every ward of the mirror."""
    return {c.username: c.password for c in demo_accounts_ensure()}["clerk"]


def test_render_now_without_redis_answers_and_the_pack_waits(
    page, clerk_password, tmp_path, test_database_url
):
    env = app_env(
        CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",
        DATABASE_URL=test_database_url,
        DATA_DIR=str(tmp_path),
    )
    with web_server(env=env, log=tmp_path / "web.log") as base:
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill("clerk")
        page.get_by_label("Password").fill(clerk_password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name=re.compile("Welcome")).wait_for()
        page.goto(f"{base}/packs/")
        page.get_by_role("button", name="Render now").first.click()
        page.get_by_text(re.compile("The workers cannot be reached")).wait_for()
    pack = Pack.objects.get()
    assert (pack.status, pack.queued_at) == (Pack.Status.QUEUED, None)
    assert pack.pk in packs_due()  # sent at the scheduler's next minute
