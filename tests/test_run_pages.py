"""The server's run pages (/runs, /runs/<id>) through Flask's test client on
SQLite and PostgreSQL, for a run recorded over HTTP by the history handler;
then in headless Chromium."""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from api_helpers import add_user as add_token_user
from rotest_app.engine import history
from rotest_app.models import HistoryRun, User, db, utcnow
from rotest_app.web.views import run_view
from rotest_core.config import load_config
from rotest_core.runner import RunOptions, run
from runtime_samples import outcomes
from runtime_samples.fixtures import workdir  # noqa: F401 - fixture
from server_process import ThreadedServer
from test_admin import PASSWORD, log_in

CHROMIUM = Path("/usr/bin/chromium")


def add_person(app, username: str = "viewer") -> None:
    """A user who logs in with a password (not an admin: run pages are for all)."""
    with app.app_context():
        user = User(username=username)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()


@pytest.fixture
def recorded(app, workdir):
    """A run of the outcomes sample recorded on the server over HTTP; its id."""
    http = ThreadedServer(app)
    token = add_token_user(app, "tester")
    config = load_config(overrides={"host": "127.0.0.1", "port": http.port,
                                    "token": token})
    run(outcomes.TESTS, config, RunOptions(outputs=["history"], name="nightly"),
        stream=io.StringIO())
    http.stop()
    with app.app_context():
        return history.list_runs(db.session())["runs"][0]["id"]


@pytest.fixture
def client(app):
    add_person(app)
    client = app.test_client()
    assert log_in(client, "viewer").status_code == 302
    return client


def test_the_pages_need_a_login(app, recorded):
    anonymous = app.test_client()
    for url in ("/runs", f"/runs/{recorded}", f"/runs/{recorded}/artifact"):
        response = anonymous.get(url)
        assert response.status_code == 302, url
        assert "/admin/login?next=" in response.headers["Location"]


def test_the_runs_list_shows_each_run(client, recorded):
    page = client.get("/runs").get_data(as_text=True)
    row = re.search(r'<tr class="run">(.*?)</tr>', page, re.S).group(1)
    assert f'href="/runs/{recorded}"' in row and "nightly" in row
    assert 'class="failed">failed' in row and "tester" in row
    # error, failure, unexpected success, expected failure, skip, success
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["2", "2", "1", "1", "1", "3"]


def test_the_runs_list_filters_by_name_and_pages(app, client, recorded):
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username="tester"))
        for number in range(51):
            history.start_run(db.session(), user, name="other")
    named = client.get("/runs?name=nightly").get_data(as_text=True)
    assert named.count('<tr class="run">') == 1 and "1 run;" in named
    first = client.get("/runs").get_data(as_text=True)
    assert first.count('<tr class="run">') == 50 and "page 1 of 2" in first
    assert f'href="/runs/{recorded}"' not in first  # the oldest: on page 2
    assert 'href="/runs?page=2">older' in first
    second = client.get("/runs?page=2").get_data(as_text=True)
    assert second.count('<tr class="run">') == 2 and f'href="/runs/{recorded}"' in second


def test_runs_cut_short_say_after_how_many_tests(app, client):
    with app.app_context():
        session = db.session()
        user = session.scalar(db.select(User).filter_by(username="viewer"))
        runs = {}
        for name, planned, ended, status in [("killed", 20, 8, None),
                                             ("stopped", 20, 8, "interrupted"),
                                             ("unplanned", None, 2, None),
                                             ("green", 2, 2, "done")]:
            run = history.start_run(session, user, name=name, planned=planned)
            history.add_records(session, user, run["id"], [
                {"path": f"t{n}", "kind": "case", "outcome": "success"}
                for n in range(ended)])
            if status:
                history.finish_run(session, user, run["id"],
                                   status=None if status == "done" else status)
            runs[name] = run["id"]
        session.execute(db.update(HistoryRun).where(HistoryRun.name != "stopped")
                        .values(lease_until=utcnow()))
        session.commit()
        assert history.end_expired_runs(session) == 2  # killed, unplanned
    page = client.get("/runs").get_data(as_text=True)
    assert 'class="aborted">aborted after 8 of 20<' in page
    assert 'class="interrupted">interrupted after 8 of 20<' in page
    assert 'class="aborted">aborted after 2<' in page
    assert 'class="passed">passed<' in page
    one = client.get(f"/runs/{runs['killed']}").get_data(as_text=True)
    assert 'class="status-aborted"' in one and ">aborted after 8 of 20</span>" in one


def embedded_view(page: str) -> dict:
    """The run view the report's page carries (as JSON, drawn by its script)."""
    data = re.search(r'<script type="application/json" id="run-data">(.*?)</script>',
                     page, re.S)
    return json.loads(data.group(1))


def walk(node: dict):
    yield node
    for child in node["children"]:
        yield from walk(child)


def test_a_run_page_shows_its_tree(client, recorded):
    response = client.get(f"/runs/{recorded}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "nightly" in page and "<b>&amp;" not in page  # the hostile text is escaped
    tree = embedded_view(page)["tree"]
    nodes = {node["name"]: node for node in walk(tree)}
    assert {name: nodes[name]["outcome"] for name in outcomes.EXPECTED} == outcomes.EXPECTED
    assert [child["name"] for child in nodes["OuterSuite"]["children"]] == [
        "PassingCase.test_passes", "PassingCase.test_with_messages", "InnerSuite"]
    assert "one is not two" in nodes["ProblemCase.test_fails"]["details"][0][1]
    assert client.get("/runs/99999").status_code == 404


def test_the_view_has_the_shape_the_report_renders(app, recorded):
    with app.app_context():
        view = run_view(history.get_run(db.session(), recorded))
    assert set(view) == {"name", "start", "end", "duration", "status", "status_text",
                         "counts", "environment", "settings", "artifact", "tree"}
    root = view["tree"]
    assert (root["name"], root["kind"], root["outcome"]) == ("nightly", "suite", "error")
    nodes, stack = [], [root]
    while stack:
        nodes.append(stack.pop())
        stack.extend(nodes[-1]["children"])
    assert len({node["id"] for node in nodes}) == len(nodes) == 13  # the run, 2 suites, 10 tests
    assert all(set(node) == {"id", "name", "kind", "classname", "outcome", "start",
                             "end", "duration", "description", "tags", "note",
                             "resources", "infos", "details", "log", "stdout",
                             "stderr", "reruns", "signatures", "lock_wait", "setup_time",
                             "children"}
               for node in nodes)
    leaves = {node["name"]: node["outcome"] for node in nodes if node["kind"] == "case"}
    assert leaves == outcomes.EXPECTED


def set_artifact(app, run_id: int, path: Path) -> None:
    with app.app_context():
        found = db.session.get(HistoryRun, run_id)
        found.artifact_path = str(path)
        db.session.commit()


def test_the_artifact_is_served_only_from_the_artifacts_dir(app, client, recorded,
                                                           tmp_path):
    inside = Path(app.config["ROTEST"]["workdir"]) / "artifacts" / "run.zip"
    inside.parent.mkdir(parents=True)
    with zipfile.ZipFile(inside, "w") as archive:
        archive.writestr("run/test.log", "hello")
    set_artifact(app, recorded, inside)
    page = client.get(f"/runs/{recorded}").get_data(as_text=True)
    assert f"/runs/{recorded}/artifact" in page
    download = client.get(f"/runs/{recorded}/artifact")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(download.data)).read("run/test.log") == b"hello"

    outside = tmp_path / "elsewhere.zip"
    outside.write_bytes(inside.read_bytes())
    set_artifact(app, recorded, outside)
    page = client.get(f"/runs/{recorded}").get_data(as_text=True)
    assert str(outside) in page and f"/runs/{recorded}/artifact" not in page
    assert client.get(f"/runs/{recorded}/artifact").status_code == 404


@pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI", "") != "true",
                    reason=f"no Chromium at {CHROMIUM} (CI always runs this test)")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_pages_in_a_browser(app, recorded):
    from playwright.sync_api import sync_playwright
    from test_admin_browser import CHROMIUM_ARGS
    add_person(app)
    http = ThreadedServer(app)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                 headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(base_url=http.url)
            page.set_default_timeout(15_000)
            page.goto("/runs")  # to the login, and back
            page.fill("input[name=username]", "viewer")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_url("**/runs")
            page.click(f"a[href='/runs/{recorded}']")
            page.wait_for_url(f"**/runs/{recorded}")
            assert "ProblemCase.test_fails" in page.content()
            browser.close()
    finally:
        http.stop()


def test_a_run_page_shows_each_test_s_wait_for_locks_and_the_total(app, client):
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username="viewer"))
        run_id = history.start_run(db.session(), user, name="waits")["id"]
        history.add_records(db.session(), user, run_id, [
            {"path": "m.C.test_waited", "kind": "case", "classname": "m.C",
             "name": "C.test_waited", "outcome": "success", "lock_wait": 12.5,
             "setup_time": 0.5},
            {"path": "m.C.test_locked_nothing", "kind": "case", "classname": "m.C",
             "name": "C.test_locked_nothing", "outcome": "success"}])
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    nodes = {node["name"]: node for node in walk(embedded_view(page)["tree"])}
    assert nodes["C.test_waited"]["lock_wait"] == 12.5
    assert nodes["C.test_locked_nothing"]["lock_wait"] is None
    assert re.search(r'id="lock-wait"[^>]*>waited <strong>12.5 s</strong> for locks', page)
