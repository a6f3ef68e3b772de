"""Production mode as docker-compose.yml runs it."""

import re
import subprocess
import sys

import pytest
from django.http.request import validate_host

from config.probe import allowed_host
from tests.processes import PRODUCTION_HOST, REPO, get, production_env, web_server


def test_deploy_check_is_clean_under_production_settings(tmp_path):
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=REPO,
        env=production_env(DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert "System check identified no issues (0 silenced)." in checked.stdout


def probe(env: dict[str, str], url: str) -> int:
    """The container health check of docker-compose.yml's web service."""
    return subprocess.run(
        [sys.executable, "-m", "config.probe", url],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=30,
    ).returncode


def test_container_probe_passes_on_a_production_server_over_plain_http(
    tmp_path, test_database_url
):
    env = production_env(DATA_DIR=str(tmp_path), DATABASE_URL=test_database_url)
    with web_server(env=env, log=tmp_path / "web.log", host=PRODUCTION_HOST) as base:
        assert probe(env, f"{base}/health/live/") == 0
        # Health URLs answer over HTTP; everything else goes to HTTPS.
        assert get(f"{base}/health/live/", host=PRODUCTION_HOST)[0] == 200
        assert get(f"{base}/", host=PRODUCTION_HOST)[0] == 301
        # What the probe's Host header is for: other hosts are refused.
        assert get(f"{base}/health/live/")[0] == 400
    assert probe(env, f"{base}/health/live/") == 1


@pytest.mark.parametrize(
    ("setting", "host"),
    [
        ("downtime.hospital.example,other", "downtime.hospital.example"),
        (".hospital.example", "hospital.example"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_probe_asks_under_a_host_django_accepts(setting, host):
    assert allowed_host(setting) == host
    assert validate_host(host, [h for h in setting.split(",") if h] or ["localhost"])


def test_production_pages_use_the_collected_static_files(tmp_path, test_database_url):
    """As the image is built (collectstatic) and served behind a TLS proxy."""
    env = production_env(
        DATA_DIR=str(tmp_path),
        DATABASE_URL=test_database_url,
        STATIC_ROOT=str(tmp_path / "static"),
        TRUST_X_FORWARDED_PROTO="true",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
    )
    behind_proxy = {"X-Forwarded-Proto": "https"}

    with web_server(env=env, log=tmp_path / "web.log", host=PRODUCTION_HOST) as base:
        status, page = get(f"{base}/", host=PRODUCTION_HOST, headers=behind_proxy)
        stylesheet = re.search(rb'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page)
        assert status == 200, page[:300]
        assert stylesheet, "the page links the hashed stylesheet"
        css = get(
            base + stylesheet[1].decode(), host=PRODUCTION_HOST, headers=behind_proxy
        )
        assert css[0] == 200
        assert b".site-header" in css[1]
