"""The admin site through Flask's test client, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from rotest_app.models import (ApiToken, LockRequest, LockSession, ResourceData, User, db,
                        hash_token, utcnow)

PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def add_user(app, username: str, *, is_admin: bool, password: str = PASSWORD) -> int:
    with app.app_context():
        user = User(username=username, is_admin=is_admin)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user.id


def csrf_token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return CSRF_INPUT.search(page.get_data(as_text=True)).group(1)


def log_in(client, username: str, password: str = PASSWORD):
    token = csrf_token(client, "/admin/login")
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": token})


@pytest.fixture
def admin_client(app):
    add_user(app, "root", is_admin=True)
    client = app.test_client()
    assert log_in(client, "root").status_code == 302
    return client


def post_form(client, url: str, data: dict, form_url: str | None = None):
    """Post ``data`` with the CSRF token of the page at ``form_url`` (or ``url``)."""
    token = csrf_token(client, form_url or url)
    return client.post(url, data={**data, "csrf_token": token})


def add_device(app, name: str = "dev1", **fields) -> int:
    from lab_plugin import DeviceData
    with app.app_context():
        device = DeviceData(name=name, ip_address="10.0.0.1", **fields)
        db.session.add(device)
        db.session.commit()
        return device.id


def resource(app, resource_id: int) -> ResourceData:
    with app.app_context():
        found = db.session.get(ResourceData, resource_id)
        db.session.refresh(found)  # loads the subclass's columns too
        db.session.expunge(found)
        return found


def run_action(client, view: str, action: str, ids: list[int]):
    return post_form(client, f"/admin/{view}/action/",
                     {"action": action, "rowid": [str(i) for i in ids]},
                     form_url=f"/admin/{view}/")


def lock_directly(app, *resource_ids: int) -> str:
    """Make resources held by a live session of user 'alice', as the engine would."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "alice")) \
            or User(username="alice")
        session = LockSession(user=user, expires_at=utcnow() + timedelta(hours=1))
        db.session.add(session)
        db.session.flush()
        for resource_id in resource_ids:
            held = db.session.get(ResourceData, resource_id)
            held.session_id, held.owner, held.owner_time = session.id, "alice", utcnow()
        db.session.commit()
        return session.id


def test_anonymous_is_sent_to_login(app):
    client = app.test_client()
    for url in ("/admin/", "/admin/devicedata/", "/admin/users/", "/admin/queue/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
    assert client.get("/admin/login").status_code == 200


def test_wrong_password_is_refused(app):
    add_user(app, "root", is_admin=True)
    client = app.test_client()
    response = log_in(client, "root", "wrong")
    assert response.status_code == 200
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_returns_to_next_page_but_never_off_site(app):
    add_user(app, "root", is_admin=True)
    client = app.test_client()
    token = csrf_token(client, "/admin/login")
    data = {"username": "root", "password": PASSWORD, "csrf_token": token}
    assert client.post("/admin/login?next=/admin/users/", data=data).location \
        == "/admin/users/"
    client = app.test_client()
    data["csrf_token"] = csrf_token(client, "/admin/login")
    assert client.post("/admin/login?next=//evil.example/", data=data).location == "/admin/"


def test_non_admin_is_forbidden(app):
    add_user(app, "bob", is_admin=False)
    client = app.test_client()
    assert log_in(client, "bob").status_code == 302
    for url in ("/admin/", "/admin/devicedata/", "/admin/users/", "/admin/tokens/new/"):
        assert client.get(url).status_code == 403


def test_logout_ends_the_session(admin_client):
    token = csrf_token(admin_client, "/admin/")
    assert admin_client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_admin_sees_every_resource_model(admin_client):
    page = admin_client.get("/admin/").get_data(as_text=True)
    for url in ("/admin/resourcedata/", "/admin/devicedata/", "/admin/portdata/",
                "/admin/licensedata/", "/admin/users/", "/admin/tokens/",
                "/admin/groups/", "/admin/sessions/"):
        assert f'href="{url}' in page, url
    for url in ("/admin/resourcedata/", "/admin/devicedata/", "/admin/sessions/"):
        assert admin_client.get(url).status_code == 200


def test_registered_columns_and_links(app, admin_client):
    from lab_plugin import PortData
    with app.app_context():
        port = PortData(name="port7", number=7)
        db.session.add(port)
        db.session.commit()
        port_id = port.id
    add_device(app, port_id=port_id)
    page = admin_client.get("/admin/devicedata/").get_data(as_text=True)
    assert "10.0.0.1" in page and "Ip Address" in page
    assert f'href="/admin/portdata/edit/?id={port_id}"' in page
    listing = admin_client.get("/admin/resourcedata/").get_data(as_text=True)
    assert "/admin/devicedata/edit/?id=" in listing and "port7" in listing


def test_search_and_filters(app, admin_client):
    from rotest_app.models import Group
    with app.app_context():
        group = Group(name="lab-a")
        db.session.add(group)
        db.session.commit()
        group_id = group.id
    add_device(app, "alpha", comment="rack 3", group_id=group_id)
    add_device(app, "beta", is_usable=False)

    def names(url: str) -> set[str]:
        page = admin_client.get(url).get_data(as_text=True)
        return {name for name in ("alpha", "beta") if f">{name}<" in page.replace(
            " ", "").replace("\n", "")}
    assert names("/admin/devicedata/") == {"alpha", "beta"}
    assert names("/admin/devicedata/?search=rack") == {"alpha"}
    assert names("/admin/devicedata/?flt0_group_equals=lab-a") == {"alpha"}
    assert names("/admin/resourcedata/?flt0_usable_equals=0") == {"beta"}


def test_create_resource_through_the_form(app, admin_client):
    response = post_form(admin_client, "/admin/devicedata/new/", {
        "name": "dut-1", "ip_address": "192.0.2.7", "mode": "normal", "comment": "lab A",
        "is_usable": "y", "owner": "mallory", "session_id": "forged"})
    assert response.status_code == 302
    with app.app_context():
        created = db.session.scalar(select(ResourceData).where(ResourceData.name == "dut-1"))
        assert type(created).__name__ == "DeviceData"
        assert (created.ip_address, created.comment, created.is_usable) == \
            ("192.0.2.7", "lab A", True)
        assert (created.owner, created.session_id) == ("", None)


def test_edit_form_shows_lock_fields_read_only(app, admin_client):
    device_id = add_device(app)
    lock_directly(app, device_id)
    page = admin_client.get(f"/admin/devicedata/edit/?id={device_id}").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="owner"[^>]*readonly[^>]*value="alice"', page) or \
        re.search(r'<input[^>]*readonly[^>]*name="owner"[^>]*value="alice"', page)
    response = post_form(admin_client, f"/admin/devicedata/edit/?id={device_id}", {
        "name": "dev1", "ip_address": "10.0.0.2", "mode": "normal", "owner": "mallory",
        "session_id": ""})
    assert response.status_code == 302
    edited = resource(app, device_id)
    assert (edited.ip_address, edited.owner) == ("10.0.0.2", "alice")
    assert edited.session_id is not None


def test_mark_unusable_and_usable(app, admin_client):
    device_id = add_device(app)
    assert run_action(admin_client, "devicedata", "mark_unusable", [device_id]).status_code \
        == 302
    assert resource(app, device_id).is_usable is False
    run_action(admin_client, "resourcedata", "mark_usable", [device_id])
    assert resource(app, device_id).is_usable is True


def test_reserve_for_a_user(app, admin_client):
    add_user(app, "bob", is_admin=False)
    first, second = add_device(app, "dev1"), add_device(app, "dev2")
    response = run_action(admin_client, "devicedata", "reserve", [first, second])
    assert response.status_code == 302 and "/admin/devicedata/reserve/" in response.location
    form_url = response.location
    assert "dev2" in admin_client.get(form_url).get_data(as_text=True)
    assert post_form(admin_client, form_url, {"user": "bob"}).status_code == 302
    for device_id in (first, second):
        reserved = resource(app, device_id)
        assert reserved.reserved == "bob" and reserved.reserved_time is not None
    assert post_form(admin_client, form_url, {"user": "nobody-such"}).status_code == 200
    post_form(admin_client, form_url, {"user": ""})
    assert resource(app, first).reserved == "" and resource(app, first).reserved_time is None


def test_force_release(app, admin_client):
    from lab_plugin import PortData
    with app.app_context():
        port = PortData(name="port1")
        db.session.add(port)
        db.session.commit()
        port_id = port.id
    device_id = add_device(app, port_id=port_id)
    idle_id = add_device(app, "idle")
    lock_directly(app, device_id, port_id)
    response = run_action(admin_client, "devicedata", "force_release", [device_id, idle_id])
    assert response.status_code == 302
    assert "Released 1 resource(s): dev1" in admin_client.get(response.location).get_data(
        as_text=True)
    for released in (resource(app, device_id), resource(app, port_id)):
        assert (released.session_id, released.owner, released.owner_time) == (None, "", None)


def test_post_without_csrf_token_is_refused(app, admin_client):
    device_id = add_device(app)
    response = admin_client.post("/admin/devicedata/action/",
                                 data={"action": "mark_unusable", "rowid": str(device_id)})
    assert response.status_code == 400
    assert resource(app, device_id).is_usable is True
    response = admin_client.post("/admin/devicedata/new/", data={"name": "nope"})
    assert response.status_code == 400
    bad = admin_client.post("/admin/devicedata/new/", data={"name": "nope",
                                                            "csrf_token": "forged"})
    assert bad.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(ResourceData).where(ResourceData.name == "nope")) \
            is None


def test_api_blueprint_is_exempt_from_csrf(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
             and "POST" in rule.methods and not rule.arguments]
    if not rules:
        pytest.skip("the JSON API has no POST route in this tree yet")
    response = app.test_client().post(rules[0].rule, json={})
    assert b"CSRF" not in response.data, response.data


def test_two_apps_in_one_process(app, app_config):
    from rotest_app import create_app
    other = create_app(app_config)
    for application in (app, other):
        assert application.test_client().get("/admin/login").status_code == 200
    assert app.extensions["admin"][0] is not other.extensions["admin"][0]
    other.extensions["rotest_sweeper"].stop()


def test_registration_names_unknown_fields():
    from rotest_app.admin import register_resource_to_admin
    from lab_plugin import PortData
    with pytest.raises(ValueError, match="no field"):
        register_resource_to_admin(PortData, attr_list=["nope"])
    with pytest.raises(TypeError):
        register_resource_to_admin(User)


def test_user_password_is_stored_hashed(app, admin_client):
    response = post_form(admin_client, "/admin/users/new/", {
        "username": "carol", "password": "s3cret-pass", "is_active": "y"})
    assert response.status_code == 302
    with app.app_context():
        carol = db.session.scalar(select(User).where(User.username == "carol"))
        assert carol.password_hash and "s3cret-pass" not in carol.password_hash
        assert carol.check_password("s3cret-pass") and not carol.is_admin
        carol_id, stored_hash = carol.id, carol.password_hash
    listing = admin_client.get("/admin/users/").get_data(as_text=True)
    edit = admin_client.get(f"/admin/users/edit/?id={carol_id}").get_data(as_text=True)
    assert stored_hash not in listing and stored_hash not in edit
    # Saving without a new password keeps the old one.
    post_form(admin_client, f"/admin/users/edit/?id={carol_id}",
              {"username": "carol", "password": "", "is_active": "y"})
    with app.app_context():
        assert db.session.get(User, carol_id).check_password("s3cret-pass")


def test_token_is_shown_once_and_only_its_hash_is_kept(app, admin_client):
    bob_id = add_user(app, "bob", is_admin=False)
    response = post_form(admin_client, "/admin/tokens/new/",
                         {"user": str(bob_id), "name": "ci"})
    assert response.status_code == 302
    shown = admin_client.get(response.location).get_data(as_text=True)
    plain = re.search(r"rt_[A-Za-z0-9_-]{20,}", shown).group(0)
    with app.app_context():
        token = db.session.scalar(select(ApiToken))
        assert token.token_hash == hash_token(plain) and token.user_id == bob_id
        assert plain not in (token.token_hash, token.prefix, token.name)
    assert plain not in admin_client.get("/admin/tokens/").get_data(as_text=True)


def test_groups_have_members(app, admin_client):
    bob_id = add_user(app, "bob", is_admin=False)
    response = post_form(admin_client, "/admin/groups/new/",
                         {"name": "lab-a", "users": [str(bob_id)]})
    assert response.status_code == 302
    with app.app_context():
        assert [g.name for g in db.session.get(User, bob_id).groups] == ["lab-a"]


def test_queue_opens_on_waiting_requests(app, admin_client):
    device_id = add_device(app)
    session_id = lock_directly(app, device_id)
    with app.app_context():
        for state, priority in ((LockRequest.WAITING, 5), (LockRequest.GRANTED, 9)):
            db.session.add(LockRequest(session_id=session_id, priority=priority,
                                       descriptors=[{"type": "DeviceData"}], state=state,
                                       deadline=utcnow() + timedelta(minutes=1)))
        db.session.commit()
    response = admin_client.get("/admin/queue/")
    assert response.status_code == 302 and "flt0_state_equals=waiting" in response.location
    waiting = admin_client.get(response.location).get_data(as_text=True)
    assert re.search(r"<td[^>]*>\s*waiting\s*</td>", waiting)
    assert not re.search(r"<td[^>]*>\s*granted\s*</td>", waiting)
    everything = admin_client.get("/admin/queue/?flt0_state_equals=any").get_data(
        as_text=True)
    assert re.search(r"<td[^>]*>\s*granted\s*</td>", everything)
    assert admin_client.get("/admin/queue/new/").status_code in (302, 403, 404)


def test_no_resource_list_loads_every_row(app, admin_client):
    """The lists page in the database (LIMIT) and count with count(*): at
    50,000 resources a page reads 50 rows, whatever the view or the filter."""
    from sqlalchemy import event, insert

    from lab_plugin import DeviceData, PortData
    with app.app_context():
        db.session.execute(insert(PortData), [{"name": f"p{i}"} for i in range(60)])
        db.session.execute(insert(DeviceData), [{"name": f"d{i}"} for i in range(60)])
        db.session.commit()
        engine = db.engine
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()).lower())
    event.listen(engine, "before_cursor_execute", record)
    try:
        for path in ("/admin/resourcedata/", "/admin/devicedata/?search=d1",
                     "/admin/portdata/?page=1", "/admin/devicedata/?sort=0&desc=1"):
            statements.clear()
            page = admin_client.get(path)
            assert page.status_code == 200, path
            reads = [s for s in statements if s.startswith("select") and " resource" in s]
            assert reads, path
            for statement in reads:
                assert "count(" in statement or " limit " in statement, (path, statement)
    finally:
        event.remove(engine, "before_cursor_execute", record)
