import secrets
import subprocess
import sys

from tests.processes import REPO, app_env

PRODUCTION_ENV = {
    "PRODUCTION": "true",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "downtime.hospital.example",
    "DATABASE_URL": "postgres://downtime:pw@db:5432/downtime",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
}


def test_deploy_check_is_clean_under_production_settings(tmp_path):
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=REPO,
        env=app_env(DATA_DIR=str(tmp_path), **PRODUCTION_ENV),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert "System check identified no issues (0 silenced)." in checked.stdout
