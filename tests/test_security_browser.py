"""Issue 24 in a real browser (headless Chromium) against gunicorn: a crafted
``next`` never takes the browser off the site, and the admin site still works
under its Content Security Policy (no script refused, widgets alive)."""
from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rotest_app.engine import open_engine
from rotest_app.models import ResourceData, User, db
from server_process import ROOT, GunicornServer, server_env
from test_admin_browser import CHROMIUM, CHROMIUM_ARGS

import lab_plugin

PASSWORD = "browser-pass-1"

if not CHROMIUM.exists() and os.environ.get("CI", "").lower() != "true":
    pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package "
                f"(CI always runs this test)", allow_module_level=True)


@pytest.fixture
def server(sqlite_url, tmp_path):
    engine = open_engine(sqlite_url)
    db.metadata.create_all(engine)
    with Session(engine) as session:
        root = User(username="root", is_admin=True)
        root.set_password(PASSWORD)
        session.add_all([root, lab_plugin.DeviceData(name="victim", ip_address="192.0.2.9")])
        session.commit()
    engine.dispose()
    env = server_env(sqlite_url, tmp_path / "workdir")
    with GunicornServer(env, workers=1, threads=8, log=tmp_path / "gunicorn.log",
                        cwd=ROOT) as running:
        running.database_url = sqlite_url
        yield running


@pytest.fixture
def elsewhere():
    """Another site on 127.0.0.1 that records every request it gets."""
    hits: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"landed elsewhere")

        def log_message(self, *args) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True).start()
    http.hits = hits
    yield http
    http.shutdown()
    http.server_close()


@pytest.fixture
def browser(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser, server, refused: list[str] | None = None):
    page = browser.new_context(base_url=server.url).new_page()
    page.set_default_timeout(15_000)
    if refused is not None:
        page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)
        page.on("pageerror", lambda error: refused.append(str(error)))
    return page


def log_in(page, next_url: str | None = None) -> None:
    page.goto("/admin/login" + (f"?next={quote(next_url, safe='')}" if next_url else ""))
    page.fill("#username", "root")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button:has-text('Log in')")
    page.wait_for_load_state("load")


def test_chromium_never_leaves_the_site_after_login(browser, server, elsewhere):
    port = elsewhere.server_port
    for crafted in (f"/\t/127.0.0.1:{port}/landed", f"/\\127.0.0.1:{port}/landed",
                    f"//127.0.0.1:{port}/landed", f"/\n/127.0.0.1:{port}/landed",
                    f"http://127.0.0.1:{port}/landed"):
        page = new_page(browser, server)
        log_in(page, crafted)
        assert page.url == server.url + "/admin/", crafted
        assert page.locator(".display-4").first.is_visible()  # the dashboard
        page.context.close()
    assert elsewhere.hits == []


def test_admin_works_under_its_content_security_policy(browser, server):
    refused: list[str] = []
    page = new_page(browser, server, refused)
    log_in(page, "/admin/devicedata/")
    policy = page.evaluate("fetch(location.href).then(r => "
                           "r.headers.get('content-security-policy'))")
    assert "script-src 'self' 'nonce-" in policy

    # Scripted widgets: select2 on the user form, the actions menu, a confirm().
    page.goto("/admin/users/new/")
    assert page.locator(".select2-container").count() > 0
    page.goto("/admin/devicedata/")
    victim = find(server, "victim")
    page.check(f"input.action-checkbox[value='{victim.id}']")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=With selected")
    with page.expect_navigation():
        page.click("a.dropdown-item:has-text('Delete')")
    assert page.locator(".alert-success").is_visible()
    assert find(server, "victim") is None
    assert refused == []


def find(server, name: str) -> ResourceData | None:
    engine = open_engine(server.database_url)
    with Session(engine) as session:
        found = session.scalar(select(ResourceData).where(ResourceData.name == name))
        if found is not None:
            session.expunge(found)
    engine.dispose()
    return found
