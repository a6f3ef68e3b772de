"""Production mode as docker-compose.yml runs it."""

import subprocess
import sys

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
