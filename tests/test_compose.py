"""The compose files are valid as people would use them (no Docker engine here)."""

import secrets
import shutil
import subprocess

from tests.processes import REPO, missing


def compose_config(
    tmp_path, env_text: str, *args: str, file: str = "docker-compose.yml"
) -> subprocess.CompletedProcess:
    """`docker-compose config` on a copy of ``file`` beside an .env of ``env_text``."""
    binary = shutil.which("docker-compose")
    if binary is None:
        missing("docker-compose (Debian package docker-compose)")
    shutil.copy(REPO / file, tmp_path)
    (tmp_path / ".env").write_text(env_text)
    project = ["--project-directory", str(tmp_path), "--file", str(tmp_path / file)]
    return subprocess.run(
        [binary, *project, "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def edited_example() -> str:
    """The example as an operator fills it in."""
    example = (REPO / ".env.example").read_text()
    return example.replace(
        "\nPOSTGRES_PASSWORD=\n", f"\nPOSTGRES_PASSWORD={secrets.token_hex(24)}\n"
    ).replace("\nSECRET_KEY=\n", f"\nSECRET_KEY={secrets.token_urlsafe(50)}\n")


def test_compose_file_is_valid_once_the_example_env_is_filled_in(tmp_path):
    config = compose_config(tmp_path, edited_example())
    services = compose_config(tmp_path, edited_example(), "--services")

    assert config.returncode == 0, config.stderr
    assert set(services.stdout.split()) == {
        "db",
        "redis",
        "migrate",
        "web",
        "worker",
        "beat",
        "mllp",
    }
    assert "run_mllp" in config.stdout
    assert "postgres:16" in config.stdout
    assert "noeviction" in config.stdout
    assert "appendonly" in config.stdout
    assert "service_completed_successfully" in config.stdout


def test_compose_refuses_the_example_env_until_a_database_password_is_set(tmp_path):
    config = compose_config(tmp_path, (REPO / ".env.example").read_text())

    assert config.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in config.stderr


def test_development_compose_serves_what_the_tests_expect(tmp_path):
    config = compose_config(tmp_path, "", file="compose.dev.yml")

    assert config.returncode == 0, config.stderr
    assert "127.0.0.1:5432:5432" in config.stdout
    assert "127.0.0.1:6379:6379" in config.stdout
    assert "POSTGRES_HOST_AUTH_METHOD: trust" in config.stdout
