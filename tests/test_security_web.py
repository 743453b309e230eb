"""Attacks on the web side of the server (issue 24, items 4, 5, 6 and 8), run
over HTTP against the real server: gunicorn with two gthread workers, on
SQLite and PostgreSQL. Each test is an attack that worked before the fix."""
from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from rotest_app.engine import open_engine
from rotest_app.models import ApiToken, User, db
from server_process import ROOT, GunicornServer, server_env

import lab_plugin  # noqa: F401 - seed creates its tables too

PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
THROTTLED = "Too many failed logins"
WRONG = "Wrong username or password"


def seed(database_url: str) -> str:
    """Schema, admin 'root' and user 'bob' (password PASSWORD); root's API token."""
    engine = open_engine(database_url)
    db.metadata.create_all(engine)
    with Session(engine) as session:
        root, bob = User(username="root", is_admin=True), User(username="bob")
        for user in (root, bob):
            user.set_password(PASSWORD)
        token, plain = ApiToken.issue(root)
        session.add_all([root, bob, token])
        session.commit()
    engine.dispose()
    return plain


def start_server(database_url: str, tmp_path: Path, **settings) -> GunicornServer:
    env = server_env(database_url, tmp_path / "workdir", **settings)
    return GunicornServer(env, workers=2, threads=4, log=tmp_path / "gunicorn.log",
                          cwd=ROOT).start()


@pytest.fixture
def server(database_url, tmp_path):
    token = seed(database_url)
    running = start_server(database_url, tmp_path, login_limit_user="3 per 15 minutes",
                           login_limit_address="1000 per 15 minutes",
                           max_request_bytes=2000)
    running.token = token
    running.database_url = database_url
    yield running
    running.stop()


def csrf_token(browser: requests.Session, url: str) -> str:
    page = browser.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return CSRF_INPUT.search(page.text).group(1)


def log_in(server, browser: requests.Session | None = None, username: str = "root",
           password: str = PASSWORD, next_url: str | None = None, **headers):
    """POST the login form as a browser would; the answer is not followed."""
    browser = browser or requests.Session()
    token = csrf_token(browser, server.url + "/admin/login")
    return browser.post(server.url + "/admin/login",
                        params={"next": next_url} if next_url is not None else None,
                        data={"username": username, "password": password,
                              "csrf_token": token},
                        headers=headers, allow_redirects=False)


def logged_in(server, username: str = "root") -> requests.Session:
    browser = requests.Session()
    answer = log_in(server, browser, username)
    assert answer.status_code == 302, answer.text[-500:]
    return browser


def opens(browser: requests.Session, url: str) -> bool:
    """Whether the session's cookie opens ``url`` (else: sent to the login)."""
    answer = browser.get(url, allow_redirects=False)
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def with_cookies(cookies) -> requests.Session:
    """A browser that replays captured cookies."""
    browser = requests.Session()
    browser.cookies.update(cookies)
    return browser


def post_form(server, browser, path: str, data: dict, form_path: str | None = None):
    token = csrf_token(browser, server.url + (form_path or path))
    return browser.post(server.url + path, data={**data, "csrf_token": token},
                        allow_redirects=False)


def user_id(database_url: str, username: str) -> int:
    engine = open_engine(database_url)
    with Session(engine) as session:
        found = session.scalar(select(User.id).where(User.username == username))
    engine.dispose()
    return found


# --- item 4: a login that resists guessing -----------------------------------------

def test_guessing_one_users_password_is_stopped_with_429(server):
    for _ in range(3):
        answer = log_in(server, password="guess")
        assert answer.status_code == 200 and WRONG in answer.text
    stopped = log_in(server, password="guess")
    assert stopped.status_code == 429
    assert THROTTLED in stopped.text
    assert 0 < int(stopped.headers["Retry-After"]) <= 15 * 60
    # Even the right password waits now: the guesser cannot tell it is right.
    assert log_in(server).status_code == 429
    # Another user, from the same address, is not locked out by root's limit.
    assert log_in(server, username="bob").status_code == 302


def test_failures_are_counted_by_every_worker_together(server):
    """Two workers, new connections each time: the limit is the limit."""
    answers = [log_in(server, password=f"guess-{n}").status_code for n in range(6)]
    assert answers == [200, 200, 200, 429, 429, 429]


def test_guessing_from_one_address_is_stopped_whatever_the_names(database_url, tmp_path):
    seed(database_url)
    with start_server(database_url, tmp_path, login_limit_user="100 per 15 minutes",
                      login_limit_address="4 per 15 minutes") as running:
        answers = [log_in(running, username=f"user{n}", password="x").status_code
                   for n in range(5)]
        assert answers == [200, 200, 200, 200, 429]
        assert log_in(running, username="bob").status_code == 429


def test_unknown_user_costs_the_same_hash_check_as_a_known_one(app):
    """Timing must not list user names: every login attempt checks one hash,
    made by the same method, whether or not the user exists or has a password."""
    from rotest_app.admin import auth
    with app.app_context():
        for name, password in (("known", PASSWORD), ("nopassword", None)):
            user = User(username=name)
            if password:
                user.set_password(password)
            db.session.add(user)
        db.session.commit()
        known_hash = db.session.scalar(select(User.password_hash).where(
            User.username == "known"))
    client = app.test_client()
    with mock.patch.object(auth, "check_password_hash",
                           wraps=auth.check_password_hash) as checked:
        for name in ("known", "nobody-by-this-name", "nopassword"):
            page = client.get("/admin/login").get_data(as_text=True)
            token = CSRF_INPUT.search(page).group(1)
            answer = client.post("/admin/login", data={
                "username": name, "password": "wrong", "csrf_token": token})
            assert WRONG in answer.get_data(as_text=True)
    methods = [call.args[0].split("$")[0] for call in checked.call_args_list]
    assert methods == [known_hash.split("$")[0]] * 3


# --- item 5: sessions that end ----------------------------------------------------

def test_logout_ends_every_session_of_the_user(server):
    first, second = logged_in(server), logged_in(server)
    captured = dict(first.cookies)
    assert opens(second, server.url + "/admin/") and opens(first, server.url + "/runs")
    post_form(server, first, "/admin/logout", {}, form_path="/admin/")
    for browser in (with_cookies(captured), second):
        assert not opens(browser, server.url + "/admin/")
        assert not opens(browser, server.url + "/runs")


def test_new_password_and_deactivation_end_the_users_sessions(server):
    admin, bob = logged_in(server), logged_in(server, "bob")
    assert opens(bob, server.url + "/runs")
    bob_id = user_id(server.database_url, "bob")
    edit = f"/admin/users/edit/?id={bob_id}"
    post_form(server, admin, edit, {"username": "bob", "password": "new-pass-123",
                                    "is_active": "y"})
    assert not opens(bob, server.url + "/runs")

    bob = logged_in_with(server, "bob", "new-pass-123")
    post_form(server, admin, edit, {"username": "bob", "password": ""})  # inactive
    post_form(server, admin, edit, {"username": "bob", "password": "", "is_active": "y"})
    assert not opens(bob, server.url + "/runs")  # active again, the old cookie is not


def logged_in_with(server, username: str, password: str) -> requests.Session:
    browser = requests.Session()
    assert log_in(server, browser, username, password).status_code == 302
    return browser


def test_sign_out_everywhere_ends_the_selected_users_sessions(server):
    admin, bob = logged_in(server), logged_in(server, "bob")
    answer = post_form(server, admin, "/admin/users/action/",
                       {"action": "sign_out",
                        "rowid": [str(user_id(server.database_url, "bob"))]},
                       form_path="/admin/users/")
    assert answer.status_code == 302
    assert "Signed out 1 user(s) everywhere" in admin.get(server.url + "/admin/users/").text
    assert not opens(bob, server.url + "/runs")
    assert opens(admin, server.url + "/admin/")  # root was not selected


def test_a_login_lasts_its_lifetime_and_no_longer(database_url, tmp_path):
    seed(database_url)
    with start_server(database_url, tmp_path, session_hours=2 / 3600) as running:
        browser = logged_in(running)
        assert opens(browser, running.url + "/admin/")
        cookie = next(c for c in browser.cookies if c.name == "session")
        assert cookie.expires is not None and cookie.expires - time.time() < 60
        time.sleep(2.2)
        # The browser would drop the cookie; a replayed one is refused as well.
        assert not opens(with_cookies({"session": cookie.value}), running.url + "/admin/")


def test_session_cookie_is_samesite_lax_and_httponly(server):
    answer = log_in(server)
    cookie = answer.headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" not in cookie  # plain HTTP by default, or no login would work


def test_behind_a_tls_proxy_the_cookie_is_secure(database_url, tmp_path):
    seed(database_url)
    with start_server(database_url, tmp_path, secure_cookies="true",
                      proxy_count=1) as running:
        # Flask-WTF checks the Referer on HTTPS, which a browser sends.
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7",
                     "Referer": f"https://127.0.0.1:{running.port}/admin/login"}
        form = requests.get(running.url + "/admin/login", headers=forwarded)
        assert "Secure" in form.headers["Set-Cookie"]
        token = CSRF_INPUT.search(form.text).group(1)
        # The browser talks HTTPS to the proxy, so it sends the Secure cookie back.
        cookie = form.headers["Set-Cookie"].split(";")[0]
        answer = requests.post(running.url + "/admin/login",
                               headers={**forwarded, "Cookie": cookie},
                               data={"username": "root", "password": PASSWORD,
                                     "csrf_token": token}, allow_redirects=False)
        assert answer.status_code == 302
        assert "Secure" in answer.headers["Set-Cookie"]
        assert answer.headers["Location"] in ("/admin/", "https://127.0.0.1:%d/admin/"
                                              % running.port)


def test_csrf_token_is_renewed_at_login(server):
    browser = requests.Session()
    before = csrf_token(browser, server.url + "/admin/login")
    assert log_in(server, browser).status_code == 302
    after = csrf_token(browser, server.url + "/admin/")
    assert after != before
    # A token an attacker planted or read before the login is worthless after it.
    stale = browser.post(server.url + "/admin/logout", data={"csrf_token": before},
                         allow_redirects=False)
    assert stale.status_code == 400
    assert opens(browser, server.url + "/admin/")


# --- item 6: redirects stay on the site ---------------------------------------------

OFF_SITE = ["/\t/127.0.0.1:18999/landed", "//127.0.0.1:18999/landed",
            "/\\127.0.0.1:18999/landed", "\\\\127.0.0.1:18999", "/\n/x", "/\r\n/x",
            " //127.0.0.1:18999", "\t//127.0.0.1:18999", "/%09/127.0.0.1:18999",
            "/%2F127.0.0.1:18999", "/%5C127.0.0.1:18999",
            "https://127.0.0.1:18999/", "http:127.0.0.1:18999", "javascript:alert(1)",
            "jAvAsCrIpT\t:alert(1)", "data:text/html,<script>alert(1)</script>",
            "127.0.0.1:18999", ""]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_next_never_leaves_the_site(server):
    browser = requests.Session()
    for target in OFF_SITE:
        answer = log_in(server, browser, next_url=target)
        assert answer.status_code == 302, (target, answer.status_code)
        assert answer.headers["Location"] == "/admin/", target
    answer = log_in(server, browser, next_url="/admin/devicedata/?search=dev 1&page=0")
    location = answer.headers["Location"]
    assert location == "/admin/devicedata/?search=dev%201&page=0"
    assert urlsplit(urljoin(server.url, location)).netloc == urlsplit(server.url).netloc


# --- item 8: headers, page numbers, chunked bodies, file modes ----------------------

def test_every_answer_carries_the_security_headers(server):
    admin = logged_in(server)
    html = {"/admin/login": requests.get, "/admin/": admin.get,
            "/admin/devicedata/": admin.get, "/runs": admin.get}
    other = {"/api/v1/health": requests.get, "/api/v1/openapi.json": requests.get,
             "/api/v1/nowhere": requests.get}
    for path, get in {**html, **other}.items():
        headers = get(server.url + path).headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "same-origin", path
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy, path
        if path in html:
            assert "script-src 'self' 'nonce-" in policy, path
            assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        else:
            assert policy.startswith("default-src 'none'"), path


def test_admin_pages_mark_their_scripts_with_the_policys_nonce(server):
    admin = logged_in(server)
    page = admin.get(server.url + "/admin/devicedata/")
    nonce = re.search(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script\b([^>]*)>", page.text)
    assert scripts and all(f'nonce="{nonce}"' in attributes for attributes in scripts)
    assert nonce not in admin.get(server.url + "/admin/devicedata/").text  # one per page


def test_page_numbers_out_of_range_are_400(server):
    admin = logged_in(server)
    for path in ("/runs?page=999999999999999999", "/admin/devicedata/?page=999999999999999999",
                 "/admin/sessions/?page=999999999999999999", "/admin/users/?page=-5",
                 "/admin/resourcedata/?page=99999999999999999999999"):
        assert admin.get(server.url + path).status_code == 400, path
    assert admin.get(server.url + "/runs?page=3").status_code == 200
    assert admin.get(server.url + "/admin/devicedata/?page=3").status_code == 200


def chunks(size: int):
    """A JSON body of ``size`` bytes (spaces pad it), sent chunked: no Content-Length."""
    body = json.dumps({"description": "chunked"}).encode().ljust(size)
    for start in range(0, len(body), 500):
        yield body[start:start + 500]


def test_chunked_body_over_the_cap_is_413(server):
    api = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    big = requests.post(server.url + "/api/v1/sessions", data=chunks(5000), headers=api)
    assert big.status_code == 413
    assert big.json()["error"] == "too_large"
    small = requests.post(server.url + "/api/v1/sessions", data=chunks(1900), headers=api)
    assert small.status_code == 201, small.text
    assert small.json()["description"] == "chunked"
    form = requests.post(server.url + "/admin/login", data=(b"a=" + b"x" * 1000
                                                            for _ in range(5)),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 413


def test_default_sqlite_file_is_owner_only(tmp_path, monkeypatch):
    from rotest_app import create_app
    from rotest_app.engine import open_engine as open_client_engine
    monkeypatch.chdir(tmp_path)
    workdir = tmp_path / "server-home"
    app = create_app({"workdir": str(workdir)})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    database = workdir / "rotest.db"
    assert stat.S_IMODE(os.stat(workdir).st_mode) == 0o700
    for path in (database, *workdir.glob("rotest.db-*")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    client_file = tmp_path / "client-home" / "embedded.db"
    open_client_engine(f"sqlite:///{client_file}").dispose()
    assert stat.S_IMODE(os.stat(client_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(client_file.parent).st_mode) == 0o700
