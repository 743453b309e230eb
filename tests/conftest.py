"""Shared fixtures: real databases (SQLite files, fresh PostgreSQL databases)
and the real Flask app built on them."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("ROTEST_TEST_PG",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin():
    """A connection to PostgreSQL's admin database, or skip (never in CI)."""
    try:
        import psycopg
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure means "no server here"
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI at {PG_ADMIN_URL}: {error}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({error}); "
                    f"CI runs these tests")


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    admin = _pg_admin()
    name = f"rotest_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    yield url
    from rotest_app.engine.notify import forget
    forget(url)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rotest.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each test that takes it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rotest.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app_config(database_url, tmp_path):
    return {"database_url": database_url, "workdir": str(tmp_path / "workdir"),
            "secret_key": "test-secret", "plugins": ["lab_plugin"], "TESTING": True,
            # Every answer of the API in the tests is held to openapi.json.
            "ROTEST_CHECK_ANSWERS": True}


@pytest.fixture
def app(app_config, monkeypatch, tmp_path):
    from rotest_app import create_app
    from rotest_app.engine.notify import forget
    from rotest_app.models import db
    monkeypatch.chdir(tmp_path)  # no stray rotest.yml from the developer's tree
    application = create_app(app_config)
    with application.app_context():
        db.create_all()
    yield application
    application.extensions["rotest_sweeper"].stop()
    with application.app_context():
        db.session.remove()
        forget(db.engine)
        db.engine.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Captured output may hold the lone surrogates that the hostile-text
    samples print; pytest-xdist sends reports between processes as UTF-8, so
    such characters are escaped in the report (the tests assert on the real
    text, never on the captured copy)."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(title, text.encode("utf-8", "backslashreplace").decode("utf-8"))
                       for title, text in report.sections]
