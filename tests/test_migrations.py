"""Migrations: the core revisions match the models, upgrades are idempotent and
safe in parallel, and plugins get their own branches (or plain tables).

Plugin tests run ``rotest`` in subprocesses on a temporary copy of
tests/migrating_plugin: generated revisions land in the copy, and the plugin's
model never joins this process's metadata.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from rotest_app import create_app
from rotest_app.engine.schema import migration_status, owned_tables, upgrade_database
from rotest_app.migrate import schema_of
from rotest_app.models import User, db

REPO = Path(__file__).resolve().parents[1]
PLUGIN = "migrating_plugin"
CORE_TABLES = {"user", "group", "user_group", "api_token", "resource", "lock_session",
               "lock_request", "error_signature", "history_run", "history_record",
               "rate_limit"}
NO_MIGRATIONS_WARNING = f"rotest db migrate --plugin {PLUGIN}"
#: The newest core revision: the file with the highest number in versions/.
CORE_HEAD = "rotest_" + max(path.name[:4] for path in
                            (REPO / "migrations" / "versions").glob("[0-9]*.py"))


@pytest.fixture
def make_app(database_url, tmp_path, monkeypatch):
    """Build apps on ``database_url``; their engines are closed afterwards."""
    monkeypatch.chdir(tmp_path)  # no stray rotest.yml from the developer's tree
    monkeypatch.delenv("ROTEST_PLUGINS", raising=False)
    apps = []

    def make():
        apps.append(create_app({"database_url": database_url, "secret_key": "test",
                                "workdir": str(tmp_path / "workdir")}))
        return apps[-1]
    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def schema_differences(app) -> list:
    """What Alembic's autogenerate would change in the core tables."""
    core = owned_tables("rotest_app")
    options = {"compare_type": True,
               "include_name": lambda name, type_, _: type_ != "table" or name in core,
               "include_object": lambda _o, name, type_, *_: type_ != "table" or name in core}
    with app.app_context(), db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts=options),
                                db.metadata)


def test_upgrade_builds_the_core_tables_as_the_models_define_them(make_app):
    app = make_app()
    upgrade_database(schema_of(app))
    assert CORE_TABLES <= owned_tables("rotest_app")
    with app.app_context():
        assert CORE_TABLES <= set(inspect(db.engine).get_table_names())
    assert schema_differences(app) == []
    assert migration_status(schema_of(app)) == [("rotest", CORE_HEAD, CORE_HEAD)]


def test_upgrade_is_idempotent_and_keeps_data(make_app):
    app = make_app()
    upgrade_database(schema_of(app))
    with app.app_context():
        db.session.add(User(username="alice"))
        db.session.commit()
    upgrade_database(schema_of(app))
    upgrade_database(schema_of(make_app()))
    with app.app_context():
        assert db.session.query(User).count() == 1
    assert schema_differences(app) == []


def test_upgrade_adopts_a_database_made_by_create_all(make_app):
    app = make_app()
    with app.app_context():
        db.create_all()
    upgrade_database(schema_of(app))
    assert migration_status(schema_of(app)) == [("rotest", CORE_HEAD, CORE_HEAD)]


def test_runs_left_running_before_leases_get_one_and_end(make_app):
    """0004 gives a lease to runs that were running before leases existed:
    nothing stays running forever."""
    from alembic import command
    from rotest_app.engine import history
    from rotest_app.engine.schema import alembic_config
    app = make_app()
    with app.app_context():
        command.upgrade(alembic_config(schema_of(app)), "rotest_0003")
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO history_run (name, host, start, "
                                    "status, counts, settings, environment, run_dir) "
                                    "VALUES ('old', '', '2026-11-01 08:00:00', "
                                    "'running', '{}', '{}', '{}', '')"))
    upgrade_database(schema_of(app))
    with app.app_context():
        [run] = history.list_runs(db.session())["runs"]
        assert run["status"] == "running" and run["lease_until"] is not None
        lease_until = datetime.fromisoformat(run["lease_until"].rstrip("Z"))
        later = lease_until + timedelta(seconds=1)
        assert history.end_expired_runs(db.session(), now=later) == 1


CONCURRENT_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from rotest_app import create_app
    from rotest_app.engine.schema import upgrade_database
    from rotest_app.migrate import schema_of

    app = create_app()
    ready = Path(sys.argv[1])
    ready.touch()
    deadline = time.monotonic() + 60
    while len(list(ready.parent.glob("*.ready"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)  # start together, so the two upgrades really race
    upgrade_database(schema_of(app))
""")


def test_concurrent_upgrades_on_a_fresh_database_both_succeed(database_url, tmp_path):
    env = rotest_env(database_url, tmp_path)
    children = [subprocess.Popen([sys.executable, "-c", CONCURRENT_CHILD,
                                  str(tmp_path / f"{n}.ready")], env=env, cwd=tmp_path,
                                 stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    assert tables(database_url) >= CORE_TABLES | {"alembic_version"}


# --- plugins, through the rotest console script --------------------------------

def rotest_env(database_url: str, tmp_path: Path, plugin: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEST_")}
    env.update(ROTEST_DATABASE_URL=database_url, ROTEST_SECRET_KEY="test",
               ROTEST_WORKDIR=str(tmp_path / "workdir"),
               PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(REPO)]))
    if plugin:
        env["ROTEST_PLUGINS"] = PLUGIN
    return env


@pytest.fixture
def plugin_copy(tmp_path) -> Path:
    """A copy of tests/migrating_plugin, importable from tmp_path/site."""
    target = tmp_path / "site" / PLUGIN
    shutil.copytree(REPO / "tests" / PLUGIN, target,
                    ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    return target


@pytest.fixture
def rotest(database_url, tmp_path, plugin_copy):
    """Run ``rotest ARGS`` (with the plugin unless plugin=False); check it passed."""
    def run(*args: str, plugin: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "rotest_core.cli", *args],
                                env=rotest_env(database_url, tmp_path, plugin),
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result
    return run


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def assert_up_to_date(rotest) -> None:
    """`rotest db current` shows the core and the plugin branch at their heads."""
    lines = rotest("db", "current").stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["rotest", PLUGIN]
    assert all(line.endswith("(up to date)") for line in lines), lines


def test_plugin_branch_is_generated_then_applied(rotest, plugin_copy, database_url):
    rotest("db", "upgrade", plugin=False)
    assert "probe_data" not in tables(database_url)

    output = rotest("db", "migrate", "-m", "probes", "--plugin", PLUGIN).stdout
    [first] = (plugin_copy / "migrations" / "versions").glob("*.py")
    assert str(first) in output
    source = first.read_text()
    assert "op.create_table('probe_data'" in source
    assert f"branch_labels = ('{PLUGIN}',)" in source
    assert f"depends_on = '{CORE_HEAD}'" in source

    upgraded = rotest("db", "upgrade")
    assert NO_MIGRATIONS_WARNING not in upgraded.stderr
    assert "Running upgrade" in upgraded.stderr  # progress is shown
    assert {"serial", "id"} <= columns(database_url, "probe_data")
    assert_up_to_date(rotest)

    model = plugin_copy / "__init__.py"
    model.write_text(model.read_text() + "    firmware: Mapped[str | None] = "
                                          "mapped_column(String(32))\n")
    rotest("db", "migrate", "-m", "firmware", "--plugin", PLUGIN)
    rotest("db", "upgrade")
    assert "firmware" in columns(database_url, "probe_data")
    assert_up_to_date(rotest)

    unchanged = rotest("db", "migrate", "-m", "nothing", "--plugin", PLUGIN).stdout
    assert "no revision written" in unchanged
    assert len(list((plugin_copy / "migrations" / "versions").glob("*.py"))) == 2


def test_plugin_without_migrations_gets_its_tables_then_adopts_them(
        rotest, plugin_copy, database_url):
    first = rotest("db", "upgrade")
    assert NO_MIGRATIONS_WARNING in first.stderr
    assert "probe_data" in tables(database_url)
    assert NO_MIGRATIONS_WARNING not in rotest("db", "upgrade").stderr

    # The first revision creates every table of the plugin, for new databases,
    # and adopts those that upgrade_database already made here.
    rotest("db", "migrate", "-m", "probes", "--plugin", PLUGIN)
    [revision] = (plugin_copy / "migrations" / "versions").glob("*.py")
    assert "op.create_table('probe_data'" in revision.read_text()
    rotest("db", "upgrade")
    assert_up_to_date(rotest)


def test_migrate_names_an_unknown_plugin(sqlite_url, tmp_path, plugin_copy):
    result = subprocess.run(
        [sys.executable, "-m", "rotest_core.cli", "db", "migrate", "-m", "x",
         "--plugin", "nonesuch"], env=rotest_env(sqlite_url, tmp_path, plugin=True),
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "plugin 'nonesuch' is not loaded" in result.stderr
    assert "Traceback" not in result.stderr
