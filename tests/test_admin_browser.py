"""The admin site in a real browser (headless Chromium) against a real HTTP server."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from rotest_app.models import LockSession, ResourceData, User, db, utcnow
from server_process import ThreadedServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOT = Path("/tmp/admin.png")
PASSWORD = "browser-pass-1"

if not CHROMIUM.exists() and os.environ.get("CI", "").lower() != "true":
    pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package "
                f"(CI always runs this test)", allow_module_level=True)


@pytest.fixture
def app_config(sqlite_url, tmp_path):
    return {"database_url": sqlite_url, "workdir": str(tmp_path / "workdir"),
            "secret_key": "browser-test-secret", "plugins": ["lab_plugin"]}


@pytest.fixture
def server(app):
    """The app served over HTTP on a free port; yields its base URL."""
    with app.app_context():
        admin = User(username="root", is_admin=True)
        admin.set_password(PASSWORD)
        db.session.add(admin)
        db.session.commit()
    server = ThreadedServer(app)
    yield server.url
    server.stop()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=server)
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def find(app, name: str) -> ResourceData | None:
    with app.app_context():
        found = db.session.scalar(select(ResourceData).where(ResourceData.name == name))
        if found is not None:
            db.session.refresh(found)
            db.session.expunge(found)
        return found


def lock_directly(app, resource_id: int) -> None:
    """Hold the resource by a live session of the admin, as the engine would."""
    with app.app_context():
        # As the engine does: the write lock first (SQLite cannot turn a read
        # into a write once the server's sweeper has written meanwhile).
        db.session.connection(execution_options={"sqlite_immediate": True})
        user = db.session.scalar(select(User).where(User.username == "root"))
        session = LockSession(user=user, expires_at=utcnow() + timedelta(hours=1))
        db.session.add(session)
        db.session.flush()
        held = db.session.get(ResourceData, resource_id)
        held.session_id, held.owner, held.owner_time = session.id, "root", utcnow()
        db.session.commit()


def log_in(page) -> None:
    page.goto("/admin/devicedata/")
    assert "/admin/login" in page.url
    page.fill("#username", "root")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/admin/devicedata/")


def create_device(page, name: str) -> None:
    page.goto("/admin/devicedata/new/")
    page.fill("#name", name)
    page.fill("#ip_address", "192.0.2.10")
    page.fill("#comment", "added from the browser")
    page.click("input[type=submit][value=Save]")
    page.wait_for_url("**/admin/devicedata/")


def force_release_from_list(page, resource_id: int) -> None:
    page.goto("/admin/devicedata/")
    page.check(f"input.action-checkbox[value='{resource_id}']")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=With selected")
    with page.expect_navigation():
        page.click("a.dropdown-item:has-text('Force release')")


def test_create_and_force_release_in_a_browser(app, page):
    log_in(page)
    create_device(page, "browser-dut")
    created = find(app, "browser-dut")
    assert created is not None and created.ip_address == "192.0.2.10"

    lock_directly(app, created.id)
    force_release_from_list(page, created.id)
    assert page.locator(".alert-success", has_text="Released 1 resource(s)").is_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    released = find(app, "browser-dut")
    assert (released.session_id, released.owner, released.owner_time) == (None, "", None)


def test_form_without_csrf_token_is_refused_in_a_browser(app, page):
    log_in(page)
    page.goto("/admin/devicedata/new/")
    page.fill("#name", "no-token")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]')"
                  ".forEach(input => input.remove())")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("input[type=submit][value=Save]")
    assert posted.value.status == 400
    assert find(app, "no-token") is None
