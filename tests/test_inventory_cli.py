"""``rotest resources``: import, list and release, in embedded mode (the local
database) and remote mode (the Flask app served on a local port), invoked
in-process through click's CliRunner."""
from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from server_process import ThreadedServer

from api_helpers import add_user
from engine_helpers import Lab
from rotest_core.inventory import resources
from rotest_core.store import EmbeddedClient, descriptor

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "calculator"

LAB_YML = """\
- type: DeviceData
  name: dev1
  ip_address: 10.0.0.1
  comment: the first one
  port: {type: PortData, name: port1, number: 1}
- type: DeviceData
  name: dev2
  ip_address: 10.0.0.2
  mode: fast
  port: {name: port2, number: 2}     # the type defaults to the relation's
- type: LicenseData
  name: lic
  seats: 5
  group: lab-a
"""


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str | None]:
    """Embedded mode, with the lab plugin and a work directory of its own."""
    monkeypatch.chdir(tmp_path)  # no stray rotest.yml
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ROTEST_")}
    env.update(ROTEST_WORKDIR=str(tmp_path / "work"), ROTEST_PLUGINS="lab_plugin")
    return env


@pytest.fixture
def rotest(env):
    """Invoke ``rotest resources ARGS`` in-process."""
    def invoke(*args: str, **extra_env: str) -> Result:
        return CliRunner().invoke(resources, list(args), env={**env, **extra_env})
    return invoke


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'work' / 'rotest.db'}"


def write(tmp_path: Path, text: str, name: str = "lab.yml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def failed(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def imported(rotest, tmp_path, url):
    ok(rotest("import", write(tmp_path, LAB_YML)))
    lab = Lab(url, create=False)
    yield lab
    lab.dispose()


# ---------------------------------------------------------------------------
# import and list, embedded
# ---------------------------------------------------------------------------

def test_import_creates_resources_with_their_sub_resources(rotest, tmp_path):
    output = ok(rotest("import", write(tmp_path, LAB_YML)))
    assert "created PortData port1" in output
    assert "created DeviceData dev1" in output
    assert "Imported 5 resource(s)" in output and "5 created, 0 updated" in output
    rows = {r["name"]: r for r in json.loads(ok(rotest("list", "--json")))}
    assert set(rows) == {"dev1", "dev2", "port1", "port2", "lic"}
    assert rows["dev1"]["port"]["name"] == "port1"
    assert rows["dev2"]["port"]["number"] == 2 and rows["dev2"]["mode"] == "fast"
    assert rows["lic"]["group"] == "lab-a" and rows["lic"]["seats"] == 5


def test_list_shows_a_table_of_one_type_or_all(imported, rotest):
    lines = ok(rotest("list", "DeviceData")).splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "OWNER", "USABLE", "GROUP", "COMMENT"]
    assert lines[1].split() == ["dev1", "DeviceData", "-", "yes", "-", "the", "first", "one"]
    assert len(lines) == 3
    everything = ok(rotest("list"))
    assert "PortData" in everything and "LicenseData" in everything
    assert "lab-a" in everything
    assert ok(rotest("list", "PortData", "--json")).count('"type": "PortData"') == 2


def test_list_of_an_unknown_type_says_so(imported, rotest):
    assert "unknown resource type 'Nope'" in failed(rotest("list", "Nope"), 2)


def test_import_again_updates_by_name(imported, rotest, tmp_path):
    output = ok(rotest("import", write(tmp_path, """\
- type: DeviceData
  name: dev1
  ip_address: 10.9.9.9
  is_usable: false
  port: port2            # an existing resource, by name
- {type: PortData, name: port1, number: 11}
""", "update.yml")))
    assert "updated DeviceData dev1" in output and "0 created, 2 updated" in output
    rows = {r["name"]: r for r in json.loads(ok(rotest("list", "--json")))}
    assert len(rows) == 5
    assert rows["dev1"]["ip_address"] == "10.9.9.9" and rows["dev1"]["is_usable"] is False
    assert rows["dev1"]["port"]["name"] == "port2"
    assert rows["dev1"]["comment"] == "the first one"  # fields not given stay
    assert rows["port1"]["number"] == 11


def test_import_refuses_to_change_a_locked_resource(imported, rotest, tmp_path, url):
    client = EmbeddedClient(url, username="alice")
    client.open()
    try:
        client.lock([descriptor("DeviceData", name="dev1")])
        text = "- {type: DeviceData, name: dev1, ip_address: 10.0.0.1}\n"
        assert "0 created, 0 updated, 1 unchanged" in ok(rotest("import",
                                                                 write(tmp_path, text)))
        text = "- {type: DeviceData, name: dev1, ip_address: 10.7.7.7}\n"
        output = failed(rotest("import", write(tmp_path, text)))
        assert "dev1 is locked by alice; release it first" in output
    finally:
        client.close()


# ---------------------------------------------------------------------------
# bad files
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("- type: DeviceData\n  name: [unclosed\n", "not valid YAML"),
    ("", "expected a list of resources"),
    ("type: DeviceData\nname: dev1\n", "expected a list of resources"),
    ("- just a string\n", "entry 1: expected a mapping with 'type' and 'name'"),
    ("- {name: dev1}\n", "entry 1: missing 'type'"),
    ("- {type: DeviceData, name: ok}\n- {type: Nope, name: x}\n",
     "entry 2: unknown resource type 'Nope'; known types: "),
    ("- {type: DeviceData}\n", "entry 1: 'name' must be a non-empty string"),
    ("- {type: DeviceData, name: d, colour: red}\n",
     "entry 1 (d), field 'colour': DeviceData has no such field; it has comment, "),
    ("- {type: DeviceData, name: d, ip_address: [1, 2]}\n",
     "entry 1 (d), field 'ip_address': 'ip_address' expects"),
    ("- {type: LicenseData, name: l, seats: many}\n",
     "entry 1 (l), field 'seats': 'seats' expects"),
    ("- {type: DeviceData, name: d, port: {name: p, number: x}}\n",
     "entry 1 (d), field 'port' (p), field 'number': 'number' expects"),
    ("- {type: DeviceData, name: d, port: {type: LicenseData, name: p}}\n",
     "entry 1 (d), field 'port': expected a PortData, got type LicenseData"),
    ("- {type: DeviceData, name: d, port: nowhere}\n",
     "entry 1 (d), field 'port': no PortData named 'nowhere'"),
    ("- {type: DeviceData, name: d, owner: me}\n",
     "entry 1 (d), field 'owner': kept by the lock engine"),
    ("- {type: PortData, name: p}\n- {type: DeviceData, name: p}\n",
     "entry 2 (p): p already exists as a PortData, not a DeviceData"),
])
def test_bad_files_are_explained_and_change_nothing(rotest, tmp_path, url, text, message):
    path = write(tmp_path, text, "bad.yml")
    output = failed(rotest("import", path))
    assert message in output
    assert path in output
    lab = Lab(url, create=False) if Path(url[len("sqlite:///"):]).exists() else None
    if lab is not None:  # all or nothing: not even the good entries are there
        assert lab.holders() == {}
        lab.dispose()


def test_import_of_a_missing_file_is_a_usage_error(rotest):
    assert "does not exist" in failed(rotest("import", "nothing.yml"), code=2)


# ---------------------------------------------------------------------------
# release, embedded
# ---------------------------------------------------------------------------

def test_release_gives_back_what_a_dead_run_of_mine_held(imported, rotest, url):
    client = EmbeddedClient(url)  # the local user, as `rotest run` locks
    client.open()
    client.lock([descriptor("DeviceData", name="dev1")])
    client._stop.set()  # the run "dies": no close, no release
    assert imported.row("port1")["owner"] == getpass.getuser()
    assert "Released dev1." in ok(rotest("release", "dev1"))
    assert imported.holders()["dev1"] is None and imported.holders()["port1"] is None
    assert "dev1 is not locked" in failed(rotest("release", "dev1"))
    client.engine.dispose()


def test_release_of_someone_elses_needs_force(imported, rotest, url):
    client = EmbeddedClient(url, username="alice")
    client.open()
    try:
        client.lock([descriptor("DeviceData", name="dev2")])
        assert "only its owner may release it" in failed(rotest("release", "dev2"))
        assert "Released dev2." in ok(rotest("release", "dev2", "--force"))
        assert imported.holders()["dev2"] is None
    finally:
        client.close()


def test_release_of_an_unknown_name_says_so(imported, rotest):
    assert "no resource named ghost" in failed(rotest("release", "ghost"))


# ---------------------------------------------------------------------------
# remote mode: the same commands through the API
# ---------------------------------------------------------------------------

@pytest.fixture
def server(imported, url, tmp_path):
    """The Flask app on the imported database, served on a local port."""
    from rotest_app import create_app
    app = create_app({"database_url": url, "plugins": ["lab_plugin"],
                      "workdir": str(tmp_path / "server"), "secret_key": "test"})
    server = ThreadedServer(app)
    yield app, server.port
    server.stop()
    app.extensions["rotest_sweeper"].stop()


@pytest.fixture
def remote(server, rotest):
    """``rotest resources`` configured for the server, as user bob."""
    app, port = server
    token = add_user(app, "bob")

    def invoke(*args: str, **extra_env: str) -> Result:
        return rotest(*args, ROTEST_HOST="127.0.0.1", ROTEST_PORT=str(port),
                      ROTEST_TOKEN=token, **extra_env)
    return invoke


def test_remote_list_and_release_go_through_the_api(remote, imported, url):
    rows = json.loads(ok(remote("list", "DeviceData", "--json")))
    assert [r["name"] for r in rows] == ["dev1", "dev2"]
    assert "lab-a" not in ok(remote("list"))  # bob is not in the licence's group
    client = EmbeddedClient(url, username="bob")
    client.open()
    try:
        client.lock([descriptor("DeviceData", name="dev1")])
        assert "Released dev1." in ok(remote("release", "dev1"))
        assert imported.holders()["dev1"] is None
        client.lock([descriptor("DeviceData", name="dev2")])
        assert "only an admin may force" in failed(remote("release", "dev2", "--force"))
    finally:
        client.close()


@pytest.fixture
def admin(server) -> dict[str, str]:
    """The settings of ``rotest resources`` for the server, as an admin."""
    app, port = server
    return {"ROTEST_HOST": "127.0.0.1", "ROTEST_PORT": str(port),
            "ROTEST_TOKEN": add_user(app, "root", is_admin=True)}


def test_remote_import_and_export_go_through_the_api_for_an_admin(admin, rotest, tmp_path):
    path = write(tmp_path, "- {type: DeviceData, name: dev9, port: {type: PortData, "
                           "name: port9}}\n- {type: DeviceData, name: dev1}\n", "more.yml")
    output = ok(rotest("import", path, **admin))
    assert "created PortData port9\ncreated DeviceData dev9\n" in output
    assert "2 created, 0 updated, 1 unchanged" in output
    # The server's export is the embedded engine's, byte for byte, of the same database.
    exported = tmp_path / "remote.yml"
    assert "Exported 7 resource(s)" in ok(rotest("export", "-o", str(exported), **admin))
    assert exported.read_text() == ok(rotest("export"))
    assert ok(rotest("export", "DeviceData", **admin)) == ok(rotest("export", "DeviceData"))
    assert "unknown resource type 'Nope'" in failed(rotest("export", "Nope", **admin), 2)


def test_remote_import_is_for_admins_and_all_or_none(remote, admin, rotest, tmp_path):
    path = write(tmp_path, "- {type: DeviceData, name: dev9}\n", "more.yml")
    assert "only an admin may import resources" in failed(remote("import", path))
    assert "only an admin may export resources" in failed(remote("export"))
    bad = write(tmp_path, "- {type: DeviceData, name: new1}\n- {type: DeviceData, name: "
                          "new2, colour: red}\n", "bad.yml")
    output = failed(rotest("import", bad, **admin))
    assert f"{bad}:2: entry 2 (new2), field 'colour'" in output
    names = [r["name"] for r in json.loads(ok(remote("list", "DeviceData", "--json")))]
    assert names == ["dev1", "dev2"]


def test_remote_import_with_the_database_url(remote, tmp_path, url):
    path = write(tmp_path, "- {type: DeviceData, name: dev9}\n", "more.yml")
    assert "1 created" in ok(remote("import", path, ROTEST_DATABASE_URL=url))
    assert [r["name"] for r in json.loads(ok(remote("list", "DeviceData", "--json")))] \
        == ["dev1", "dev2", "dev9"]


def test_remote_without_a_token_says_how_to_get_one(server, rotest):
    _, port = server
    output = failed(rotest("list", ROTEST_HOST="127.0.0.1", ROTEST_PORT=str(port)), 2)
    assert "rotest tokens create" in output


# ---------------------------------------------------------------------------
# the calculator example's inventory
# ---------------------------------------------------------------------------

def test_the_calculator_examples_resources_import(tmp_path):
    # In a subprocess: the example's models stay out of this process's tables.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEST_")}
    env.update(ROTEST_CONFIG=str(EXAMPLE / "rotest.yml"),
               ROTEST_WORKDIR=str(tmp_path / "work"),
               PYTHONPATH=os.pathsep.join([str(REPO), str(EXAMPLE)]))

    def rotest_resources(*args: str) -> subprocess.CompletedProcess:
        code = "from rotest_core.inventory import resources; resources()"
        return subprocess.run([sys.executable, "-c", code, *args], cwd=EXAMPLE, env=env,
                              capture_output=True, text=True, timeout=120)

    imported = rotest_resources("import", "resources.yml")
    assert imported.returncode == 0, imported.stderr
    assert "4 created" in imported.stdout
    assert "ships no migrations" not in imported.stderr  # the plugin's migration ran
    listed = rotest_resources("list", "CalculatorData", "--json")
    calculators = {r["name"]: r for r in json.loads(listed.stdout)}
    assert set(calculators) == {"calc1", "calc2"}
    assert calculators["calc2"]["sub_process"]["name"] == "calc2-worker"
    assert calculators["calc1"]["port"] == 18861


# ---------------------------------------------------------------------------
# at lab scale: batches, counts, export, statistics, pages
# ---------------------------------------------------------------------------

def test_import_counts_what_it_left_unchanged(imported, rotest, tmp_path):
    output = ok(rotest("import", write(tmp_path, LAB_YML)))
    assert "Imported 5 resource(s)" in output
    assert "0 created, 0 updated, 5 unchanged" in output
    assert "updated " not in output.replace("0 updated", "")  # no line per resource
    changed = LAB_YML.replace("the first one", "moved to rack 2")
    output = ok(rotest("import", "-q", write(tmp_path, changed, "changed.yml")))
    assert output.splitlines() == [output.strip()]  # -q: the counts only
    assert "0 created, 1 updated, 4 unchanged" in output
    assert imported.row("dev1")["comment"] == "moved to rack 2"


def test_a_bad_entry_in_a_later_batch_names_its_line_and_changes_nothing(
        imported, rotest, tmp_path, url, monkeypatch):
    """Batches before the bad entry were already flushed: the transaction
    still takes them all back."""
    import rotest_app.engine.importer
    monkeypatch.setattr(rotest_app.engine.importer, "BATCH", 2)
    entries = ["- {type: DeviceData, name: dev1, comment: changed}",
               "- {type: PortData, name: new1, number: 7}",
               "- type: DeviceData\n  name: new2\n  port: {name: new3}",
               "- {type: LicenseData, name: lic, seats: 9, group: lab-b}",
               "- type: DeviceData\n  name: bad\n  ip_address: [1, 2]"]
    text = "# the lab\n" + "\n".join(entries) + "\n"
    assert text.splitlines().index("- type: DeviceData", 4) + 1 == 8
    path = write(tmp_path, text, "bad.yml")
    output = failed(rotest("import", path))
    assert f"{path}:8: entry 5 (bad), field 'ip_address': 'ip_address' expects" in output
    assert set(imported.holders()) == {"dev1", "dev2", "port1", "port2", "lic"}
    assert imported.row("dev1")["comment"] == "the first one"
    rows = {r["name"]: r for r in json.loads(ok(rotest("list", "--json")))}
    assert rows["lic"]["seats"] == 5 and rows["lic"]["group"] == "lab-a"


def test_bad_yaml_names_its_line(rotest, tmp_path):
    text = "- {type: DeviceData, name: a}\n- {type: DeviceData, name: b}\n- [unclosed\n"
    path = write(tmp_path, text, "broken.yml")
    assert f"{path}:4: not valid YAML" in failed(rotest("import", path))


def test_export_then_import_is_a_no_op_and_rebuilds_the_same_lab(imported, rotest,
                                                                 tmp_path, url):
    from datetime import datetime

    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from rotest_app.models import ResourceData
    # A part made after the resource wired to it: the export must write it first.
    ok(rotest("import", write(tmp_path, "- {type: PortData, name: late-port, number: 9}\n"
                                        "- {type: DeviceData, name: dev1, port: late-port}\n",
                              "late.yml")))
    with Session(imported.engine) as s:
        s.execute(update(ResourceData).where(ResourceData.name == "dev2").values(
            reserved="alice", reserved_time=datetime(2026, 1, 2, 3, 4, 5),
            comment="ünïcode: with 'quotes', a # and\na second line"))
        s.commit()
    exported = tmp_path / "exported.yml"
    assert "Exported 6 resource(s)" in ok(rotest("export", "-o", str(exported)))
    names = [line.split(": ", 1)[1] for line in exported.read_text().splitlines()
             if line.startswith("  name: ")]
    assert names.index("late-port") < names.index("dev1")
    assert "0 created, 0 updated, 6 unchanged" in ok(rotest("import", str(exported)))
    # A fresh database gets the same lab, and exports the same file.
    fresh = {"ROTEST_WORKDIR": str(tmp_path / "fresh")}
    assert "6 created" in ok(rotest("import", str(exported), **fresh))
    assert ok(rotest("export", **fresh)) == exported.read_text()
    rows = {r["name"]: r for r in json.loads(ok(rotest("list", "--json", **fresh)))}
    assert rows["dev1"]["port"]["name"] == "late-port"
    assert rows["dev2"]["reserved"] == "alice" and rows["lic"]["group"] == "lab-a"
    assert rows["dev2"]["comment"].endswith("a # and\na second line")


def test_export_of_one_type_writes_the_parts_it_needs(imported, rotest, tmp_path):
    text = ok(rotest("export", "DeviceData"))
    assert text.index("name: port1") < text.index("name: dev1")
    assert "LicenseData" not in text
    assert "unknown resource type 'Nope'" in failed(rotest("export", "Nope"), code=2)


def test_import_refreshes_the_planners_statistics(rotest, tmp_path, url):
    from sqlalchemy import create_engine, text
    ok(rotest("import", write(tmp_path, LAB_YML)))
    engine = create_engine(url)
    with engine.connect() as connection:
        analyzed = {row[0] for row in connection.execute(text("SELECT tbl FROM sqlite_stat1"))}
    engine.dispose()
    assert {"resource", "device_data", "port_data"} <= analyzed


def test_list_limit_and_filters(imported, rotest):
    rows = json.loads(ok(rotest("list", "DeviceData", "--json", "-f",
                                "ip_address__startswith=10.0.0.")))
    assert [r["name"] for r in rows] == ["dev1", "dev2"]
    output = ok(rotest("list", "DeviceData", "--limit", "1"))
    assert "dev1" in output and "dev2" not in output
    assert "Showing the first 1; more match" in output
    assert "more match" not in ok(rotest("list", "DeviceData", "--limit", "2"))
    assert "No resources of type PortData matching the filters." in ok(
        rotest("list", "PortData", "-f", "number__gt=2"))
    assert [r["name"] for r in json.loads(ok(rotest("list", "--json", "-f", "mode=fast",
                                                    "DeviceData")))] == ["dev2"]
    assert "write FIELD=VALUE" in failed(rotest("list", "-f", "nonsense"), code=2)


def test_list_reads_every_page_in_both_modes(remote, rotest, monkeypatch):
    """Pages of two: five resources are three pages, none cut."""
    import rotest_app.engine as engine
    monkeypatch.setattr(engine, "DEFAULT_PAGE", 2)  # the server's (remote)
    monkeypatch.setattr(engine, "MAX_PAGE", 2)      # the embedded client's
    everything = {"dev1", "dev2", "port1", "port2", "lic"}
    assert {r["name"] for r in json.loads(ok(rotest("list", "--json")))} == everything
    seen_by_bob = everything - {"lic"}  # not in lab-a
    names = [r["name"] for r in json.loads(ok(remote("list", "--json")))]
    assert len(names) == 4 and set(names) == seen_by_bob
    output = ok(remote("list", "--limit", "3"))
    assert output.count("\n") == 4 + 1 and "Showing the first 3" in output


def test_import_and_export_on_both_databases(rotest, tmp_path, database_url, monkeypatch):
    """In batches of two (parts made in one batch, used in the next): the
    same lab, the same all-or-nothing, the same no-op re-import."""
    import rotest_app.engine.importer
    monkeypatch.setattr(rotest_app.engine.importer, "BATCH", 2)
    on = {"ROTEST_DATABASE_URL": database_url}
    assert "5 created" in ok(rotest("import", write(tmp_path, LAB_YML), **on))
    more = ("- {type: PortData, name: p8}\n"
            "- {type: DeviceData, name: dev4, port: p8}\n"  # made in the same batch
            "- {type: DeviceData, name: dev3, port: port2}\n- {type: PortData, name: p9}\n"
            "- {type: DeviceData, name: dev5, port: {name: p7}}\n")
    bad = more + "- {type: PortData, name: p10, number: ten}\n"
    assert "bad.yml:6: entry 6 (p10)" in failed(rotest("import", write(tmp_path, bad,
                                                                      "bad.yml"), **on))
    assert "6 created" in ok(rotest("import", write(tmp_path, more, "more.yml"), **on))
    exported = ok(rotest("export", **on))
    names = [line[len("  name: "):] for line in exported.splitlines()
             if line.startswith("  name: ")]
    assert sorted(names) == ["dev1", "dev2", "dev3", "dev4", "dev5", "lic", "p7", "p8",
                             "p9", "port1", "port2"]
    assert names.index("port1") < names.index("dev1")
    again = write(tmp_path, exported, "again.yml")
    assert "0 created, 0 updated, 11 unchanged" in ok(rotest("import", again, **on))
    rows = {r["name"]: r for r in json.loads(ok(rotest("list", "--json", **on)))}
    assert rows["dev3"]["port"]["name"] == "port2" and rows["dev1"]["port"]["number"] == 1
    assert rows["dev4"]["port"]["name"] == "p8" and rows["dev5"]["port"]["name"] == "p7"
