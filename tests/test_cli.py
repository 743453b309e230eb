"""The ``rotest`` console script: database, users, tokens, errors, version.

Most tests call the click group in-process; the end-to-end ones run
``python -m rotest_core.cli`` in a subprocess, as a user would.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

import rotest_core
from rotest_app.models import ApiToken, User, hash_token
from rotest_core.cli import main

REPO = Path(__file__).resolve().parents[1]


def settings_env(database_url: str, tmp_path: Path) -> dict[str, str | None]:
    """ROTEST_* variables for one test; None removes a variable while it runs."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ROTEST_")}
    env.update(ROTEST_DATABASE_URL=database_url, ROTEST_SECRET_KEY="test",
               ROTEST_WORKDIR=str(tmp_path / "workdir"), ROTEST_CONFIG=None)
    return env


def run_script(*args: str, env: dict[str, str | None], cwd: Path
               ) -> subprocess.CompletedProcess:
    """``rotest ARGS`` in a subprocess: the real console entry."""
    full_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    full_env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "rotest_core.cli", *args], env=full_env,
                          cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(database_url, tmp_path, monkeypatch) -> dict[str, str | None]:
    monkeypatch.chdir(tmp_path)  # no stray rotest.yml from the developer's tree
    return settings_env(database_url, tmp_path)


@pytest.fixture
def rotest(env):
    """Invoke ``rotest ARGS`` in-process."""
    def invoke(*args: str, input: str | None = None, **extra_env: str) -> Result:
        return CliRunner().invoke(main, list(args), input=input, env={**env, **extra_env})
    return invoke


@pytest.fixture
def upgraded(rotest):
    result = rotest("db", "upgrade")
    assert result.exit_code == 0, result.output
    return rotest


def assert_clean_failure(result: Result, exit_code: int, *words: str) -> None:
    """A one-line message that says what to do, the right code, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit)
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    for word in words:
        assert word in message


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"rotest, version {rotest_core.__version__}"


def test_upgrade_create_user_and_token_through_the_console_script(database_url, tmp_path):
    env = settings_env(database_url, tmp_path)
    steps = [(["db", "upgrade"], {}),
             (["users", "create", "alice", "--admin"], {"ROTEST_PASSWORD": "s3cret"}),
             (["tokens", "create", "alice", "--name", "ci"], {})]
    for args, extra in steps:
        result = run_script(*args, env={**env, **extra}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    plain = result.stdout.strip()
    assert plain.startswith("rt_") and "\n" not in plain
    assert "shown again" in result.stderr

    engine = create_engine(database_url)
    with Session(engine) as session:
        user = session.scalar(select(User).filter_by(username="alice"))
        assert user.is_admin and user.check_password("s3cret")
        [token] = session.scalars(select(ApiToken)).all()
        assert token.token_hash == hash_token(plain) and token.name == "ci"
        stored = [str(getattr(token, column.key)) for column in ApiToken.__table__.c]
        assert not any(plain in value for value in stored)
    engine.dispose()


def test_bad_setting_is_one_clear_line_through_the_console_script(tmp_path):
    env = settings_env(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    result = run_script("users", "list", env={**env, "ROTEST_LEASE_SECONDS": "abc"},
                        cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "ROTEST_LEASE_SECONDS" in result.stderr and "Fix the setting" in result.stderr


def test_unknown_plugin_says_what_to_do(rotest):
    assert_clean_failure(rotest("users", "list", ROTEST_PLUGINS="no_such_plugin"), 2,
                         "no_such_plugin", "ROTEST_PLUGINS")


def test_missing_tables_suggest_an_upgrade(rotest):
    assert_clean_failure(rotest("users", "list"), 1, "rotest db upgrade")


def test_create_user_prompts_for_the_password_twice(upgraded):
    result = upgraded("users", "create", "bob", input="pw\npw\n")
    assert result.exit_code == 0, result.output
    assert "Created user bob" in result.output
    assert upgraded("users", "list").output.split()[1:] == ["bob"]


def test_duplicate_user_is_refused(upgraded):
    assert upgraded("users", "create", "bob", ROTEST_PASSWORD="pw").exit_code == 0
    assert_clean_failure(upgraded("users", "create", "bob", ROTEST_PASSWORD="pw"), 1,
                         "already exists")


def test_token_for_an_unknown_user_is_refused(upgraded):
    assert_clean_failure(upgraded("tokens", "create", "ghost"), 1,
                         "no user 'ghost'", "rotest users create ghost")


def test_tokens_are_listed_by_prefix_and_revoked(upgraded):
    upgraded("users", "create", "carol", "--admin", ROTEST_PASSWORD="pw")
    plain = upgraded("tokens", "create", "carol", "--name", "nightly").stdout.strip()
    listing = upgraded("tokens", "list").output
    assert plain[:10] in listing and "nightly" in listing and plain not in listing
    assert "carol  admin" in upgraded("users", "list").output

    token_id = listing.split()[0]
    assert upgraded("tokens", "revoke", token_id).exit_code == 0
    assert upgraded("tokens", "list").output == ""
    assert_clean_failure(upgraded("tokens", "revoke", token_id), 1, "rotest tokens list")


def test_config_option_names_the_settings_file(rotest, tmp_path):
    config = tmp_path / "team.yml"
    config.write_text(f"rotest:\n  database_url: sqlite:///{tmp_path / 'team.db'}\n")
    result = rotest("--config", str(config), "db", "upgrade", ROTEST_DATABASE_URL=None)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "team.db").exists()


def test_db_analyze_refreshes_the_planners_statistics(upgraded, database_url):
    result = upgraded("db", "analyze")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Statistics refreshed: ")
    assert {"resource", "lock_request", "lock_session"} <= set(
        result.output.split(": ", 1)[1].rstrip(".\n").split(", "))
    if database_url.startswith("sqlite"):  # ANALYZE made SQLite's statistics table
        engine = create_engine(database_url)
        with engine.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar()
        engine.dispose()


def test_db_current_and_server_help(upgraded):
    from test_migrations import CORE_HEAD
    assert upgraded("db", "current").output == f"rotest: {CORE_HEAD} (up to date)\n"
    assert "gunicorn -c python:rotest_app.gunicorn_conf 'rotest_app:create_app()'" in upgraded(
        "server", "--help").output
